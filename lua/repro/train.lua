-- repro.train: the training loop of the language-model experiments, built
-- from the reusable parts in repro/train/ (loop, logger, checkpointer,
-- progress, interrupt; docs/experiments.md describes them).
--
--   local r = repro.train{model =, optimizer =, schedule =, data =, steps =, batch =,
--     eval_every =, eval_batches =, grad_clip =, log = "run.tsv", checkpoint = "dir",
--     checkpoint_every =, checkpoint_keep =, stats_every =, stats = {name = fn(model) -> number},
--     on_step = fn(step, row), on_resume = fn(start), resume =, quiet =, progress_every =,
--     progress = context (repro.train.progress; exp:begin_run gives one),
--     micro_batches = M (default 1), bucket = floats per bucket of the gradient exchange}
--
-- Micro-batches and processes (docs/dist.md): with micro_batches = M the
-- global batch of `batch` rows is cut into M micro-batches of batch / M
-- consecutive rows; each one's mean loss is back-propagated alone, and the
-- gradient is (((g1 + g2) + g3) + ...) / M, folded in micro-batch order
-- (repro.dist.accumulator); the logged loss is (((l1 + l2) + ...) / M. Under
-- mpirun with N processes (N dividing M), rank r computes micro-batches
-- r*M/N + 1 .. (r+1)*M/N of every global batch and the fold runs over all of
-- them in the same order, so N processes give the same losses and weights,
-- bit for bit, as one process with the same micro_batches. Rank 0 alone
-- writes the log and the checkpoints (a rank > 0 writes a log only to its
-- private folder, repro.dist.private_path); resume reads rank 0's checkpoint
-- and broadcasts it. micro_batches = 1 on one process is the plain step.
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
local dist = require "repro.dist"

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
  local nproc, rank = dist.size(), dist.rank()
  local micro = o.micro_batches or 1
  if math.type(micro) ~= "integer" or micro < 1 then
    error("train: micro_batches must be an integer >= 1, got " .. tostring(o.micro_batches), 2)
  end
  if micro % nproc ~= 0 then
    error(string.format("train: micro_batches = %d must be a multiple of the number of processes (%d)", micro, nproc), 2)
  end
  if batch % micro ~= 0 then
    error(string.format("train: batch = %d must be a multiple of micro_batches = %d", batch, micro), 2)
  end
  if nproc > 1 and o.model.recipes and next(o.model:recipes()) then
    error("train: models with FP8 scaling recipes cannot run on several processes (each rank's amax history would differ)", 2)
  end
  local result = { diverged = false, losses = {}, val_losses = {} }
  local ck
  if o.checkpoint then
    ck = Checkpointer.new{ dir = o.checkpoint, every = o.checkpoint_every, keep = o.checkpoint_keep,
      collect = function(step) return M.collect_state(o, step) end,
      restore = function(st) return M.restore_state(o, st) end }
    -- rank 0 writes the checkpoints; the others only count them
    if rank > 0 then ck.save = function(self, step) self.last_saved = step end end
  end
  local start = 0
  if nproc > 1 then
    -- rank 0's checkpoint (or its initial weights) on every rank
    if ck and o.resume and rank == 0 then start = ck:resume() end
    start = dist.broadcast(start)
    if start > 0 then
      local st = dist.broadcast(rank == 0 and M.collect_state(o, start) or nil)
      if rank > 0 then M.restore_state(o, st); ck.last_saved = start end
    else
      dist.broadcast_parameters(params)
    end
    if start > 0 then result.resumed_from = start end
  elseif ck and o.resume then
    start = ck:resume()
    if start > 0 then result.resumed_from = start end
  end
  local acc = (micro > 1 or nproc > 1) and dist.accumulator(params, micro // nproc, { bucket = o.bucket }) or nil
  local rows = batch // micro
  local first_mb = rank * (micro // nproc)   -- micro-batches before this rank's
  local log = o.log and dist.writes(o.log) and Logger.open(o.log, { first = M.COLUMNS, resume_step = start,
                                             extra = o.stats and U.sorted_keys(o.stats) or nil }) or nil
  if o.on_resume then o.on_resume(start) end   -- after the log is cut back to `start`
  local progress = Progress.new{ steps = steps, start = start, quiet = o.quiet or rank > 0, context = o.progress,
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
    local loss, lv
    if acc then
      -- this rank's micro-batches of the global batch, each back-propagated
      -- alone; every rank draws the whole batch's windows (same sampler state)
      local x, y
      if o.data.batch_rows then
        x, y = o.data:batch_rows("train", batch, first_mb * rows + 1, acc.k * rows)
      else
        x, y = o.data:batch("train", batch)
        x, y = x:narrow(1, first_mb * rows + 1, acc.k * rows), y:narrow(1, first_mb * rows + 1, acc.k * rows)
      end
      local mine = {}
      for j = 1, acc.k do
        o.optimizer:zero_grad()
        local l = o.model:loss(x:narrow(1, (j - 1) * rows + 1, rows), y:narrow(1, (j - 1) * rows + 1, rows))
        mine[j] = l:item()
        l:backward()
        l = nil
        acc:add(j)
      end
      local all = dist.allgather(mine)
      lv = all[1]
      for j = 2, #all do lv = lv + all[j] end
      lv = lv / micro
    else
      local x, y = o.data:batch("train", batch)
      o.optimizer:zero_grad()
      loss = o.model:loss(x, y)
      lv = loss:item()
    end
    local row = { step = step, train_loss = lv, lr = lr }
    if collect then o.model:collect_stats(false) end
    local status
    if not isfinite(lv) then
      status = "diverged"
      result.diverged, result.step, result.diverged_in = true, step, "forward"
    else
      if acc then acc:reduce(micro) else loss:backward() end
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
