-- repro: the Lua face of the kit. Returns a table; sets no globals.
local core = require "repro.core"

local repro = {
  _VERSION = "repro 0.1.0",
  core = core,
}

repro.tensor = require "repro.tensor"
repro.manual_seed = core.tensor.manual_seed

return repro
