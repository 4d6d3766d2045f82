-- repro.checkpoint: crash-safe checkpoints that survive interruptions,
-- full disks and corrupt files.
--
--   local ckpt = require "repro.checkpoint"
--   ckpt.save(dir, step, tensors, meta, {keep = 3}) -> path of the new file
--       tensors: {name = tensor} (flat); meta: nested table of strings,
--       numbers (integer/float kept apart, NaN/inf exact) and booleans.
--   ckpt.load_latest(dir) -> step, tensors, meta   (nil if dir holds none)
--       Verifies every checksum; a corrupt or truncated newest file gives a
--       warning on stderr and the previous good one is used. Raises only when
--       checkpoints exist and none is intact.
--   ckpt.list(dir) -> ascending steps of the checkpoint files in dir
--
-- Drop-in for the trainer's nested state ({step =, model = state_dict,
-- optimizer = state_dict, recipes =, rng =, data =}: tensors anywhere,
-- scalars anywhere):
--   ckpt.save_state(dir, state, {keep = 3})
--   ckpt.load_state(dir) -> state (nil if dir holds no checkpoint)
--
-- One checkpoint is one file, dir/step-NNNNNNNN.safetensors, so committing it
-- is one rename: written as "<file>.tmp", fsync'ed, renamed, then the folder
-- is fsync'ed. Its __metadata__ holds the format tag, the step, the scalar
-- tree ("meta", one "path<TAB>type<TAB>value" line per leaf) and an FNV-1a 64
-- checksum of each tensor's bytes and of the meta text. Older files beyond
-- the last `keep` are deleted only after the new one is committed, so at any
-- moment of an interruption (or a failed write) the last good checkpoint is
-- intact.
local T = require "repro.tensor"
local U = require "repro.util"
local cio = require("repro.core").io

local M = {}

local FORMAT = "repro-checkpoint v2"
local MAX_DEPTH = 64 -- nesting limit of the meta tree (a file could ask for more)
local FILE_PAT = "^step%-(%d+)%.safetensors$"

local function warn(msg) io.stderr:write("checkpoint: warning: ", msg, "\n") end

-- ---- paths and escaping -------------------------------------------------------
-- Path segments join with "/"; integer keys are written "#N"; string keys have
-- %, /, # (leading), control and non-ASCII bytes written %XX, so any key
-- round-trips and a file's bytes can only produce well-formed keys.

local function enc_seg(k)
  if math.type(k) == "integer" then return "#" .. k end
  local s = k:gsub("[%%/\t\n\r%c\128-\255]", function(c) return string.format("%%%02X", c:byte()) end)
  if s:sub(1, 1) == "#" then s = "%23" .. s:sub(2) end
  if k == "" then s = "%" end -- a lone % is never produced otherwise
  return s
end

local function dec_seg(s, where)
  if s == "%" then return "" end
  local n = s:match("^#(%-?%d+)$")
  if n then
    local i = math.tointeger(tonumber(n))
    if not i then error(where .. ": integer key '" .. s .. "' out of range", 0) end
    return i
  end
  if s:gsub("%%%x%x", ""):find("%", 1, true) or s:find("^#") then
    error(where .. ": malformed key '" .. s:sub(1, 60) .. "'", 0)
  end
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function esc_str(v)
  return (v:gsub("[%c\\\128-\255]", function(c) return string.format("\\%02X", c:byte()) end))
end

