-- repro.train.progress: the one-line progress report of a loop.
--
--   local P = require "repro.train.progress"
--   local p = P.new{steps =, start = 0, every = steps // 10, quiet = false,
--                   context = {label = "run 2/5 bf16", eta = fn, on_step = fn} | nil}
--   p:update(step, "loss 3.1234", done)   -- done: the last line of this loop
--
-- On a terminal the line is redrawn in place (\r); otherwise a line every
-- `every` steps, at the first and the last step. It reads
--   run 2/5 bf16  step 40/1200  loss 3.1234  eta 1m05s (experiment 7m30s)
-- context (given by repro.experiment for each run) adds the run's label and
-- the whole experiment's ETA: context.eta(step, steps, start, elapsed) ->
-- seconds left in the experiment; context.on_step(step) is called first.
local U = require "repro.util"

local P = {}
P.__index = P

function P.new(o)
  o = o or {}
  local steps = o.steps or 0
  return setmetatable({ steps = steps, start = o.start or 0, every = o.every or math.max(1, steps // 10),
                        quiet = o.quiet, context = o.context, tty = U.stderr_is_tty(), t0 = U.now() }, P)
end

-- Seconds left in this loop, from the pace of the steps run in this process.
function P:eta(step)
  local done = step - self.start
  if done <= 0 then return nil end
  return (self.steps - step) * (U.now() - self.t0) / done
end

function P:line(step, text)
  local ctx = self.context
  local parts = {}
  if ctx and ctx.label then parts[#parts + 1] = ctx.label end
  parts[#parts + 1] = string.format("step %d/%d", step, self.steps)
  if text and text ~= "" then parts[#parts + 1] = text end
  local eta = self:eta(step)
  if eta then
    local s = "eta " .. U.format_duration(eta)
    if ctx and ctx.eta then
      local all = ctx.eta(step, self.steps, self.start, U.now() - self.t0)
      if all then s = s .. " (experiment " .. U.format_duration(all) .. ")" end
    end
    parts[#parts + 1] = s
  end
  return table.concat(parts, "  ")
end

function P:update(step, text, done)
  local ctx = self.context
  if ctx and ctx.on_step then ctx.on_step(step) end
  if self.quiet then return end
  if self.tty then
    io.stderr:write("\r", self:line(step, text), "\27[K")
    if done or step == self.steps then io.stderr:write("\n") end
  elseif done or step % self.every == 0 or step == self.steps or step == self.start + 1 then
    io.stderr:write(self:line(step, text), "\n")
  end
end

-- End a line redrawn in place (before other output, e.g. after an interruption).
function P:break_line()
  if self.tty and not self.quiet then io.stderr:write("\n") end
end

return P
