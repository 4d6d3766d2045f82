-- repro.train: the training loop of the language-model experiments.
--
--   local r = repro.train{model =, optimizer =, schedule =, data =, steps =, batch =,
--     eval_every =, eval_batches =, grad_clip =, log = "run.tsv", checkpoint = "dir",
--     checkpoint_every =, stats_every =, stats = {name = fn(model) -> number}, on_step =,
--     resume =, quiet =, progress_every =}
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
-- rename, the last `checkpoint_keep` (default 3) kept. resume = true continues
-- from the newest intact one bit-identically (same batches, same RNG, same
-- optimizer and FP8 scaling state); a corrupt newest file falls back to the
-- previous one with a warning.
--
-- Interruptions: with a checkpoint folder, SIGINT or SIGTERM during a run
-- lets the current step finish, writes a checkpoint, prints how to resume and
-- exits with status 130; a second signal ends the process at once (the last
-- committed checkpoint stays intact).
local T = require "repro.tensor"
local U = require "repro.util"
local checkpoint = require "repro.checkpoint"
local signal = require("repro.core").signal

local M = {}

-- Step times are wall-clock: os.clock() sums the CPU time of every thread.
local wall = U.now

local function isfinite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- ---- RNG of the tensor library ---------------------------------------------

local function rng_get()
  if T.get_rng_state then return T.get_rng_state() end
  local g = T.default_generator
  if type(g) == "function" then g = g() end
  if g and g.get_state then return g:get_state() end
  return nil
end

local function rng_set(s)
  if s == nil then return end
  if T.set_rng_state then return T.set_rng_state(s) end
  local g = T.default_generator
  if type(g) == "function" then g = g() end
  if g and g.set_state then return g:set_state(s) end
end

-- ---- checkpoints --------------------------------------------------------------

local function collect_state(o, step)
  local recipes = {}
  if o.model.recipes then
    for name, r in pairs(o.model:recipes()) do if r.state then recipes[name] = r:state() end end
  end
  return {
    step = step,
    model = o.model:state_dict(),
    optimizer = o.optimizer and o.optimizer:state_dict() or nil,
    recipes = recipes,
    rng = rng_get(),
    data = o.data.get_state and o.data:get_state() or nil,
  }
end

-- Write a checkpoint of `state` (see collect_state) into dir; read the newest
-- intact one back (nil if there is none).
function M.save_checkpoint(dir, state, keep)
  checkpoint.save_state(dir, state, {keep = keep or 3})
end

function M.load_checkpoint(dir)
  return checkpoint.load_state(dir)
end

local function restore(o, st)
  o.model:load_state_dict(st.model or {})
  if o.optimizer and st.optimizer then o.optimizer:load_state_dict(st.optimizer) end
  if st.recipes and o.model.recipes then
    local rs = o.model:recipes()
    for name, rstate in pairs(st.recipes) do
      if not rs[name] then error("checkpoint: FP8 recipe '" .. name .. "' is not in the model") end
      rs[name]:load_state(rstate)
    end
  end
  rng_set(st.rng)
  if st.data and o.data.set_state then o.data:set_state(st.data) end
  return st.step
end

-- ---- the loop -----------------------------------------------------------------

local function set_lr(opt, lr)
  if opt.set_lr then opt:set_lr(lr)
  elseif type(opt.cfg) == "table" then opt.cfg.lr = lr
  else opt.lr = lr end
end

local function get_lr(opt)
  if opt.get_lr then return opt:get_lr() end
  if type(opt.cfg) == "table" and opt.cfg.lr then return opt.cfg.lr end
  return opt.lr or 0 / 0
end

local function lr_at(schedule, step)
  if schedule == nil then return nil end
  if type(schedule) == "function" then return schedule(step) end
  if type(schedule) == "table" and schedule.at then return schedule:at(step) end
  return schedule(step)
end

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

local BASE_COLS = { "step", "train_loss", "val_loss", "lr", "grad_norm", "step_time", "tokens_per_s" }

