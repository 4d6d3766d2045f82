-- tests/lua/test_experiment.lua: the experiment runner: flags, type checks,
-- unknown flags, output folder contents and overwrite protection.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local E = require "repro.experiment"
local U = require "repro.util"

local tmp = os.tmpname()
os.remove(tmp)
U.mkdir_p(tmp)

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
  A.raises(function() E.parse(spec {}, { "--steps", "ten" }) end, "--steps expects an integer, got 'ten'")
  A.raises(function() E.parse(spec {}, { "--fp8.margin", "0.5" }) end, "expects an integer")
  A.raises(function() E.parse(spec {}, { "--lr", "fast" }) end, "expects a number")
  A.raises(function() E.parse(spec {}, { "--smooth", "maybe" }) end, "true or false")
  A.raises(function() E.parse(spec {}, { "--preset", "huge" }) end, "unknown preset 'huge' (valid: fast, paper)")
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
  -- the same configuration may be rerun; --resume may change steps
  E.new(spec { "--out", out, "--seed", "5" })
  E.new(spec { "--out", out, "--seed", "5", "--resume", "--steps", "100" })
  -- another configuration, preset or experiment is refused unless --force
  A.raises(function() E.new(spec { "--out", out, "--seed", "6", "--steps", "100" }) end, "it holds a run with seed=5 (now 6)")
  A.raises(function() E.new(spec { "--out", out, "--seed", "5" }) end, "it holds a run with steps=100 (now 50)")
  A.raises(function() E.new(spec { "--out", out, "--preset", "paper" }) end, "preset 'fast'")
  A.raises(function() E.new(spec({ "--out", out }, "other")) end, "experiment 'demo'")
  local e2 = E.new(spec { "--out", out, "--seed", "6", "--force" })
  A.eq(6, U.read_config(out .. "/config.txt").seed)
  A.eq(out .. "/checkpoint", e2:checkpoint_dir())
end)

U.run("rm -rf -- " .. U.shell_quote(tmp))
A.done("test_experiment")
