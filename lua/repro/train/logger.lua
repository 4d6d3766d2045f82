-- repro.train.logger: one TSV row per step (or per logged step).
--
--   local Logger = require "repro.train.logger"
--   local log = Logger.open(path, {columns = {...} | nil, first = {"step", ...}, resume_step = n})
--   log:write(row)   -- row: {column = number|string}; missing cells are NaN
--   log:close()
--
-- Columns are given, or fixed by the first row written: the `first` columns
-- in their order, then the row's other keys sorted. resume_step = n keeps
-- the rows of an existing file up to step n (the first column) and appends
-- after them, with the file's own columns: a resumed run rewrites exactly
-- what came after its checkpoint. Every row is flushed.
local U = require "repro.util"

local Logger = {}
Logger.__index = Logger

-- Keep the rows of an existing TSV whose first column is <= step; returns
-- its columns (nil if there is no such file).
function Logger.truncate(path, step)
  local s = U.read_file(path)
  if not s then return nil end
  local keep, header = {}, nil
  for line in s:gmatch("[^\n]+") do
    if not header then header = line; keep[1] = line
    else
      local st = tonumber(line:match("^([^\t]+)"))
      if st and st <= step then keep[#keep + 1] = line end
    end
  end
  if not header then return nil end
  U.write_file_atomic(path, table.concat(keep, "\n") .. "\n")
  local cols = {}
  for c in (header .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
  return cols
end

function Logger.open(path, opts)
  if type(path) ~= "string" or path == "" then error("logger.open: path must be a non-empty string", 2) end
  opts = opts or {}
  local self = setmetatable({ path = path, first = opts.first or {}, columns = opts.columns, extra = opts.extra }, Logger)
  U.mkdir_p(U.dirname(path))
  if opts.resume_step and opts.resume_step > 0 then
    local cols = Logger.truncate(path, opts.resume_step)
    if cols then
      self.columns = cols
      self.f = assert(io.open(path, "a"))
      return self
    end
  end
  if self.columns then self:_start() end
  return self
end

function Logger:_start()
  self.f = assert(io.open(self.path, "w"))
  self.f:write(table.concat(self.columns, "\t"), "\n")
end

function Logger:write(row)
  if not self.columns then
    local cols, seen = {}, {}
    for _, c in ipairs(self.first) do cols[#cols + 1] = c; seen[c] = true end
    local extra = {}
    for k in pairs(row) do if not seen[k] then extra[#extra + 1] = k; seen[k] = true end end
    for _, k in ipairs(self.extra or {}) do if not seen[k] then extra[#extra + 1] = k; seen[k] = true end end
    table.sort(extra)
    for _, k in ipairs(extra) do cols[#cols + 1] = k end
    self.columns = cols
    self:_start()
  end
  local cells = {}
  for i, c in ipairs(self.columns) do
    local v = row[c]
    cells[i] = v == nil and "NaN" or U.tsv_number(v)
  end
  self.f:write(table.concat(cells, "\t"), "\n")
  self.f:flush()
end

function Logger:close()
  if self.f then self.f:close(); self.f = nil end
end

return Logger
