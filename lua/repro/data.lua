-- repro.data: corpora, the train/val split and random contiguous batches.
--
-- Split: the first (1 - val_fraction) of the token stream trains and the last
-- val_fraction validates (default 0.1), as nanoGPT does for Tiny Shakespeare:
-- contiguous, deterministic, no shuffling, no overlap.
--
-- Batches: B random windows of seq_len + 1 tokens; x is the first seq_len
-- tokens and y the same window shifted by one (the next-token targets). Window
-- starts are drawn from a counter-based sampler (seed, counter): draw i is a
-- pure function of (seed, i), so the sequence of batches depends only on the
-- seed, and get_state/set_state make it checkpointable. Batches are i32
-- tensors (B, T) of 1-based ids when repro.tensor can build them, else plain
-- Lua tables of rows.
local U = require "repro.util"
local tokenizer = require "repro.tokenizer"

local D = {}

function D.load_text(path)
  if type(path) ~= "string" then error("data.load_text: path must be a string, got " .. type(path), 2) end
  local s, err = U.read_file(path)
  if not s then
    error("data.load_text: cannot read '" .. path .. "': " .. tostring(err or "not a regular file (a folder?)"), 2)
  end
  return s
end

local function check_count(fn, name, v, min)
  if math.type(v) ~= "integer" or v < min then
    error(string.format("%s: %s must be an integer >= %d, got %s", fn, name, min, tostring(v)), 3)
  end
end

-- Tiny Shakespeare, bundled in data/tinyshakespeare/input.txt.
function D.shakespeare_path()
  return U.join(U.source_dir(), "data/tinyshakespeare/input.txt")
end

-- ids -> train, val (new tables): first 1 - val_fraction / last val_fraction.
function D.split(ids, val_fraction)
  val_fraction = val_fraction or 0.1
  if type(val_fraction) ~= "number" or val_fraction < 0 or val_fraction >= 1 then
    error("data.split: val_fraction must be in [0, 1), got " .. tostring(val_fraction), 2)
  end
  local n = #ids
  local ntrain = math.floor(n * (1 - val_fraction))
  local train, val = table.move(ids, 1, ntrain, 1, {}), table.move(ids, ntrain + 1, n, 1, {})
  return train, val
end

-- ---- the sampler ------------------------------------------------------------
-- splitmix64 finaliser of (seed, counter): a counter-based generator in pure
-- Lua integer arithmetic (wrapping 64-bit), independent of the tensor RNG.
local function mix(z)
  z = (z ~ (z >> 30)) * -4658895280553007687   -- 0xbf58476d1ce4e5b9
  z = (z ~ (z >> 27)) * -7723592293110705685   -- 0x94d049bb133111eb
  return z ~ (z >> 31)
end

local Sampler = {}
Sampler.__index = Sampler
Sampler.__name = "repro.data.Sampler"
debug.getregistry()[Sampler.__name] = Sampler   -- found by repro.help, as C types are

function D.sampler(seed)
  if math.type(seed) ~= "integer" then error("data.sampler: seed must be an integer", 2) end
  return setmetatable({ seed = seed, counter = 0 }, Sampler)
end

-- A uniform integer in [0, n) (n < 2^53); rejection keeps it exactly uniform.
function Sampler:below(n)
  if math.type(n) ~= "integer" or n < 1 or n >= 1 << 53 then
    error("data.sampler: below(n) needs an integer n in 1..2^53, got " .. tostring(n), 2)
  end
  local limit = (1 << 62) // n * n
  while true do
    self.counter = self.counter + 1
    local r = mix(mix(self.seed) + self.counter * -7046029254386353131) >> 2   -- 62 random bits
    if r < limit then return r % n end
  end
end

function Sampler:__tostring() return string.format("data.Sampler(seed=%d, counter=%d)", self.seed, self.counter) end
function Sampler:get_state() return { seed = self.seed, counter = self.counter } end
function Sampler:set_state(s)
  if type(s) ~= "table" or math.type(s.seed) ~= "integer" or math.type(s.counter) ~= "integer" then
    error("data.sampler: set_state expects {seed = integer, counter = integer}", 2)
  end
  self.seed, self.counter = s.seed, s.counter
end

-- ---- i32 tensors when available ---------------------------------------------
local to_batch
local function make_to_batch()
  local ok, T = pcall(require, "repro.tensor")
  if ok and type(T.tensor) == "function" then
    local probe = { { 1, 2 } }
    for _, opts in ipairs { { dtype = "i32" }, "i32" } do
      local ok2, t = pcall(T.tensor, probe, opts)
      if ok2 and t and (t.dtype == "i32" or (type(t.dtype) == "function" and t:dtype() == "i32")) then
        return function(rows) return T.tensor(rows, opts) end
      end
    end
  end
  return function(rows) return rows end
