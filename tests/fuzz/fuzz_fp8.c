/* fuzz_fp8.c: the FP8 codec on arbitrary bit patterns read as floats. For
 * every 8-bit format and both overflow modes: decode(encode(x)) == cast(x)
 * bit for bit (NaN matches NaN), the scalar and vector encoders agree, the
 * cast is idempotent, and stochastic encode/decode equals the stochastic
 * cast. UBSan checks the float -> integer paths on NaN/inf/huge inputs. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "fp8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXN 512

static int same(float a, float b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9) return 0;
    uint64_t seed;
    memcpy(&seed, data, 8);
    data += 8;
    size -= 8;
    size_t n = size / 4;
    if (n > MAXN) n = MAXN;
    float in[MAXN], cast[MAXN], back[MAXN], again[MAXN];
    uint8_t codes[MAXN];
    memcpy(in, data, n * 4);
    for (int fmt = 0; fmt < RP_NFMT; fmt++) {
        for (int sat = 0; sat < 2; sat++) {
            rp_fp8_cast_f32(cast, in, (int64_t)n, fmt, sat);
            rp_fp8_cast_f32(again, cast, (int64_t)n, fmt, sat);
            for (size_t i = 0; i < n; i++)
                if (!same(cast[i], again[i])) abort();
            if (!rp_fp8_is_8bit(fmt)) continue;
            rp_fp8_encode_f32(codes, in, (int64_t)n, fmt, 1.0f, sat);
            rp_fp8_decode_f32(back, codes, (int64_t)n, fmt, 1.0f);
            for (size_t i = 0; i < n; i++) {
                if (!same(back[i], cast[i])) abort();
                if (codes[i] != rp_fp8_encode1(in[i], fmt, sat)) abort();
            }
            rp_fp8_encode_sr_f32(codes, in, (int64_t)n, fmt, 1.0f, sat, seed, 7);
            rp_fp8_decode_f32(back, codes, (int64_t)n, fmt, 1.0f);
            rp_fp8_cast_sr_f32(cast, in, (int64_t)n, fmt, sat, seed, 7);
            for (size_t i = 0; i < n; i++)
                if (!same(back[i], cast[i])) abort();
        }
    }
    return 0;
}
