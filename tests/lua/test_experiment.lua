-- tests/lua/test_experiment.lua: the experiment runner: flags, type checks,
-- unknown flags, output folder contents and overwrite protection.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local E = require "repro.experiment"
local U = require "repro.util"

local tmp = A.tmpdir()

local function spec(args, name)
  return { name = name or "demo", exit = false, args = args,
    presets = { fast = { steps = 50, lr = 1e-3, model = "tiny", betas = { 0.9, 0.95 }, fp8 = { margin = 0, scaling = "delayed" }, smooth = false },
                paper = { steps = 5000, lr = 3e-4, model = "big", betas = { 0.9, 0.95 }, fp8 = { margin = 1, scaling = "delayed" }, smooth = true } } }
end

A.test("pristine: only the preset's own configuration publishes figures", function()
  A.eq(true, E.parse(spec {}, {}).pristine)
  A.eq(true, E.parse(spec {}, { "--preset", "paper", "--out", tmp .. "/p" }).pristine)
  A.eq(true, E.parse(spec {}, { "--steps", "50", "--seed", "1", "--lr", "0.001" }).pristine) -- same values
  A.eq(false, E.parse(spec {}, { "--steps", "7" }).pristine)
  A.eq(false, E.parse(spec {}, { "--seed", "2" }).pristine)
  A.eq(false, E.parse(spec {}, { "--fp8.margin", "3" }).pristine)
  A.eq(false, E.parse(spec {}, { "--betas", "0.8,0.95" }).pristine)
  local s = spec {}
  s.cosmetic = { "model" }
  A.eq(true, E.parse(s, { "--model", "other" }).pristine)
  A.eq(false, E.parse(s, { "--model", "other", "--smooth" }).pristine)
end)

A.test("defaults and overrides", function()
  local r = E.parse(spec {}, {})
  A.eq("fast", r.preset); A.eq(50, r.steps); A.eq(1, r.seed)
  A.eq("out/demo/fast", r.out)
  r = E.parse(spec {}, { "--preset", "paper", "--steps", "7", "--seed=9", "--lr", "0.01", "--fp8.margin", "2",
    "--smooth", "--betas", "0.8,0.99", "--model=m2", "--out", tmp .. "/x", "--resume" })
  A.eq("paper", r.preset); A.eq(7, r.config.steps); A.eq(9, r.config.seed); A.eq(0.01, r.config.lr)
  A.eq(2, r.config.fp8.margin); A.eq("delayed", r.config.fp8.scaling); A.eq(true, r.config.smooth)
  A.allclose({ 0.8, 0.99 }, r.config.betas, 0); A.eq("m2", r.config.model)
  A.eq(tmp .. "/x", r.out); A.eq(true, r.resume)
  r = E.parse(spec {}, { "--smooth", "false" })
  A.eq(false, r.config.smooth)
end)

A.test("bad flags are errors listing the valid ones", function()
  local e = A.raises(function() E.parse(spec {}, { "--lrr", "1" }) end, "unknown flag '--lrr'")
  A.truthy(e:find("--lr", 1, true) and e:find("--preset", 1, true) and e:find("--fp8.margin", 1, true), "lists valid flags")
  A.raises(function() E.parse(spec {}, { "--steps", "ten" }) end, "demo: invalid --steps 'ten': expected an integer")
  A.raises(function() E.parse(spec {}, { "--fp8.margin", "0.5" }) end, "expected an integer")
  A.raises(function() E.parse(spec {}, { "--lr", "fast" }) end, "expected a number")
  A.raises(function() E.parse(spec {}, { "--smooth", "maybe" }) end, "true or false")
  A.raises(function() E.parse(spec {}, { "--preset", "huge" }) end, "invalid --preset 'huge': expected one of fast, paper")
  A.raises(function() E.parse(spec {}, { "stray" }) end, "unexpected argument 'stray'")
  A.raises(function() E.parse(spec {}, { "--lr" }) end, "--lr needs a value")
  A.raises(function() E.new(spec { "--nope" }) end, "unknown flag")
  A.eq(nil, E.new(spec { "--help" }), "--help returns nil with exit = false")
end)

