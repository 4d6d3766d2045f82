-- tests/lua/test_train.lua: the trainer: a 2-layer model learns Tiny
-- Shakespeare in seconds; a resumed run is bit-identical to an uninterrupted
-- one; divergence ends the run cleanly; the TSV log and the checkpoint files.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, data, U = repro.tensor, repro.nn, repro.data, require "repro.util"
local train = require "repro.train"

local tmp = A.tmpdir()

-- AdamW from repro.optim (the trainer saves its state_dict in checkpoints).
local function adamw(params, lr)
  assert(repro.optim.adamw, "test_train needs repro.optim.adamw (lua/repro/optim.lua)")
  return repro.optim.adamw(params, { lr = lr, weight_decay = 0.0 })
end

local function setup(seed, seq_len, batch)
  local L = data.shakespeare{ seq_len = seq_len, batch = batch, seed = seed, max_chars = 200000 }
  local m = nn.Llama{ vocab = L.vocab_size, dim = 64, layers = 2, heads = 4, seq_len = seq_len, seed = seed }
  return m, L
end

A.test("2-layer model: loss falls within 50 steps", function()
  local m, L = setup(1, 64, 8)
  local log = tmp .. "/run.tsv"
  local r = train{ model = m, optimizer = adamw(m:parameters(), 3e-3), data = L, steps = 50,
                   eval_every = 25, eval_batches = 2, grad_clip = 1.0, log = log, stats_every = 25, quiet = true }
  A.eq(false, r.diverged); A.eq(50, r.steps)
  local first = (r.losses[1] + r.losses[2] + r.losses[3]) / 3
  local last = (r.losses[48] + r.losses[49] + r.losses[50]) / 3
  A.near(math.log(65), r.losses[1], 0.1, "initial loss is about log(65)")
  A.truthy(last < first - 1.0, string.format("loss falls: %.3f -> %.3f", first, last))
  A.truthy(r.final_val_loss < r.losses[1] - 0.8, "val loss falls too")
  local tsv = U.read_tsv(log)
  A.eq("step", tsv.columns[1]); A.eq("train_loss", tsv.columns[2]); A.eq("val_loss", tsv.columns[3])
  A.eq(50, #tsv.rows)
  local cols = {}
  for i, c in ipairs(tsv.columns) do cols[c] = i end
  A.truthy(cols["layers.1.mlp.h_amax"] and cols["layers.2.mlp.align_mean"] and cols.grad_norm and cols.tokens_per_s, "stats columns")
  A.truthy(tsv.rows[25][cols.val_loss] == tsv.rows[25][cols.val_loss], "val loss logged at step 25")
  A.truthy(tsv.rows[24][cols.val_loss] ~= tsv.rows[24][cols.val_loss], "NaN where not evaluated")
  A.near(r.losses[50], tsv.rows[50][2], 1e-6, "logged loss")
end)

A.test("resume is bit-identical", function()
  local function run(steps, ckdir, resume, stop_at)
    local m, L = setup(7, 32, 4)
    local opt = adamw(m:parameters(), 2e-3)
    local r = train{ model = m, optimizer = opt, data = L, steps = stop_at or steps, grad_clip = 1.0,
                     checkpoint = ckdir, checkpoint_every = 5, resume = resume, quiet = true,
                     eval_every = 10, eval_batches = 1, log = ckdir and (ckdir .. "/log.tsv") or nil }
    return r, m
  end
  repro.manual_seed(123)
  local full, mfull = run(20, tmp .. "/ck_full")
  repro.manual_seed(123)
  local first = run(20, tmp .. "/ck", false, 10)
  A.eq(10, first.steps)
  -- an interrupted later write leaves junk behind; the last good checkpoint still loads
  U.write_file(tmp .. "/ck/step-00000015.safetensors.tmp", "garbage")
  repro.manual_seed(999)   -- the checkpoint's RNG state must win over this
  local second, mres = run(20, tmp .. "/ck", true)
  A.eq(10, second.resumed_from)
  A.eq(10, #second.losses)
  for i = 1, 10 do A.eq(full.losses[i], first.losses[i], "first half step " .. i) end
  for i = 1, 10 do A.eq(full.losses[10 + i], second.losses[i], "resumed step " .. (10 + i)) end
  local a, b = mfull:named_parameters(), mres:named_parameters()
  for i = 1, #a do A.allclose(a[i][2]:totable(), b[i][2]:totable(), 0, a[i][1]) end
  A.eq(full.final_val_loss, second.final_val_loss, "val loss")
  -- the last three checkpoints are kept (10 of the first run, 15 and 20); the log covers all 20 steps once
  A.eq("10,15,20", table.concat(require("repro.checkpoint").list(tmp .. "/ck"), ","), "checkpoints kept")
  local tsv = U.read_tsv(tmp .. "/ck/log.tsv")
  A.eq(20, #tsv.rows)
  for i = 1, 20 do A.eq(i, tsv.rows[i][1], "log row " .. i) end
end)

-- A model that draws from the global generator every step (a dropout mask
-- scales its loss): the resumed run must continue the generator where the
-- checkpoint left it, so its losses and the next draw after the run equal
-- those of the uninterrupted run.
A.test("resume restores the global RNG: a model with dropout", function()
  local function run(ckdir, resume, stop_at)
    local m, L = setup(5, 16, 2)
    local wrapped = setmetatable({}, { __index = m })
    function wrapped.loss(self, x, y)
      local mask = T.dropout(T.ones{ 8 }, 0.5)          -- 0 or 2 each, from the global generator
      return m:loss(x, y) * (1 + 0.05 * mask:mean():item())
    end
    local r = train{ model = wrapped, optimizer = adamw(m:parameters(), 2e-3), data = L, steps = stop_at or 12,
                     checkpoint = ckdir, checkpoint_every = 3, resume = resume, quiet = true }
    return r, T.rand{ 6 }:totable()
  end
  repro.manual_seed(77)
  local full, draw_full = run(tmp .. "/ckr_full")
  repro.manual_seed(77)
  local first = run(tmp .. "/ckr", false, 6)
  A.eq(6, first.steps)
  repro.manual_seed(4242)   -- anything drawn now must not leak into the resumed run
  T.rand{ 100 }
  local second, draw_res = run(tmp .. "/ckr", true)
  A.eq(6, second.resumed_from)
  for i = 1, 6 do A.eq(full.losses[i], first.losses[i], "first half step " .. i) end
  for i = 1, 6 do A.eq(full.losses[6 + i], second.losses[i], "resumed step " .. (6 + i)) end
  A.allclose(draw_full, draw_res, 0, "the draw after the run")
  -- and the dropout did change the losses: a different generator state gives other losses
  repro.manual_seed(78)
  local other = run(tmp .. "/ckr_other")
  local differ = false
  for i = 1, 12 do differ = differ or other.losses[i] ~= full.losses[i] end
  A.truthy(differ, "the model's losses depend on the generator")
end)

A.test("a NaN loss is a divergence: logged, run ends cleanly", function()
  local m, L = setup(3, 16, 2)
  local wrapped = setmetatable({ n = 0 }, { __index = m })
  function wrapped.loss(self, x, y)
    self.n = self.n + 1
    local l = m:loss(x, y)
    if self.n >= 4 then l = l * (0 / 0) end
    return l
  end
  local log = tmp .. "/div.tsv"
  local r = train{ model = wrapped, optimizer = adamw(m:parameters(), 1e-3), data = L, steps = 10, log = log, quiet = true,
                   checkpoint = tmp .. "/ck_div", checkpoint_every = 2 }
  A.eq(true, r.diverged); A.eq(4, r.step); A.eq("forward", r.diverged_in)
  local tsv = U.read_tsv(log)
  A.eq(4, #tsv.rows)
  A.truthy(tsv.rows[4][2] ~= tsv.rows[4][2], "NaN loss logged")
  A.eq(2, train.load_checkpoint(tmp .. "/ck_div").step, "the diverged state is never checkpointed")
end)

A.test("a non-finite gradient is a divergence of the backward pass: no update applied", function()
  local m, L = setup(3, 16, 2)
  local wrapped = setmetatable({ n = 0 }, { __index = m })
  local w = m:parameters()[1]
  function wrapped.loss(self, x, y)
    self.n = self.n + 1
    local l = m:loss(x, y)
    -- at step 3 add sqrt(0 * w): its value is 0, its gradient NaN
    if self.n == 3 then l = l + (w * 0):sqrt():sum() end
    return l
  end
  local before
  local r = train{ model = wrapped, optimizer = adamw(m:parameters(), 1e-3), data = L, steps = 10, quiet = true,
                   on_step = function(step) if step == 2 then before = w:clone() end end }
  A.eq(true, r.diverged); A.eq(3, r.step); A.eq("backward", r.diverged_in)
  A.truthy(r.losses[3] == r.losses[3], "the loss itself was finite")
  A.eq(before:bytes(), w:bytes(), "the divergent update was not applied")
end)

A.test("checkpoint state round trip of nested tables", function()
  local st = { step = 3, model = { w = T.tensor{ { 1, 2 }, { 3, 4 } } }, optimizer = { t = 3, lr = 2.0, groups = { { beta = 0.9 }, {} },
               m = { T.tensor{ 0.5 } } }, rng = { seed = 5, offset = 77 }, name = "a\tb" }
  train.save_checkpoint(tmp .. "/ck_rt", st)
  local back = train.load_checkpoint(tmp .. "/ck_rt")
  A.eq(3, back.step); A.eq(3, back.optimizer.t); A.eq("float", math.type(back.optimizer.lr)); A.eq(2.0, back.optimizer.lr)
  A.eq(0.9, back.optimizer.groups[1].beta); A.eq("table", type(back.optimizer.groups[2]))
  A.allclose({ { 1, 2 }, { 3, 4 } }, back.model.w:totable(), 0)
  A.allclose({ 0.5 }, back.optimizer.m[1]:totable(), 0)
  A.eq(77, back.rng.offset); A.eq("a\tb", back.name)
  A.eq(nil, train.load_checkpoint(tmp .. "/nothing"))
end)

U.run("rm -rf -- " .. U.shell_quote(tmp))
A.done("test_train")
