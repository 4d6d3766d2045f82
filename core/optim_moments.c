/* optim_moments.c: optimizer moments stored in fp32, bf16 or FP8 codes.
 * FP8 moments use per-tensor scaling recomputed from the amax of the new
 * moment each step (code = encode(value * scale), scale = fmt_max / amax),
 * so the largest entry lands on the format's largest finite value and the
 * codes never saturate. The FP8 codec is core/fp8.h. */
#include "optim.h"

#include "fp8.h"

#include <math.h>
#include <string.h>

const char *const rp_moment_format_names[RP_MOM_NFORMATS] = {
    [RP_MOM_F32] = "fp32", [RP_MOM_BF16] = "bf16", [RP_MOM_E4M3FN] = "e4m3fn", [RP_MOM_E5M2] = "e5m2",
};
_Static_assert(sizeof rp_moment_format_names / sizeof rp_moment_format_names[0] == RP_MOM_NFORMATS,
               "one name per moment format");

int rp_moment_format_from_name(const char *name)
{
    if (strcmp(name, "f32") == 0 || strcmp(name, "float32") == 0) return RP_MOM_F32;
    for (int i = 0; i < RP_MOM_NFORMATS; i++)
        if (strcmp(name, rp_moment_format_names[i]) == 0) return i;
    return -1;
}

static int fp8_fmt(rp_moment_format f)
{
    return rp_fp8_format_from_name(f == RP_MOM_E4M3FN ? "e4m3fn" : "e5m2");
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
    case RP_MOM_E4M3FN:
    case RP_MOM_E5M2: {
        if (fp8_fmt(fmt) < 0) return rp_seterr("optim: FP8 format %s unknown to the codec", rp_moment_format_names[fmt]), NULL;
        /* code 0 is +0 in both formats, so a zeroed buffer is a zero moment */
        return rp_zeros(RP_U8, ndim, shape);
    }
    default: return rp_seterr("optim: bad moment format %d", (int)fmt), NULL;
    }
}

static int check_buf(const rp_tensor *buf, rp_moment_format fmt, int64_t n, const rp_tensor *scale)
{
    int64_t want = fmt == RP_MOM_BF16 ? 2 * n : n;
    rp_dtype dt = fmt == RP_MOM_F32 ? RP_F32 : RP_U8;
    if (buf->dtype != dt || rp_numel(buf) != want || !rp_is_contiguous(buf))
        return rp_seterr("optim: %s moment buffer has %lld %s elements, expected %lld %s",
                         rp_moment_format_names[fmt], (long long)rp_numel(buf), rp_dtype_info[buf->dtype].name,
                         (long long)want, rp_dtype_info[dt].name);
    if ((fmt == RP_MOM_E4M3FN || fmt == RP_MOM_E5M2) &&
        (!scale || scale->dtype != RP_F32 || rp_numel(scale) != 1))
        return rp_seterr("optim: %s moment has no 1-element f32 scale", rp_moment_format_names[fmt]);
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
        rp_fp8_decode_f32(out, RP_U8P(buf), n, fp8_fmt(fmt), 1.0f / s);
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
        int f = fp8_fmt(fmt);
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
