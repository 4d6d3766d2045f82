/* ops_nn.h: neural-network ops of the tensor core: matmul (cblas_sgemm, no
 * copy for transposed views), softmax, cross_entropy, rms_norm, embedding,
 * causal attention, rotary embeddings, dropout, one_hot.
 *
 * Every op returns a NEW reference (release with rp_tensor_release) or NULL
 * with rp_errmsg() naming the op and the shapes. Differentiable ops record an
 * autograd node when an input requires grad. Indices (class ids, token ids)
 * are 0-based here; the Lua binding converts from 1-based. Inputs are f32
 * unless stated; any strides are accepted (non-contiguous inputs may be copied).
 * The *_ref functions are plain reference kernels (no autograd) for tests.
 */
#ifndef RP_OPS_NN_H
#define RP_OPS_NN_H

#include "tensor.h"
#include "rng.h"

/* ---- matmul (ops_matmul.c) ---- */

/* a (..., M, K) · b (..., K, N) -> (bcast(...), M, N); a 1-d operand is a row
 * (K) / column (K) vector whose dim is dropped from the result (1-d·1-d -> 0-d).
 * Batch dims broadcast. Views whose last two dims are row- or column-major go
 * to sgemm without a copy (b = w:t() is passed as CblasTrans). */
rp_tensor *rp_matmul(const rp_tensor *a, const rp_tensor *b);
/* Naive double-accumulation reference of rp_matmul (same shapes, no autograd). */
rp_tensor *rp_matmul_ref(const rp_tensor *a, const rp_tensor *b);
/* C = alpha·op(A)·op(B) + beta·C, row-major, with cblas_sgemm's arguments
 * and semantics (op(A) (M, K), op(B) (K, N), C (M, N); sizes and leading
 * dims must fit in int). A large product is split over the kit's threads in
 * blocks fixed by the shapes, with the same bits as one single-threaded
 * cblas_sgemm over the whole product at any thread count; a product too
 * small to split is that one call. Use it instead of cblas_sgemm. */
void rp_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* rp_gemm's arguments, for rp_gemm_many. */
typedef struct {
    bool ta, tb;
    int64_t M, N, K;
    float alpha;
    const float *A;
    int64_t lda;
    const float *B;
    int64_t ldb;
    float beta;
    float *C;
    int64_t ldc;
} rp_gemm_args;
/* n independent rp_gemm products (outputs disjoint, none an input of
 * another) run as one pool of blocks over the kit's threads, so a product
 * too narrow to split runs beside the others' blocks: the same bits as n
 * rp_gemm calls one after another. */
void rp_gemm_many(const rp_gemm_args *g, int n);
/* The multiples of which rp_gemm's block edges along the output rows and
 * columns are (0: that side is never cut), found once per process by
 * checking which edges reproduce a whole sgemm on this machine's OpenBLAS. */
void rp_gemm_block_align(int64_t *rows, int64_t *cols);
/* u (M) ⊗ v (N) -> (M, N). */
rp_tensor *rp_outer(const rp_tensor *u, const rp_tensor *v);

/* ---- softmax family, norms, losses (ops_nn.c) ---- */

/* softmax / log_softmax of x along dim (0-based, negative counts from the end);
 * output has x's shape. Max subtraction; fused backward. */
rp_tensor *rp_softmax(const rp_tensor *x, int dim);
rp_tensor *rp_log_softmax(const rp_tensor *x, int dim);
/* Reference: double-precision softmax (log if `log`), no autograd. */
rp_tensor *rp_softmax_ref(const rp_tensor *x, int dim, bool is_log);

#define RP_NO_IGNORE INT64_MIN
/* Mean negative log-likelihood of log_softmax(logits) at targets over the rows
 * whose target != ignore_index (RP_NO_IGNORE: none). logits (N, C) with
 * targets (N), or logits (B, T, C) with targets (B, T); targets i32 in [0, C).
 * Returns a 0-d tensor (NaN when every row is ignored, as PyTorch). */
