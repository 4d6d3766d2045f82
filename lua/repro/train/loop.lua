-- repro.train.loop: the step loop every trainer shares (language models,
-- reinforcement learning, diffusion, graph networks): logging, progress,
-- periodic checkpoints, divergence and clean stops on SIGINT/SIGTERM.
--
--   local loop = require "repro.train.loop"
--   local r = loop.run{
--     steps = N,                       -- the last step number
--     step = function(step) -> row, status   -- one step; row: the log row
--                                      -- (nil: nothing logged); status
--                                      -- "diverged" ends the loop after logging
--     start = 0,                       -- the step already done (ck:resume())
--     checkpoint = ck,                 -- repro.train.checkpointer or nil
--     log = logger,                    -- repro.train.logger or nil
--     progress = p, describe = fn(step, row) -> text,   -- repro.train.progress
--     on_step = fn(step, row),
--   }
--   -> {start =, step = last step done, diverged = bool}
--
-- With a checkpointer, SIGINT/SIGTERM are caught for the loop: the current
-- step finishes, a checkpoint is written (a second signal waits for it) and
-- an Interrupted error (repro.train.interrupt) is raised with the step and
-- the checkpoint folder. Whoever called decides how to report it.
local I = require "repro.train.interrupt"

local L = {}

local function body(o, res)
  local steps, ck = o.steps, o.checkpoint
  local step = res.start
  while step < steps do
    step = step + 1
    local row, status = o.step(step)
    if row and o.log then o.log:write(row) end
    if o.on_step then o.on_step(step, row) end
    local diverged = status == "diverged"
    if o.progress then
      o.progress:update(step, o.describe and o.describe(step, row, status) or nil, diverged)
    end
    res.step = step
    if diverged then res.diverged = true break end
    -- a signal at the last step stops nothing: the run is complete, and
    -- whoever runs the next one sees the signal
    local stop = step < steps and I.pending()
    if stop then I.enter_exit() end   -- from here a second signal waits for the exit
    if ck then ck:after_step(step, step == steps, stop) end
    if stop then
      if o.progress then o.progress:break_line() end
      I.stop{ step = step, steps = steps, checkpoint = ck and ck.dir or nil }
    end
  end
end

function L.run(o)
  if type(o) ~= "table" then error("loop.run: expected a table of options", 2) end
  if math.type(o.steps) ~= "integer" or o.steps < 0 then
    error("loop.run: steps must be an integer >= 0, got " .. tostring(o.steps), 2)
  end
  if type(o.step) ~= "function" then error("loop.run: step must be a function(step) -> row, status", 2) end
  local res = { start = o.start or 0, diverged = false }
  res.step = res.start
  if o.checkpoint then I.begin() end
  local ok, err = pcall(body, o, res)
  if o.log then o.log:close() end
  if not ok then
    -- an interrupted process is on its way out: its handlers stay
    if o.checkpoint and not I.is(err) then I.finish() end
    error(err, 0)
  end
  if o.checkpoint then I.finish() end
  return res
end

return L
