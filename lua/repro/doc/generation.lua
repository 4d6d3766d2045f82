-- Docstrings of the generation and policy-gradient parts: the sampler and
-- sequence-scoring ops of repro.tensor, masked attention, nn.Llama:generate
-- and the module helpers of repro.nn_generate, and repro.rl.
return {
  ["tensor.sample"] = [=[T.sample(logits [, {temperature = 1, top_k = 0, top_p = 1, generator = g | seed = n}]) -> i32 Tensor
One 1-based id per row of f32 logits (..., V), drawn from softmax(logits / temperature); temperature 0 is greedy (the first maximum). top_k keeps the k largest logits (ties to the lower id), then top_p the smallest prefix of those, largest first, whose probability reaches top_p. Row r uses its own Philox counter pair of the generator (the default one unless given), so the ids are the same at any thread count. -inf logits are never drawn; NaN, +inf or a row without a finite logit is an error. Also logits:sample(opts).]=],
  ["tensor.token_logprobs"] = [=[T.token_logprobs(logits, ids [, mask]) -> Tensor
log softmax(logits)[ids] per position: logits f32 (..., V), ids i32 (...) 1-based, result f32 (...). mask (the ids' shape, any dtype) selects positions: the others give 0, get no gradient and their ids are not read (padding may hold any value). One fused op, differentiable in logits.]=],
  ["tensor.kl_categorical"] = [=[T.kl_categorical(logits_p, logits_q [, mask]) -> Tensor
The exact KL(p || q) = Σ_v p_v (log p_v − log q_v) per position over the vocabulary, p = softmax(logits_p), q = softmax(logits_q), both f32 (..., V), result (...). mask as in token_logprobs. Differentiable in both arguments; pass the reference's logits computed under no_grad to penalise the policy only.]=],

  ["nn.Llama:generate"] = [=[model:generate(ids, {steps = N [, temperature = 1, top_k =, top_p =, generator = | seed =, forced = {[pos] = id | {ids}}, stop = id, lengths = {...}, cache = true, logits = false]}) -> ids, info
Continue the prompts ids (B, T0) i32 by N tokens: returns (B, T0 + N) ids. Prompts of different lengths are left-padded to T0 with `lengths` giving each row's real length (the padding may hold any value; a key mask hides it). forced[pos] puts a fixed id (or one per row) at output position pos (T0 < pos <= T0 + N), e.g. an instruction between two attempts. After `stop`, a row repeats stop. With cache (default) a prefill on the training kernels fills preallocated per-layer K/V, then each step runs one query per row over the cache (RoPE at the step's position); cache = false recomputes the whole prefix every step (the reference: greedy ids identical, logits within 1e-5). info = {lengths, stopped = per-row step of the stop or false, logits = (B, N, V) the distributions drawn from when logits = true}. Runs under no_grad; T0 + N must fit in seq_len.]=],
  ["nn.Llama:forward_masked"] = [=[model:forward_masked(ids, key_mask) -> logits
Logits (B, T, V) of ids (B, T) with a (B, T) key mask (nonzero = a real token) that hides left padding from every query; differentiable (for RL losses on padded prompts). With key_mask nil it is model:forward(ids).]=],
  ["nn.Module:clone"] = [=[module:clone() -> Module
An independent deep copy: every parameter and buffer cloned (same values, own storage, requires_grad kept), settings copied, shared sub-modules still shared. The frozen RL reference is model:clone():freeze().]=],
  ["nn.Module:freeze"] = [=[module:freeze([on]) -> module
Parameters stop requiring gradients (and drop .grad): a frozen model's forward records no graph. freeze(false) makes them trainable again.]=],
  ["nn.Module:forward_no_grad"] = [=[module:forward_no_grad(...) -> outputs
module:forward(...) with autograd off (T.no_grad): nothing is recorded, whatever the parameters' requires_grad.]=],

  ["rl.rloo"] = [=[rl.rloo(rewards, k) -> Tensor
RLOO advantages (Ahmadian et al. 2024): A_j = r_j − mean of the other k − 1 rewards of the same prompt; rewards (table or tensor of P·k numbers) grouped prompt-major, k consecutive per prompt. Returns f32 (P·k).]=],
  ["rl.baseline"] = [=[rl.baseline(rewards [, b]) -> Tensor
REINFORCE with a baseline: r − b, b a number (e.g. rl.RunningMean's value) or, when nil, the batch mean.]=],
  ["rl.RunningMean"] = [=[rl.RunningMean{decay = 0.9 [, value =]} -> rm
An exponential moving average of batch-mean rewards: rm:update(rewards) -> new mean, rm:value() (nil before the first update).]=],
  ["rl.returns"] = [=[rl.returns(turn_rewards, gamma) -> {R_1, ..., R_n}
Per-turn credit for multi-turn episodes: R_t = Σ_{u>=t} gamma^(u−t) r_u, turn_rewards a list of B rewards per turn. gamma 0 (the default) credits each turn with its own reward only.]=],
  ["rl.score"] = [=[rl.score(model, ids [, key_mask]) -> logits, targets
Logits (B, L − 1, V) of the transcripts ids (B, L) and their targets ids[:, 2..L]: position j scores token j + 1. key_mask (B, L) hides left padding (model:forward_masked).]=],
  ["rl.turn_mask"] = [=[rl.turn_mask(B, L, from, to) -> Tensor
(B, L − 1) f32 mask selecting the target positions of the transcript tokens from..to (1-based, inclusive): the tokens of one turn.]=],
  ["rl.policy_loss"] = [=[rl.policy_loss{logprobs = lp, masks = {m_1, ...}, advantages = {A_1, ...}, kl = kl, kl_coef = β | {β_1, ...}} -> loss, stats
REINFORCE with per-turn credit and KL penalties: loss = mean_b Σ_t [−A_t,b Σ_{turn t} log π + β_t Σ_{turn t} KL], lp and kl (B, N) per token (token_logprobs, kl_categorical), masks (B, N) per turn, advantages B numbers per turn. stats = {pg = policy-gradient term, kl = per-turn mean of the summed KL}.]=],
  ["rl.run"] = [=[rl.run{policy, optimizer, steps, rollout = fn(step) -> batch [, reference =, advantage = "rloo" | "baseline" | "none", k =, gamma = 0, kl_coef =, grad_clip =, log = "run.tsv", episodes = "episodes.jsonl", checkpoint = dir, checkpoint_every =, checkpoint_keep = 3, resume = false, on_step = fn(step, row), baseline_decay = 0.9]} -> result
The RL loop: each step calls rollout (batch = {ids (B, L), turns = {(B, L − 1) mask per turn}, rewards = {B numbers per turn}, key_mask =, info = {per-episode fields}}), computes per-turn returns and advantages, the policy's token log-probs and the KL to the frozen reference, the loss (rl.policy_loss), and takes an optimizer step with gradient clipping. Logs a TSV row per step (loss, pg, grad_norm, step_time, mean reward and KL per turn) and one JSON line per episode ({"step", "episode", "ids", "rewards", "advantages", info...}). With a checkpoint folder it saves the policy, optimizer, RNG and baseline, resumes from the newest checkpoint when resume = true (cutting the logs back to it), and on SIGINT/SIGTERM finishes the step, saves and returns with result.interrupted set. result.rows holds every step's stats.]=],
  ["rl.json"] = [=[rl.json(value) -> string
A compact JSON text of numbers (non-finite as null), strings, booleans and tables (arrays, or objects with sorted keys): the encoder of the episode file.]=],
}
