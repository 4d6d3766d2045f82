-- repro.dist: data-parallel jobs on several processes (Open MPI), with the
-- same bits as one process (docs/dist.md states the rule exactly).
--
--   mpirun -np 2 repro script.lua     -- the executable brings MPI up itself
--   local dist = repro.dist
--   dist.rank(), dist.size()          -- 0 and 1 outside mpirun
--   dist.broadcast(value)             -- rank 0's value (nested tables of tensors,
--                                     -- numbers, strings, booleans) on every rank
--   dist.broadcast_parameters(params) -- rank 0's tensors copied into every rank's
--   local acc = dist.accumulator(params, k)  -- k micro-batch gradients per rank
--   acc:add(j); acc:reduce(M)         -- p.grad = (fold of all M rows in rank order) / M
--
-- The gradient reduction folds every micro-batch gradient left to right in
-- global micro-batch order: ((g1 + g2) + g3) + ... then / M. Bucket by bucket
-- of the flattened gradients, each rank folds its own contiguous chunk of
-- the bucket from every rank's rows (a reduce-scatter by MPI_Alltoallv), then
-- an MPI_Allgatherv gives every rank the whole bucket: the traffic of an
-- all-reduce, the order of one process. One process with micro_batches = M
-- folds the same rows in the same order, so N processes and one process give
-- the same bits. transport = "gather" (every row to every rank, each rank
-- folds all of it) is the plain reference the tests hold it to.
local C = require("repro.core").dist
local T = require "repro.tensor"
local U = require "repro.util"

local D = {}

function D.available() return C.available() end
function D.launched() return C.launched() end
function D.rank() return C.rank() end
function D.size() return C.size() end
function D.enabled() return C.size() > 1 end
function D.barrier() C.barrier() end
function D.abort(code) C.abort(code or 1) end

-- For a script that asks for processes (--dist): a clear error when it cannot have them.
function D.require(n)
  if not C.available() then
    error("dist: this repro was built without MPI: install the Debian packages libopenmpi-dev and "
      .. "openmpi-bin (apt-get install libopenmpi-dev openmpi-bin) and rebuild", 2)
  end
  if n and C.size() ~= n then
    error(string.format("dist: %d processes wanted, running on %d (start with: mpirun -np %d repro ...)", n, C.size(), n), 2)
  end
  return C.size()
end

-- ---- values -----------------------------------------------------------------

local function encode(v, tensors, depth)
  local t = type(v)
  if t == "nil" or t == "boolean" or t == "number" or t == "string" then return string.format("%q", v) end
  if T.is_tensor(v) then
    tensors[#tensors + 1] = v:contiguous()
    return string.format("TT(%d,%q,{%s})", #tensors, v:dtype(), table.concat(v:shape(), ","))
  end
  if t == "table" then
    if depth > 64 then error("dist.broadcast: tables nested deeper than 64 levels", 0) end
    if getmetatable(v) ~= nil then error("dist.broadcast: cannot send a table with a metatable", 0) end
    local parts = {}
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      return a < b
    end)
    for _, k in ipairs(keys) do
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" then error("dist.broadcast: keys must be strings or numbers, got " .. tk, 0) end
      parts[#parts + 1] = "[" .. string.format("%q", k) .. "]=" .. encode(v[k], tensors, depth + 1)
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("dist.broadcast: cannot send a " .. t, 0)
end

-- Rank 0's value on every rank (root's argument; the others pass anything).
function D.broadcast(value, root)
  root = root or 0
  if C.size() == 1 then encode(value, {}, 0); return value end   -- the same checks as on N processes
  local tensors = {}
  local text = C.rank() == root and encode(value, tensors, 0) or nil
  text = C.bcast_string(text, root)
  if C.rank() ~= root then
    local fn = assert(load("return " .. text, "=dist.broadcast", "t", {
      TT = function(i, dtype, shape) local x = T.zeros(shape, { dtype = dtype }); tensors[i] = x; return x end,
    }))
    value = fn()
  end
  for i = 1, #tensors do C.bcast_tensor(tensors[i], root) end
  return value
end

-- Copy rank 0's parameter values into every rank's tensors (in place).
function D.broadcast_parameters(params, root)
  if C.size() == 1 then return end
  for i, p in ipairs(params) do
    if not T.is_tensor(p) then error("dist.broadcast_parameters: entry " .. i .. " is not a tensor", 2) end
    if not p:is_contiguous() then error("dist.broadcast_parameters: parameter " .. i .. " is not contiguous", 2) end
    C.bcast_tensor(p, root or 0)
  end
end

-- Every rank's numbers, concatenated in rank order.
function D.allgather(numbers) return C.allgather_numbers(numbers) end

-- A signal agreed by every rank: the first rank's pending one ("SIGINT" |
-- "SIGTERM"), or nil when no rank has one. Collective: call it on every rank.
local SIGNALS = { "SIGINT", "SIGTERM" }
function D.any_signal(name)
  if C.size() == 1 then return name end
  local code = name == "SIGINT" and 1 or name == "SIGTERM" and 2 or 0
  local all = C.allgather_numbers { code }
  for _, c in ipairs(all) do if c > 0 then return SIGNALS[math.tointeger(c)] end end
  return nil
