-- tests/lua/test_fp8_recipe_edges.lua: delayed scaling (TransformerEngine's
-- DelayedScaling, algo "max") when a NaN amax enters the history: torch.max
-- propagates it, so the scale stays put for as long as the NaN is in the
-- window, and moves again once it has rolled out.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local fp8 = repro.fp8

A.test("a NaN in the amax history holds the scale until it rolls out", function()
  local d = fp8.delayed_scaling{ history = 2, algo = "max", fmt = "e4m3fn" }
  A.near(448 / 4, d:update(4), 1e-4)
  A.near(448 / 4, d:update(0 / 0), 1e-4)   -- NaN: scale kept
  A.near(448 / 4, d:update(1), 1e-4)       -- the NaN is still in the window (4 has left it)
  A.near(448 / 1, d:update(1), 1e-4)       -- gone: the window holds 1, 1
end)

A.done("test_fp8_recipe_edges")
