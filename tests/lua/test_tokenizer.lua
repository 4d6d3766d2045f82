-- tests/lua/test_tokenizer.lua: char and byte-level BPE tokenizers: round
-- trips, determinism, save/load of merges, bad files.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local tk = require "repro.tokenizer"
local U = require "repro.util"

local src = os.getenv("REPRO_SOURCE_DIR") or "."
local text = assert(U.read_file(src .. "/data/tinyshakespeare/input.txt"), "corpus")
local sample = text:sub(1, 200000)

A.test("char tokenizer round trip", function()
  local t = tk.char(text)
  A.eq(65, t.vocab_size, "Tiny Shakespeare has 65 symbols")
  local ids = t:encode(sample)
  A.eq(#sample, #ids)
  A.eq(sample, t:decode(ids))
  for _, id in ipairs(ids) do assert(id >= 1 and id <= 65) end
  A.raises(function() t:encode("caf\195\169") end, "not in the vocabulary")
  A.raises(function() t:decode({ 66 }) end, "outside 1..65")
  local p = os.tmpname()
  t:save(p)
  local t2 = tk.load(p)
  os.remove(p)
  A.eq(65, t2.vocab_size)
  A.eq(sample, t2:decode(t:encode(sample)))
end)

A.test("bpe trains, compresses, round trips any bytes", function()
  local b = tk.bpe_train(sample, 200)
  A.eq(456, b.vocab_size)
  local ids = b:encode(sample)
  A.truthy(#ids < #sample * 0.6, "200 merges compress the text (" .. #ids .. " tokens)")
  A.eq(sample, b:decode(ids))
  local odd = "\0\255 caf\195\169  \t\n\nxyzzy 12345 !!?"
  A.eq(odd, b:decode(b:encode(odd)), "unseen bytes round trip")
  -- deterministic: training twice gives the same merges
  local b2 = tk.bpe_train(sample, 200)
  for k = 1, 200 do
    A.eq(b.merges[k][1], b2.merges[k][1], "merge " .. k)
    A.eq(b.merges[k][2], b2.merges[k][2], "merge " .. k)
  end
  -- the first merges of English text join common letter pairs, e.g. "e " or " t"
  A.truthy(#b.bytes[257] == 2, "first merge is two bytes")
end)

A.test("bpe merges save and reload", function()
  local b = tk.bpe_train(sample, 100)
  local p = os.tmpname()
  b:save(p)
  local b2 = tk.load(p)
  A.eq(b.vocab_size, b2.vocab_size)
  local piece = text:sub(500000, 520000)
  local i1, i2 = b:encode(piece), b2:encode(piece)
  A.eq(#i1, #i2)
  for i = 1, #i1 do if i1[i] ~= i2[i] then A.eq(i1[i], i2[i], "token " .. i) end end
  A.eq(piece, b2:decode(i2))
  -- corrupt files are refused with the line named
  U.write_file(p, "repro-bpe v1 2\n1 2\n900 3\n")
  A.raises(function() tk.load(p) end, ":3: bad merge")
  U.write_file(p, "repro-bpe v1 3\n1 2\n")
  A.raises(function() tk.load(p) end, "announces 3 entries but holds 1")
  U.write_file(p, "hello\n")
  A.raises(function() tk.load(p) end, "not a repro tokenizer file")
  os.remove(p)
end)

A.done("test_tokenizer")
