-- repro.train.checkpointer: when and what a loop checkpoints.
--
--   local Ck = require "repro.train.checkpointer"
--   local ck = Ck.new{dir =, every = N | nil, keep = 3,
--                     collect = function(step) -> state table,
--                     restore = function(state) -> step}
--   local start = ck:resume()       -- step of the newest intact checkpoint (0: none)
--   ck:after_step(step, last, stop) -- saves when step % every == 0, at the last
--                                   -- step, or when stopping; returns true if saved
--   ck:save(step)                   -- one checkpoint now (a critical section)
--
-- The state is any nested table of tensors, numbers, strings and booleans
-- (repro.checkpoint.save_state: one file per checkpoint, checksummed,
-- committed by a rename; a second Ctrl-C waits for the write).
local checkpoint = require "repro.checkpoint"
local I = require "repro.train.interrupt"

local Ck = {}
Ck.__index = Ck

function Ck.new(o)
  if type(o) ~= "table" or type(o.dir) ~= "string" or o.dir == "" then
    error("checkpointer.new: dir must be a non-empty string", 2)
  end
  if type(o.collect) ~= "function" or type(o.restore) ~= "function" then
    error("checkpointer.new: collect and restore must be functions", 2)
  end
  if o.every ~= nil and (math.type(o.every) ~= "integer" or o.every < 1) then
    error("checkpointer.new: every must be an integer >= 1, got " .. tostring(o.every), 2)
  end
  return setmetatable({ dir = o.dir, every = o.every, keep = o.keep or 3, collect = o.collect,
                        restore = o.restore, last_saved = nil }, Ck)
end

function Ck:resume()
  local st = checkpoint.load_state(self.dir)
  if not st then return 0 end
  local step = self.restore(st)
  if math.type(step) ~= "integer" then step = st.step end
  self.last_saved = step
  return step
end

function Ck:save(step)
  local state = self.collect(step)
  state.step = step
  I.critical(checkpoint.save_state, self.dir, state, { keep = self.keep })
  self.last_saved = step
end

function Ck:after_step(step, last, stop)
  if self.last_saved == step then return false end
  if stop or last or (self.every and step % self.every == 0) then
    self:save(step)
    return true
  end
  return false
end

return Ck
