-- repro.train: the training loop of the language-model experiments, built
-- from the reusable parts in repro/train/ (loop, logger, checkpointer,
-- progress, interrupt; docs/experiments.md describes them).
--
--   local r = repro.train{model =, optimizer =, schedule =, data =, steps =, batch =,
--     eval_every =, eval_batches =, grad_clip =, log = "run.tsv", checkpoint = "dir",
--     checkpoint_every =, checkpoint_keep =, stats_every =, stats = {name = fn(model) -> number},
--     on_step = fn(step, row), on_resume = fn(start), resume =, quiet =, progress_every =,
--     progress = context (repro.train.progress; exp:begin_run gives one)}
--
-- on_resume(start) is called once before the first step, with the step the
-- run continues from (0 for a fresh run), after the log was cut back to it:
-- the place to rebuild a caller's own state (probes, statistics' history).
--
-- Each step logs a TSV row: step, train_loss, val_loss (NaN when not
-- evaluated), lr, grad_norm (before clipping), step_time (s), tokens_per_s,
-- then the statistics (model:stats() on stats steps, and the registered
-- `stats` functions), NaN where not measured. A NaN or infinite training loss,
-- or a non-finite gradient norm, is a divergence: it is logged at that step
-- and the run ends cleanly with result.diverged = true, result.step = the
-- step and result.diverged_in = "forward" or "backward"; the divergent update
-- is never applied.
--
-- Checkpoints (folder `checkpoint`) are written by repro.checkpoint: one
-- safetensors file per checkpoint with a checksum per tensor, committed by a
-- rename, the last `checkpoint_keep` (default 3) kept; one is written every
-- `checkpoint_every` steps, at the last step and when stopped by a signal.
-- resume = true continues from the newest intact one bit-identically (same
-- batches, same RNG, same optimizer and FP8 scaling state); a corrupt newest
-- file falls back to the previous one with a warning.
--
-- Interruptions: with a checkpoint folder, SIGINT or SIGTERM during a run
-- lets the current step finish and writes a checkpoint (a second signal
-- waits for the write). Inside an experiment (repro.experiment) the
-- interruption unwinds to it, which reports it; on its own, repro.train
-- prints how to resume and exits with status 130.
local T = require "repro.tensor"
local U = require "repro.util"
local checkpoint = require "repro.checkpoint"
local loop = require "repro.train.loop"
local Logger = require "repro.train.logger"
local Checkpointer = require "repro.train.checkpointer"
local Progress = require "repro.train.progress"
local I = require "repro.train.interrupt"

local M = {}

-- The parts, for loops of other kinds (docs/experiments.md).
M.loop, M.logger, M.checkpointer, M.progress, M.interrupt = loop, Logger, Checkpointer, Progress, I

-- Step times are wall-clock: os.clock() sums the CPU time of every thread.
local wall = U.now

local function isfinite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- ---- the state of a language-model run ------------------------------------------

-- {step, model, optimizer, recipes (FP8 scaling), rng, data}: everything a
-- step depends on.
function M.collect_state(o, step)
  local recipes = {}
  if o.model.recipes then   -- models with FP8 linears
    for name, r in pairs(o.model:recipes()) do recipes[name] = r:state() end
  end
  return {
    step = step,
    model = o.model:state_dict(),
    optimizer = o.optimizer:state_dict(),
    recipes = recipes,
    rng = T.get_rng_state(),
    data = o.data.get_state and o.data:get_state() or nil,
  }
end

function M.restore_state(o, st)
  o.model:load_state_dict(st.model or {})
  if st.optimizer then o.optimizer:load_state_dict(st.optimizer) end
  if st.recipes and next(st.recipes) then
    local rs = o.model.recipes and o.model:recipes() or {}
    for name, rstate in pairs(st.recipes) do
      if not rs[name] then error("checkpoint: FP8 recipe '" .. name .. "' is not in the model", 0) end
      rs[name]:load_state(rstate)
    end
  end
  if st.rng then T.set_rng_state(st.rng) end
  if st.data and o.data.set_state then o.data:set_state(st.data) end
  return st.step
end

-- Write a checkpoint of `state` (see collect_state) into dir; read the newest
-- intact one back (nil if there is none).
function M.save_checkpoint(dir, state, keep)
  checkpoint.save_state(dir, state, { keep = keep or 3 })
end

function M.load_checkpoint(dir)
  return checkpoint.load_state(dir)
end

-- ---- one step ---------------------------------------------------------------------

-- Global gradient norm over the parameters (fixed order), and clipping.
local function grad_norm(params, clip)
  local sq = 0.0
  for _, p in ipairs(params) do
    local g = p.grad
    if g then sq = sq + (g * g):sum():item() end
  end
  local norm = math.sqrt(sq)
  if clip and clip > 0 and norm > clip and isfinite(norm) then
    local s = clip / (norm + 1e-6)
    T.no_grad(function()
      for _, p in ipairs(params) do local g = p.grad if g then p.grad = g * s end end
    end)
  end
  return norm
end

local function evaluate(o, n)
  o.model:eval()
  local total = 0.0
  T.no_grad(function()
    for _ = 1, n do
      local x, y = o.data:batch("val", o.batch)
      total = total + o.model:loss(x, y):item()
    end
  end)
  o.model:train()
  return total / n
