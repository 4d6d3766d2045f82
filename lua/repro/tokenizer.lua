-- repro.tokenizer: character-level and byte-level BPE tokenizers.
--
-- Token ids are 1-based (Lua convention; the embedding op takes 1-based ids).
--
-- char: the vocabulary is the sorted set of distinct bytes of the corpus
--   (Tiny Shakespeare is ASCII: 65 symbols, as in char-rnn and nanoGPT).
-- bpe: byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant).
--   Ids 1..256 are the bytes 0..255; merge k creates id 256 + k. Text is first
--   split into chunks (an optional leading space + a run of letters, digits or
--   other symbols; whitespace runs), as GPT-2 does, so merges never cross a
--   word boundary. Training counts pairs over distinct chunks weighted by
--   frequency; each step merges the most frequent pair (ties: the smallest
--   pair of ids, so training is deterministic).
local U = require "repro.util"

local M = {}

-- ---- character level --------------------------------------------------------

local Char = {}
Char.__index = Char
Char.__name = "repro.CharTokenizer"
debug.getregistry()[Char.__name] = Char   -- found by repro.help, as C types are

local function char_from_symbols(symbols)
  local self = setmetatable({ kind = "char", symbols = symbols, index = {} }, Char)
  for i, s in ipairs(symbols) do self.index[s] = i end
  self.vocab_size = #symbols
  return self
end

