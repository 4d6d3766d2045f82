-- repro: the Lua face of the kit. Returns a table; sets no globals.
local core = require "repro.core"

local repro = {
  _VERSION = "repro 0.1.0",
  core = core,
}

-- System functions (threads, BLAS info) live in repro.core.sys.
for k, v in pairs(core.sys) do repro[k] = v end

repro.tensor = require "repro.tensor"
repro.manual_seed = repro.tensor.manual_seed
repro.Generator = repro.tensor.Generator
repro.fp8 = require "repro.fp8"
repro.linalg = require "repro.linalg"
repro.optim = require "repro.optim"
repro.nn = require "repro.nn"
repro.data = require "repro.data"
repro.tokenizer = require "repro.tokenizer"
repro.util = require "repro.util"
repro.checkpoint = require "repro.checkpoint"
repro.train = require "repro.train"
repro.plot = require "repro.plot"
repro.experiment = require "repro.experiment"
repro.rl = require "repro.rl"
repro.dist = require "repro.dist"
repro.help = require("repro.help").help
repro.repr = require("repro.pretty").repr
repro.safetensors = require "repro.safetensors"
repro.hf = require "repro.hf"
repro.crystal = require "repro.crystal"
repro.gnn = require "repro.gnn"  -- also sets repro.nn.CGCNN
repro.diffusion = require "repro.diffusion"
repro.crystal_diffusion = require "repro.crystal_diffusion"  -- nn.DiffCSP, nn.CompactDiffusion
repro.materials_train = require "repro.materials_train"
repro.genms = require "repro.genms"  -- GenMS: requests, formula LM helpers, R_hi, Algorithm 1
repro.score_task = require "repro.score_task"
repro.score = require "repro.score"

return repro
