/* rng.h: Philox4x32-10 (Salmon et al., SC'11), a counter-based generator.
 * A generator is (key, counter): element i of a draw is a pure function of
 * (seed, draw offset + i), so results do not depend on the thread count or on
 * how the work is split. */
#ifndef RP_RNG_H
#define RP_RNG_H

#include <stdint.h>
#include "tensor.h"

typedef struct {
    uint64_t seed;     /* the key */
    uint64_t offset;   /* counter: 32-bit words consumed so far */
} rp_generator;

/* The process-wide default generator (repro.manual_seed). */
rp_generator *rp_default_generator(void);
void rp_generator_seed(rp_generator *g, uint64_t seed);

/* One Philox4x32-10 block: 4 random words for counter c under key k. */
void rp_philox(uint64_t key, uint64_t counter, uint32_t out[4]);

/* Reserve n words from g and return the counter offset where they start. */
uint64_t rp_generator_advance(rp_generator *g, uint64_t n);

/* Word i (0-based) of the stream that starts at word offset `base`. */
uint32_t rp_rng_word(uint64_t seed, uint64_t base, uint64_t i);
/* Uniform in [0, 1) with 24 random bits, from one word. */
static inline float rp_u01(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

/* Fill contiguous t (f32) with U[lo, hi), N(mean, std) or, for i32, integers
 * in [lo, hi). Advance g. */
int rp_fill_uniform(rp_tensor *t, rp_generator *g, double lo, double hi);
int rp_fill_normal(rp_tensor *t, rp_generator *g, double mean, double std);
int rp_fill_randint(rp_tensor *t, rp_generator *g, int64_t lo, int64_t hi);

#endif
