/* ops_attention_fused.c: causal scaled-dot-product attention blocked over
 * queries and keys with an online softmax (FlashAttention-2: Dao, arXiv
 * 2307.08691, algorithms 1 and 2), forward and backward. No T x T matrix is
 * stored: per (batch, head) the scratch is two blocks of scores and one
 * float per query. The forward keeps one logsumexp per query; the backward
 * recomputes each block's probabilities from it.
 *
 * Determinism: every (b, h) runs on one thread with single-threaded BLAS
 * and the same sequence of block products whatever the thread count (the
 * blocks depend on T and D only), and every sum over keys or queries runs in
 * a fixed block order (key blocks ascending for the forward's output and
 * dQ; query blocks ascending for dK and dV). So the bits do not depend on
 * REPRO_THREADS. They differ from rp_attention's in the last places (the
 * sums are split differently): tests compare the two with a tolerance. */
#include "ops.h"
#include "ops_nn.h"
#include "autograd.h"
#include "attention_heads.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FA_X86 1
#endif

/* Rows (queries) and columns (keys) of a block; queries and keys share one
 * partition, so a diagonal block is square and every query row of a block
 * has at least its first key (j0 <= i). */
#define FA_BLK_MAX 64

/* Block size for (T, D): 64 at D >= 64 (the products are then large enough
 * to run near BLAS's rate), else 32, which wastes less above the diagonal. */
static int fa_block(int T, int D)
{
    int bs = D >= 64 ? 64 : 32;
    return T < bs ? T : bs;
}

/* ---- block products ----
 * C (M x N, ld ldc) = alpha A B + beta C (beta 0: C is not read), A (M x K)
 * at A[m rsa + k csa] (so either layout), B (K x N) row-major. The block
 * sizes are small (at most 64 each way), where a BLAS call spends much of
 * its time packing operands and clearing C; on AVX2 + FMA machines a 6 x 16
 * register tile does them in place. On a diagonal block the causal mask
 * lets whole tiles go: FA_N computes only the columns n < m1 of the rows
 * m0..m1-1 of a tile (scores: the others are masked and never read),
 * FA_KHI sums only k < m1 (A's entries beyond are exact zeros: P V, dS K),
 * FA_KLO only k >= m0 (Pᵀ dO, dSᵀ Q). Each element is one sum over k
 * ascending, the same whatever the thread count. */
enum { FA_FULL, FA_N, FA_KHI, FA_KLO };
#define FA_MR 6 /* rows of a register tile */

/* Plain C: the tiles at the edges, and every product on other machines. */
static void fa_tile_c(int m0, int m1, int n0, int n1, int k0, int k1, float alpha,
                      const float *A, int64_t rsa, int64_t csa, const float *B, int ldb,
                      float beta, float *C, int ldc)
{
    for (int m = m0; m < m1; m++)
        for (int n = n0; n < n1; n++) {
            float acc = 0.0f;
            for (int k = k0; k < k1; k++) acc += A[m * rsa + k * csa] * B[(int64_t)k * ldb + n];
            float *c = C + (int64_t)m * ldc + n;
            *c = beta == 0.0f ? alpha * acc : *c + alpha * acc;
        }
}

#ifdef FA_X86
/* An MR x 16 tile (MR <= 6: 12 accumulators, enough to cover the FMA
 * latency; B's two vectors are loaded once per k for all rows). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
fa_tile_avx2_rows(const int MR, int m0, int n0, int k0, int k1, float alpha, const float *A,
                  int64_t rsa, int64_t csa, const float *B, int ldb, float beta, float *C,
                  int ldc)
{
    __m256 c[6][2];
    _Pragma("GCC unroll 6") for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    const float *a = A + m0 * rsa, *b = B + n0;
    for (int k = k0; k < k1; k++) {
        const float *ak = a + k * csa, *bk = b + (int64_t)k * ldb;
        __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
        _Pragma("GCC unroll 6") for (int r = 0; r < MR; r++) {
            __m256 x = _mm256_broadcast_ss(ak + r * rsa);
            c[r][0] = _mm256_fmadd_ps(x, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(x, b1, c[r][1]);
        }
    }
    __m256 al = _mm256_set1_ps(alpha);
    _Pragma("GCC unroll 6") for (int r = 0; r < MR; r++) {
        float *cr = C + (int64_t)(m0 + r) * ldc + n0;
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m256 v = _mm256_mul_ps(al, c[r][h]);
            if (beta != 0.0f) v = _mm256_add_ps(_mm256_loadu_ps(cr + 8 * h), v);
            _mm256_storeu_ps(cr + 8 * h, v);
        }
    }
}

__attribute__((target("avx2,fma"))) static void
fa_tile_avx2(int mr, int m0, int n0, int k0, int k1, float alpha, const float *A, int64_t rsa,
             int64_t csa, const float *B, int ldb, float beta, float *C, int ldc)
{
    switch (mr) {
    case 6: fa_tile_avx2_rows(6, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    case 5: fa_tile_avx2_rows(5, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    case 4: fa_tile_avx2_rows(4, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    case 3: fa_tile_avx2_rows(3, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    case 2: fa_tile_avx2_rows(2, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    default: fa_tile_avx2_rows(1, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc); break;
    }
}

static int fa_use_avx2(void)
{
    static int use = -1; /* every thread finds the same answer: a benign race */
    if (use < 0) {
        __builtin_cpu_init();
        use = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return use;
}
#endif

