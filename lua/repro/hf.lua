--[[ repro.hf: nn.Llama <-> Hugging Face Llama (LlamaForCausalLM) checkpoints.

  hf.save(model, dir_or_file, {dtype = "f32" | "bf16" | "f16", metadata = {...}})
      dir: writes DIR/model.safetensors and DIR/config.json (what
      LlamaForCausalLM.from_pretrained(DIR) reads); a path ending in
      .safetensors: that file only (the config rides in its __metadata__).
  hf.load(dir_or_file, {model = m, numerics = "fp32", ...}) --> model, config
      builds an nn.Llama from config.json (or the file's metadata) and loads
      the weights; with opts.model, loads into that model instead. Other
      options go to nn.Llama (numerics, mlp, fp8, seed).
  hf.state_dict(model) --> {hf_name = tensor}    hf.config(model) --> config table
  hf.from_hf(sd) --> nn.Llama state dict          hf.to_hf_name(name), hf.from_hf_name(name)

Names and shapes. nn.Llama uses Hugging Face's own layout: linear weights
(out, in), RoPE with the rotate_half pairing (base 10000), RMSNorm eps 1e-5,
SwiGLU silu(x W1ᵀ) ⊙ (x W2ᵀ) then W3; so the mapping is a renaming, with no
permutation or transpose (layers are 1-based here, 0-based there):

  tok_emb.weight                 model.embed_tokens.weight
  layers.L.attn_norm.weight      model.layers.L-1.input_layernorm.weight
  layers.L.attn.wq|wk|wv|wo.weight  model.layers.L-1.self_attn.q_proj|k_proj|v_proj|o_proj.weight
  layers.L.mlp_norm.weight       model.layers.L-1.post_attention_layernorm.weight
  layers.L.mlp.w1|w2|w3.weight   model.layers.L-1.mlp.gate_proj|up_proj|down_proj.weight
  norm.weight                    model.norm.weight
  lm_head.weight                 lm_head.weight (absent when tie_word_embeddings)

The exported model computes the fp32 function: an nn.Llama trained with
numerics = "bf16" or "fp8" exports its fp32 master weights, and
Smooth-SwiGLU is the same function as SwiGLU in fp32.
]]
local core = require "repro.core"
local nn = require "repro.nn"
local U = require "repro.util"
local st = require "repro.safetensors"

local hf = {}

local LINEARS = {
  ["attn.wq"] = "self_attn.q_proj", ["attn.wk"] = "self_attn.k_proj", ["attn.wv"] = "self_attn.v_proj",
  ["attn.wo"] = "self_attn.o_proj", ["mlp.w1"] = "mlp.gate_proj", ["mlp.w2"] = "mlp.up_proj",
  ["mlp.w3"] = "mlp.down_proj", attn_norm = "input_layernorm", mlp_norm = "post_attention_layernorm",
}
local BACK = {}
for k, v in pairs(LINEARS) do BACK[v] = k end
local TOP = { ["tok_emb.weight"] = "model.embed_tokens.weight", ["norm.weight"] = "model.norm.weight",
  ["lm_head.weight"] = "lm_head.weight" }
local TOP_BACK = {}
for k, v in pairs(TOP) do TOP_BACK[v] = k end

-- "layers.3.attn.wq.weight" -> "model.layers.2.self_attn.q_proj.weight"; nil if unknown.
function hf.to_hf_name(name)
  if TOP[name] then return TOP[name] end
  local l, mid = name:match("^layers%.(%d+)%.(.+)%.weight$")
  if l and LINEARS[mid] then return string.format("model.layers.%d.%s.weight", tonumber(l) - 1, LINEARS[mid]) end
  return nil
end

-- The inverse of to_hf_name; nil if unknown.
function hf.from_hf_name(name)
  if TOP_BACK[name] then return TOP_BACK[name] end
  local l, mid = name:match("^model%.layers%.(%d+)%.(.+)%.weight$")
  if l and BACK[mid] then return string.format("layers.%d.%s.weight", tonumber(l) + 1, BACK[mid]) end
  return nil
end

local function check_llama(fn, model)
  if type(model) ~= "table" or type(model.config) ~= "table" or not model.named_parameters or not model.blocks then
    error(fn .. ": model must be an nn.Llama, got " .. (type(model) == "table" and (model.classname or "a table") or type(model)), 3)
  end
end

-- Hugging Face's LlamaConfig fields for this model.
function hf.config(model)
  check_llama("hf.config", model)
  local c = model.config
  return {
    architectures = { "LlamaForCausalLM" }, model_type = "llama",
    vocab_size = c.vocab, hidden_size = c.dim, intermediate_size = c.ffn_dim,
    num_hidden_layers = c.layers, num_attention_heads = c.heads, num_key_value_heads = c.heads,
    head_dim = c.dim // c.heads, max_position_embeddings = c.seq_len, rms_norm_eps = 1e-5,
    rope_theta = 10000.0, rope_scaling = core.io.json_null, hidden_act = "silu",
    attention_bias = false, mlp_bias = false, tie_word_embeddings = c.tie_embeddings and true or false,
    torch_dtype = "float32", initializer_range = 0.02,
  }
end

-- {hf_name = parameter tensor} (the model's own tensors, not copies).
function hf.state_dict(model)
  check_llama("hf.state_dict", model)
  local out = {}
  for _, np in ipairs(model:named_parameters()) do
    local n = hf.to_hf_name(np[1])
    if not n then error("hf.state_dict: no Hugging Face name for parameter '" .. np[1] .. "'", 2) end
    out[n] = np[2]
  end
  return out
end

-- Hugging Face names -> nn.Llama names. Rotary inv_freq buffers (older
-- exports) are dropped; any other unknown name is an error listing them.
function hf.from_hf(sd)
  if type(sd) ~= "table" then error("hf.from_hf: expected a table of name = tensor, got " .. type(sd), 2) end
  local out, unknown = {}, {}
  for _, k in ipairs(U.sorted_keys(sd)) do
    local n = hf.from_hf_name(k)
    if n then out[n] = sd[k]
    elseif not k:match("rotary_emb%.inv_freq$") then unknown[#unknown + 1] = k end
  end
  if #unknown > 0 then
    error("hf.from_hf: not Llama weights nn.Llama has: " .. table.concat(unknown, ", "), 2)
  end
  return out
end

local function is_file(p) return p:match("%.safetensors$") ~= nil end

function hf.save(model, path, opts)
  check_llama("hf.save", model)
  if type(path) ~= "string" then error("hf.save: path must be a string, got " .. type(path), 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("hf.save: options must be a table", 2) end
  for k in pairs(opts) do
    if k ~= "dtype" and k ~= "metadata" then error("hf.save: unknown option '" .. tostring(k) .. "' (valid: dtype, metadata)", 2) end
  end
  local dtype = opts.dtype or "f32"
  local names = { f32 = "float32", bf16 = "bfloat16", f16 = "float16" }
  if not names[dtype] then error("hf.save: dtype must be 'f32', 'bf16' or 'f16', got " .. tostring(dtype), 2) end
  local config = hf.config(model)
  config.torch_dtype = names[dtype]
  local meta = { format = "pt", config = core.io.json_encode(config) }
  for k, v in pairs(opts.metadata or {}) do meta[k] = v end
  local file = path
  if not is_file(path) then
    U.mkdir_p(path)
    file = U.join(path, "model.safetensors")
    local ok, err = pcall(U.write_file, U.join(path, "config.json"), core.io.json_encode(config, 2) .. "\n")
    if not ok then error("hf.save: " .. tostring(err), 2) end
  end
  local ok, err = pcall(st.save, file, hf.state_dict(model), meta, { dtype = dtype })
  if not ok then error(err, 2) end
  return file
end

-- Settings nn.Llama can take from a Hugging Face config; errors name the field.
local function llama_options(cfg, where)
  local function need(k)
    if math.type(cfg[k]) ~= "integer" then error(string.format("hf.load: %s: '%s' must be an integer, got %s", where, k, tostring(cfg[k])), 4) end
    return cfg[k]
  end
  local function unsupported(what) error("hf.load: " .. where .. ": " .. what .. " (nn.Llama cannot represent it)", 4) end
  if cfg.model_type ~= nil and cfg.model_type ~= "llama" then unsupported("model_type is '" .. tostring(cfg.model_type) .. "', not 'llama'") end
  local heads, dim = need("num_attention_heads"), need("hidden_size")
  local kv = cfg.num_key_value_heads
  if kv ~= nil and kv ~= heads then unsupported(string.format("num_key_value_heads %s differs from num_attention_heads %d (grouped-query attention)", tostring(kv), heads)) end
  if cfg.hidden_act ~= nil and cfg.hidden_act ~= "silu" then unsupported("hidden_act is '" .. tostring(cfg.hidden_act) .. "', not 'silu'") end
  local eps = cfg.rms_norm_eps
  if eps ~= nil and math.abs(eps - 1e-5) > 1e-12 then unsupported("rms_norm_eps is " .. tostring(eps) .. ", not 1e-5") end
  if cfg.rope_theta ~= nil and cfg.rope_theta ~= 10000 then unsupported("rope_theta is " .. tostring(cfg.rope_theta) .. ", not 10000") end
  if type(cfg.rope_scaling) == "table" then unsupported("rope_scaling is set") end
  if cfg.attention_bias == true or cfg.mlp_bias == true then unsupported("attention_bias / mlp_bias is true") end
  if cfg.head_dim ~= nil and cfg.head_dim ~= core.io.json_null and cfg.head_dim ~= dim // heads then
    unsupported(string.format("head_dim %s is not hidden_size / num_attention_heads = %d", tostring(cfg.head_dim), dim // heads))
  end
  return { vocab = need("vocab_size"), dim = dim, layers = need("num_hidden_layers"), heads = heads,
    ffn_dim = need("intermediate_size"), seq_len = math.type(cfg.max_position_embeddings) == "integer" and cfg.max_position_embeddings or nil,
    tie_embeddings = cfg.tie_word_embeddings == true }
end

function hf.load(path, opts)
  if type(path) ~= "string" then error("hf.load: path must be a string, got " .. type(path), 2) end
  opts = opts or {}
  if type(opts) ~= "table" then error("hf.load: options must be a table", 2) end
  local file, cfg_text, where = path, nil, nil
  if not is_file(path) then
    file = U.join(path, "model.safetensors")
    cfg_text = U.read_file(U.join(path, "config.json"))
    where = U.join(path, "config.json")
  end
  local ok, tensors, meta = pcall(st.load, file)
  if not ok then error(tensors, 2) end
  if not cfg_text and meta.config then cfg_text, where = meta.config, file .. " (__metadata__.config)" end
  local cfg
  if cfg_text then
    local err
    cfg, err = core.io.json_decode(cfg_text)
    if type(cfg) ~= "table" then error("hf.load: " .. where .. ": " .. tostring(err or "not a JSON object"), 2) end
  end
  local model = opts.model
  if model == nil then
    if not cfg then
      error("hf.load: '" .. path .. "' has no config.json beside it and no config in its metadata: pass {model = nn.Llama{...}}", 2)
    end
    local o = llama_options(cfg, where)
    for k, v in pairs(opts) do o[k] = v end
    model = nn.Llama(o)
  else
    check_llama("hf.load", model)
  end
  local sd = hf.from_hf(tensors)
  if model.config.tie_embeddings and sd["lm_head.weight"] then sd["lm_head.weight"] = nil end
  local lok, lerr = pcall(model.load_state_dict, model, sd)
  if not lok then error("hf.load: " .. file .. ": " .. tostring(lerr):gsub("^.-load_state_dict: ", ""), 2) end
  return model, cfg
end

return hf
