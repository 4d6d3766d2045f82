-- repro.hf (issue 21): nn.Llama <-> Hugging Face Llama names. The fixture in
-- tests/fixtures/hf_llama was made by make_fixture.py: repro exported
-- model.safetensors + config.json with hf.save, and PyTorch (a stand-in
-- for transformers' LlamaForCausalLM with its names, and bench/lm_torch.py's
-- model; they agreed exactly) computed logits.safetensors from that file.
-- Here, without Python: nn.Llama loaded from the file gives the same logits
-- within 1e-5, and exporting it again gives the same bytes.
local A = dofile(arg[0]:match("(.*/)") .. "assert.lua")
local repro = require "repro"
local T, nn, hf, fp8 = repro.tensor, repro.nn, repro.hf, repro.fp8
local U = repro.util

local FIX = U.join(U.source_dir(), "tests/fixtures/hf_llama")
local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end
local function read(p) return assert(io.open(p, "rb")):read("a") end

local function max_diff(a, b) return (a - b):abs():max():item() end

A.test("the exported model gives PyTorch's logits (fixture, within 1e-5)", function()
  local m, cfg = hf.load(FIX)
  A.eq("llama", cfg.model_type)
  A.eq(32, m.config.vocab); A.eq(16, m.config.dim); A.eq(2, m.config.layers); A.eq(2, m.config.heads)
  local ref = T.load(U.join(FIX, "logits.safetensors"))
  local logits = T.no_grad(function() return m(ref.ids + 1) end)   -- 0-based ids there, 1-based here
  A.eq(table.concat(ref.logits:shape(), ","), table.concat(logits:shape(), ","), "logits shape")
  local d = max_diff(ref.logits, logits)
  print(string.format("test_hf: max |logits - PyTorch logits| = %.3g", d))
  A.truthy(d <= 1e-5, "max abs diff " .. d)
  -- the same from the file alone (config from its __metadata__)
  local m2 = hf.load(U.join(FIX, "model.safetensors"))
  A.eq(0.0, max_diff(logits, T.no_grad(function() return m2(ref.ids + 1) end)), "file-only load")
end)