-- Keep the rows of an existing log up to `step` (a resumed run rewrites what
-- came after its checkpoint).
local function truncate_log(path, step)
  local s = U.read_file(path)
  if not s then return nil end
  local keep, header = {}, nil
  for line in s:gmatch("[^\n]+") do
    if not header then header = line; keep[1] = line
    else
      local st = tonumber(line:match("^([^\t]+)"))
      if st and st <= step then keep[#keep + 1] = line end
    end
  end
  U.write_file_atomic(path, table.concat(keep, "\n") .. "\n")
  local cols = {}
  for c in (header .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
  return cols
end

-- The command line that resumes this run: the script's own, plus --resume.
local function resume_command()
  local a = rawget(_G, "arg")
  if type(a) ~= "table" or not a[0] then return "the same call with resume = true" end
  local words = { "repro", U.shell_quote(a[0]) }
  local has = false
  for i = 1, #a do
    words[#words + 1] = U.shell_quote(a[i])
    if a[i] == "--resume" then has = true end
  end
  if not has then words[#words + 1] = "--resume" end
  return table.concat(words, " ")
end

function M.run(o)
  if type(o) ~= "table" then error("train: expected a table of options", 2) end
  for _, k in ipairs { "model", "optimizer", "data", "steps" } do
    if o[k] == nil then error("train: '" .. k .. "' is required", 2) end
  end
  local steps = o.steps
  local batch = o.batch or o.data.batch_size
  o.batch = batch
  local params = o.model:parameters()
  local start = 0
  local result = { diverged = false, losses = {}, val_losses = {} }
  if o.resume and o.checkpoint then
    local st = M.load_checkpoint(o.checkpoint)
    if st then start = restore(o, st) result.resumed_from = start end
  end
  -- the log: columns fixed by the first row (or the existing file on resume)
  local cols, logf
  if o.log then
    U.mkdir_p(U.dirname(o.log))
    if start > 0 then cols = truncate_log(o.log, start) end
    if cols then logf = io.open(o.log, "a") end
  end
  -- A signal stops the run cleanly only if there is somewhere to save it.
  if o.checkpoint then signal.install() end
  local tty = U.stderr_is_tty()
  local every = o.progress_every or math.max(1, steps // 10)
  local t_run0 = wall()
  local tok_total, time_total = 0, 0.0
  local step = start
  local last_train = 0 / 0
  while step < steps do
    step = step + 1
    local lr = lr_at(o.schedule, step)
    if lr then set_lr(o.optimizer, lr) else lr = get_lr(o.optimizer) end
    local want_stats = o.stats_every and (step == start + 1 or step % o.stats_every == 0)
    if want_stats and o.model.collect_stats then o.model:collect_stats(true) end
    local t0 = wall()
    local x, y = o.data:batch("train", batch)
    o.optimizer:zero_grad()
    local loss = o.model:loss(x, y)
    local lv = loss:item()
    local row = { step = step, train_loss = lv, lr = lr }
    if want_stats and o.model.collect_stats then o.model:collect_stats(false) end
    if not isfinite(lv) then
      result.diverged, result.step, result.diverged_in = true, step, "forward"
    else
      loss:backward()
      row.grad_norm = grad_norm(params, o.grad_clip)
      -- A gradient that overflowed (e.g. a non-saturating E5M2 cast gave inf)
      -- is a divergence of the backward pass: no update is applied.
      if isfinite(row.grad_norm) then o.optimizer:step()
      else result.diverged, result.step, result.diverged_in = true, step, "backward" end
    end
    loss = nil
    local dt = wall() - t0
    local toks = batch * (o.data.seq_len or 0)
    row.step_time, row.tokens_per_s = dt, dt > 0 and toks / dt or 0 / 0
    tok_total, time_total = tok_total + toks, time_total + dt
    last_train = lv
    result.losses[#result.losses + 1] = lv
    if not result.diverged and o.eval_every and (step % o.eval_every == 0 or step == steps) then
      row.val_loss = evaluate(o, o.eval_batches or 4)
      result.val_losses[#result.val_losses + 1] = { step, row.val_loss }
      result.final_val_loss = row.val_loss
    end
    if want_stats then
      if o.model.stats then for k, v in pairs(o.model:stats()) do if type(v) == "number" then row[k] = v end end end
      for k, fn in pairs(o.stats or {}) do row[k] = fn(o.model) end
    end
    if o.log then
      if not cols then
        cols = { table.unpack(BASE_COLS) }
        local extra = {}
        for k in pairs(row) do
          local base = false
          for _, c in ipairs(BASE_COLS) do if c == k then base = true end end
          if not base then extra[#extra + 1] = k end
        end
        for k in pairs(o.stats or {}) do if row[k] == nil then extra[#extra + 1] = k end end
        table.sort(extra)
        for _, k in ipairs(extra) do cols[#cols + 1] = k end
        logf = assert(io.open(o.log, "w"))
        logf:write(table.concat(cols, "\t"), "\n")
      end
      local cells = {}
      for i, c in ipairs(cols) do
        local v = row[c]
        cells[i] = v == nil and "NaN" or U.tsv_number(v)
      end
      logf:write(table.concat(cells, "\t"), "\n")
      logf:flush()
    end
    if o.on_step then o.on_step(step, row) end
    if not o.quiet then
      local rate = time_total > 0 and tok_total / time_total or 0
      local eta = (steps - step) * (time_total / math.max(1, step - start))
      local line = string.format("step %d/%d  loss %.4f%s  %.0f tok/s  eta %s", step, steps, lv,
        row.val_loss and string.format("  val %.4f", row.val_loss) or "", rate, U.format_duration(eta))
      if result.diverged then line = line .. "  DIVERGED" end
      if tty then io.stderr:write("\r", line, "\27[K")
        if step == steps or result.diverged then io.stderr:write("\n") end
      elseif step % every == 0 or step == steps or result.diverged or step == start + 1 then
        io.stderr:write(line, "\n")
      end
    end
    if result.diverged then break end
    local stop = o.checkpoint and signal.pending()
    if o.checkpoint and ((o.checkpoint_every and step % o.checkpoint_every == 0) or step == steps or stop) then
      M.save_checkpoint(o.checkpoint, collect_state(o, step), o.checkpoint_keep)
    end
    if stop then
      if logf then logf:close() end
      io.stderr:write(string.format("\ntrain: %s at step %d/%d: checkpoint written to %s\n", stop, step, steps,
        o.checkpoint), "train: resume with: ", resume_command(), "\n")
      os.exit(130)
    end
  end
  if o.checkpoint then signal.uninstall() end
  if logf then logf:close() end
  result.steps = step
  if not result.diverged then result.step = step end
  result.final_train_loss = last_train
  result.time = wall() - t_run0
  result.tokens_per_s = time_total > 0 and tok_total / time_total or 0
  return result
end

return setmetatable(M, { __call = function(_, o) return M.run(o) end })
