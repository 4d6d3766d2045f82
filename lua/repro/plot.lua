-- repro.plot: figures drawn by gnuplot at run time.
--
-- Every call writes three files beside each other: FILE.tsv (the data, one
-- block per series, blocks separated by two blank lines so gnuplot's `index k`
-- selects block k), FILE.gp (the gnuplot script that reads that TSV) and,
-- when gnuplot is present, FILE.png (pngcairo) and FILE.svg. `gnuplot
-- FILE.gp` alone redraws the figure from any folder; `repro figures` redraws
-- all of them. Without gnuplot the data and script are still written and a
-- message on stderr says how to draw them later.
--
-- The gnuplot program is REPRO_GNUPLOT if set, else `gnuplot` on PATH.
local U = require "repro.util"

local P = {}

local override
-- Use this gnuplot program (a path or a name on PATH); nil restores the default.
function P.set_gnuplot(prog) override = prog end

local function gnuplot_prog()
  return override or os.getenv("REPRO_GNUPLOT") or "gnuplot"
end

local avail_cache = {}
-- Is the gnuplot program runnable?
function P.available(prog)
  prog = prog or gnuplot_prog()
  if avail_cache[prog] == nil then
    local q = U.shell_quote(prog)
    if prog:find("/", 1, true) then avail_cache[prog] = U.run("test -x " .. q .. " && test -f " .. q)
    else avail_cache[prog] = U.run("command -v " .. q .. " >/dev/null 2>&1") end
  end
  return avail_cache[prog]
end

-- Run gnuplot on a script, from the script's folder. Returns true, or false
-- and a message (also written to stderr).
function P.render(gp_path)
  local prog = gnuplot_prog()
  if not P.available(prog) then
    local msg = string.format("plot: gnuplot not found (%s); wrote the data and the script '%s' "
      .. "but no PNG/SVG. Install gnuplot (Debian: apt-get install gnuplot-nox) and run "
      .. "`gnuplot %s` or `repro figures` to draw it.", prog, gp_path, gp_path)
    io.stderr:write(msg, "\n")
    return false, msg
  end
  local dir, name = U.dirname(gp_path), U.basename(gp_path)
  local cmd = "cd " .. U.shell_quote(dir) .. " && " .. U.shell_quote(prog) .. " "
              .. U.shell_quote("./" .. name) .. " 2>&1"
  local p = io.popen(cmd, "r")
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    local msg = string.format("plot: gnuplot failed on '%s': %s", gp_path, out)
    io.stderr:write(msg, "\n")
    return false, msg
  end
  return true
end

-- ---- gnuplot script text ---------------------------------------------------

-- A gnuplot single-quoted string: no escapes are processed inside, a quote
-- is doubled. Newlines would end the command, so they become spaces.
local function gq(s)
  s = tostring(s):gsub("[\r\n]", " ")
  return "'" .. s:gsub("'", "''") .. "'"
end

local function num(v, what)
  if type(v) ~= "number" then error(string.format("plot: %s must be a number, got %s", what, type(v)), 4) end
  return U.tsv_number(v)
end

local STYLES = {
  lines = "lines lw 2", points = "points pt 7 ps 0.6", linespoints = "linespoints lw 2 pt 7 ps 0.6",
  dashed = "lines lw 2 dt 2", dotted = "lines lw 2 dt 3", steps = "steps lw 2", impulses = "impulses",
}

local function style_clause(s, default, what)
  s = s or default
  local c = STYLES[s]
  if not c then
    local names = U.sorted_keys(STYLES)
    error(string.format("plot: %s: unknown style '%s' (valid: %s)", what, tostring(s), table.concat(names, ", ")), 4)
  end
  return c
end

local function color_clause(c, what)
  if c == nil then return "" end
  if type(c) ~= "string" or not c:match("^#%x%x%x%x%x%x$") then
    error(string.format("plot: %s: color must be '#rrggbb', got %s", what, tostring(c)), 4)
  end
  return " lc rgb " .. gq(c)
end

-- A figure under construction: data blocks and script lines.
local function new_figure(base)
  return { base = base, name = U.basename(base), blocks = {}, body = {} }
end

