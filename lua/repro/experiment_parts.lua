-- repro.experiment_parts: an experiment's independent runs over several
-- processes (exp:runs), for experiments whose spec says `parts = true`.
--
--   exp:runs(list, train)   -- train(item) for every item of list
--
-- train(item) trains one run and, under exp.resume, skips a run whose result
-- is already on disk (as every resumable run does). With --workers N > 1 the
-- script starts N copies of itself with --part 1/N ... N/N and
-- REPRO_THREADS=1, waits for them, then calls train(item) for every item
-- once more under resume: each finds its result and is reused, so the body
-- after exp:runs (the report) sees the same folder as after a sequential run.
-- A share (--part I/N) trains items I, I+N, I+2N, ... and ends the process
-- before the report. The runs are independent and seeded by the experiment,
-- and the kernels give the same bits at any thread count: the numbers are
-- those of a sequential run, only the order of the progress lines differs.
-- Why processes and not threads: the small models of the FP8 experiments use
-- the second core poorly inside one step; two runs at once use both.
local I = require "repro.train.interrupt"

local word = I.word

-- The command line of share i of n: this binary, this script, the original
-- flags minus --workers/--part, then --part i/n (--resume only when given:
-- without it each share trains its runs afresh).
local function share_command(exp, i, n)
  local a = rawget(_G, "arg")
  local exe = a and a[-1] or "repro"
  local script = a and a[0] or exp.script
  local words = { "REPRO_THREADS=1", word(exe), word(script) }
  local args, k = exp.args, 1
  while k <= #args do
    local w = args[k]
    local key = w:match("^%-%-([%w_]+)")
    if (key == "workers" or key == "part") and not w:find("=", 1, true) then
      k = k + 2
    elseif key == "workers" or key == "part" then
      k = k + 1
    else
      words[#words + 1] = word(w)
      k = k + 1
    end
  end
  words[#words + 1] = string.format("--part %d/%d", i, n)
  return table.concat(words, " ")
end

-- How many processes: --workers, or (0) the threads this process may use.
local function worker_count(exp, nitems)
  local w = exp.workers or 1
  if w == 0 then w = require("repro.core").sys.get_threads() end
  return math.max(1, math.min(w, nitems))
end

return function(Exp)
  function Exp:runs(list, train)
    if self.part then
      local i, n = self.part.i, self.part.n
      local mine = {}
      for k, item in ipairs(list) do
        if (k - 1) % n == i - 1 then mine[#mine + 1] = item end
      end
      self.label_prefix = string.format("part %d/%d: ", i, n)
      self:plan(#mine, self.units_total > 0 and math.floor(self.units_total * #mine / math.max(1, #list)) or 0)
      for _, item in ipairs(mine) do train(item) end
      self:_close_run()
      io.stderr:write(string.format("%s: part %d/%d done (%d of %d runs) in %s; the report runs without --part, "
        .. "with --resume, once every share is in\n", self.name, i, n, #mine, #list, self.out))
      io.stderr:flush()
      os.exit(0)
    end
    local n = worker_count(self, #list)
    if n <= 1 then
      for _, item in ipairs(list) do train(item) end
      return
    end
    io.stderr:write(string.format("%s: %d runs in %d processes of one thread each (--workers 1: in this process)\n",
      self.name, #list, n))
    io.stderr:flush()
    -- the shares inherit the terminal: ^C reaches each, which checkpoints and exits 130
    local sh = {}
    for i = 1, n do sh[#sh + 1] = share_command(self, i, n) .. " & p" .. i .. "=$!" end
    sh[#sh + 1] = "rc=0"
    for i = 1, n do sh[#sh + 1] = "wait $p" .. i .. "; s=$?; [ $s -ne 0 ] && [ $rc -ne 130 ] && rc=$s" end
    sh[#sh + 1] = "exit $rc"
    local ok, how, code = os.execute(table.concat(sh, "\n"))
    local status = (how == "exit" and code) or 1
    if not ok and (status == 130 or how == "signal") then I.stop{ where = "the runs of its shares" } end
    if not ok then
      error(string.format("%s: a share of the runs failed (status %s); its message is above; finished runs are kept "
        .. "in %s: rerun with --resume", self.name, tostring(code), self.out), 0)
    end
    -- every result is on disk: one resumed pass reuses them all
    local resume = self.resume
    self.resume, self.quiet_skip = true, true
    self:plan(#list, self.units_total)
    for _, item in ipairs(list) do train(item) end
    self.resume, self.quiet_skip = resume, nil
    io.stderr:write(string.format("%s: %d runs reused from the shares\n", self.name, #list))
  end
end
