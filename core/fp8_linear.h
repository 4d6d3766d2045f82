/* fp8_linear.h: a linear op y = x·Wᵀ with simulated low-precision numerics
 * (fp32 / bf16 / fp8 with per-role scaling as TransformerEngine keeps it) and
 * the SwiGLU / Smooth-SwiGLU FFN built on it, all with autograd.
 *
 * Numerics (accumulation is always fp32: the kit's matmul, i.e. sgemm split
 * over the threads, on dequantized values):
 *  - fp32: plain.
 *  - bf16: x and W rounded to bf16 (RNE) in forward; in backward the output
 *    gradient is rounded to bf16 too; dgrad/wgrad use the bf16 x and W; the
 *    outputs and gradients themselves stay fp32.
 *  - fp8: forward quantizes x and W to E4M3 (e4m3fn), each with its own scale;
 *    backward quantizes the output gradient to E5M2 with its own scale;
 *    dgrad = Q(g)·Q(W), wgrad = Q(g)ᵀ·Q(x), where Q(t) = decode(code(t·s))·(1/s).
 * Scaling per role (input, weight, grad_output): "delayed" uses the role's
 * DelayedScaling scale and updates it with this call's amax after use
 * (TE semantics); "current" computes fmt_max/amax/2^margin from the tensor
 * itself. pow2 rounds either scale down to a power of two, 2^floor(log2(.)),
 * as the reference code of Fishman et al. 2024 (arXiv 2409.12517) does.
 *
 * Options of the paper's recipe (all off by default, so TE semantics stay):
 *  - sr_grad: the E5M2 copy of the output gradient rounds stochastically,
 *    word i of the Philox stream (seed, base) with base = the number of
 *    gradient elements this recipe quantized before (so any thread count
 *    gives the same bits, and no two calls reuse random words);
 *  - bwd_fmt >= 0: dgrad and wgrad use copies of x and W in that format
 *    (the reference code's E5M2 copies), quantized from the f32 operands with
 *    the scales of the forward; their statistics are last_bwd[0] (x), [1] (W);
 *  - input_bf16: the input role is rounded to bf16 instead of fp8 (the
 *    control that keeps the SwiGLU output h, W3's input, in bf16);
 *  - frozen: uses neither record statistics nor update the delayed state
 *    (evaluation forwards must not touch the amax histories).
 */
#ifndef RP_FP8_LINEAR_H
#define RP_FP8_LINEAR_H

#include "fp8.h"

typedef enum { RP_NUMERICS_FP32 = 0, RP_NUMERICS_BF16, RP_NUMERICS_FP8 } rp_numerics;
enum { RP_ROLE_INPUT = 0, RP_ROLE_WEIGHT, RP_ROLE_GRAD, RP_NROLES };
enum { RP_SMOOTH_NONE = 0, RP_SMOOTH_CHANNEL, RP_SMOOTH_TOKEN };

typedef struct rp_linear_recipe {
    int numerics;
    bool delayed;                       /* else current scaling */
    bool saturate;
    bool pow2;                          /* current scaling: power-of-two scales */
    float margin;
    int fmt[RP_NROLES];                 /* e4m3fn, e4m3fn, e5m2 */
    rp_delayed_scaling *ds[RP_NROLES];  /* delayed only, else NULL */
    rp_fp8_qstats last[RP_NROLES];      /* statistics of the latest use of each role */
    rp_fp8_qstats last_bwd[2];          /* the backward copies of x and W (bwd_fmt >= 0) */
    int64_t calls[RP_NROLES];
    bool sr_grad;
    uint64_t seed;
    uint64_t sr_used;                   /* gradient elements rounded so far (the Philox base) */
    int bwd_fmt;                        /* -1: the forward copies */
    bool input_bf16;
    bool frozen;
    int refcount;
} rp_linear_recipe;

/* New recipe (refcount 1); NULL + error on bad history/margin. */
rp_linear_recipe *rp_linear_recipe_new(int numerics, bool delayed, int history, float margin,
                                       int algo, bool saturate, bool pow2);
/* Forward (input, weight) and backward (grad_output) formats of a new recipe
 * (default e4m3fn / e5m2): formats with codes; -1 + error otherwise. */
int rp_linear_recipe_set_formats(rp_linear_recipe *r, int fwd, int bwd);
void rp_linear_recipe_retain(rp_linear_recipe *r);
void rp_linear_recipe_release(rp_linear_recipe *r);   /* NULL is fine */

/* y (..., out) = x (..., in) · w (out, in)ᵀ under recipe r (NULL = fp32).
 * Differentiable in x and w. Returns a new tensor or NULL + error. */
rp_tensor *rp_fp8_linear(const rp_tensor *x, const rp_tensor *w, rp_linear_recipe *r);

typedef struct {
    float h_amax;   /* max |h| of this call, h = silu(x W1ᵀ) ⊙ (x W2ᵀ) */
} rp_swiglu_stats;

/* Smooth-SwiGLU statistic: the output h itself, or the linear branch
 * x W2ᵀ (the reference code's max|x1| and the paper's equation). */
enum { RP_SMOOTH_STAT_OUTPUT = 0, RP_SMOOTH_STAT_LINEAR };

/* y (..., d) = (silu(x W1ᵀ) ⊙ (x W2ᵀ)) W3ᵀ with x (..., d), w1, w2 (f, d),
 * w3 (d, f); recipes[i] for the i-th linear (NULL = fp32). smooth:
 *  - RP_SMOOTH_CHANNEL: h's channel i is multiplied by s_i = 1/max_t |h_ti|
 *    (max over all tokens of this call) before W3's input quantization, and
 *    the inverse is folded into W3's column i before W3's quantization
 *    (y = Q(h ⊙ s)·Q(W3 ⊙ s⁻¹)ᵀ, as in the paper's equation);
 *  - RP_SMOOTH_TOKEN: token t is multiplied by s_t = 1/max_i |h_ti| before
 *    quantization and the output row is multiplied by 1/s_t after W3.
 * stat picks what the maxima are taken over: h (RP_SMOOTH_STAT_OUTPUT, the
 * input of W3 then has amax exactly 1) or the linear branch b = x W2ᵀ
 * (RP_SMOOTH_STAT_LINEAR: per token as the reference code's fp8_linear.py,
 * per channel as the paper's equation, with s⁻¹ folded into W3's columns).
 * s is computed on the fly and is a constant for autograd (the function does
 * not depend on it in exact arithmetic). st may be NULL. x, W1 and W2 are
 * quantized in one pass (x once when recipes[0] and [1] give it the same
 * scale), with the same bits, statistics and scaling updates as three
 * separate rp_fp8_linear calls. */
rp_tensor *rp_fp8_swiglu(const rp_tensor *x, const rp_tensor *w1, const rp_tensor *w2,
                         const rp_tensor *w3, rp_linear_recipe *const recipes[3], int smooth,
                         int stat, rp_swiglu_stats *st);

/* The smoothing op, differentiable, exported for tests (the gate
 * h = silu(a) ⊙ b is ops_nn's rp_silu_mul): y = x ⊙ v with v (C) along the
 * last dimension (per_row false) or v (rows) one per row of the (-1, C) view. */
rp_tensor *rp_scale_by_vector(const rp_tensor *x, const rp_tensor *v, bool per_row);

#endif