A.test("output folder: config, run info, results, overwrite protection", function()
  local out = tmp .. "/run one"
  local exp = E.new(spec { "--out", out, "--seed", "5" })
  local cfg = U.read_config(out .. "/config.txt")
  A.eq("demo", cfg.experiment); A.eq("fast", cfg.preset); A.eq(5, cfg.seed); A.eq(50, cfg.steps)
  A.eq("delayed", cfg["fp8.scaling"])
  local run = U.read_config(out .. "/run.txt")
  A.eq(5, run.seed)
  A.truthy(type(run.git_revision) == "string" and #run.git_revision > 0, "git revision")
  A.truthy(type(run.nproc) == "number" and run.nproc >= 1, "nproc")
  A.truthy(run.uname ~= nil, "uname")
  exp:write_results{ final_loss = 1.25 }
  exp:write_tsv("loss.tsv", { "step", "loss" }, { { 1, 2.5 }, { 2, 2.25 } })
  A.eq(1.25, U.read_config(out .. "/results.txt").final_loss)
  A.eq(2.25, U.read_tsv(out .. "/loss.tsv").rows[2][2])
  -- the same configuration may be rerun or resumed; --resume keeps the
  -- checkpoints, a fresh run removes them
  E.new(spec { "--out", out, "--seed", "5" })
  U.mkdir_p(out .. "/checkpoint/a")
  E.new(spec { "--out", out, "--seed", "5", "--resume" })
  A.truthy(U.isdir(out .. "/checkpoint/a"), "--resume keeps the checkpoints")
  E.new(spec { "--out", out, "--seed", "5" })
  A.truthy(not U.exists(out .. "/checkpoint"), "a fresh run removes old checkpoints")
  -- another configuration, preset or experiment is refused unless --force
  A.raises(function() E.new(spec { "--out", out, "--seed", "6", "--steps", "100" }) end, "it holds a run with seed=5 (now 6)")
  A.raises(function() E.new(spec { "--out", out, "--seed", "5", "--resume", "--steps", "100" }) end,
    "it holds a run with steps=50 (now 100)")
  A.raises(function() E.new(spec { "--out", out, "--preset", "paper" }) end, "preset 'fast'")
  A.raises(function() E.new(spec({ "--out", out }, "other")) end, "experiment 'demo'")
  local e2 = E.new(spec { "--out", out, "--seed", "6", "--force" })
  A.eq(6, U.read_config(out .. "/config.txt").seed)
  A.eq(out .. "/checkpoint", e2:checkpoint_dir())
end)

-- A spec with declared options: ranges, lists element by element, enumerations.
local function typed(args)
  return { name = "typed", exit = false, args = args, times = { smoke = "1 s", fast = "1 min" },
    about = "Reproduces nothing; a test.",
    presets = { smoke = { steps = 2, lr = 0.9, lrs = { 1e-3, 2e-3 }, freqs = { 1, 10 }, runs = "a,b", mode = "x", flag = false },
                fast = { steps = 20, lr = 0.9, lrs = { 1e-3 }, freqs = { 1, 10 }, runs = "a,b,c", mode = "y", flag = false } },
    options = { steps = { help = "training steps", min = 1 }, lr = { help = "learning rate", gt = 0 },
                lrs = { help = "grid", gt = 0 }, freqs = { help = "frequencies", min = 1 },
                runs = { help = "runs", list = true, choices = { "a", "b", "c" } },
                mode = { help = "mode", choices = { "x", "y" } }, flag = { help = "a switch" } } }
end

A.test("typed options: every invalid class is one line naming the option, the value and what is valid", function()
  local cases = {
    { { "--steps", "-5" }, "typed: invalid --steps '-5': expected an integer >= 1" },
    { { "--steps", "0" }, "invalid --steps '0': expected an integer >= 1" },
    { { "--steps", "1.5" }, "invalid --steps '1.5': expected an integer >= 1" },
    { { "--lr", "0" }, "invalid --lr '0': expected a number > 0" },
    { { "--lr", "-1e-3" }, "invalid --lr '-1e-3': expected a number > 0" },
    { { "--lr", "nan" }, "invalid --lr 'nan'" },
    { { "--lrs", "0.1,x" }, "invalid --lrs '0.1,x' (element 2 'x'): expected a comma list of numbers > 0" },
    { { "--lrs", "0.1,-2" }, "(element 2 '-2')" },
    { { "--lrs", "" }, "invalid --lrs '' (empty list)" },
    { { "--freqs", "1,2.5" }, "expected a comma list of integers >= 1" },
    { { "--runs", "a,nope" }, "invalid --runs 'a,nope' (element 2 'nope'): expected a comma list of a, b, c" },
    { { "--mode", "z" }, "invalid --mode 'z': expected one of x, y" },
    { { "--flag", "maybe" }, "invalid --flag 'maybe': expected true or false" },
    { { "--seed", "-1" }, "invalid --seed '-1': expected an integer >= 0" },
    { { "--out", "" }, "invalid --out '': expected a non-empty string" },
  }
  for _, c in ipairs(cases) do
    local e = A.raises(function() E.parse(typed {}, c[1]) end, c[2])
    A.truthy(not e:find("\n", 1, true), "one line: " .. e)
    A.truthy(not e:find("traceback", 1, true), "no traceback: " .. e)
  end
  local r = E.parse(typed {}, { "--lrs", "0.5,0.25", "--runs", "c", "--mode", "y", "--steps", "3" })
  A.allclose({ 0.5, 0.25 }, r.config.lrs, 0); A.eq("c", r.config.runs); A.eq(3, r.config.steps)
end)

A.test("the script's own mistakes are caught at once", function()
  local s = typed {}
  s.options.lr = nil
  A.raises(function() E.parse(s, {}) end, "field 'lr' has no entry in options")
  s = typed {}
  s.presets.fast.steps = 0
  A.raises(function() E.parse(s, {}) end, "preset fast: invalid --steps '0'")
  s = typed {}
  s.options.nope = { help = "x" }
  A.raises(function() E.parse(s, {}) end, "option 'nope' is in no preset")
end)

A.test("--help: what it reproduces, preset times, one line per option", function()
  local u = E.usage(typed {})
  A.truthy(u:find("Reproduces nothing; a test.", 1, true), "about")
  A.truthy(u:find("smoke%s+1 s") and u:find("fast %(default%)%s+1 min"), "preset times:\n" .. u)
  for _, k in ipairs { "steps", "lr", "lrs", "freqs", "runs", "mode", "flag", "preset", "seed", "out", "resume", "force", "help" } do
    local n = 0
    for _ in u:gmatch("\n  %-%-" .. k .. "[ \n]") do n = n + 1 end
    A.eq(1, n, "one line for --" .. k .. ":\n" .. u)
  end
  A.truthy(u:find("--steps%s+training steps; an integer >= 1 %[20; smoke 2%]"), "range and preset values:\n" .. u)
end)

A.test("settings name what differs from the preset; config files hold shortest numbers", function()
  local out = tmp .. "/typed"
  local exp = E.new(typed { "--out", out, "--steps", "7", "--lr", "0.3" })
  A.eq("preset fast, changed: lr=0.3, steps=7", exp:settings())
  A.eq(false, exp.pristine)
  local text = U.read_file(out .. "/config.txt")
  A.truthy(text:find("\nlr=0.3\n", 1, true), "0.3, not 0.29999999999999999:\n" .. text)
  A.truthy(text:find("lrs=[0.001]", 1, true), "list numbers shortest:\n" .. text)
  A.eq(0.3, U.read_config(out .. "/config.txt").lr, "reads back exactly")
  A.eq("preset fast", E.new(typed { "--out", tmp .. "/typed2" }):settings())
  for _, v in ipairs { 0.1, 0.9, 1 / 3, 2 ^ -30, 1e300, 5e-324, 123456789.123 } do
    A.eq(v, tonumber(U.shortest(v)), "round trip " .. U.shortest(v))
  end
  A.eq("0.9", U.shortest(0.9)); A.eq("0.1", U.shortest(0.1)); A.eq("3", U.shortest(3))
end)

A.test("every public function of repro.experiment and repro.train's parts has a docstring", function()
  local repro = require "repro"
  local doc = dofile(U.join(U.source_dir(), "lua/repro/doc/experiment.lua"))
  local function cover(prefix, t)
    for k, v in pairs(t) do
      if type(v) == "function" then
        local name = prefix .. "." .. k
        A.truthy(type(doc[name]) == "string" and doc[name]:find("\n", 1, true), "docstring for " .. name)
      end
    end
  end
  cover("experiment", repro.experiment)
  cover("train", repro.train)
  for _, part in ipairs { "loop", "logger", "checkpointer", "progress", "interrupt" } do
    A.truthy(type(repro.train[part]) == "table", "repro.train." .. part)
    if part ~= "progress" and part ~= "logger" and part ~= "checkpointer" then cover("train." .. part, repro.train[part]) end
  end
  A.truthy(doc["train.logger.open"] and doc["train.checkpointer.new"] and doc["train.progress.new"], "constructors")
  cover("core.signal", repro.core.signal)
  A.truthy(doc["util.shortest"], "util.shortest")
end)

A.test("write_exact / read_exact keep finished results bit for bit", function()
  local path = tmp .. "/exact.lua"
  local v = { 0.1, 1 / 3, -0.0, 2 ^ -1074, 1e308, 3, -7, math.huge, -math.huge, "a\n\"b", true, false,
              nested = { x = { 1.5, "y" }, [2.5] = "k" } }
  U.write_exact(path, v)
  local r = U.read_exact(path)
  for i = 1, 12 do A.eq(string.format("%q", r[i]), string.format("%q", v[i]), "element " .. i) end
  A.eq(1 / r[3], -math.huge, "-0 keeps its sign")
  A.eq(r.nested.x[1], 1.5); A.eq(r.nested.x[2], "y"); A.eq(r.nested[2.5], "k")
  U.write_exact(path, { 0 / 0, -(0 / 0) })
  r = U.read_exact(path)
  A.truthy(r[1] ~= r[1] and r[2] ~= r[2], "NaNs read back as NaN")
  A.eq(string.format("%a", r[1]):sub(1, 1) == "-", string.format("%a", 0 / 0):sub(1, 1) == "-", "NaN sign kept")
  A.raises(function() U.write_exact(path, { f = print }, "who") end, "who: cannot save a function")
  local none, msg = U.read_exact(tmp .. "/missing.lua")
  A.eq(none, nil); A.truthy(msg:find("no such file", 1, true))
  U.write_file_atomic(path, "return {")
  A.eq((U.read_exact(path)), nil, "a truncated file is unreadable, not an error")
end)

A.test("publish: globs, folders and optional names copied only for the preset's settings", function()
  local exp = E.new{name = "pubcheck", script = "x.lua", args = {"--out", tmp .. "/pub"}, exit = false, default = "a",
    presets = {a = {n = 1}}, options = {n = {help = "n", min = 0}}, times = {a = "1 s"}}
  U.mkdir_p(exp:path("figures")); U.mkdir_p(exp:path("cif"))
  for _, f in ipairs{"figures/p_1.png", "figures/q.png", "a.tsv", "cif/c.cif"} do U.write_file_atomic(exp:path(f), "x") end
  A.eq(nil, exp:publish("", {"a.tsv"}), "publish = '' publishes nothing")
  local dest = "out/test_experiment_publish"
  local d = exp:publish(dest, {"figures/p_*", "*.tsv", "cif", "missing.txt"}, {existing = true})
  A.eq(U.join(U.source_dir(), dest), d)
  for _, f in ipairs{"p_1.png", "a.tsv", "cif/c.cif"} do A.truthy(U.exists(d .. "/" .. f), f .. " published") end
  A.truthy(not U.exists(d .. "/q.png"), "only what the glob names")
  U.run("rm -rf -- " .. U.shell_quote(d))
  exp.pristine = false
  A.eq(false, exp:publish(dest, {"a.tsv"}), "changed settings publish nothing")
  A.truthy(not U.exists(d), "nothing copied")
end)

A.test("--workers and --part: opt-in flags, checked, and the same results as one process", function()
  A.raises(function() E.parse(spec {}, { "--workers", "2" }) end, "unknown flag '--workers'")
  local sp = spec {}
  sp.parts = true
  A.eq(0, E.parse(sp, {}).workers, "default: one process per thread")
  A.eq(3, E.parse(sp, { "--workers", "3" }).workers)
  local r = E.parse(sp, { "--part", "2/3" })
  A.eq(2, r.part.i); A.eq(3, r.part.n)
  A.raises(function() E.parse(sp, { "--part", "4/3" }) end, "invalid --part '4/3': expected I/N with 1 <= I <= N")
  A.raises(function() E.parse(sp, { "--part", "x" }) end, "invalid --part 'x'")
  A.raises(function() E.parse(sp, { "--part", "1/2", "--workers", "2" }) end, "drop --workers")
  A.raises(function() E.parse(sp, { "--workers", "-1" }) end, "workers")
  A.truthy(E.usage(sp):find("--workers N", 1, true) and not E.usage(spec {}):find("--workers", 1, true),
    "listed only where the experiment runs in parts")
  -- a tiny experiment: 5 independent runs, each writes f(k) and its process id; the report sums them
  local script = tmp .. "/parts_demo.lua"
  U.write_file(script, [[
local E = require "repro.experiment"
local U = require "repro.util"
local exp = E.new{ name = "parts_demo", script = "parts_demo.lua", default = "a", parts = true,
  presets = { a = { n = 5 } }, options = { n = { help = "runs", min = 1 } }, times = { a = "1 s" } }
exp:run(function()
  local list = {}
  for k = 1, exp.config.n do list[k] = k end
  local seen = {}
  exp:runs(list, function(k)
    local f = exp:path("r" .. k .. ".txt")
    if exp.resume and U.exists(f) then exp:skip_run("r" .. k, 1); seen[#seen + 1] = k; return end
    exp:begin_run("r" .. k, 1)
    local pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
    U.write_file(f, string.format("%d %s\n", k * k + exp.seed, pid))
    seen[#seen + 1] = k
  end)
  local sum, pids, n = 0, {}, 0
  for _, k in ipairs(seen) do
    local v, pid = U.read_file(exp:path("r" .. k .. ".txt")):match("^(%d+) (%d+)")
    sum = sum + tonumber(v)
    if not pids[pid] then pids[pid] = true; n = n + 1 end
  end
  U.write_file(exp:path("report.txt"), string.format("%d runs, sum %d, %d processes\n", #seen, sum, n))
end)
]])
  local exe, q = arg[-1], U.shell_quote
  local function run(out, extra)
    return os.execute(string.format("%s %s --out %s %s >/dev/null 2>&1", q(exe), q(script), q(out), extra))
  end
  A.truthy(run(tmp .. "/seq", "--workers 1"), "one process")
  A.eq("5 runs, sum 60, 1 processes\n", U.read_file(tmp .. "/seq/report.txt"))
  A.truthy(run(tmp .. "/par", "--workers 2"), "two processes")
  A.eq("5 runs, sum 60, 2 processes\n", U.read_file(tmp .. "/par/report.txt"), "same sum; runs from both shares")
  A.truthy(U.exists(tmp .. "/par/run.part1-of-2.txt") and U.exists(tmp .. "/par/run.part2-of-2.txt"))
  A.truthy(run(tmp .. "/one", "--part 2/2"), "a share alone")
  A.truthy(not U.exists(tmp .. "/one/report.txt"), "a share stops before the report")
  A.truthy(U.exists(tmp .. "/one/r2.txt") and U.exists(tmp .. "/one/r4.txt") and not U.exists(tmp .. "/one/r1.txt"),
    "share 2/2 trains runs 2 and 4")
  local function inode(f)
    local h = io.popen("stat -c %i " .. q(f)); local v = h:read("l"); h:close(); return v
  end
  local before = inode(tmp .. "/one/config.txt")
  A.truthy(run(tmp .. "/one", "--part 1/2 --resume"))
  A.eq(before, inode(tmp .. "/one/config.txt"), "a share leaves an existing config.txt alone (shares start together)")
  A.truthy(run(tmp .. "/one", "--resume --workers 1"))
  A.eq("5 runs, sum 60, 2 processes\n", U.read_file(tmp .. "/one/report.txt"), "the shares joined by --resume")
end)

U.run("rm -rf -- " .. U.shell_quote(tmp))
A.done("test_experiment")