end

-- ---- the loader ---------------------------------------------------------------
local Loader = {}
Loader.__index = Loader
Loader.__name = "repro.data.Loader"
debug.getregistry()[Loader.__name] = Loader

-- data.loader{train = ids, val = ids, seq_len =, batch =, seed =, vocab_size =, tokenizer =}
function D.loader(o)
  if type(o) ~= "table" then error("data.loader: expected a table of options", 2) end
  for _, k in ipairs { "train", "seq_len", "batch" } do
    if o[k] == nil then error("data.loader: '" .. k .. "' is required", 2) end
  end
  if type(o.train) ~= "table" then error("data.loader: train must be a table of ids", 2) end
  if o.val ~= nil and type(o.val) ~= "table" then error("data.loader: val must be a table of ids", 2) end
  check_count("data.loader", "seq_len", o.seq_len, 1)
  check_count("data.loader", "batch", o.batch, 1)
  if o.seed ~= nil and math.type(o.seed) ~= "integer" then error("data.loader: seed must be an integer", 2) end
  local self = setmetatable({
    splits = { train = o.train, val = o.val or {} },
    seq_len = o.seq_len, batch_size = o.batch, vocab_size = o.vocab_size, tokenizer = o.tokenizer,
    samplers = { train = D.sampler(o.seed or 1), val = D.sampler((o.seed or 1) + 7919) },
    as_tables = o.as_tables,
  }, Loader)
  for name, ids in pairs(self.splits) do
    if #ids > 0 and #ids < o.seq_len + 1 then
      error(string.format("data.loader: the %s split has %d tokens, fewer than seq_len + 1 = %d", name, #ids, o.seq_len + 1), 2)
    end
  end
  return self
end

-- x, y for split ("train" or "val"): (B, T) ids and the next-token targets.
function Loader:batch(split, B, seq_len)
  split = split or "train"
  local ids = self.splits[split]
  if not ids or #ids == 0 then error("data.loader: no '" .. tostring(split) .. "' split", 2) end
  B, seq_len = B or self.batch_size, seq_len or self.seq_len
  check_count("data.loader:batch", "B", B, 1)
  check_count("data.loader:batch", "seq_len", seq_len, 1)
  if #ids < seq_len + 1 then
    error(string.format("data.loader:batch: the %s split has %d tokens, fewer than seq_len + 1 = %d", split, #ids, seq_len + 1), 2)
  end
  local s = self.samplers[split]
  local xs, ys = {}, {}
  local nstart = #ids - seq_len
  for b = 1, B do
    local o = s:below(nstart) + 1
    xs[b] = table.move(ids, o, o + seq_len - 1, 1, {})
    ys[b] = table.move(ids, o + 1, o + seq_len, 1, {})
  end
  if self.as_tables then return xs, ys end
  to_batch = to_batch or make_to_batch()
  return to_batch(xs), to_batch(ys)
end

function Loader:__tostring()
  return string.format("data.Loader(train=%d tokens, val=%d tokens, batch=%d, seq_len=%d%s)", #self.splits.train,
    #self.splits.val, self.batch_size, self.seq_len, self.vocab_size and (", vocab=" .. self.vocab_size) or "")
end

function Loader:get_state()
  return { train = self.samplers.train:get_state(), val = self.samplers.val:get_state() }
end

function Loader:set_state(st)
  if type(st) ~= "table" then error("data.loader: set_state expects {train =, val =}", 2) end
  self.samplers.train:set_state(st.train)
  self.samplers.val:set_state(st.val)
end

-- Tiny Shakespeare ready to train on:
-- data.shakespeare{tokenizer = "char" | "bpe", merges = 256, merges_file =, seq_len =, batch =, seed =, val_fraction =}
-- returns a loader whose .tokenizer and .vocab_size are set.
function D.shakespeare(o)
  o = o or {}
  local text = D.load_text(o.path or D.shakespeare_path())
  if o.max_chars then text = text:sub(1, o.max_chars) end
  local tok
  local kind = o.tokenizer or "char"
  if kind == "char" then tok = tokenizer.char(text)
  elseif kind == "bpe" then
    if o.merges_file and U.exists(o.merges_file) then tok = tokenizer.load(o.merges_file)
    else
      tok = tokenizer.bpe_train(text, o.merges or 256)
      if o.merges_file then tok:save(o.merges_file) end
    end
  else
    error("data.shakespeare: tokenizer must be 'char' or 'bpe', got " .. tostring(kind), 2)
  end
  local ids = tok:encode(text)
  local train, val = D.split(ids, o.val_fraction)
  return D.loader{ train = train, val = val, seq_len = o.seq_len or 64, batch = o.batch or 8,
                   seed = o.seed, tokenizer = tok, vocab_size = tok.vocab_size, as_tables = o.as_tables }
end

return D
