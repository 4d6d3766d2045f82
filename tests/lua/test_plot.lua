-- tests/lua/test_plot.lua: gnuplot figures write TSV + script + PNG + SVG,
-- redraw from the script alone, and degrade cleanly without gnuplot.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local plot = require "repro.plot"
local U = require "repro.util"
local figures = require "repro.figures"

local tmp = os.tmpname()
os.remove(tmp)
local dir = tmp .. "-plot dir 'q'"   -- spaces and a quote: shell quoting must hold
U.mkdir_p(dir)

local function size(p)
  local f = io.open(p, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

local have_gnuplot = plot.available()

A.test("lines writes tsv, gp, png, svg", function()
  local x, y1, y2 = {}, {}, {}
  for i = 1, 50 do x[i] = i; y1[i] = 4 / i + 1; y2[i] = 3 / math.sqrt(i) + 1 end
  y2[10] = 0 / 0   -- a divergence: NaN must not break the figure
  local r = plot.lines{file = dir .. "/loss_a.png", title = "loss vs step (it's 'quoted')",
    xlabel = "step", ylabel = "loss", logy = true,
    series = { { name = "adamw", x = x, y = y1 }, { name = "soap_1", x = x, y = y2, style = "dashed", color = "#aa0000" } },
    annotations = { { vline = 25, text = "warmup end" }, { hline = 2 }, { text = "note", x = 5, y = 3 } }}
  A.eq(dir .. "/loss_a.tsv", r.tsv)
  A.truthy(size(r.tsv) > 0, "tsv written")
  A.truthy(size(r.gp) > 0, "gp written")
  local tsv = U.read_file(r.tsv)
  A.truthy(tsv:find("# adamw", 1, true), "series name in tsv")
  A.truthy(tsv:find("NaN", 1, true), "NaN kept in the data")
  -- first data row of block 0 is x=1, y=5
  A.truthy(tsv:find("\n1\t5\n", 1, true), "first row of the first series")
  if have_gnuplot then
    A.eq(true, r.rendered, "rendered")
    A.truthy(size(r.png) > 1000, "png written")
    A.truthy(size(r.svg) > 1000, "svg written")
    local f = io.open(r.png, "rb"); local magic = f:read(8); f:close()
    A.eq("\137PNG\r\n\26\n", magic, "png magic")
  else
    io.stderr:write("test_plot: gnuplot not installed here; PNG/SVG checks skipped\n")
  end
end)

A.test("scatter, histogram, heatmap and panels", function()
  local vals = {}
  for i = 1, 200 do vals[i] = math.sin(i) * i / 50 end
  local m = {}
  for r = 1, 6 do m[r] = {} for c = 1, 8 do m[r][c] = r * c end end
  local r1 = plot.scatter{file = dir .. "/sc", series = { { name = "pts", x = { 1, 2, 3 }, y = { 3, 1, 2 } } } }
  local r2 = plot.histogram{file = dir .. "/hist.svg", values = vals, bins = 20, logy = false}
  local r3 = plot.heatmap{file = dir .. "/heat", matrix = m, xlabel = "channel", ylabel = "layer", cblabel = "cos"}
  local r4 = plot.panels{file = dir .. "/panels", cols = 2, title = "four panels", panels = {
    { kind = "lines", title = "a", series = { { name = "s", y = { 1, 2, 4, 8 } } }, logy = true },
    { kind = "scatter", title = "b", series = { { name = "t", x = { 1, 2 }, y = { 2, 1 } } } },
    { kind = "histogram", title = "c", series = { { name = "u", values = vals }, { name = "v", values = { 1, 2, 2, 3 } } } },
    { kind = "heatmap", title = "d", matrix = m },
  }}
  for _, r in ipairs { r1, r2, r3, r4 } do
    A.truthy(size(r.tsv) > 0, r.tsv)
    A.truthy(size(r.gp) > 0, r.gp)
    if have_gnuplot then
      A.eq(true, r.rendered, r.gp .. " rendered")
      A.truthy(size(r.png) > 1000 and size(r.svg) > 1000, r.gp .. " images")
    end
  end
  local tsv = U.read_file(r2.tsv)
  local total = 0
  for c in tsv:gmatch("\n[^#\n][^\t\n]*\t([^\n]+)") do total = total + tonumber(c) end
  A.eq(200, math.floor(total + 0.5), "histogram counts add up")
end)

A.test("bad input raises clear errors", function()
  A.raises(function() plot.lines{series = { { name = "a", y = { 1 } } } } end, "'file'")
  A.raises(function() plot.lines{file = dir .. "/bad", series = { { name = "a", x = { 1, 2 }, y = { 1 } } } } end,
    "x has 2 values and y has 1")
  A.raises(function() plot.lines{file = dir .. "/bad", series = { { name = "a", y = { 1 }, style = "zigzag" } } } end,
    "unknown style 'zigzag'")
  A.raises(function() plot.panels{file = dir .. "/bad", panels = { { kind = "pie" } } } end, "unknown kind 'pie'")
  A.raises(function() plot.heatmap{file = dir .. "/bad", matrix = { { 1, 2 }, { 3 } } } end, "row 2 has 1 values")
  A.raises(function() plot.lines{file = dir .. "/bad", key = "middle", series = { { name = "a", y = { 1 } } } } end,
    "key must be one of 'top right', 'top left', 'bottom right', 'bottom left', 'outside', got middle")
end)

A.test("the legend goes where key says", function()
  plot.lines{file = dir .. "/keyed", key = "bottom left", series = { { name = "a", y = { 1, 2 } } } }
  local gp = assert(io.open(dir .. "/keyed.gp")):read("a")
  A.truthy(gp:find("set key bottom left", 1, true), "bottom left in the script")
  A.truthy(not gp:find("set key top right", 1, true), "not the default")
end)

A.test("gnuplot alone redraws from the script, from another folder", function()
  if not have_gnuplot then return end
  os.remove(dir .. "/loss_a.png"); os.remove(dir .. "/loss_a.svg")
  A.truthy(U.run("cd / && gnuplot " .. U.shell_quote(dir .. "/loss_a.gp") .. " 2>/dev/null"), "gnuplot FILE.gp")
  A.truthy(size(dir .. "/loss_a.png") > 1000, "png redrawn")
  A.truthy(size(dir .. "/loss_a.svg") > 1000, "svg redrawn")
  -- repro figures redraws everything in a folder
  os.remove(dir .. "/panels.png"); os.remove(dir .. "/heat.svg")
  local rc = figures.main { dir }
  A.eq(0, rc, "figures.main status")
  A.truthy(size(dir .. "/panels.png") > 1000, "panels redrawn")
  A.truthy(size(dir .. "/heat.svg") > 1000, "heatmap redrawn")
end)

A.test("without gnuplot: message, data and script still written", function()
  plot.set_gnuplot("/nonexistent/gnuplot")
  local r = plot.lines{file = dir .. "/nognu.png", series = { { name = "a", y = { 1, 2 } } } }
  plot.set_gnuplot(nil)
  A.eq(false, r.rendered)
  A.truthy(r.error:find("gnuplot not found", 1, true), "message names the problem")
  A.truthy(size(r.tsv) > 0 and size(r.gp) > 0, "data and script written")
  A.eq(0, size(r.png), "no png")
  -- the environment variable route, in a child process
  local bin = os.getenv("REPRO_BINARY")
  if bin then
    local errf = dir .. "/child.err"
    local code = "require('repro.plot').lines{file=" .. string.format("%q", dir .. "/child")
      .. ", series={{name='a', y={1,2}}}}"
    local ok = U.run("REPRO_GNUPLOT=/nonexistent " .. U.shell_quote(bin) .. " -e " .. U.shell_quote(code)
      .. " 2>" .. U.shell_quote(errf))
    A.truthy(ok, "child exits 0")
    A.truthy(U.read_file(errf):find("gnuplot not found", 1, true), "child message on stderr")
    A.truthy(size(dir .. "/child.tsv") > 0, "child wrote data")
  end
end)

A.test("a full disk while writing a figure's data is a clear error, and nothing half-written stays", function()
  -- the data file is written as FILE.tsv.tmp, then renamed: point the
  -- temporary name at /dev/full, where every write fails with ENOSPC
  local base = dir .. "/full"
  assert(U.run("ln -sf /dev/full " .. U.shell_quote(base .. ".tsv.tmp")))
  A.raises(function()
    plot.lines{ file = base .. ".png", title = "t", series = { { name = "a", x = { 1, 2 }, y = { 1, 2 } } } }
  end, "cannot write '" .. base .. ".tsv'")
  A.eq(nil, io.open(base .. ".tsv"), "no data file")
  A.eq(nil, io.open(base .. ".png"), "no figure")
end)

U.run("rm -rf -- " .. U.shell_quote(dir))
A.done("test_plot")