static void fa_mm(int M, int N, int K, float alpha, const float *A, int64_t rsa, int64_t csa,
                  const float *B, int ldb, float beta, float *C, int ldc, int causal)
{
#ifdef FA_X86
    const bool simd = fa_use_avx2();
#else
    const bool simd = false;
#endif
    if (!simd) { /* BLAS, every entry (the masked ones are overwritten or multiply zeros) */
        bool at = !(csa == 1 && (rsa >= K || M == 1));
        int lda = at ? (int)(csa > M ? csa : M) : (int)(rsa > K ? rsa : K);
        cblas_sgemm(CblasRowMajor, at ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K, alpha, A,
                    lda > 0 ? lda : 1, B, ldb, beta, C, ldc);
        return;
    }
    for (int m0 = 0; m0 < M; m0 += FA_MR) {
        const int m1 = M - m0 < FA_MR ? M : m0 + FA_MR;
        int nend = N, k0 = 0, k1 = K;
        if (causal == FA_N && m1 < N) nend = m1;
        if (causal == FA_KHI && m1 < K) k1 = m1;
        if (causal == FA_KLO) k0 = m0;
        for (int n0 = 0; n0 < nend; n0 += 16) {
            const int n1 = N - n0 < 16 ? N : n0 + 16;
#ifdef FA_X86
            if (n1 - n0 == 16) {
                fa_tile_avx2(m1 - m0, m0, n0, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc);
                continue;
            }
#endif
            fa_tile_c(m0, m1, n0, n1, k0, k1, alpha, A, rsa, csa, B, ldb, beta, C, ldc);
        }
    }
}

/* e^x for the softmax blocks (x <= 0 but for rounding: scores minus their
 * maximum or logsumexp). Cody-Waite reduction x = n ln2 + r and Cephes'
 * expf polynomial (~1 ulp), with 2^n as one factor: results below
 * e^-87.3 (~1e-38, under float's smallest normal) are flushed to 0 instead
 * of going subnormal, which the probabilities lose nothing by and which
 * saves a quarter of rp_exp_f32's work. -inf (masked) gives 0, NaN itself.
 * Integer masks as in rp_exp_f32, so `omp simd` vectorises it. */
static inline float fa_bits_f(uint32_t b) { float f; memcpy(&f, &b, sizeof f); return f; }
static inline uint32_t fa_f_bits(float f) { uint32_t b; memcpy(&b, &f, sizeof b); return b; }

static inline float fa_exp(float x)
{
    const float lo = -87.33654f, hi = 88.0f;
    uint32_t mlo = -(uint32_t)(x < lo), mhi = -(uint32_t)(x > hi), mnan = -(uint32_t)(x != x);
    float xc = fa_bits_f((fa_f_bits(x) & ~(mlo | mhi | mnan)) | (fa_f_bits(hi) & mhi));
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = xc * 1.44269502162933349609375f + shifter;
    float nf = t - shifter;
    float r = (xc - nf * 0.693145751953125f) - nf * 1.428606765330187045e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = (p * r) * r + r + 1.0f;
    int32_t n = (int32_t)(fa_f_bits(t) - fa_f_bits(shifter)); /* in [-126, 127] */
    float y = p * fa_bits_f((uint32_t)(n + 127) << 23);
    return fa_bits_f((fa_f_bits(y) & ~(mlo | mnan)) | (fa_f_bits(x) & mnan));
}

