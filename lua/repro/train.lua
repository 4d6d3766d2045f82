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
-- `stats` functions), NaN where not measured. A NaN or infinite training loss
-- is a divergence: it is logged at that step and the run ends cleanly with
-- result.diverged = true and result.step = the step.
--
-- Checkpoints (folder `checkpoint`): state-STEP.safetensors holds every tensor
-- (model parameters, optimizer state, FP8 recipe states); meta.txt holds the
-- step, the scalar state (optimizer counters, RNG and data sampler states)
-- and the name of the state file. Each file is written under a temporary name
-- and renamed; meta.txt is renamed last and is the commit point, and older
-- state files are deleted only after it, so an interruption at any moment
-- leaves the last good checkpoint loadable. resume = true continues from it
-- bit-identically (same batches, same RNG, same optimizer state).
local T = require "repro.tensor"
local U = require "repro.util"

local M = {}

-- Step times are wall-clock: os.clock() sums the CPU time of every thread.
-- repro.core.sys has no clock yet, so U.wall_now may spawn `date` (~1 ms).
local wall = U.wall_now

local function isfinite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- ---- state flattening: nested tables of tensors and scalars -------------------
-- Paths join keys with "/"; integer keys are written "#N". Tensors go to the
-- safetensors file, scalars to meta.txt lines "path<TAB>type<TAB>value".

local function is_tensor(v)
  return type(v) == "userdata" and v.shape ~= nil
end

local function flatten_state(v, path, tensors, meta)
  if is_tensor(v) then tensors[path] = v
  elseif type(v) == "table" then
    meta[#meta + 1] = { path, "t", "" }   -- records that an (maybe empty) table exists
    for _, k in ipairs(U.sorted_keys(v)) do
      local seg = math.type(k) == "integer" and ("#" .. k) or tostring(k)
      flatten_state(v[k], path == "" and seg or (path .. "/" .. seg), tensors, meta)
    end
  elseif math.type(v) == "integer" then meta[#meta + 1] = { path, "i", string.format("%d", v) }
  elseif type(v) == "number" then meta[#meta + 1] = { path, "f", string.format("%.17g", v) }
  elseif type(v) == "boolean" then meta[#meta + 1] = { path, "b", tostring(v) }
  elseif type(v) == "string" then meta[#meta + 1] = { path, "s", (v:gsub("\\", "\\\\"):gsub("\n", "\\n"):gsub("\t", "\\t")) }
  elseif v ~= nil then error("checkpoint: cannot store a " .. type(v) .. " at '" .. path .. "'")
  end
end

local function set_path(root, path, v)
  local t, segs = root, {}
  for seg in path:gmatch("[^/]+") do
    segs[#segs + 1] = seg:match("^#%d+$") and math.tointeger(tonumber(seg:sub(2))) or seg
  end
  for i = 1, #segs - 1 do
    if t[segs[i]] == nil then t[segs[i]] = {} end
    t = t[segs[i]]
  end
  if #segs == 0 then return end
  if type(v) == "table" and type(t[segs[#segs]]) == "table" then return end
  t[segs[#segs]] = v
end

local function decode_meta(kind, s)
  if kind == "i" then return math.tointeger(tonumber(s)) end
  if kind == "f" then
    if s == "nan" or s == "-nan" then return 0 / 0 end
    if s == "inf" then return math.huge elseif s == "-inf" then return -math.huge end
    return tonumber(s) + 0.0
  end
  if kind == "b" then return s == "true" end
  if kind == "s" then return (s:gsub("\\(.)", { n = "\n", t = "\t", ["\\"] = "\\" })) end
  if kind == "t" then return {} end
  error("checkpoint: bad metadata type '" .. tostring(kind) .. "'")
end

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

-- Write a checkpoint of `state` (see collect_state) into dir.
function M.save_checkpoint(dir, state)
  U.mkdir_p(dir)
  local tensors, meta = {}, {}
  flatten_state(state, "", tensors, meta)
  local sname = string.format("state-%08d.safetensors", state.step)
  local spath = U.join(dir, sname)
  local any = next(tensors) ~= nil
  if any then
    T.save(spath .. ".tmp", tensors)
    local ok, err = os.rename(spath .. ".tmp", spath)
    if not ok then error("checkpoint: cannot rename to '" .. spath .. "': " .. tostring(err)) end
  end
  local lines = { "repro-checkpoint v1", "state_file\t" .. (any and sname or "") }
  for _, m in ipairs(meta) do lines[#lines + 1] = "=" .. m[1] .. "\t" .. m[2] .. "\t" .. m[3] end
  U.write_file_atomic(U.join(dir, "meta.txt"), table.concat(lines, "\n") .. "\n")
  -- the new checkpoint is committed: older state files can go
  local p = io.popen("ls -1 " .. U.shell_quote(dir) .. " 2>/dev/null")
  for f in p:lines() do
    if f:match("^state%-%d+%.safetensors$") and f ~= sname then os.remove(U.join(dir, f)) end
  end
  p:close()
end

-- Read the checkpoint in dir: the nested state table, or nil if none.
function M.load_checkpoint(dir)
  local mpath = U.join(dir, "meta.txt")
  local s = U.read_file(mpath)
  if not s then return nil end
  local lines = {}
  for line in s:gmatch("[^\n]+") do lines[#lines + 1] = line end
  if lines[1] ~= "repro-checkpoint v1" then error("checkpoint: '" .. mpath .. "' is not a repro checkpoint") end
  local sname = (lines[2] or ""):match("^state_file\t(.*)$")
  if not sname then error("checkpoint: '" .. mpath .. "' names no state file") end
  local root = {}
  for i = 3, #lines do
    local path, kind, val = lines[i]:match("^=([^\t]*)\t(%a)\t(.*)$")
    if not path then error(string.format("checkpoint: %s:%d: malformed line", mpath, i)) end
    if path ~= "" then set_path(root, path, decode_meta(kind, val)) end
  end
  if sname ~= "" then
    local tensors = T.load(U.join(dir, sname))
    for name, t in pairs(tensors) do set_path(root, name, t) end
  end
  return root
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
      result.diverged, result.step = true, step
    else
      loss:backward()
      row.grad_norm = grad_norm(params, o.grad_clip)
      o.optimizer:step()
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
    if o.checkpoint and ((o.checkpoint_every and step % o.checkpoint_every == 0) or step == steps) then
      M.save_checkpoint(o.checkpoint, collect_state(o, step))
    end
  end
  if logf then logf:close() end
  result.steps = step
  if not result.diverged then result.step = step end
  result.final_train_loss = last_train
  result.time = wall() - t_run0
  result.tokens_per_s = time_total > 0 and tok_total / time_total or 0
  return result
end

return setmetatable(M, { __call = function(_, o) return M.run(o) end })
