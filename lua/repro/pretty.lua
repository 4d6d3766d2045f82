-- repro.pretty: readable text for any Lua value, as PyTorch's repr and
-- Torch7's `th` show them. The REPL prints every result through M.repr.
--
--   {4, 8}                                 a list (x:shape())
--   {bias = 7, ebits = 4, inf = false, max = 448.0, ...}   a record, keys sorted
--   {                                      nested or long tables: one entry a line
--     model = <nn.Llama 5.5K params>,
--     steps = 200,
--   }
-- Values whose metatable has __tostring (tensors, optimizers, models,
-- generators, FP8 recipes) print through it; inside a table, a tensor of more
-- than 8 elements or 2+ dims shows as tensor{4,8} f32, and a model as
-- <nn.Llama 5.5K params>. Floats print at their shortest round-trip form
-- (0.1, not 0.10000000000000001); cycles as <cycle>; deep tables as {...}.
local M = {}

-- Per table at most MAX_ITEMS entries, in all at most MAX_TOTAL (a huge
-- nested table prints a bounded amount of text), nested at most MAX_DEPTH.
local WIDTH, MAX_ITEMS, MAX_TOTAL, MAX_DEPTH = 78, 100, 2000, 8

-- The shortest "%.{15,16,17}g" that reads back as the same double; integral
-- floats keep a ".0" as Lua prints them.
function M.number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  local s
  for p = 15, 17 do
    s = string.format("%." .. p .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == "\n" then return "\\n" elseif c == "\t" then return "\\t" elseif c == '"' then return '\\"'
    elseif c == "\\" then return "\\\\" end
    return string.format("\\%03d", c:byte())
  end) .. '"'
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not ({
    ["and"] = 1, ["break"] = 1, ["do"] = 1, ["else"] = 1, ["elseif"] = 1, ["end"] = 1, ["false"] = 1,
    ["for"] = 1, ["function"] = 1, ["goto"] = 1, ["if"] = 1, ["in"] = 1, ["local"] = 1, ["nil"] = 1,
    ["not"] = 1, ["or"] = 1, ["repeat"] = 1, ["return"] = 1, ["then"] = 1, ["true"] = 1, ["until"] = 1,
    ["while"] = 1 })[k]
end

local function metafield(v, f)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, f) or nil
end

local function is_tensor(v) return type(v) == "userdata" and metafield(v, "__name") == "repro.Tensor" end

-- A short name for a kit function (by identity), or nil; repro.help's index
-- is built once, on the first function printed.
local fn_names
local function function_name(f)
  if fn_names == nil then
    fn_names = false
    local ok, help = pcall(require, "repro.help")
    if ok then
      local ok2, list = pcall(help.exported)
      if ok2 then
        fn_names = {}
        for _, e in ipairs(list) do
          local cur = fn_names[e.value]
          -- prefer module names ("tensor.relu") to method names ("Tensor:relu")
          local better = not cur or (cur:find(":") and not e.name:find(":"))
            or ((cur:find(":") ~= nil) == (e.name:find(":") ~= nil) and #e.name < #cur)
          if better then fn_names[e.value] = e.name end
        end
      end
    end
  end
  return fn_names and fn_names[f]
end

-- Brief forms used inside tables.
local function brief(v)
  if is_tensor(v) then
    if v:is_closed() then return "tensor(closed)" end
    if v:numel() <= 8 and v:dim() <= 1 then return tostring(v) end
    return string.format("tensor{%s} %s", table.concat(v:shape(), ","), v:dtype())
  end
  local name = metafield(v, "__name")
  if type(v) == "table" and type(name) == "string" and name:match("^repro%.nn%.") then
    local n = v:num_parameters()
    local c = n >= 1e6 and string.format("%.2fM", n / 1e6) or n >= 1e3 and string.format("%.1fK", n / 1e3)
              or tostring(n)
    return string.format("<nn.%s %s params>", v.classname or "Module", c)
  end
  return nil
end

local render

local function key_text(k, ctx, depth)
  if is_identifier(k) then return k end
  return "[" .. render(k, ctx, depth + 1, true) .. "]"
end

local function render_table(t, ctx, depth)
  if ctx.seen[t] then return "<cycle>" end
  if depth >= MAX_DEPTH or ctx.budget <= 0 then return "{...}" end
  ctx.seen[t] = true
  local n = #t
  local items, keys = {}, {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  local shown = 0
  for i = 1, n do
    ctx.budget = ctx.budget - 1
    if shown >= MAX_ITEMS or ctx.budget < 0 then items[#items + 1] = "... (" .. (n - shown) .. " more)"; break end
    items[#items + 1] = render(t[i], ctx, depth + 1, true)
    shown = shown + 1
  end
  for i, k in ipairs(keys) do
    ctx.budget = ctx.budget - 1
    if shown >= MAX_ITEMS or ctx.budget < 0 then items[#items + 1] = "... (" .. (#keys - i + 1) .. " more keys)"; break end
    items[#items + 1] = key_text(k, ctx, depth) .. " = " .. render(t[k], ctx, depth + 1, true)
    shown = shown + 1
  end
  ctx.seen[t] = nil
  if #items == 0 then return "{}" end
  local one = "{" .. table.concat(items, ", ") .. "}"
  if #one + depth * 2 <= WIDTH and not one:find("\n") then return one end
  local pad = string.rep("  ", depth + 1)
  if #keys == 0 and not one:find("\n") then
    -- a long list of short items: as many a line as fit
    local lines, cur = { "{" }, pad
    for i, s in ipairs(items) do
      local piece = s .. (i < #items and "," or "")
      if #cur > #pad and #cur + 1 + #piece > WIDTH then lines[#lines + 1] = cur; cur = pad .. piece
      else cur = #cur > #pad and (cur .. " " .. piece) or (cur .. piece) end
    end
    lines[#lines + 1] = cur
    lines[#lines + 1] = string.rep("  ", depth) .. "}"
    return table.concat(lines, "\n")
  end
  local lines = { "{" }
  for _, s in ipairs(items) do lines[#lines + 1] = pad .. s:gsub("\n", "\n" .. pad) .. "," end
  lines[#lines + 1] = string.rep("  ", depth) .. "}"
  return table.concat(lines, "\n")
end

render = function(v, ctx, depth, nested)
  local tv = type(v)
  if tv == "number" then return M.number(v) end
  if tv == "string" then return nested and quote(v) or v end
  if tv == "nil" or tv == "boolean" then return tostring(v) end
  if nested then
    local b = brief(v)
    if b then return b end
  end
  if metafield(v, "__tostring") then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == "string" then return s end
    return "<" .. tv .. ": __tostring failed: " .. tostring(s) .. ">"
  end
  if tv == "table" then return render_table(v, ctx, depth) end
  if tv == "function" then
    local name = function_name(v)
    if name then return "<function " .. name .. ">" end
  end
  return tostring(v)
end

-- Readable text of v (strings at the top level unquoted, as print shows them).
function M.repr(v)
  return render(v, { seen = {}, budget = MAX_TOTAL }, 0, false)
end

-- Text of v as it appears inside a table (strings quoted, tensors brief).
function M.inline(v)
  return render(v, { seen = {}, budget = MAX_TOTAL }, 0, true)
end

-- Print values as print does (tab-separated, newline), each through repr.
function M.show(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = M.repr((select(i, ...))) end
  io.write(table.concat(out, "\t"), "\n")
end

return M
