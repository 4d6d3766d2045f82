-- help() entries for repro as a library: safetensors interop, Hugging Face
-- names, JSON, where data is found (issue 21).
return {
  ["safetensors.save"] = [[T.save(path, tensors, meta, {dtype = "bf16" | "f16" | "f32" | {name = dtype}})
(repro.safetensors.save is T.save.) Writes a safetensors file. tensors maps names to f32/i32/u8 tensors or to FP8 quantized tensors
(fp8.quantize / quantize_per_token / quantize_per_channel, formats e4m3fn and e5m2); meta is the
file's __metadata__ (string -> string). opts.dtype stores f32 tensors as BF16 or F16 (round to
nearest even, as PyTorch's .to() does): one dtype for all f32 tensors, or a table by name (also
"u8" tensors of codes as "f8_e4m3" / "f8_e5m2"). A quantized tensor NAME is stored as its codes
(F8_E4M3 / F8_E5M2) plus the companion NAME_scale_inv: F32, 1/scale, shaped {} (one scale),
NAME's shape with the last dimension 1 (per token) or {1, ..., C} (per channel), so that
value = float(NAME) * NAME_scale_inv. Names are written sorted: the same input gives the same bytes.]],

  ["safetensors.load"] = [[T.load(path, {raw = false}) --> tensors, meta, dtypes
(repro.safetensors.load is T.load.) Reads a safetensors file: tensors by name, the __metadata__ table (empty if none) and each entry's
file dtype ("F32", "BF16", "F8_E4M3", ...). F16/BF16/F64 become f32, I64 i32; F8_E4M3 and F8_E5M2
are decoded to f32 and multiplied by NAME_scale_inv when the file has one that broadcasts (it is
then not returned separately). {raw = true} returns F8 entries as their u8 codes and companions
as stored. Malformed files raise an error naming the file, the entry and the fault.]],

  ["hf.save"] = [[repro.hf.save(model, dir_or_file, {dtype = "f32" | "bf16" | "f16", metadata = {...}}) --> file
Exports an nn.Llama with Hugging Face Llama names. A directory gets model.safetensors and
config.json (what transformers' LlamaForCausalLM.from_pretrained reads); a path ending in
.safetensors gets that file alone, the config in its __metadata__ ("config", JSON) beside
format = "pt". The model's fp32 weights are written (bf16/fp8 numerics export their master weights).]],

  ["hf.load"] = [[repro.hf.load(dir_or_file, {model = m, numerics =, mlp =, fp8 =, seed =}) --> model, config
Loads a Hugging Face Llama checkpoint (a directory with model.safetensors and config.json, or one
.safetensors file with a config in its metadata) into a new nn.Llama built from the config (other
options go to nn.Llama), or into opts.model. Configs nn.Llama cannot represent (grouped-query
attention, rms_norm_eps other than 1e-5, rope_theta other than 10000, rope_scaling, biases) and
unknown, missing or misshapen weights are errors naming them.]],

  ["hf.state_dict"] = [[repro.hf.state_dict(model) --> {hf_name = tensor}
The model's parameters under Hugging Face names (the tensors themselves, not copies).
Shapes are the same on both sides: linear weights are (out, in) in nn.Llama too.]],

  ["hf.config"] = [[repro.hf.config(model) --> table
The Hugging Face LlamaConfig fields of an nn.Llama (vocab_size, hidden_size, intermediate_size,
num_hidden_layers, num_attention_heads, rms_norm_eps = 1e-5, rope_theta = 10000, ...).]],

  ["hf.from_hf"] = [[repro.hf.from_hf(sd) --> state dict
Renames a table of Hugging Face Llama weights to nn.Llama names (for model:load_state_dict);
rotary inv_freq buffers are dropped, any other unknown name is an error listing them.]],

  ["hf.to_hf_name"] = [[repro.hf.to_hf_name(name) --> string or nil
"layers.3.attn.wq.weight" -> "model.layers.2.self_attn.q_proj.weight" (layers are 1-based here,
0-based in Hugging Face names); nil for a name with no counterpart.]],

  ["hf.from_hf_name"] = [[repro.hf.from_hf_name(name) --> string or nil
The inverse of hf.to_hf_name.]],

  ["core.io.save_safetensors"] = [[repro.core.io.save_safetensors(path, names, tensors, dtypes, meta)
The binding under T.save: arrays of names and tensors, an optional array of file dtypes
("F32", "BF16", "F16", "F8_E4M3", "F8_E5M2", "U8", "I32"; false = the tensor's own), metadata.]],

  ["core.io.load_safetensors"] = [[repro.core.io.load_safetensors(path) --> tensors, meta, dtypes
The binding under T.load: F8 entries come back as u8 codes, nothing is decoded or scaled.]],

  ["core.io.json_encode"] = [[repro.core.io.json_encode(value, indent) --> string
JSON text of a Lua value (jansson): tables with keys 1..n (or empty) are arrays, tables with string
keys objects (keys sorted); numbers keep their value exactly; repro.core.io.json_null is null.]],

  ["core.io.json_decode"] = [[repro.core.io.json_decode(text) --> value | nil, message
Parses JSON (jansson; duplicate keys rejected): objects and arrays become tables, null becomes
repro.core.io.json_null. Malformed text returns nil and "json_decode: line L column C: reason".]],

}