end

-- ---- files: rank 0 writes, the others keep private copies -------------------

local scratch
-- This rank's private folder (ranks > 0; removed at exit): where its copy of
-- an experiment's outputs goes, so that only rank 0 writes the real ones.
function D.scratch_dir()
  if not scratch then
    local base = os.getenv("TMPDIR")
    if not base or base == "" then base = "/tmp" end
    scratch = U.join(base, string.format("repro-rank%d-%d-%d", C.rank(), os.time(), math.random(1, 1 << 30)))
    U.mkdir_p(scratch)
    D._sentinel = setmetatable({}, { __gc = function() os.execute("rm -rf -- " .. U.shell_quote(scratch)) end })
  end
  return scratch
end

-- The path a rank > 0 writes to in place of `path` (rank 0: path itself).
function D.private_path(path)
  if C.rank() == 0 then return path end
  local dir = D.scratch_dir()
  if path:sub(1, #dir) == dir then return path end
  return U.join(dir, (path:gsub("^/+", "")))
end

-- Is `path` this rank's to write? Rank 0: always; others: only inside their scratch folder.
function D.writes(path)
  if C.rank() == 0 then return true end
  return scratch ~= nil and type(path) == "string" and path:sub(1, #scratch) == scratch
end

-- Make this rank's copy of a file equal rank 0's (or absent when rank 0 has
-- none). Each rank passes its own path (D.private_path of rank 0's).
function D.share_file(path)
  if C.size() == 1 then return end
  local s = C.rank() == 0 and U.read_file(path) or nil
  local has = D.broadcast(s ~= nil)
  local text = C.bcast_string(C.rank() == 0 and (s or "") or nil)
  if C.rank() ~= 0 then
    if has then U.mkdir_p(U.dirname(path)); U.write_file_atomic(path, text) else os.remove(path) end
  end
end

-- ---- gradients ----------------------------------------------------------------

local Acc = {}
Acc.__index = Acc
Acc.__name = "repro.dist.Accumulator"
debug.getregistry()[Acc.__name] = Acc

-- An accumulator of k micro-batch gradients of params on this rank.
function D.accumulator(params, k, opts)
  if type(params) ~= "table" or #params == 0 then error("dist.accumulator: params must be a non-empty list of tensors", 2) end
  if math.type(k) ~= "integer" or k < 1 then error("dist.accumulator: k must be an integer >= 1, got " .. tostring(k), 2) end
  opts = opts or {}
  local P = 0
  for i, p in ipairs(params) do
    if not T.is_tensor(p) then error("dist.accumulator: entry " .. i .. " is not a tensor", 2) end
    P = P + p:numel()
  end
  for key in pairs(opts) do
    if key ~= "bucket" and key ~= "transport" then
      error("dist.accumulator: unknown option '" .. tostring(key) .. "' (bucket, transport)", 2)
    end
  end
  local bucket = opts.bucket or (1 << 22)
  if math.type(bucket) ~= "integer" or bucket < 1 then error("dist.accumulator: bucket must be an integer >= 1", 2) end
  local transport = opts.transport or "reduce"
  if transport ~= "reduce" and transport ~= "gather" then
    error("dist.accumulator: transport must be 'reduce' or 'gather', got '" .. tostring(transport) .. "'", 2)
  end
  return setmetatable({ params = params, k = k, P = P, bucket = bucket, transport = transport, buf = T.zeros(k, P),
                        out = T.zeros(P), zeros = {} }, Acc)
end

-- Store the current p.grad of every parameter as row j (1..k); a missing grad counts as zeros.
function Acc:add(j)
  local grads = {}
  for i, p in ipairs(self.params) do
    local g = p.grad
    if not g then
      g = self.zeros[i] or T.zeros(p:shape())
      self.zeros[i] = g
    end
    grads[i] = g
  end
  C.pack(self.buf, j, grads)
end

-- p.grad = (fold of the rows of every rank, rank order) / divisor, the same on every rank.
function Acc:reduce(divisor)
  C[self.transport == "gather" and "fold" or "reduce"](self.out, self.buf, divisor or 1, self.bucket)
  local grads = {}
  for i, p in ipairs(self.params) do
    local g = T.zeros(p:shape())
    grads[i] = g
  end
  C.unpack(self.out, grads)
  for i, p in ipairs(self.params) do p.grad = grads[i] end
end

function Acc:__tostring()
  return string.format("dist.Accumulator(%d parameters, %d numbers, %d micro-batch%s per rank, %d ranks)", #self.params,
    self.P, self.k, self.k == 1 and "" or "es", C.size())
end

return D