end

M.COLUMNS = { "step", "train_loss", "val_loss", "lr", "grad_norm", "step_time", "tokens_per_s" }

local function report_and_exit(e)
  io.stderr:write("\ntrain: ", e.message, "\n")
  local cmd = I.resume_command()
  io.stderr:write("train: resume with: ", cmd or "the same call with resume = true", "\n")
  os.exit(130)
end

function M.run(o)
  if type(o) ~= "table" then error("train: expected a table of options", 2) end
  for _, k in ipairs { "model", "optimizer", "data", "steps" } do
    if o[k] == nil then error("train: '" .. k .. "' is required", 2) end
  end
  if math.type(o.steps) ~= "integer" or o.steps < 1 then
    error("train: steps must be an integer >= 1, got " .. tostring(o.steps), 2)
  end
  if o.schedule ~= nil and type(o.schedule) ~= "function" then
    error("train: schedule must be a function(step) -> lr", 2)
  end
  local steps = o.steps
  local batch = o.batch or o.data.batch_size
  o.batch = batch
  local params = o.model:parameters()
  local result = { diverged = false, losses = {}, val_losses = {} }
  local ck
  if o.checkpoint then
    ck = Checkpointer.new{ dir = o.checkpoint, every = o.checkpoint_every, keep = o.checkpoint_keep,
      collect = function(step) return M.collect_state(o, step) end,
      restore = function(st) return M.restore_state(o, st) end }
  end
  local start = 0
  if ck and o.resume then
    start = ck:resume()
    if start > 0 then result.resumed_from = start end
  end
  local log = o.log and Logger.open(o.log, { first = M.COLUMNS, resume_step = start,
                                             extra = o.stats and U.sorted_keys(o.stats) or nil }) or nil
  if o.on_resume then o.on_resume(start) end   -- after the log is cut back to `start`
  local progress = Progress.new{ steps = steps, start = start, quiet = o.quiet, context = o.progress,
                                 every = o.progress_every or math.max(1, steps // 10) }
  local t_run0 = wall()
  local tok_total, time_total = 0, 0.0
  local last_train = 0 / 0

  local function step_fn(step)
    local lr
    if o.schedule then lr = o.schedule(step); o.optimizer:set_lr(lr) else lr = o.optimizer:get_lr() end
    -- statistics on step 1 and every stats_every steps: the same steps whether resumed or not
    local want_stats = o.stats_every and (step == 1 or step % o.stats_every == 0)
    local collect = want_stats and o.model.collect_stats
    if collect then o.model:collect_stats(true) end
    local t0 = wall()
    local x, y = o.data:batch("train", batch)
    o.optimizer:zero_grad()
    local loss = o.model:loss(x, y)
    local lv = loss:item()
    local row = { step = step, train_loss = lv, lr = lr }
    if collect then o.model:collect_stats(false) end
    local status
    if not isfinite(lv) then
      status = "diverged"
      result.diverged, result.step, result.diverged_in = true, step, "forward"
    else
      loss:backward()
      row.grad_norm = grad_norm(params, o.grad_clip)
      -- A gradient that overflowed (e.g. a non-saturating E5M2 cast gave inf)
      -- is a divergence of the backward pass: no update is applied.
      if isfinite(row.grad_norm) then o.optimizer:step()
      else
        status = "diverged"
        result.diverged, result.step, result.diverged_in = true, step, "backward"
      end
    end
    loss = nil
    local dt = wall() - t0
    local toks = batch * (o.data.seq_len or 0)
    row.step_time, row.tokens_per_s = dt, dt > 0 and toks / dt or 0 / 0
    tok_total, time_total = tok_total + toks, time_total + dt
    last_train = lv
    result.losses[#result.losses + 1] = lv
    if not status and o.eval_every and (step % o.eval_every == 0 or step == steps) then
      row.val_loss = evaluate(o, o.eval_batches or 4)
      result.val_losses[#result.val_losses + 1] = { step, row.val_loss }
      result.final_val_loss = row.val_loss
    end
    if want_stats then
      if o.model.stats then
        for k, v in pairs(o.model:stats()) do if type(v) == "number" then row[k] = v end end
      end
      for k, fn in pairs(o.stats or {}) do row[k] = fn(o.model) end
    end
    return row, status
  end

  local ok, r = pcall(loop.run, {
    steps = steps, start = start, step = step_fn, checkpoint = ck, log = log, progress = progress,
    on_step = o.on_step,
    describe = function(_, row, status)
      local rate = time_total > 0 and tok_total / time_total or 0
      return string.format("loss %.4f%s  %.0f tok/s%s", row.train_loss,
        row.val_loss and string.format("  val %.4f", row.val_loss) or "", rate,
        status == "diverged" and "  DIVERGED" or "")
    end,
  })
  if not ok then
    if I.is(r) and not I.owner() then report_and_exit(r) end
    error(r, 0)
  end
  result.steps = r.step
  if not result.diverged then result.step = r.step end
  result.final_train_loss = last_train
  result.time = wall() - t_run0
  result.tokens_per_s = time_total > 0 and tok_total / time_total or 0
  return result
end

return setmetatable(M, { __call = function(_, o) return M.run(o) end })