-- Add a data block; returns its gnuplot index (0-based).
local function add_block(fig, title, header, rows)
  local lines = { "# " .. tostring(title):gsub("[\r\n]", " "), "# " .. table.concat(header, "\t") }
  for _, r in ipairs(rows) do
    if r == false then lines[#lines + 1] = ""  -- blank line: a new scan row (heatmaps)
    else
      local cells = {}
      for i, v in ipairs(r) do cells[i] = U.tsv_number(v) end
      lines[#lines + 1] = table.concat(cells, "\t")
    end
  end
  fig.blocks[#fig.blocks + 1] = table.concat(lines, "\n")
  return #fig.blocks - 1
end

local function emit(fig, s) fig.body[#fig.body + 1] = s end

-- Where the legend goes: inside a corner, or outside on the right.
local KEY_POSITIONS = { ["top right"] = "top right", ["top left"] = "top left",
                        ["bottom right"] = "bottom right", ["bottom left"] = "bottom left",
                        outside = "outside right top" }
local function key_position(key)
  if key == nil then return "top right" end
  local p = KEY_POSITIONS[key]
  if not p then
    error(string.format("plot: key must be one of 'top right', 'top left', 'bottom right', 'bottom left', 'outside', got %s",
                        tostring(key)), 4)
  end
  return p
end

local function common_settings(fig, spec)
  emit(fig, "reset")
  emit(fig, "set datafile missing NaN")
  emit(fig, "set grid lc rgb '#dddddd'")
  if spec.title then emit(fig, "set title " .. gq(spec.title)) end
  if spec.xlabel then emit(fig, "set xlabel " .. gq(spec.xlabel)) end
  if spec.ylabel then emit(fig, "set ylabel " .. gq(spec.ylabel)) end
  if spec.logx then emit(fig, "set logscale x") end
  if spec.logy then emit(fig, "set logscale y") end
  for _, ax in ipairs { "x", "y" } do
    local r = spec[ax .. "range"]
    if r then
      emit(fig, string.format("set %srange [%s:%s]", ax, r[1] and num(r[1], ax .. "range") or "*",
        r[2] and num(r[2], ax .. "range") or "*"))
    end
  end
  emit(fig, "set key " .. key_position(spec.key))
  for i, a in ipairs(spec.annotations or {}) do
    local what = "annotation " .. i
    if a.vline then
      emit(fig, string.format("set arrow from %s, graph 0 to %s, graph 1 nohead dt 2 lc rgb '#555555'",
        num(a.vline, what), num(a.vline, what)))
      if a.text then emit(fig, string.format("set label %s at %s, graph 0.95 left offset 0.5,0", gq(a.text), num(a.vline, what))) end
    elseif a.hline then
      emit(fig, string.format("set arrow from graph 0, first %s to graph 1, first %s nohead dt 2 lc rgb '#555555'",
        num(a.hline, what), num(a.hline, what)))
      if a.text then emit(fig, string.format("set label %s at graph 0.02, first %s offset 0,0.6", gq(a.text), num(a.hline, what))) end
    elseif a.text and a.x and a.y then
      emit(fig, string.format("set label %s at %s, %s", gq(a.text), num(a.x, what), num(a.y, what)))
    else
      error("plot: " .. what .. ": expected {vline=}, {hline=} or {text=, x=, y=}", 3)
    end
  end
end

local function xy_panel(fig, spec, default_style)
  local series = spec.series
  if type(series) ~= "table" or #series == 0 then error("plot: 'series' must be a non-empty list of {name=, x=, y=}", 3) end
  common_settings(fig, spec)
  if default_style == "points" then emit(fig, "set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05") end
  local parts = {}
  for i, s in ipairs(series) do
    local name = s.name or ("series " .. i)
    local x, y = s.x, s.y
    if type(y) ~= "table" then error(string.format("plot: series '%s': y must be a list of numbers", name), 3) end
    if x == nil then x = {} for j = 1, #y do x[j] = j end end
    if #x ~= #y then
      error(string.format("plot: series '%s': x has %d values and y has %d", name, #x, #y), 3)
    end
    local rows = {}
    for j = 1, #y do
      if type(x[j]) ~= "number" or type(y[j]) ~= "number" then
        error(string.format("plot: series '%s': entry %d is not a number", name, j), 3)
      end
      rows[j] = { x[j], y[j] }
    end
    local idx = add_block(fig, name, { "x", "y" }, rows)
    -- nokey: the data block keeps its name, the key gets no entry (repeats of one kind)
    parts[#parts + 1] = string.format("data index %d using 1:2 with %s%s %s", idx,
      style_clause(s.style, default_style, "series '" .. name .. "'"), color_clause(s.color, name),
      s.nokey and "notitle" or ("title " .. gq(name)))
  end
  emit(fig, "plot " .. table.concat(parts, ", \\\n     "))
end

local function histogram_panel(fig, spec)
  local series = spec.series or { { name = spec.name or "values", values = spec.values } }
  local bins = spec.bins or 30
  if math.type(bins) ~= "integer" or bins < 1 then error("plot.histogram: bins must be a positive integer", 3) end
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(series) do
    if type(s.values) ~= "table" then error("plot.histogram: each series needs values = {...}", 3) end
    for _, v in ipairs(s.values) do
      if type(v) ~= "number" then error("plot.histogram: values must be numbers", 3) end
      if v == v and v ~= math.huge and v ~= -math.huge then
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
  end
  if spec.range then lo, hi = spec.range[1], spec.range[2] end
  if lo > hi then lo, hi = 0, 1 end
  if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
  local width = (hi - lo) / bins
  common_settings(fig, spec)
  emit(fig, "set style fill transparent solid 0.5 noborder")
  local parts = {}
  for i, s in ipairs(series) do
    local counts = {}
    for b = 1, bins do counts[b] = 0 end
    local n = 0
    for _, v in ipairs(s.values) do
      if v == v and v >= lo and v <= hi then
        local b = math.floor((v - lo) / width) + 1
        if b > bins then b = bins end
        counts[b] = counts[b] + 1
        n = n + 1
      end
    end
    local rows = {}
    for b = 1, bins do
      local c = counts[b]
      if spec.density and n > 0 then c = c / (n * width) end
      rows[b] = { lo + (b - 0.5) * width, c }
    end
    local name = s.name or ("series " .. i)
    local idx = add_block(fig, name, { "bin_center", spec.density and "density" or "count" }, rows)
    parts[#parts + 1] = string.format("data index %d using 1:2:(%s) with boxes%s title %s", idx,
      U.tsv_number(width), color_clause(s.color, name), gq(name))
  end
  if not spec.ylabel then emit(fig, "set ylabel " .. gq(spec.density and "density" or "count")) end
  emit(fig, "plot " .. table.concat(parts, ", \\\n     "))
end

local function heatmap_panel(fig, spec)
  local m = spec.matrix
  if type(m) ~= "table" or #m == 0 or type(m[1]) ~= "table" then
    error("plot.heatmap: matrix must be a non-empty list of rows", 3)
  end
  local ncol = #m[1]
  local xs = spec.x or {}
  local ys = spec.y or {}
  local rows = {}
  for r = 1, #m do
    if #m[r] ~= ncol then error(string.format("plot.heatmap: row %d has %d values, row 1 has %d", r, #m[r], ncol), 3) end
    for c = 1, ncol do
      local v = m[r][c]
      if type(v) ~= "number" then error(string.format("plot.heatmap: entry [%d][%d] is not a number", r, c), 3) end
      rows[#rows + 1] = { xs[c] or c, ys[r] or r, v }
    end
    rows[#rows + 1] = false
  end
  common_settings(fig, spec)
  if spec.logcb then emit(fig, "set logscale cb") end
  if spec.cblabel then emit(fig, "set cblabel " .. gq(spec.cblabel)) end
  emit(fig, "set palette rgbformulae 33,13,10")
  emit(fig, "set tics out")
  emit(fig, "unset key")
  local idx = add_block(fig, spec.title or "matrix", { "x", "y", "value" }, rows)
  emit(fig, string.format("plot data index %d using 1:2:3 with image", idx))
end

local KINDS = {
  lines = function(fig, spec) xy_panel(fig, spec, "lines") end,
  scatter = function(fig, spec) xy_panel(fig, spec, "points") end,
  histogram = histogram_panel,
  heatmap = heatmap_panel,
}

local function base_of(file)
  if type(file) ~= "string" or file == "" then error("plot: 'file' (the output path) is required", 3) end
  return (file:gsub("%.[Pp][Nn][Gg]$", ""):gsub("%.[Ss][Vv][Gg]$", ""):gsub("%.gp$", ""):gsub("%.tsv$", ""))
end

-- Write FILE.tsv and FILE.gp, then render. panels: list of {kind=, ...specs}.
local function draw(file, panels, layout)
  local base = base_of(file)
  local fig = new_figure(base)
  local multi = #panels > 1
  for i, p in ipairs(panels) do
    local kind = p.kind or "lines"
    local f = KINDS[kind]
    if not f then error(string.format("plot.panels: panel %d: unknown kind '%s' (valid: heatmap, histogram, lines, scatter)", i, tostring(kind)), 3) end
    f(fig, p)
  end
  local cols = layout.cols or (multi and math.min(#panels, 2) or 1)
  local nrows = math.ceil(#panels / cols)
  local w = layout.width or (multi and 560 * cols or 800)
  local h = layout.height or (multi and 400 * nrows or 500)
  local gpname = fig.name .. ".gp"
  local out = {}
  out[#out + 1] = "# repro figure '" .. fig.name .. "': gnuplot " .. gpname .. " redraws it from "
    .. fig.name .. ".tsv (from any folder)."
  out[#out + 1] = "# The TSV holds one block per series; blocks are separated by two blank lines (gnuplot 'index k')."
  out[#out + 1] = string.format("if (strlen(ARG0) > %d && ARG0[strlen(ARG0)-%d:] eq %s) { cd ARG0[1:strlen(ARG0)-%d] }",
    #gpname, #gpname, gq("/" .. gpname), #gpname)
  out[#out + 1] = "data = " .. gq(fig.name .. ".tsv")
  out[#out + 1] = 'do for [fmt in "png svg"] {'
  out[#out + 1] = string.format("  if (fmt eq 'png') { set terminal pngcairo noenhanced size %d,%d font 'sans,10'; set output %s }",
    w, h, gq(fig.name .. ".png"))
  out[#out + 1] = string.format("  if (fmt eq 'svg') { set terminal svg noenhanced size %d,%d font 'sans,10' background '#ffffff'; set output %s }",
    w, h, gq(fig.name .. ".svg"))
  if multi then
    out[#out + 1] = string.format("  set multiplot layout %d,%d%s", nrows, cols,
      layout.title and (" title " .. gq(layout.title)) or "")
  end
  for _, line in ipairs(fig.body) do out[#out + 1] = "  " .. line end
  if multi then out[#out + 1] = "  unset multiplot" end
  out[#out + 1] = "  unset output"
  out[#out + 1] = "}"
  local dir = U.dirname(base)
  U.mkdir_p(dir)
  U.write_file_atomic(base .. ".tsv", table.concat(fig.blocks, "\n\n\n") .. "\n")
  U.write_file_atomic(base .. ".gp", table.concat(out, "\n") .. "\n")
  local ok, err = P.render(base .. ".gp")
  return { tsv = base .. ".tsv", gp = base .. ".gp", png = base .. ".png", svg = base .. ".svg",
           rendered = ok, error = err }
end

local function single(kind)
  return function(spec)
    if type(spec) ~= "table" then error("plot." .. kind .. ": expected a table of options", 2) end
    local p = {}
    for k, v in pairs(spec) do p[k] = v end
    p.kind = kind
    return draw(spec.file, { p }, spec)
  end
end

-- plot.lines{file=, title=, xlabel=, ylabel=, logx=, logy=, xrange=, yrange=,
--   key = 'top right' | 'top left' | 'bottom right' | 'bottom left' | 'outside',
--   series = {{name=, x=, y=, style=, color=, nokey=}, ...}, annotations = {{vline=|hline=|x=,y=, text=}}}
P.lines = single("lines")
-- plot.scatter: as lines, points by default.
P.scatter = single("scatter")
-- plot.histogram{file=, values= | series = {{name=, values=}}, bins=30, density=, range={lo,hi}}
P.histogram = single("histogram")
-- plot.heatmap{file=, matrix = {{...}, ...}, x=, y=, cblabel=, logcb=}
P.heatmap = single("heatmap")

-- plot.panels{file=, cols=, title=, width=, height=, panels = {{kind="lines", ...}, ...}}
function P.panels(spec)
  if type(spec) ~= "table" or type(spec.panels) ~= "table" or #spec.panels == 0 then
    error("plot.panels: expected {file=, panels = {{kind=, ...}, ...}}", 2)
  end
  return draw(spec.file, spec.panels, spec)
end

return P
