-- Malformed tokenizer files and bad data-loader input (all made here): each
-- a Lua error naming the file and line (or the argument) and the fault;
-- hostile merges files cannot make the loader build huge strings.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local tokenizer = require "repro.tokenizer"
local data = require "repro.data"

local path = os.tmpname()
local function write(s) local f = assert(io.open(path, "wb")) f:write(s) f:close() end

local function bad(what, content, ...)
  local pieces = { ... }
  A.test(what, function()
    write(content)
    local err = A.raises(function() tokenizer.load(path) end, nil, what)
    A.truthy(err:find(path, 1, true), what .. ": names the file: " .. err)
    for _, p in ipairs(pieces) do A.truthy(err:find(p, 1, true), what .. ": mentions '" .. p .. "': " .. err) end
  end)
end

A.test("valid files load (control), CRLF and a missing final newline too", function()
  local tok = tokenizer.bpe_train("the cat sat on the mat, the cat", 8)
  tok:save(path)
  local t2 = tokenizer.load(path)
  A.eq(tok.vocab_size, t2.vocab_size)
  A.eq(table.concat(tok:encode("the cat"), ","), table.concat(t2:encode("the cat"), ","))
  write("repro-bpe v1 2\r\n116 105\r\n257 101")
  A.eq(258, tokenizer.load(path).vocab_size)
  write("repro-char v1 2\n97\n98\n")
  A.eq("ab", tokenizer.load(path):decode { 1, 2 })
end)

bad("empty file", "", "bad header")
bad("not a tokenizer file", "hello world\n", "bad header")
bad("unknown kind", "repro-wordpiece v1 0\n", "bad header")
bad("count larger than the lines", "repro-bpe v1 3\n97 98\n", "announces 3 entries but holds 1")
bad("count smaller than the lines", "repro-bpe v1 0\n97 98\n", "announces 0 entries but holds 1")
bad("absurd count", "repro-bpe v1 99999999999999999999999\n", "at most")
bad("char: not a number", "repro-char v1 1\nx\n", ":2:", "byte value")
bad("char: beyond 255", "repro-char v1 1\n256\n", ":2:")
bad("char: huge digits", "repro-char v1 1\n" .. string.rep("9", 400) .. "\n", ":2:")
bad("char: duplicate byte", "repro-char v1 2\n97\n97\n", ":3:", "listed twice")
bad("char: blank line", "repro-char v1 2\n97\n\n", ":3:")
bad("bpe: id 0", "repro-bpe v1 1\n0 5\n", ":2:", "bad merge")
bad("bpe: id not yet defined", "repro-bpe v1 1\n257 5\n", ":2:", "1..256")
bad("bpe: one id", "repro-bpe v1 1\n97\n", ":2:")
bad("bpe: negative", "repro-bpe v1 1\n-1 97\n", ":2:")
bad("bpe: float ids", "repro-bpe v1 1\n97.0 98\n", ":2:")
bad("bpe: huge id", "repro-bpe v1 1\n97 99999999999999999999\n", ":2:")
bad("bpe: duplicate merge", "repro-bpe v1 2\n97 98\n97 98\n", ":3:", "repeats line 2")
bad("bpe: binary junk", "repro-bpe v1 1\n\0\255\n", ":2:")

A.test("bpe: a doubling merge chain is stopped before it allocates", function()
  -- each merge joins the previous token with itself: 2^k bytes after k lines
  local lines = { "repro-bpe v1 40", "97 97" }
  for k = 2, 40 do lines[#lines + 1] = string.format("%d %d", 255 + k, 255 + k) end
  write(table.concat(lines, "\n") .. "\n")
  local err = A.raises(function() tokenizer.load(path) end, "-byte token")
  A.truthy(err:find(":22:", 1, true), "stops at the 2^21-byte merge: " .. err)
end)

A.test("missing or unreadable files", function()
  A.raises(function() tokenizer.load(path .. ".missing") end, "cannot read")
  A.raises(function() tokenizer.load("/") end, "cannot read '/'")
  A.raises(function() tokenizer.load(42) end, "path must be a string")
  A.raises(function() data.load_text(path .. ".missing") end, "cannot read")
  A.raises(function() data.load_text("/") end, "not a regular file")
  A.raises(function() data.load_text(nil) end, "path must be a string")
end)

A.test("data.loader rejects bad options and bad states", function()
  local ids = {}
  for i = 1, 50 do ids[i] = i % 7 + 1 end
  A.raises(function() data.loader { train = ids, seq_len = 0, batch = 2 } end, "seq_len")
  A.raises(function() data.loader { train = ids, seq_len = 4.5, batch = 2 } end, "seq_len")
  A.raises(function() data.loader { train = ids, seq_len = 4, batch = -1 } end, "batch")
  A.raises(function() data.loader { train = "text", seq_len = 4, batch = 2 } end, "train must be a table")
  A.raises(function() data.loader { train = ids, seq_len = 4, batch = 2, seed = 0 / 0 } end, "seed")
  A.raises(function() data.loader { train = ids, seq_len = 60, batch = 2 } end, "fewer than seq_len")
  local L = data.loader { train = ids, seq_len = 4, batch = 2, as_tables = true }
  A.raises(function() L:batch("train", 2, 50) end, "fewer than seq_len")
  A.raises(function() L:batch("train", 0) end, "B must be")
  A.raises(function() L:batch("nope") end, "no 'nope' split")
  A.raises(function() L:set_state(nil) end, "set_state")
  A.raises(function() L:set_state { train = { seed = "x", counter = 1 }, val = {} } end, "set_state")
  local st = L:get_state()
  local x1 = L:batch()
  L:set_state(st)
  A.eq(table.concat(x1[1], ","), table.concat(L:batch()[1], ","), "state round trip")
  A.raises(function() data.sampler(1):below(0) end, "below(n)")
end)

os.remove(path)
A.done("test_loaders_malformed")
