-- repro.train.interrupt: SIGINT/SIGTERM as a request to stop cleanly.
--
--   local I = require "repro.train.interrupt"
--   I.begin()            -- catch SIGINT/SIGTERM from now on (nested calls count)
--   ... I.pending()      -- "SIGINT" | "SIGTERM" | nil, polled between steps
--   I.critical(fn, ...)  -- run fn so that a second signal waits for it to end
--   I.stop{step =, steps =, checkpoint =}   -- raise an Interrupted error
--   I.finish()           -- matching begin(): restore the old handlers at depth 0
--   I.is(err)            -- is err an Interrupted error?
--   I.set_owner(name)    -- someone above (an experiment) reports interruptions;
--                           nil: repro.train reports them itself and exits 130
--   I.resume_command()   -- the command line that resumes this script
--
-- The first signal only sets a flag: the loop finishes its step, writes its
-- checkpoint inside a critical section and raises Interrupted, which unwinds
-- to whoever reports it (exit status 130). A second signal during the step
-- ends the process at once (the last committed checkpoint stays intact); one
-- during a critical section (a checkpoint write, the exit) waits for it.
local U = require "repro.util"
local signal = require("repro.core").signal

local I = {}

local depth, owner = 0, nil

local Interrupted = { __name = "repro.Interrupted" }
Interrupted.__index = Interrupted
Interrupted.__tostring = function(e) return e.message end

function I.begin()
  if depth == 0 then signal.install() end
  depth = depth + 1
end

function I.finish()
  if depth == 0 then return end
  depth = depth - 1
  if depth == 0 then signal.uninstall() end
end

function I.active() return depth > 0 end

-- Under several processes (repro.dist) the answer is agreed by every rank
-- (a collective: every rank polls at the same points), so all stop together.
function I.pending()
  if depth == 0 then return nil end
  local s = signal.pending()
  local dist = require "repro.dist"
  if dist.size() > 1 then s = dist.any_signal(s) end
  return s
end

-- Run fn(...) with second signals deferred until it returns (or raises).
function I.critical(fn, ...)
  if depth == 0 then return fn(...) end
  signal.critical(true)
  local r = table.pack(pcall(fn, ...))
  signal.critical(false)
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- Enter a critical section that is never left: the process is exiting.
function I.enter_exit()
  if depth > 0 then signal.critical(true) end
end

function I.is(e) return getmetatable(e) == Interrupted end

-- Raise an Interrupted error. info: signal (default: the pending one), step,
-- steps, checkpoint (the folder written), what (a label of the run).
function I.stop(info)
  info = info or {}
  local e = setmetatable({}, Interrupted)
  for k, v in pairs(info) do e[k] = v end
  e.signal = e.signal or signal.pending() or "SIGINT"
  local where = e.step and string.format(" at step %d%s", e.step, e.steps and ("/" .. e.steps) or "") or ""
  e.message = string.format("%s%s%s", e.signal, where,
    e.checkpoint and (": checkpoint written to " .. e.checkpoint) or "")
  error(e, 0)
end

function I.set_owner(name) owner = name end
function I.owner() return owner end

-- A word for the shell: quoted only when it needs to be.
local function word(s)
  if s:match("^[%w%-_./=:,+@%%]+$") then return s end
  return U.shell_quote(s)
end

I.word = word

-- The command that resumes this script: ./repro when run from the source
-- folder through its launcher, else repro; the script's arguments, plus
-- --resume (unless present).
function I.resume_command(args)
  local a = rawget(_G, "arg")
  if type(a) ~= "table" or not a[0] then return nil end
  local exe = "repro"
  local src = U.source_dir()
  local cwd = os.getenv("PWD")
  if cwd and src and cwd == src and U.exists(U.join(src, "repro")) then exe = "./repro" end
  local words = { exe, word(a[0]) }
  local has = false
  args = args or { table.unpack(a) }
  for _, w in ipairs(args) do
    words[#words + 1] = word(w)
    if w == "--resume" then has = true end
  end
  if not has then words[#words + 1] = "--resume" end
  return table.concat(words, " ")
end

return I