A.test("exporting the loaded model reproduces the fixture's bytes", function()
  local m = hf.load(FIX)
  local d = tmpdir()
  A.eq(U.join(d, "model.safetensors"), hf.save(m, d))
  A.eq(read(U.join(FIX, "config.json")), read(U.join(d, "config.json")), "config.json")
  A.truthy(read(U.join(FIX, "model.safetensors")) == read(U.join(d, "model.safetensors")), "model.safetensors bytes")
  local sd = hf.state_dict(m)
  A.eq(9 * 2 + 3, #U.sorted_keys(sd), "9 tensors per layer + embed, norm, head")
  A.eq("48,16", table.concat(sd["model.layers.1.mlp.gate_proj.weight"]:shape(), ","))
  A.eq("16,48", table.concat(sd["model.layers.0.mlp.down_proj.weight"]:shape(), ","))
  os.execute("rm -rf " .. U.shell_quote(d))
end)

A.test("names map both ways", function()
  local m = nn.Llama { vocab = 11, dim = 8, layers = 3, heads = 2, seed = 1 }
  for _, np in ipairs(m:named_parameters()) do
    local h = hf.to_hf_name(np[1])
    A.truthy(h, np[1])
    A.eq(np[1], hf.from_hf_name(h), h)
  end
  A.eq("model.layers.2.self_attn.o_proj.weight", hf.to_hf_name("layers.3.attn.wo.weight"))
  A.eq("layers.1.mlp.w2.weight", hf.from_hf_name("model.layers.0.mlp.up_proj.weight"))
  A.eq(nil, hf.to_hf_name("layers.1.attn.wz.weight"))
end)

A.test("tied embeddings and a BF16 export round trip", function()
  local m = nn.Llama { vocab = 20, dim = 8, layers = 1, heads = 2, seq_len = 8, tie_embeddings = true, seed = 4 }
  local d = tmpdir()
  hf.save(m, d, { dtype = "bf16", metadata = { note = "x" } })
  local t, meta, dt = T.load(U.join(d, "model.safetensors"))
  A.eq(nil, t["lm_head.weight"], "no lm_head when tied")
  A.eq("BF16", dt["model.embed_tokens.weight"]); A.eq("x", meta.note); A.eq("pt", meta.format)
  local m2, cfg = hf.load(d)
  A.eq(true, cfg.tie_word_embeddings); A.eq("bfloat16", cfg.torch_dtype)
  A.eq(true, m2.config.tie_embeddings)
  A.eq(0.0, max_diff(fp8.cast(m.tok_emb.weight, "bf16"), m2.tok_emb.weight), "bf16-rounded weights")
  -- f32 export of a fresh model: identical logits after the round trip
  local m3 = nn.Llama { vocab = 20, dim = 8, layers = 2, heads = 2, seq_len = 8, seed = 9 }
  local f = U.join(d, "m3.safetensors")
  hf.save(m3, f)
  local m4 = hf.load(f, { model = nn.Llama { vocab = 20, dim = 8, layers = 2, heads = 2, seq_len = 8, seed = 1 } })
  local ids = T.tensor({ { 1, 4, 9, 16, 20, 2 } }, { dtype = "i32" })
  A.eq(0.0, T.no_grad(function() return max_diff(m3(ids), m4(ids)) end), "logits after round trip")
  os.execute("rm -rf " .. U.shell_quote(d))
end)

A.test("configs and weights nn.Llama cannot take are errors naming the field", function()
  local d = tmpdir()
  local m = nn.Llama { vocab = 10, dim = 8, layers = 1, heads = 2, seq_len = 8, seed = 2 }
  hf.save(m, d)
  local cfg_path = U.join(d, "config.json")
  local base = repro.core.io.json_decode(read(cfg_path))
  local function with(k, v, pattern)
    local c = U.deepcopy(base)
    c[k] = v
    U.write_file(cfg_path, repro.core.io.json_encode(c))
    A.raises(function() hf.load(d) end, pattern, k)
  end
  with("num_key_value_heads", 1, "num_key_value_heads 1 differs from num_attention_heads 2")
  with("rms_norm_eps", 1e-6, "rms_norm_eps is 1e-06, not 1e-5")
  with("rope_theta", 500000.0, "rope_theta is 500000.0, not 10000")
  with("hidden_act", "gelu", "hidden_act is 'gelu'")
  with("model_type", "mistral", "model_type is 'mistral'")
  with("vocab_size", "ten", "'vocab_size' must be an integer")
  with("vocab_size", 12, "tok_emb.weight: model {12,8}, checkpoint {10,8}")
  U.write_file(cfg_path, "{not json")
  A.raises(function() hf.load(d) end, "config.json: json_decode: line 1")
  -- weights: an unknown name, a missing one
  local t, meta = T.load(U.join(d, "model.safetensors"))
  t["model.layers.0.self_attn.q_norm.weight"] = T.ones(8)
  local f = U.join(d, "odd.safetensors")
  T.save(f, t, meta)
  A.raises(function() hf.load(f) end, "not Llama weights nn.Llama has: model.layers.0.self_attn.q_norm.weight")
  t["model.layers.0.self_attn.q_norm.weight"] = nil
  t["model.norm.weight"] = nil
  T.save(f, t, meta)
  A.raises(function() hf.load(f) end, "missing keys: norm.weight")
  T.save(f, t)
  A.raises(function() hf.load(f) end, "no config.json beside it and no config in its metadata")
  A.raises(function() hf.save({}, d) end, "hf.save: model must be an nn.Llama")
  A.raises(function() hf.save(m, d, { dtype = "f8" }) end, "dtype must be 'f32', 'bf16' or 'f16'")
  A.raises(function() hf.load(U.join(d, "none")) end, "cannot open")
  os.execute("rm -rf " .. U.shell_quote(d))
end)

A.test("JSON helpers (config.json): round trip, null, and errors that leak nothing", function()
  local J = repro.core.io
  local v = { a = 1, b = { 1, 2.5, "x\"y\n", true, J.json_null }, c = {}, d = { e = 1e-5, f = 10000.0, g = 0.1 } }
  local text = J.json_encode(v)
  A.eq('{"a":1,"b":[1,2.5,"x\\"y\\n",true,null],"c":[],"d":{"e":1e-5,"f":10000.0,"g":0.1}}', text)
  local back = J.json_decode(text)
  A.eq(J.json_null, back.b[5]); A.eq(1e-5, back.d.e); A.eq(0.1, back.d.g); A.eq(math.type(1), math.type(back.a))
  A.eq(1 / 3, J.json_decode(J.json_encode(1 / 3)), "numbers keep their value")
  A.raises(function() J.json_encode({ a = { b = { 1, 2, print } } }) end, "cannot encode a function")
  A.raises(function() J.json_encode({ 1, 2, x = 3 }) end, "only the keys 1..n")
  A.raises(function() J.json_encode(0 / 0) end, "is not a JSON number")
  A.raises(function() J.json_encode("\xff") end, "not UTF-8")
  local cyc = {}
  cyc.self = cyc
  A.raises(function() J.json_encode(cyc) end, "nesting deeper than 100")
  local val, err = J.json_decode('{"a": 1, "a": 2}')
  A.eq(nil, val); A.truthy(err:find("duplicate", 1, true), err)
  val, err = J.json_decode(string.rep("[", 5000) .. string.rep("]", 5000))
  A.eq(nil, val); A.truthy(err:find("json_decode", 1, true), err)
end)

A.done("test_hf")