local function unesc_str(s, where)
  if s:gsub("\\%x%x", ""):find("\\", 1, true) then
    error(where .. ": malformed escape in string value", 0)
  end
  return (s:gsub("\\(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function is_tensor(v)
  return type(v) == "userdata" and getmetatable(v) ~= nil and getmetatable(v).__name == "repro.Tensor"
end

local function sorted_keys(t, where)
  local ks = {}
  for k in pairs(t) do
    if type(k) ~= "string" and math.type(k) ~= "integer" then
      error(where .. ": keys must be strings or integers, got a " .. type(k), 0)
    end
    ks[#ks + 1] = k
  end
  table.sort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta == "number" end
    return a < b
  end)
  return ks
end

-- ---- the meta tree as text ------------------------------------------------------

local function fmt_float(v)
  if v ~= v then return "nan" elseif v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
  return U.shortest(v)   -- exact: the shortest form that reads back as v
end

local function meta_lines(v, path, out, seen, depth, fn)
  if depth > MAX_DEPTH then error(fn .. ": meta nests deeper than " .. MAX_DEPTH .. " at '" .. path .. "'", 0) end
  local ty = type(v)
  if ty == "table" then
    if seen[v] then error(fn .. ": meta contains a cycle at '" .. path .. "'", 0) end
    seen[v] = true
    out[#out + 1] = path .. "\tt\t"
    for _, k in ipairs(sorted_keys(v, fn .. ": meta at '" .. path .. "'")) do
      meta_lines(v[k], path .. "/" .. enc_seg(k), out, seen, depth + 1, fn)
    end
    seen[v] = nil
  elseif math.type(v) == "integer" then out[#out + 1] = path .. "\ti\t" .. string.format("%d", v)
  elseif ty == "number" then out[#out + 1] = path .. "\tf\t" .. fmt_float(v)
  elseif ty == "boolean" then out[#out + 1] = path .. "\tb\t" .. tostring(v)
  elseif ty == "string" then out[#out + 1] = path .. "\ts\t" .. esc_str(v)
  else
    error(string.format("%s: cannot store a %s at '%s' (meta holds strings, numbers, booleans and tables)",
      fn, is_tensor(v) and "tensor" or ty, path), 0)
  end
end

local function decode_value(kind, s, where)
  if kind == "i" then
    local i = s:match("^%-?%d+$") and math.tointeger(tonumber(s))
    if not i then error(where .. ": bad integer '" .. s:sub(1, 40) .. "'", 0) end
    return i
  elseif kind == "f" then
    if s == "nan" or s == "-nan" then return 0 / 0 elseif s == "inf" then return math.huge
    elseif s == "-inf" then return -math.huge end
    local x = s:match("^[%-%d%.eE+]+$") and tonumber(s)
    if not x then error(where .. ": bad number '" .. s:sub(1, 40) .. "'", 0) end
    if x == 0 and s:sub(1, 1) == "-" then return -0.0 end
    return x + 0.0
  elseif kind == "b" then
    if s == "true" then return true elseif s == "false" then return false end
    error(where .. ": bad boolean '" .. s:sub(1, 40) .. "'", 0)
  elseif kind == "s" then return unesc_str(s, where)
  elseif kind == "t" then
    if s ~= "" then error(where .. ": a table line carries a value", 0) end
    return {}
  end
  error(where .. ": unknown value type '" .. kind .. "'", 0)
end

-- Split "/a/#2/b" into decoded segments (the root is "").
local function split_path(path, where)
  if path == "" then return {} end
  if path:sub(1, 1) ~= "/" then error(where .. ": path '" .. path:sub(1, 60) .. "' does not start with /", 0) end
  local segs = {}
  for seg in (path:sub(2) .. "/"):gmatch("([^/]*)/") do
    if seg == "" then error(where .. ": empty segment in path '" .. path:sub(1, 60) .. "'", 0) end
    segs[#segs + 1] = dec_seg(seg, where)
    if #segs > MAX_DEPTH then error(where .. ": path nests deeper than " .. MAX_DEPTH, 0) end
  end
  return segs
end

-- Store v at path in root; every parent must exist and be a table, and no
-- leaf may be set twice (a file could try both).
local function put(root, path, v, where)
  local segs = split_path(path, where)
  if #segs == 0 then
    if type(v) ~= "table" then error(where .. ": the root must be a table", 0) end
    return
  end
  local t = root
  for i = 1, #segs - 1 do
    t = t[segs[i]]
    if type(t) ~= "table" then error(where .. ": parent of '" .. path:sub(1, 60) .. "' is not a table", 0) end
  end
  local k = segs[#segs]
  if t[k] ~= nil then error(where .. ": '" .. path:sub(1, 60) .. "' is set twice", 0) end
  t[k] = v
end

local function parse_meta(text, where)
  local root, n = {}, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if not (n == 1 and line == "") then
      local w = where .. ": meta line " .. n
      local path, kind, val = line:match("^([^\t]*)\t(%a)\t(.*)$")
      if not path then error(w .. ": malformed line", 0) end
      if path ~= "" then put(root, path, decode_value(kind, val, w), w)
      elseif kind ~= "t" then error(w .. ": the root must be a table", 0) end
    end
  end
  return root
end

-- ---- files --------------------------------------------------------------------------

local function file_of(dir, step) return dir .. "/" .. string.format("step-%08d.safetensors", step) end

function M.list(dir)
  local names = cio.listdir(dir)
  local steps = {}
  for _, f in ipairs(names or {}) do
    local s = f:match(FILE_PAT)
    s = s and math.tointeger(tonumber(s))
    if s then steps[#steps + 1] = s end
  end
  table.sort(steps)
  return steps
end

local function mkdir_p(dir)
  -- Only call out to a shell when the folder is missing: os.execute runs
  -- system(), which ignores SIGINT while the child runs, so a signal sent
  -- then would be lost (the stop-on-signal path depends on seeing it).
  if cio.isdir(dir) then return end
  if not (pcall(U.mkdir_p, dir) and cio.isdir(dir)) then
    error("cannot create the folder '" .. dir .. "'", 0)
  end
end

function M.save(dir, step, tensors, meta, opts)
  local fn = "checkpoint.save"
  if type(dir) ~= "string" or dir == "" then error(fn .. ": dir must be a non-empty string", 2) end
  if math.type(step) ~= "integer" or step < 0 or step > 99999999 then
    error(fn .. ": step must be an integer in 0..99999999, got " .. tostring(step), 2)
  end
  if type(tensors) ~= "table" then error(fn .. ": tensors must be a table name -> tensor", 2) end
  if meta ~= nil and type(meta) ~= "table" then error(fn .. ": meta must be a table", 2) end
  opts = opts or {}
  local keep = opts.keep or 3
  if math.type(keep) ~= "integer" or keep < 1 then error(fn .. ": keep must be a positive integer", 2) end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end

  local md = { ["repro.checkpoint"] = FORMAT, step = tostring(step) }
  for name, t in pairs(tensors) do
    if type(name) ~= "string" then error(fn .. ": tensor names must be strings, got a " .. type(name), 2) end
    if not is_tensor(t) then error(fn .. ": '" .. name .. "' is a " .. type(t) .. ", not a tensor", 2) end
    md["fnv1a64/" .. name] = cio.fnv1a64(t) -- also raises on a closed tensor
  end
  local lines = {}
  local ok, err = pcall(meta_lines, meta or {}, "", lines, {}, 0, fn)
  if not ok then error(err, 2) end
  md.meta = table.concat(lines, "\n")
  md["meta.fnv1a64"] = cio.fnv1a64(md.meta)

  local path = file_of(dir, step)
  local tmp = path .. ".tmp"
  local function fail(msg)
    os.remove(tmp)
    error(string.format("%s: cannot write checkpoint step %d to '%s': %s (the previous checkpoints are untouched)",
      fn, step, dir, msg), 3)
  end
  ok, err = pcall(mkdir_p, dir)
  if not ok then fail(err) end
  ok, err = pcall(T.save, tmp, tensors, md)
  if not ok then fail(err) end
  ok, err = cio.fsync(tmp)
  if not ok then fail(err) end
  ok, err = os.rename(tmp, path)
  if not ok then fail(err) end
  cio.fsync(dir) -- the rename itself is durable only once the folder is synced
  -- committed: prune older files, and temporaries of interrupted saves
  local steps = M.list(dir)
  local kept = 1
  for i = #steps, 1, -1 do
    if steps[i] ~= step then
      kept = kept + 1
      if kept > keep then os.remove(file_of(dir, steps[i])) end
    end
  end
  for _, f in ipairs(cio.listdir(dir) or {}) do
    if f:match("^step%-%d+%.safetensors%.tmp$") then os.remove(dir .. "/" .. f) end
  end
  return path
end

-- Load and verify one checkpoint file: step, tensors, meta or raises.
local function load_verified(path, want_step)
  local tensors, md = T.load(path)
  if md["repro.checkpoint"] ~= FORMAT then error("not a repro checkpoint (no '" .. FORMAT .. "' tag)", 0) end
  local step = md.step and md.step:match("^%d+$") and math.tointeger(tonumber(md.step))
  if step ~= want_step then error("its step '" .. tostring(md.step) .. "' does not match the file name", 0) end
  if type(md.meta) ~= "string" or cio.fnv1a64(md.meta) ~= md["meta.fnv1a64"] then
    error("the meta checksum does not match", 0)
  end
  for name, t in pairs(tensors) do
    local want = md["fnv1a64/" .. name]
    if not want then error("tensor '" .. name .. "' has no checksum", 0) end
    if cio.fnv1a64(t) ~= want then error("tensor '" .. name .. "' fails its checksum (" .. want .. ")", 0) end
  end
  for k in pairs(md) do
    local name = k:match("^fnv1a64/(.*)$")
    if name and not tensors[name] then error("tensor '" .. name .. "' is missing", 0) end
  end
  return step, tensors, parse_meta(md.meta, "'" .. path .. "'")
end

function M.load_latest(dir)
  if type(dir) ~= "string" then error("checkpoint.load_latest: dir must be a string", 2) end
  dir = dir:gsub("/+$", "")
  if dir == "" then dir = "/" end
  local steps = M.list(dir)
  local reasons = {}
  for i = #steps, 1, -1 do
    local path = file_of(dir, steps[i])
    local ok, step, tensors, meta = pcall(load_verified, path, steps[i])
    if ok then return step, tensors, meta end
    local why = tostring(step):gsub("^[^\n]-%.lua:%d+: ", "")
    reasons[#reasons + 1] = path .. ": " .. why
    warn(string.format("'%s' is corrupt or truncated (%s); %s", path, why,
      i > 1 and "falling back to the previous checkpoint" or "no older checkpoint left"))
  end
  if #steps == 0 then return nil end
  error("checkpoint.load_latest: no intact checkpoint in '" .. dir .. "':\n  " .. table.concat(reasons, "\n  "), 2)
end

-- ---- nested state (the trainer's) -------------------------------------------------------

local function split_state(v, path, tensors, seen, depth)
  if depth > MAX_DEPTH then error("checkpoint.save_state: state nests deeper than " .. MAX_DEPTH, 0) end
  if is_tensor(v) then tensors[path] = v return nil end
  if type(v) ~= "table" then return v end
  if seen[v] then error("checkpoint.save_state: state contains a cycle at '" .. path .. "'", 0) end
  seen[v] = true
  local out = {}
  for _, k in ipairs(sorted_keys(v, "checkpoint.save_state: at '" .. path .. "'")) do
    out[k] = split_state(v[k], path .. "/" .. enc_seg(k), tensors, seen, depth + 1)
  end
  seen[v] = nil
  return out
end

function M.save_state(dir, state, opts)
  if type(state) ~= "table" or math.type(state.step) ~= "integer" then
    error("checkpoint.save_state: state must be a table with an integer step", 2)
  end
  local tensors = {}
  local ok, meta = pcall(split_state, state, "", tensors, {}, 0)
  if not ok then error(meta, 2) end
  return M.save(dir, state.step, tensors, meta, opts)
end

function M.load_state(dir)
  local step, tensors, meta = M.load_latest(dir)
  if not step then return nil end
  for path, t in pairs(tensors) do
    local where = "checkpoint.load_state: tensor '" .. path .. "'"
    local segs = split_path(path, where)
    local tb = meta
    for i = 1, #segs - 1 do
      if tb[segs[i]] == nil then tb[segs[i]] = {} end
      tb = tb[segs[i]]
      if type(tb) ~= "table" then error(where .. ": a parent is not a table", 2) end
    end
    if #segs == 0 or tb[segs[#segs]] ~= nil then error(where .. ": clashes with a scalar", 2) end
    tb[segs[#segs]] = t
  end
  meta.step = step
  return meta
end

return M
