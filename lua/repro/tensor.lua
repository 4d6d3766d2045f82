-- repro.tensor: tensor creation and methods (C core plus Lua conveniences).
local core = require "repro.core"
local T = {}
for k, v in pairs(core.tensor) do T[k] = v end
for k, v in pairs(core.nnops) do T[k] = v end
return T
