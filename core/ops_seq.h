/* ops_seq.h: ops for generation and policy-gradient training: a sampler
 * over categorical logits, per-position log-probabilities of chosen ids,
 * the exact KL between two categorical distributions, and a cross entropy
 * with per-position weights.
 *
 * Every op returns a NEW reference or NULL with rp_errmsg() set. Logits are
 * f32 (..., V) with any strides (non-contiguous ones are copied); ids are i32
 * and 0-based here (the Lua binding converts from 1-based). A mask has the
 * ids' shape and any dtype: nonzero selects a position; masked-out positions
 * give 0, get no gradient, and their ids are not read. Reductions over the
 * vocabulary run in index order, so results do not depend on the thread count.
 */
#ifndef RP_OPS_SEQ_H
#define RP_OPS_SEQ_H

#include "tensor.h"
#include "rng.h"

/* One id per row of logits (..., V) -> i32 (...), 0-based. temperature 0 is
 * greedy (the first maximum); otherwise softmax(logits / temperature)
 * restricted to the top_k largest (0: all; ties broken by the lower id) and
 * then to the smallest prefix, in that order, whose probability reaches top_p
 * (1: all). Row r draws from words 2r and 2r+1 of the block g hands out (g
 * advances by 2 rows' words even when greedy), so a row's id depends only on
 * (seed, offset, r), whatever the thread count. NaN or +inf logits, or a row
 * with no finite logit, are errors. */
rp_tensor *rp_sample(const rp_tensor *logits, double temperature, int64_t top_k, double top_p,
                     rp_generator *g);

/* log softmax(logits)[ids] per position: logits (..., V), ids (...) -> f32
 * (...). mask may be NULL. Differentiable in logits. */
rp_tensor *rp_token_logprobs(const rp_tensor *logits, const rp_tensor *ids,
                             const rp_tensor *mask);

/* KL(p || q) = Σ_v p_v (log p_v - log q_v) per position, p = softmax(logits_p),
 * q = softmax(logits_q), both (..., V) -> f32 (...). mask may be NULL.
 * Differentiable in both. */
rp_tensor *rp_kl_categorical(const rp_tensor *logits_p, const rp_tensor *logits_q,
                             const rp_tensor *mask);

/* Σ_r w_r nll_r / Σ_r w_r over the rows whose target != ignore_index, for the
 * shapes of rp_cross_entropy; weights f32 of the targets' shape (no gradient).
 * 0-d; NaN when the weights of the counted rows sum to 0. */
rp_tensor *rp_cross_entropy_weighted(const rp_tensor *logits, const rp_tensor *targets,
                                     int64_t ignore_index, const rp_tensor *weights);

#endif
