-- repro.figures: `repro figures [DIR ...]` redraws every figure from its saved
-- TSV + gnuplot script (every *.gp under DIR, default figures/), without
-- training anything. main(args) returns an exit status (0 when all drew).
local U = require "repro.util"
local plot = require "repro.plot"

local M = {}

-- Every *.gp file under dir, sorted, so the order of output is stable.
function M.scripts(dir)
  local p = io.popen("find " .. U.shell_quote(dir) .. " -type f -name '*.gp' 2>/dev/null | LC_ALL=C sort")
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

local function usage()
  return "usage: repro figures [DIR ...]\n"
    .. "Redraws every figure (FILE.gp + FILE.tsv -> FILE.png, FILE.svg) under each DIR (default: figures/).\n"
end

function M.main(args)
  args = args or {}
  local dirs = {}
  for _, a in ipairs(args) do
    if a == "-h" or a == "--help" then io.stdout:write(usage()) return 0 end
    if a:sub(1, 1) == "-" then io.stderr:write("figures: unknown option '" .. a .. "'\n" .. usage()) return 2 end
    dirs[#dirs + 1] = a
  end
  if #dirs == 0 then dirs[1] = "figures" end
  if not plot.available() then
    io.stderr:write("figures: gnuplot not found; install gnuplot (Debian: apt-get install gnuplot-nox) "
      .. "or set REPRO_GNUPLOT to its path\n")
    return 1
  end
  local drawn, failed = 0, 0
  for _, d in ipairs(dirs) do
    if not U.isdir(d) then
      io.stderr:write("figures: no such folder '" .. d .. "'\n")
      failed = failed + 1
    else
      for _, gp in ipairs(M.scripts(d)) do
        if plot.render(gp) then drawn = drawn + 1 else failed = failed + 1 end
      end
    end
  end
  io.stderr:write(string.format("figures: redrew %d figure%s%s\n", drawn, drawn == 1 and "" or "s",
    failed > 0 and string.format(", %d failed", failed) or ""))
  return failed == 0 and 0 or 1
end

-- Run as a script (repro lua/repro/figures.lua DIR): `...` is then empty.
if ... ~= "repro.figures" and type(arg) == "table" then
  local a = {}
  for i = 1, #arg do a[i] = arg[i] end
  os.exit(M.main(a))
end

return M