-- A char tokenizer over the distinct bytes of text.
function M.char(text)
  if type(text) ~= "string" or #text == 0 then error("tokenizer.char: expected a non-empty string", 2) end
  local seen = {}
  for i = 1, #text do seen[text:byte(i)] = true end
  local symbols = {}
  for b = 0, 255 do if seen[b] then symbols[#symbols + 1] = string.char(b) end end
  return char_from_symbols(symbols)
end

function Char:encode(s)
  local ids, index = {}, self.index
  for i = 1, #s do
    local id = index[s:sub(i, i)]
    if not id then
      error(string.format("tokenizer.char: byte %d (%q) at position %d is not in the vocabulary", s:byte(i), s:sub(i, i), i), 2)
    end
    ids[i] = id
  end
  return ids
end

function Char:decode(ids)
  local out, symbols = {}, self.symbols
  for i = 1, #ids do
    local s = symbols[ids[i]]
    if not s then error(string.format("tokenizer.char: id %s at position %d is outside 1..%d", tostring(ids[i]), i, #symbols), 2) end
    out[i] = s
  end
  return table.concat(out)
end

-- The vocabulary as byte values, one per line.
function Char:save(path)
  local lines = { "repro-char v1 " .. #self.symbols }
  for i, s in ipairs(self.symbols) do lines[i + 1] = tostring(s:byte()) end
  U.write_file_atomic(path, table.concat(lines, "\n") .. "\n")
end

function Char:__tostring() return string.format("CharTokenizer(vocab=%d)", self.vocab_size) end

-- ---- byte-level BPE -------------------------------------------------------------

local Bpe = {}
Bpe.__index = Bpe
Bpe.__name = "repro.BpeTokenizer"
debug.getregistry()[Bpe.__name] = Bpe

-- Split text into pre-tokenization chunks (see the header comment).
local function chunks(text, fn)
  local i, n = 1, #text
  while i <= n do
    local s, e = text:find("^ ?%a+", i)
    if not s then s, e = text:find("^ ?%d+", i) end
    if not s then s, e = text:find("^ ?[^%s%w]+", i) end
    if not s then
      s, e = text:find("^%s+", i)
      -- leave a trailing space to lead the next word, as GPT-2 does
      if e > s and e < n and text:sub(e, e) == " " then e = e - 1 end
    end
    fn(text:sub(s, e))
    i = e + 1
  end
end

local PAIR = 1 << 20   -- ids stay below 2^20; a pair (a, b) is the key a * PAIR + b

local function bpe_from_merges(merges)
  local self = setmetatable({ kind = "bpe", merges = merges, rank = {}, bytes = {}, cache = {} }, Bpe)
  for b = 0, 255 do self.bytes[b + 1] = string.char(b) end
  for k, m in ipairs(merges) do
    local id = 256 + k
    self.rank[m[1] * PAIR + m[2]] = k
    self.bytes[id] = self.bytes[m[1]] .. self.bytes[m[2]]
  end
  self.vocab_size = 256 + #merges
  return self
end

-- Train a byte-level BPE with `merges` merges on text.
function M.bpe_train(text, merges)
  if type(text) ~= "string" then error("tokenizer.bpe_train: expected a string", 2) end
  if math.type(merges) ~= "integer" or merges < 0 then error("tokenizer.bpe_train: merges must be a non-negative integer", 2) end
  -- distinct chunks with their counts
  local freq, order = {}, {}
  chunks(text, function(c)
    if not freq[c] then freq[c] = 0 order[#order + 1] = c end
    freq[c] = freq[c] + 1
  end)
  table.sort(order)
  local words, wfreq = {}, {}
  local counts, where = {}, {}   -- pair -> weighted count; pair -> set of word indices
  for w, c in ipairs(order) do
    local ids = { c:byte(1, -1) }
    for j = 1, #ids do ids[j] = ids[j] + 1 end
    words[w], wfreq[w] = ids, freq[c]
    for j = 1, #ids - 1 do
      local key = ids[j] * PAIR + ids[j + 1]
      counts[key] = (counts[key] or 0) + freq[c]
      local set = where[key]
      if not set then set = {} where[key] = set end
      set[w] = true
    end
  end
  local out = {}
  for k = 1, merges do
    local best, bestc = nil, 0
    for key, c in pairs(counts) do
      if c > bestc or (c == bestc and c > 0 and key < best) then best, bestc = key, c end
    end
    if not best or bestc < 1 then break end
    local a, b = best // PAIR, best % PAIR
    local new = 256 + k
    out[k] = { a, b }
    -- visit affected words in index order: the result must not depend on hash order
    local ws = {}
    for w in pairs(where[best]) do ws[#ws + 1] = w end
    table.sort(ws)
    for _, w in ipairs(ws) do
      local ids, f = words[w], wfreq[w]
      local merged, j, changed = {}, 1, false
      while j <= #ids do
        if j < #ids and ids[j] == a and ids[j + 1] == b then
          merged[#merged + 1] = new; j = j + 2; changed = true
        else
          merged[#merged + 1] = ids[j]; j = j + 1
        end
      end
      if changed then
        for j2 = 1, #ids - 1 do
          local key = ids[j2] * PAIR + ids[j2 + 1]
          counts[key] = counts[key] - f
          if counts[key] == 0 then counts[key] = nil end
        end
        for j2 = 1, #merged - 1 do
          local key = merged[j2] * PAIR + merged[j2 + 1]
          counts[key] = (counts[key] or 0) + f
          local set = where[key]
          if not set then set = {} where[key] = set end
          set[w] = true
        end
        words[w] = merged
      end
    end
    where[best] = nil
    counts[best] = nil
  end
  return bpe_from_merges(out)
end

-- Encode one chunk by repeatedly merging its lowest-ranked pair.
local function encode_chunk(self, c)
  local hit = self.cache[c]
  if hit then return hit end
  local ids = { c:byte(1, -1) }
  for j = 1, #ids do ids[j] = ids[j] + 1 end
  local rank = self.rank
  while #ids > 1 do
    local best, bestj = nil, nil
    for j = 1, #ids - 1 do
      local r = rank[ids[j] * PAIR + ids[j + 1]]
      if r and (not best or r < best) then best, bestj = r, j end
    end
    if not best then break end
    local a, b = ids[bestj], ids[bestj + 1]
    local merged, j = {}, 1
    while j <= #ids do
      if j < #ids and ids[j] == a and ids[j + 1] == b then merged[#merged + 1] = 256 + best; j = j + 2
      else merged[#merged + 1] = ids[j]; j = j + 1 end
    end
    ids = merged
  end
  self.cache[c] = ids
  return ids
end

function Bpe:encode(s)
  local out = {}
  chunks(s, function(c)
    local ids = encode_chunk(self, c)
    for j = 1, #ids do out[#out + 1] = ids[j] end
  end)
  return out
end

function Bpe:decode(ids)
  local out, bytes = {}, self.bytes
  for i = 1, #ids do
    local s = bytes[ids[i]]
    if not s then error(string.format("tokenizer.bpe: id %s at position %d is outside 1..%d", tostring(ids[i]), i, self.vocab_size), 2) end
    out[i] = s
  end
  return table.concat(out)
end

-- Merges file: a header line, then one merge per line: "A B" (the two ids merged).
function Bpe:save(path)
  local lines = { "repro-bpe v1 " .. #self.merges }
  for k, m in ipairs(self.merges) do lines[k + 1] = m[1] .. " " .. m[2] end
  U.write_file_atomic(path, table.concat(lines, "\n") .. "\n")
end

function Bpe:__tostring() return string.format("BpeTokenizer(vocab=%d, merges=%d)", self.vocab_size, #self.merges) end

-- Limits a tokenizer file may not exceed: ids must stay below PAIR, and
-- since a merge concatenates two tokens, a hostile file could make token
-- lengths double at every line; the byte strings are built only after these
-- totals are checked.
local MAX_TOKEN_BYTES = 1 << 20
local MAX_TOTAL_BYTES = 64 << 20
local MAX_MERGES = PAIR - 257

-- Load a tokenizer saved with :save (char or bpe). Every malformed file is
-- a Lua error naming the file, the line and what is wrong.
function M.load(path)
  if type(path) ~= "string" then error("tokenizer.load: path must be a string, got " .. type(path), 2) end
  local s, err = U.read_file(path)
  if not s then error("tokenizer.load: cannot read '" .. path .. "': " .. tostring(err or "not a readable file"), 2) end
  local lines = {}
  if s:sub(-1) ~= "\n" then s = s .. "\n" end
  for line in s:gmatch("([^\n]*)\n") do lines[#lines + 1] = (line:gsub("\r$", "")) end
  local kind, n = (lines[1] or ""):match("^repro%-(%a+) v1 (%d+)$")
  n = tonumber(n)   -- a float when the digits overflow: caught by the limit below
  if not kind or (kind ~= "bpe" and kind ~= "char") or not n then
    error("tokenizer.load: '" .. path .. "' is not a repro tokenizer file (bad header line 1)", 2)
  end
  local limit = kind == "char" and 256 or MAX_MERGES
  if n > limit then
    error(string.format("tokenizer.load: '%s': header announces %.0f entries (at most %d)", path, n, limit), 2)
  end
  if #lines - 1 ~= n then
    error(string.format("tokenizer.load: '%s' announces %d entries but holds %d lines", path, n, #lines - 1), 2)
  end
  if kind == "char" then
    local symbols, seen = {}, {}
    for i = 2, #lines do
      local b = lines[i]:match("^%d%d?%d?$") and math.tointeger(tonumber(lines[i]))
      if not b or b > 255 then error(string.format("tokenizer.load: %s:%d: expected a byte value 0..255, got %q", path, i, lines[i]:sub(1, 40)), 2) end
      if seen[b] then error(string.format("tokenizer.load: %s:%d: byte %d is listed twice (first at line %d)", path, i, b, seen[b]), 2) end
      seen[b] = i
      symbols[#symbols + 1] = string.char(b)
    end
    return char_from_symbols(symbols)
  end
  local merges, len, seen, total = {}, {}, {}, 0
  for b = 1, 256 do len[b] = 1 end
  for i = 2, #lines do
    local a, b = lines[i]:match("^(%d%d?%d?%d?%d?%d?%d?) (%d%d?%d?%d?%d?%d?%d?)$")
    a, b = math.tointeger(tonumber(a)), math.tointeger(tonumber(b))
    local maxid = 256 + #merges   -- a merge may only use ids that already exist
    if not a or not b or a < 1 or b < 1 or a > maxid or b > maxid then
      error(string.format("tokenizer.load: %s:%d: bad merge %q (expected two ids in 1..%d)", path, i, lines[i]:sub(1, 40), maxid), 2)
    end
    local key = a * PAIR + b
    if seen[key] then
      error(string.format("tokenizer.load: %s:%d: merge %d %d repeats line %d", path, i, a, b, seen[key]), 2)
    end
    seen[key] = i
    local l = len[a] + len[b]
    total = total + l
    if l > MAX_TOKEN_BYTES or total > MAX_TOTAL_BYTES then
      error(string.format("tokenizer.load: %s:%d: merge %d %d makes a %d-byte token (limits: %d per token, %d in all)",
        path, i, a, b, l, MAX_TOKEN_BYTES, MAX_TOTAL_BYTES), 2)
    end
    len[256 + #merges + 1] = l
    merges[#merges + 1] = { a, b }
  end
  return bpe_from_merges(merges)
end

return M