rp_tensor *rp_cross_entropy(const rp_tensor *logits, const rp_tensor *targets,
                            int64_t ignore_index);
/* Reference in double: -mean(log_softmax) via rp_softmax_ref-style math. */
double rp_cross_entropy_ref(const rp_tensor *logits, const rp_tensor *targets,
                            int64_t ignore_index);

/* x (..., C) / sqrt(mean(x^2 over C) + eps) * weight (C); weight may be NULL. */
rp_tensor *rp_rms_norm(const rp_tensor *x, const rp_tensor *weight, double eps);
/* silu(a) * b for a, b f32 of one shape (the SwiGLU gate), new tensor; one
 * autograd node, the same bits as a:silu() * b forward and backward. */
rp_tensor *rp_silu_mul(const rp_tensor *a, const rp_tensor *b);
rp_tensor *rp_rms_norm_ref(const rp_tensor *x, const rp_tensor *weight, double eps);

/* weight (V, C) rows gathered at ids (i32, any shape, values in [0, V)) ->
 * (ids..., C). Backward scatters into the weight gradient in id order. */
rp_tensor *rp_embedding(const rp_tensor *weight, const rp_tensor *ids);

/* Inverted dropout: zero each element with probability p, scale the rest by
 * 1/(1-p). The mask is word i of g's stream (counter-based; g advances by
 * numel). training false or p == 0 returns x itself (a new reference). */
rp_tensor *rp_dropout(const rp_tensor *x, double p, bool training, rp_generator *g);

/* ids (i32, any shape, values in [0, n)) -> f32 (ids..., n) of 0/1. */
rp_tensor *rp_one_hot(const rp_tensor *ids, int64_t n);

/* ---- attention and rotary embeddings (ops_attention.c) ---- */

/* Causal scaled-dot-product attention: q, k, v (B, H, T, D) -> (B, H, T, D),
 * scores scaled by 1/sqrt(D), position t attends to 0..t. Parallel over
 * (B, H); deterministic for any thread count. */
rp_tensor *rp_attention(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v);
/* Which attention kernel: 0 the full T x T one; 1 (the default) the blocked
 * causal one for each (T, D) where a check on first use shows it reproduces
 * the full kernel bit for bit on this machine's BLAS, else the full one; 2
 * the blocked one always (faster, last bits may differ). Returns the previous
 * choice; a negative argument only reads it. */
int rp_attention_kernel(int kernel);
/* The same causal attention by a fused kernel (ops_attention_fused.c):
 * blocked over queries and keys with an online softmax, forward and
 * backward, no T x T scratch. Deterministic for any thread count; agrees
 * with rp_attention to rounding (its sums run in another order). */
rp_tensor *rp_attention_fused(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v);
/* Naive double-precision reference of rp_attention (no autograd). */
rp_tensor *rp_attention_ref(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v);

/* Attention with a key-padding mask and/or without the causal mask (in
 * ops_attention_masked.c): q (B, H, Tq, D), k and v (B, H, Tk, D) -> (B, H,
 * Tq, D). key_mask (B, Tk), any dtype, nonzero = the key may be attended, or
 * NULL. causal: query i attends keys j <= i + Tk - Tq (the queries are the
 * last Tq positions; needs Tq <= Tk), so one query over a cache of Tk keys
 * attends all of them. A query left with no key gets a zero output and no
 * gradient. Without a mask, causal, with Tq == Tk, this IS rp_attention (same
 * kernels, same bits). Deterministic for any thread count. */
rp_tensor *rp_attention_masked(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                               const rp_tensor *key_mask, bool causal);
/* Naive double-precision reference of rp_attention_masked (no autograd). */
rp_tensor *rp_attention_masked_ref(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v,
                                   const rp_tensor *key_mask, bool causal);

/* Rotary position embedding on x (..., T, D) (use (B, H, T, D)), D even, HF
 * Llama "rotate_half" pairing of i with i + D/2, angle (offset + t) *
 * base^(-2i/D). Backward is the inverse rotation. */
rp_tensor *rp_rope(const rp_tensor *x, int64_t offset, double base);

#endif