RP_VECTOR_CLONES static void fa_exp_block(float *x, int64_t n)
{
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] = fa_exp(x[i]);
}

/* Max of row[0..n) (NaN never wins, -inf if none), order-free: the same
 * float whatever the order (a score is never -0, so no tie between zeros
 * can pick a sign). Eight lanes as in fa_row_sum, so that it vectorises:
 * one running max has a compare's latency per element, which made the row
 * maxima of a 64 x 64 block cost as much as one of its products. */
static inline float fa_row_max(const float *row, int n)
{
    float s[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] = row[j + l] > s[l] ? row[j + l] : s[l];
    for (int l = 0; j < n; j++, l++) s[l] = row[j] > s[l] ? row[j] : s[l];
    float m = s[0];
    for (int l = 1; l < 8; l++) m = s[l] > m ? s[l] : m;
    return m;
}

/* Σ row[0..n) in eight lanes (lane l takes j ≡ l mod 8), then the lanes in
 * a fixed tree: the order is the code's, not the vectoriser's. */
static inline float fa_row_sum(const float *row, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] += row[j + l];
    for (int l = 0; j < n; j++, l++) s[l] += row[j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Σ a[d] b[d] over d < n, lanes as fa_row_sum. */
static inline float fa_dot(const float *a, const float *b, int n)
{
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] += a[j + l] * b[j + l];
    for (int l = 0; j < n; j++, l++) s[l] += a[j] * b[j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* Forward, one block of scores S (nb x nk, ld nk) against running row maxima
 * m and sums l: S becomes exp(S - m_new) (0 where j > r on a diagonal
 * block), l is rescaled and extended, and alpha[r] = exp(m_old - m_new) is
 * the factor the output rows must take before P V is added. */
RP_VECTOR_CLONES static void fa_fwd_softmax(float *S, float *m, float *l, float *alpha, int nb,
                                            int nk, bool diag)
{
    for (int r = 0; r < nb; r++) {
        float *row = S + (int64_t)r * nk;
        int lim = diag ? r + 1 : nk;
        for (int j = lim; j < nk; j++) row[j] = -INFINITY;
        float mx = fa_row_max(row, lim);
        mx = m[r] > mx ? m[r] : mx;
        alpha[r] = m[r] - mx;
        m[r] = mx;
        #pragma omp simd
        for (int j = 0; j < lim; j++) row[j] -= mx;
    }
    fa_exp_block(S, (int64_t)nb * nk); /* one call: short rows would leave its latency bare */
    fa_exp_block(alpha, nb);
    for (int r = 0; r < nb; r++) l[r] = l[r] * alpha[r] + fa_row_sum(S + (int64_t)r * nk, nk);
}

RP_VECTOR_CLONES static void fa_scale_rows(float *o, const float *f, int nb, int D, bool invert)
{
    for (int r = 0; r < nb; r++) {
        float c = invert ? 1.0f / f[r] : f[r], *row = o + (int64_t)r * D;
        #pragma omp simd
        for (int d = 0; d < D; d++) row[d] *= c;
    }
}

/* dst (D x T, row-major) = src (T x D, row stride ld)ᵀ: the right-hand
 * operand of the products with kᵀ and vᵀ. */
#ifdef FA_X86
/* 8 x 8 blocks in registers (unpack / shuffle / permute): the strided
 * scalar copy below costs a few percent of the whole kernel. */
__attribute__((target("avx2,fma"))) static void fa_transpose_avx2(float *dst, const float *src,
                                                                  int ld, int T, int D)
{
    for (int t0 = 0; t0 < T; t0 += 8)
        for (int d0 = 0; d0 < D; d0 += 8) {
            __m256 r[8], u[8], v[8];
            /* unrolled, so that r, u and v stay in registers (gcc -O2
             * otherwise keeps them on the stack: twice the time) */
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(src + (int64_t)(t0 + i) * ld + d0);
            _Pragma("GCC unroll 4") for (int i = 0; i < 8; i += 2) {
                u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
            _Pragma("GCC unroll 2") for (int i = 0; i < 8; i += 4) {
                v[i] = _mm256_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                v[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                v[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                v[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(dst + (int64_t)(d0 + i) * T + t0,
                                 _mm256_permute2f128_ps(v[i], v[i + 4], 0x20));
                _mm256_storeu_ps(dst + (int64_t)(d0 + i + 4) * T + t0,
                                 _mm256_permute2f128_ps(v[i], v[i + 4], 0x31));
            }
        }
}
#endif

static void fa_transpose(float *dst, const float *src, int ld, int T, int D)
{
#ifdef FA_X86
    if (T % 8 == 0 && D % 8 == 0 && fa_use_avx2()) {
        fa_transpose_avx2(dst, src, ld, T, D);
        return;
    }
#endif
    for (int t0 = 0; t0 < T; t0 += 16) {
        int t1 = T - t0 < 16 ? T : t0 + 16;
        for (int d = 0; d < D; d++)
            for (int t = t0; t < t1; t++) dst[(int64_t)d * T + t] = src[(int64_t)t * ld + d];
    }
}

/* kᵀ (or vᵀ) by key blocks: block j0 (keys j0 .. j0 + nk - 1) is the
 * D x nk matrix at dst + j0 D, row-major (ld nk). In one D x T matrix the
 * rows a product reads are T floats apart, a power of two at the usual T,
 * so that they share few L1 sets (T = 256: the 64 rows of a 16-column tile
 * fall in 4 of the 64 sets); a block's rows are nk apart. Same values,
 * other addresses; a few percent faster at T = 256. */
static void fa_transpose_blocks(float *dst, const float *src, int ld, int T, int D, int bs)
{
    for (int j0 = 0; j0 < T; j0 += bs) {
        const int nk = T - j0 < bs ? T - j0 : bs;
        fa_transpose(dst + (int64_t)j0 * D, src + (int64_t)j0 * ld, ld, nk, D);
    }
}

/* Scratch floats per (b, h): two blocks and, for the backward, Δ (T); kᵀ
 * and vᵀ (D x T each). */
static size_t fa_scratch(int T, int D)
{
    return 2 * FA_BLK_MAX * FA_BLK_MAX + (size_t)T + 2 * (size_t)T * (size_t)D;
}

/* One (b, h): out (T, D) contiguous, lse (T). work: fa_scratch floats. */
static void fa_forward(float *work, float *out, float *lse, const float *q, int ldq,
                       const float *k, int ldk, const float *v, int ldv, int T, int D,
                       float scale)
{
    const int bs = fa_block(T, D);
    float *S = work, m[FA_BLK_MAX], l[FA_BLK_MAX], alpha[FA_BLK_MAX];
    float *kt = work + 2 * FA_BLK_MAX * FA_BLK_MAX + T;
    fa_transpose_blocks(kt, k, ldk, T, D, bs);
    for (int i0 = 0; i0 < T; i0 += bs) {
        const int nb = T - i0 < bs ? T - i0 : bs;
        float *o = out + (int64_t)i0 * D;
        for (int r = 0; r < nb; r++) {
            m[r] = -INFINITY;
            l[r] = 0.0f;
        }
        for (int j0 = 0; j0 <= i0; j0 += bs) { /* key blocks ascending: the sums' order */
            const int nk = T - j0 < bs ? T - j0 : bs;
            const bool diag = j0 == i0;
            fa_mm(nb, nk, D, scale, q + (int64_t)i0 * ldq, ldq, 1, kt + (int64_t)j0 * D, nk,
                  0.0f, S, nk, diag ? FA_N : FA_FULL);
            fa_fwd_softmax(S, m, l, alpha, nb, nk, diag);
            if (j0) fa_scale_rows(o, alpha, nb, D, false);
            fa_mm(nb, D, nk, 1.0f, S, nk, 1, v + (int64_t)j0 * ldv, ldv, j0 ? 1.0f : 0.0f, o, D,
                  diag ? FA_KHI : FA_FULL);
        }
        fa_scale_rows(o, l, nb, D, true);
        for (int r = 0; r < nb; r++) lse[i0 + r] = m[r] + logf(l[r]);
    }
}

/* Backward, one block: P = exp(S - lse) in place (0 above the diagonal). */
RP_VECTOR_CLONES static void fa_bwd_probs(float *S, const float *lse, int nb, int nk, bool diag)
{
    for (int r = 0; r < nb; r++) {
        float *row = S + (int64_t)r * nk, c = lse[r];
        int lim = diag ? r + 1 : nk;
        #pragma omp simd
        for (int j = 0; j < lim; j++) row[j] -= c;
        for (int j = lim; j < nk; j++) row[j] = -INFINITY;
    }
    fa_exp_block(S, (int64_t)nb * nk);
}

/* dS = P ∘ (dP - Δ) over dP, Δ[r] = Σ_d dO O of the row; 0 above the
 * diagonal of a diagonal block (dP may not have been computed there). */
RP_VECTOR_CLONES static void fa_bwd_ds(float *dP, const float *P, const float *delta, int nb,
                                       int nk, bool diag)
{
    for (int r = 0; r < nb; r++) {
        float *d = dP + (int64_t)r * nk, c = delta[r];
        const float *p = P + (int64_t)r * nk;
        int lim = diag ? r + 1 : nk;
        #pragma omp simd
        for (int j = 0; j < lim; j++) d[j] = p[j] * (d[j] - c);
        for (int j = lim; j < nk; j++) d[j] = 0.0f;
    }
}

/* One (b, h): dq, dk, dv (T, D) contiguous from dO (T, D, ld ldo), the
 * forward's out (T, D) contiguous and lse (T). work: fa_scratch floats. */
static void fa_backward(float *work, float *dq, float *dk, float *dv, const float *out,
                        const float *lse, const float *q, int ldq, const float *k, int ldk,
                        const float *v, int ldv, const float *dO, int ldo, int T, int D,
                        float scale)
{
    const int bs = fa_block(T, D);
    float *P = work, *dP = P + FA_BLK_MAX * FA_BLK_MAX, *delta = dP + FA_BLK_MAX * FA_BLK_MAX;
    float *kt = delta + T, *vt = kt + (size_t)T * (size_t)D;
    fa_transpose_blocks(kt, k, ldk, T, D, bs);
    fa_transpose_blocks(vt, v, ldv, T, D, bs);
    for (int i = 0; i < T; i++)
        delta[i] = fa_dot(dO + (int64_t)i * ldo, out + (int64_t)i * D, D);
    memset(dq, 0, sizeof(float) * (size_t)T * (size_t)D);
    for (int j0 = 0; j0 < T; j0 += bs) {
        const int nk = T - j0 < bs ? T - j0 : bs;
        const float *kj = k + (int64_t)j0 * ldk, *ktj = kt + (int64_t)j0 * D;
        const float *vtj = vt + (int64_t)j0 * D;
        float *dkj = dk + (int64_t)j0 * D, *dvj = dv + (int64_t)j0 * D;
        for (int i0 = j0; i0 < T; i0 += bs) { /* query blocks ascending: dK, dV's order */
            const int nb = T - i0 < bs ? T - i0 : bs;
            const float *qi = q + (int64_t)i0 * ldq, *dOi = dO + (int64_t)i0 * ldo;
            const bool diag = i0 == j0;
            const float beta = diag ? 0.0f : 1.0f;
            fa_mm(nb, nk, D, scale, qi, ldq, 1, ktj, nk, 0.0f, P, nk, diag ? FA_N : FA_FULL);
            fa_bwd_probs(P, lse + i0, nb, nk, diag);
            /* dV_j += Pᵀ dO_i;  dP = dO_i V_jᵀ */
            fa_mm(nk, D, nb, 1.0f, P, 1, nk, dOi, ldo, beta, dvj, D, diag ? FA_KLO : FA_FULL);
            fa_mm(nb, nk, D, 1.0f, dOi, ldo, 1, vtj, nk, 0.0f, dP, nk, diag ? FA_N : FA_FULL);
            fa_bwd_ds(dP, P, delta + i0, nb, nk, diag);
            /* dK_j += scale dSᵀ Q_i;  dQ_i += scale dS K_j (key blocks ascending) */
            fa_mm(nk, D, nb, scale, dP, 1, nk, qi, ldq, beta, dkj, D, diag ? FA_KLO : FA_FULL);
            fa_mm(nb, D, nk, scale, dP, nk, 1, kj, ldk, 1.0f, dq + (int64_t)i0 * D, D,
                  diag ? FA_KHI : FA_FULL);
        }
    }
}

/* ---- the op ---- */

typedef struct {
    rp_att_head q, k, v, g;
    float *out, *lse, *dq, *dk, *dv;
    const float *o;
    int T, D;
    float scale;
} fa_ctx;

static void fa_fwd_head(void *arg, float *work, int64_t b, int64_t h, int64_t bh)
{
    fa_ctx *c = arg;
    const int64_t td = (int64_t)c->T * c->D;
    fa_forward(work, c->out + bh * td, c->lse + bh * c->T, rp_att_head_at(&c->q, b, h), c->q.ld,
               rp_att_head_at(&c->k, b, h), c->k.ld, rp_att_head_at(&c->v, b, h), c->v.ld, c->T,
               c->D, c->scale);
}

static void fa_bwd_head(void *arg, float *work, int64_t b, int64_t h, int64_t bh)
{
    fa_ctx *c = arg;
    const int64_t td = (int64_t)c->T * c->D;
    fa_backward(work, c->dq + bh * td, c->dk + bh * td, c->dv + bh * td, c->o + bh * td,
                c->lse + bh * c->T, rp_att_head_at(&c->q, b, h), c->q.ld,
                rp_att_head_at(&c->k, b, h), c->k.ld, rp_att_head_at(&c->v, b, h), c->v.ld,
                rp_att_head_at(&c->g, b, h), c->g.ld, c->T, c->D, c->scale);
}

#define FA_PAR_MIN (1 << 16)

static bool fa_parallel(int64_t BH, int T, int D)
{
    return BH > 1 && BH * T * T * D > FA_PAR_MIN;
}

/* saved: q, k, v, out, lse */
static int fa_backward_node(rp_node *n, const rp_tensor *g, rp_tensor *gin[RP_NODE_MAXIN])
{
    fa_ctx c = {0};
    int rc = -1;
    if (rp_att_head_prep(&c.q, n->saved[0]) || rp_att_head_prep(&c.k, n->saved[1]) ||
        rp_att_head_prep(&c.v, n->saved[2]) || rp_att_head_prep(&c.g, g))
        goto done;
    const int64_t *shape = c.q.t->shape, B = shape[0], H = shape[1];
    c.T = (int)shape[2];
    c.D = (int)shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    for (int i = 0; i < 3; i++) /* every row is written (dq zeroed, dk and dv with beta 0) */
        if (!(gin[i] = rp_empty_uninit(RP_F32, 4, shape))) goto done;
    if (c.T == 0) { rc = 0; goto done; }
    c.dq = RP_F32P(gin[0]);
    c.dk = RP_F32P(gin[1]);
    c.dv = RP_F32P(gin[2]);
    c.o = RP_F32P(n->saved[3]);
    c.lse = RP_F32P(n->saved[4]);
    if (rp_att_for_heads(B, H, fa_scratch(c.T, c.D), fa_parallel(B * H, c.T, c.D), fa_bwd_head, &c)) {
        rp_seterr("attention: out of memory for scratch of T = %d", c.T);
        goto done;
    }
    rc = 0;
done:
    rp_att_head_free(&c.q);
    rp_att_head_free(&c.k);
    rp_att_head_free(&c.v);
    rp_att_head_free(&c.g);
    return rc;
}

rp_tensor *rp_attention_fused(const rp_tensor *q, const rp_tensor *k, const rp_tensor *v)
{
    if (rp_att_check(q, k, v)) return NULL;
    fa_ctx c = {0};
    rp_tensor *out = NULL, *lse = NULL;
    if (rp_att_head_prep(&c.q, q) || rp_att_head_prep(&c.k, k) || rp_att_head_prep(&c.v, v))
        goto done;
    const int64_t B = q->shape[0], H = q->shape[1];
    c.T = (int)q->shape[2];
    c.D = (int)q->shape[3];
    c.scale = (float)(1.0 / sqrt((double)c.D));
    out = rp_empty_uninit(RP_F32, 4, q->shape);
    lse = rp_empty_uninit(RP_F32, 3, q->shape);
    if (!out || !lse) goto fail;
    c.out = RP_F32P(out);
    c.lse = RP_F32P(lse);
    if (c.T > 0 && rp_att_for_heads(B, H, fa_scratch(c.T, c.D),
                                    fa_parallel(B * H, c.T, c.D), fa_fwd_head, &c)) {
        rp_seterr("attention: out of memory for scratch of T = %d", c.T);
        goto fail;
    }
    const rp_tensor *ins[3] = {q, k, v}, *save[5] = {q, k, v, out, lse};
    out = rp_record(out, "attention", fa_backward_node, 3, ins, 5, save, NULL);
    goto done;
fail:
    rp_tensor_release(out);
    out = NULL;
done:
    rp_tensor_release(lse);
    rp_att_head_free(&c.q);
    rp_att_head_free(&c.k);
    rp_att_head_free(&c.v);
    return out;
}
