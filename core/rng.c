/* rng.c: Philox4x32-10 and tensor fills built on it. */
#include "rng.h"

#include <math.h>

static rp_generator default_gen = {.seed = 0x5eed, .offset = 0};

rp_generator *rp_default_generator(void) { return &default_gen; }

void rp_generator_seed(rp_generator *g, uint64_t seed)
{
    g->seed = seed;
    g->offset = 0;
}

void rp_philox(uint64_t key, uint64_t counter, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

uint64_t rp_generator_advance(rp_generator *g, uint64_t n)
{
    uint64_t base = g->offset;
    g->offset += (n + 3) & ~(uint64_t)3; /* whole blocks, so streams never overlap */
    return base;
}

uint32_t rp_rng_word(uint64_t seed, uint64_t base, uint64_t i)
{
    uint64_t w = base + i;
    uint32_t out[4];
    rp_philox(seed, w >> 2, out);
    return out[w & 3];
}

static int need_contig(const rp_tensor *t, const char *who)
{
    if (!rp_is_contiguous(t)) return rp_seterr("%s: needs a contiguous tensor", who);
    return 0;
}

int rp_fill_uniform(rp_tensor *t, rp_generator *g, double lo, double hi)
{
    if (need_contig(t, "rand") || t->dtype != RP_F32) return t->dtype != RP_F32 ? rp_seterr("rand: needs f32") : -1;
    int64_t n = rp_numel(t);
    uint64_t base = rp_generator_advance(g, (uint64_t)n);
    float *p = RP_F32P(t);
    float flo = (float)lo, span = (float)(hi - lo);
    #pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) p[i] = flo + span * rp_u01(rp_rng_word(g->seed, base, (uint64_t)i));
    rp_bump_version(t);
    return 0;
}

int rp_fill_normal(rp_tensor *t, rp_generator *g, double mean, double std)
{
    if (need_contig(t, "randn") || t->dtype != RP_F32) return t->dtype != RP_F32 ? rp_seterr("randn: needs f32") : -1;
    int64_t n = rp_numel(t);
    uint64_t base = rp_generator_advance(g, 2 * (uint64_t)n);
    float *p = RP_F32P(t);
    /* Box-Muller on two words per element; u1 in (0, 1] so log is finite. */
    #pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; i++) {
        uint32_t a = rp_rng_word(g->seed, base, 2 * (uint64_t)i);
        uint32_t b = rp_rng_word(g->seed, base, 2 * (uint64_t)i + 1);
        double u1 = ((double)(a >> 8) + 1.0) / 16777216.0;
        double u2 = (double)(b >> 8) / 16777216.0;
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        p[i] = (float)(mean + std * z);
    }
    rp_bump_version(t);
    return 0;
}

int rp_fill_randint(rp_tensor *t, rp_generator *g, int64_t lo, int64_t hi)
{
    if (need_contig(t, "randint")) return -1;
    if (hi <= lo) return rp_seterr("randint: empty range [%lld, %lld)", (long long)lo, (long long)hi);
    uint64_t span = (uint64_t)(hi - lo);
    int64_t n = rp_numel(t);
    uint64_t base = rp_generator_advance(g, 2 * (uint64_t)n);
    for (int64_t i = 0; i < n; i++) {
        /* 64 random bits then modulo: bias below 2^-32 for spans under 2^32. */
        uint64_t w = ((uint64_t)rp_rng_word(g->seed, base, 2 * (uint64_t)i) << 32) |
                     rp_rng_word(g->seed, base, 2 * (uint64_t)i + 1);
        int64_t v = lo + (int64_t)(w % span);
        if (t->dtype == RP_F32) RP_F32P(t)[i] = (float)v;
        else if (t->dtype == RP_I32) RP_I32P(t)[i] = (int32_t)v;
        else RP_U8P(t)[i] = (uint8_t)v;
    }
    rp_bump_version(t);
    return 0;
}
