/* optim_moments.c: optimizer moments stored in fp32, bf16 or FP8 codes.
 * FP8 moments use per-tensor scaling recomputed from the amax of the new
 * moment each step (code = encode(value * scale), scale = fmt_max / amax),
 * so the largest entry lands on the format's largest finite value and the
 * codes never saturate. The FP8 codec is core/fp8.h. */
#include "optim.h"

#include "fp8.h"

#include <math.h>
#include <string.h>

int rp_moment_format_from_name(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "fp32") == 0 || strcmp(name, "f32") == 0 || strcmp(name, "float32") == 0)
        return RP_MOM_F32;
    int f = rp_fp8_format_from_name(name);
    return rp_moment_format_valid(f) ? f : -1;
}

bool rp_moment_format_coded(rp_moment_format f) { return rp_fp8_is_8bit(f); }

bool rp_moment_format_valid(rp_moment_format f)
{
    return f == RP_MOM_F32 || f == RP_MOM_BF16 || rp_moment_format_coded(f);
}

const char *rp_moment_format_name(rp_moment_format f)
{
    if (f == RP_MOM_F32) return "fp32";
    return rp_moment_format_valid(f) ? rp_fp8_info[f].name : "?";
}

uint16_t rp_f32_to_bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rp_bf16_bits_to_f32(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

rp_tensor *rp_moment_new(rp_moment_format fmt, int64_t numel, const int64_t *shape, int ndim)
{
    switch (fmt) {
    case RP_MOM_F32: return rp_zeros(RP_F32, ndim, shape);
    case RP_MOM_BF16: { int64_t nb = 2 * numel; return rp_zeros(RP_U8, 1, &nb); }
    default:
        if (!rp_moment_format_coded(fmt)) return rp_seterr("optim: bad moment format %d", (int)fmt), NULL;
        /* code 0 is +0 in every signed format, so a zeroed buffer is a zero moment */
        if (!rp_fp8_info[fmt].is_signed) return rp_seterr("optim: moment format %s has no zero", rp_fp8_info[fmt].name), NULL;
        return rp_zeros(RP_U8, ndim, shape);
    }
}

static int check_buf(const rp_tensor *buf, rp_moment_format fmt, int64_t n, const rp_tensor *scale)
{
    int64_t want = fmt == RP_MOM_BF16 ? 2 * n : n;
    rp_dtype dt = fmt == RP_MOM_F32 ? RP_F32 : RP_U8;
    if (buf->dtype != dt || rp_numel(buf) != want || !rp_is_contiguous(buf))
        return rp_seterr("optim: %s moment buffer has %lld %s elements, expected %lld %s",
                         rp_moment_format_name(fmt), (long long)rp_numel(buf), rp_dtype_info[buf->dtype].name,
                         (long long)want, rp_dtype_info[dt].name);
    if (rp_moment_format_coded(fmt) &&
        (!scale || scale->dtype != RP_F32 || rp_numel(scale) != 1))
        return rp_seterr("optim: %s moment has no 1-element f32 scale", rp_moment_format_name(fmt));
    return 0;
}

int rp_moment_load(float *out, const rp_tensor *buf, const rp_tensor *scale, rp_moment_format fmt, int64_t n)
{
    if (check_buf(buf, fmt, n, scale)) return -1;
    switch (fmt) {
    case RP_MOM_F32: memcpy(out, rp_data(buf), sizeof(float) * (size_t)n); break;
    case RP_MOM_BF16: {
        const uint8_t *b = RP_U8P(buf);
        for (int64_t i = 0; i < n; i++)
            out[i] = rp_bf16_bits_to_f32((uint16_t)(b[2 * i] | (b[2 * i + 1] << 8)));
        break;
    }
    default: {
        float s = RP_F32P(scale)[0];
        if (!(s > 0) || !isfinite(s)) return rp_seterr("optim: moment scale %g is not a positive number", (double)s);
        rp_fp8_decode_f32(out, RP_U8P(buf), n, fmt, 1.0f / s);
    }
    }
    return 0;
}

int rp_moment_store(rp_tensor *buf, rp_tensor *scale, const float *x, rp_moment_format fmt, int64_t n)
{
    if (check_buf(buf, fmt, n, scale)) return -1;
    switch (fmt) {
    case RP_MOM_F32: memcpy(rp_data(buf), x, sizeof(float) * (size_t)n); break;
    case RP_MOM_BF16: {
        uint8_t *b = RP_U8P(buf);
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = rp_f32_to_bf16_bits(x[i]);
            b[2 * i] = (uint8_t)(h & 0xff);
            b[2 * i + 1] = (uint8_t)(h >> 8);
        }
        break;
    }
    default: {
        int f = fmt;
        float amax = rp_amax_f32(x, n);
        float s = amax > 0 && isfinite(amax) ? rp_fp8_format_max(f) / amax : 1.0f;
        if (!isfinite(s) || !(s > 0)) s = 1.0f; /* amax so small that max/amax overflows */
        RP_F32P(scale)[0] = s;
        rp_fp8_encode_f32(RP_U8P(buf), x, n, f, s, true);
    }
    }
    rp_bump_version(buf);
    return 0;
}
