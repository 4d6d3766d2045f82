-- tests/lua/test_tokenizer_ties.lua: BPE training breaks ties between
-- equally frequent pairs by the smallest pair of ids (tokenizer.lua), so the
-- merges never depend on hash order. Words with several pairs of equal count.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local tk = require "repro.tokenizer"

A.test("bpe: the first merge of tied pairs is the smallest", function()
  -- ids are byte + 1; each word repeats a cycle so that every pair but the
  -- wrap-around has the same count
  local cases = { "zyxwzyxw", "qponqpon", "hgfedhgfed", "utsrutsr", "mlkjimlkji", "DCBADCBA" }
  for _, w in ipairs(cases) do
    local b = tk.bpe_train(w, 1)
    -- pairs in the cycle: (c[i], c[i+1]); the smallest key has the smallest first id
    local best
    for i = 1, #w - 1 do
      local a, c = w:byte(i) + 1, w:byte(i + 1) + 1
      local count = 0
      for j = 1, #w - 1 do if w:byte(j) + 1 == a and w:byte(j + 1) + 1 == c then count = count + 1 end end
      if count == 2 and (not best or a < best[1] or (a == best[1] and c < best[2])) then best = { a, c } end
    end
    A.eq(best[1], b.merges[1][1], w .. ": first id")
    A.eq(best[2], b.merges[1][2], w .. ": second id")
  end
end)

A.done("test_tokenizer_ties")
