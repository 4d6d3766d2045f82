-- Docstrings of repro.data (corpora, splits, batches) and repro.tokenizer.
return {
  ["data.load_text"] = [=[data.load_text(path) -> string
The whole file as a string; raises naming the path when it cannot be read.]=],
  ["data.shakespeare_path"] = [=[data.shakespeare_path() -> string
The path of the bundled Tiny Shakespeare corpus (data/tinyshakespeare/input.txt).]=],
  ["data.split"] = [=[data.split(ids [, val_fraction = 0.1]) -> train, val
The first 1 - val_fraction of a token list for training and the last val_fraction for validation, contiguous and unshuffled as nanoGPT splits Tiny Shakespeare.]=],
  ["data.sampler"] = [=[data.sampler(seed) -> data.Sampler
A counter-based random sampler (splitmix64 of seed and a counter) in pure Lua: draw i depends only on (seed, i), so it is checkpointable.]=],
  ["data.loader"] = [=[data.loader{train = ids, val = ids, seq_len =, batch =, seed = 1, vocab_size =, tokenizer =} -> data.Loader
Random contiguous windows of a token list: loader:batch() returns (batch, seq_len) i32 tensors x of 1-based ids and y, the same windows shifted by one (next-token targets).]=],
  ["data.shakespeare"] = [=[data.shakespeare{tokenizer = "char" | "bpe", merges = 256, merges_file =, seq_len = 64, batch = 8, seed =, val_fraction = 0.1} -> data.Loader
Tiny Shakespeare tokenized (characters: 65 symbols; or byte-level BPE) and split, as a loader whose .tokenizer and .vocab_size are set.]=],
  ["data.Loader:batch"] = [=[loader:batch([split = "train" [, B [, seq_len]]]) -> x, y
B random windows of the split ("train" or "val"): x (B, seq_len) i32 ids and y the next-token targets.]=],
  ["data.Loader:get_state"] = [=[loader:get_state() -> {train =, val =}
The samplers' positions, for checkpoints: restoring them replays the same batches.]=],
  ["data.Loader:set_state"] = [=[loader:set_state(state)
Restore positions returned by loader:get_state().]=],
  ["data.Sampler:below"] = [=[sampler:below(n) -> integer
The next uniform integer in [0, n) (exactly uniform, by rejection).]=],
  ["data.Sampler:get_state"] = [=[sampler:get_state() -> {seed =, counter =}
The sampler's position.]=],
  ["data.Sampler:set_state"] = [=[sampler:set_state(state)
Restore a position returned by sampler:get_state().]=],

  ["tokenizer.char"] = [=[tokenizer.char(text) -> CharTokenizer
A character-level tokenizer over the distinct bytes of text, sorted (65 symbols for Tiny Shakespeare); ids are 1-based.]=],
  ["tokenizer.bpe_train"] = [=[tokenizer.bpe_train(text, merges) -> BpeTokenizer
Train a byte-level BPE (GPT-2 style pre-tokenization, deterministic ties) with the given number of merges: ids 1..256 are bytes, merge k is id 256 + k.]=],
  ["tokenizer.load"] = [=[tokenizer.load(path) -> CharTokenizer | BpeTokenizer
Load a tokenizer written by tok:save; a malformed file raises naming the line.]=],
  ["CharTokenizer:encode"] = [=[tok:encode(text) -> {id, ...}
1-based ids of the characters of text; a character outside the vocabulary raises naming it.]=],
  ["CharTokenizer:decode"] = [=[tok:decode(ids) -> string
The text of a list of 1-based ids.]=],
  ["CharTokenizer:save"] = [=[tok:save(path)
Write the vocabulary (one byte value a line) for tokenizer.load.]=],
  ["BpeTokenizer:encode"] = [=[tok:encode(text) -> {id, ...}
1-based token ids of text (bytes merged by rank within each pre-tokenized chunk).]=],
  ["BpeTokenizer:decode"] = [=[tok:decode(ids) -> string
The bytes the ids stand for, concatenated.]=],
  ["BpeTokenizer:save"] = [=[tok:save(path)
Write the merges (one "A B" pair a line) for tokenizer.load.]=],
}
