/* fp8.h: low-precision number formats (one traits table), fp32 <-> format
 * casts that equal the ml_dtypes package bit for bit, stochastic rounding,
 * fused quantization with statistics, and the scaling recipes of FP8
 * training (current / delayed as TransformerEngine's DelayedScaling,
 * per-row and per-column).
 *
 * Cast semantics (fp32 -> format), identical to ml_dtypes' astype:
 *  - round to nearest, ties to even (e8m0fnu: ties away from zero, because
 *    ml_dtypes rounds on the implicit leading bit; below 2^-126 it keeps
 *    ml_dtypes' exact quirk: x <= 2^-127 -> 2^-127, 2^-127 < x < 2^-126 -> 2^-126);
 *  - overflow without saturation: formats with inf (e5m2, e4m3, e3m4) give
 *    +-inf, e4m3fn gives +-NaN (0x7F/0xFF), the fnuz formats give NaN (0x80),
 *    e8m0fnu gives NaN (0xFF). +-inf inputs map the same way;
 *  - NaN keeps its sign where the format has signed NaNs (0x7F/0xFF for
 *    e4m3fn, 0x7E/0xFE e5m2, 0x7C/0xFC e4m3, 0x78/0xF8 e3m4);
 *  - -0 -> 0x80 where the format has -0; the fnuz formats have no -0, so -0
 *    and negative values that round to zero give 0x00;
 *  - e8m0fnu (unsigned, no zero): 0 and negatives give NaN (0xFF).
 * `saturate` (not an ml_dtypes mode; the FP8-training convention): finite
 * overflow and +-inf clamp to +-max, NaN stays NaN; for e8m0fnu 0 and
 * negatives clamp to the smallest value 2^-127 (code 0x00), as ml_dtypes'
 * saturating converter does.
 * bf16 and fp16 have casts (rounded value returned as f32) but no 8-bit codes.
 */
#ifndef RP_FP8_H
#define RP_FP8_H

#include <stdbool.h>
#include <stdint.h>
#include "tensor.h"
#include "rng.h"

/* How a format encodes NaN (and whether it has inf). */
typedef enum {
    RP_NAN_IEEE,     /* exponent all ones, mantissa != 0 (inf when mantissa == 0) */
    RP_NAN_ALLONES,  /* S.1111.111 only (e4m3fn: no inf) */
    RP_NAN_NEGZERO,  /* 0x80 only, the code -0 would have (fnuz) */
    RP_NAN_FF,       /* 0xFF only, unsigned format (e8m0fnu) */
    RP_NAN_NONE      /* finite only, no NaN, no inf (the OCP sub-byte "fn" formats):
                      * as ml_dtypes, overflow and +-inf give +-max, NaN gives the
                      * -0 code (and -NaN the +0 code) */
} rp_nan_kind;

/* THE format table: one row per number format. Everything else is derived
 * from it: the enum below, the traits (codes of max / overflow / NaN, sign,
 * inf, -0), the scalar and vectorized encoders and decoders (fp8_impl.h),
 * the names and their list, the Lua enumeration (fp8.formats) and the
 * safetensors dtype names. Adding a format is adding a row (at the end: the
 * enum values of the rows above must not move).
 *   X(ID, name, bits, ebits, mbits, bias, nan, max, min_normal, min_subnormal, safetensors)
 * bits: storage bits of one code (4, 6, 8; codes are stored one per byte
 * unless packed, see rp_mx_*); 16 for bf16/fp16, which have casts but no
 * codes. max / min_normal / min_subnormal are the values the other columns
 * imply (tests/c/test_fp8.c and test_fp_subbyte.c check them against the
 * decode tables); safetensors: the dtype name in
 * a .safetensors header, NULL when the format has none. */
#define RP_FORMATS(X)                                                                          \
    X(E4M3FN,   "e4m3fn",   8,  4, 3,  7,   RP_NAN_ALLONES, 448.0f,      0x1p-6f,   0x1p-9f,   "F8_E4M3") \
    X(E5M2,     "e5m2",     8,  5, 2,  15,  RP_NAN_IEEE,    57344.0f,    0x1p-14f,  0x1p-16f,  "F8_E5M2") \
    X(E4M3FNUZ, "e4m3fnuz", 8,  4, 3,  8,   RP_NAN_NEGZERO, 240.0f,      0x1p-7f,   0x1p-10f,  NULL)      \
    X(E5M2FNUZ, "e5m2fnuz", 8,  5, 2,  16,  RP_NAN_NEGZERO, 57344.0f,    0x1p-15f,  0x1p-17f,  NULL)      \
    X(E4M3,     "e4m3",     8,  4, 3,  7,   RP_NAN_IEEE,    240.0f,      0x1p-6f,   0x1p-9f,   NULL)      \
    X(E3M4,     "e3m4",     8,  3, 4,  3,   RP_NAN_IEEE,    15.5f,       0x1p-2f,   0x1p-6f,   NULL)      \
    X(E8M0FNU,  "e8m0fnu",  8,  8, 0,  127, RP_NAN_FF,      0x1p127f,    0x1p-127f, 0x1p-127f, "F8_E8M0") \
    X(BF16,     "bf16",     16, 8, 7,  127, RP_NAN_IEEE,    0x1.FEp127f, 0x1p-126f, 0x1p-133f, "BF16")    \
    X(FP16,     "fp16",     16, 5, 10, 15,  RP_NAN_IEEE,    65504.0f,    0x1p-14f,  0x1p-24f,  "F16")     \
    X(E3M2FN,   "e3m2fn",   6,  3, 2,  3,   RP_NAN_NONE,    28.0f,       0x1p-2f,   0x1p-4f,   "F6_E3M2") \
    X(E2M3FN,   "e2m3fn",   6,  2, 3,  1,   RP_NAN_NONE,    7.5f,        0x1p0f,    0x1p-3f,   "F6_E2M3") \
    X(E2M1FN,   "e2m1fn",   4,  2, 1,  1,   RP_NAN_NONE,    6.0f,        0x1p0f,    0x1p-1f,   "F4")

#define RP_FMT_ENUM_(ID, ...) RP_FMT_##ID,
typedef enum { RP_FORMATS(RP_FMT_ENUM_) RP_NFMT } rp_fp8_format;
#undef RP_FMT_ENUM_

/* The codes a row implies (integer constant expressions; 0 for 16-bit
 * formats, which have no codes). e+m is the position of the sign bit. */
#define RP_FMT_MAX_CODE(bits, e, m, nan)                                        \
    ((bits) > 8 ? 0                                                            \
     : (nan) == RP_NAN_IEEE ? ((((1 << (e)) - 1) << (m)) - 1)                  \
     : (nan) == RP_NAN_ALLONES ? ((1 << ((e) + (m))) - 2)                      \
     : (nan) == RP_NAN_FF ? 0xFE : ((1 << ((e) + (m))) - 1))
#define RP_FMT_OVF_CODE(bits, e, m, nan)                                        \
    ((bits) > 8 ? 0                                                            \
     : (nan) == RP_NAN_IEEE ? (((1 << (e)) - 1) << (m))                        \
     : (nan) == RP_NAN_ALLONES ? ((1 << ((e) + (m))) - 1)                      \
     : (nan) == RP_NAN_NEGZERO ? (1 << ((e) + (m)))                            \
     : (nan) == RP_NAN_FF ? 0xFF : ((1 << ((e) + (m))) - 1))
#define RP_FMT_NAN_CODE(bits, e, m, nan)                                        \
    ((bits) > 8 ? 0                                                            \
     : (nan) == RP_NAN_IEEE ? ((((1 << (e)) - 1) << (m)) | (1 << ((m) > 0 ? (m) - 1 : 0))) \
     : (nan) == RP_NAN_ALLONES ? ((1 << ((e) + (m))) - 1)                      \
     : (nan) == RP_NAN_FF ? 0xFF : (1 << ((e) + (m))))

typedef struct {
    const char *name;
    int bits;                /* 4, 6, 8, or 16 (bf16/fp16: no codes) */
    int ebits, mbits, bias;
    bool is_signed;
    bool has_inf;
    rp_nan_kind nan;
    bool has_negative_zero;
    float max, min_normal, min_subnormal;
    uint8_t nan_code;        /* what a positive NaN encodes to (formats with codes) */
    uint8_t max_code;        /* largest finite magnitude code */
    uint8_t ovf_code;        /* non-saturating overflow / +inf result */
    const char *safetensors; /* dtype name in a safetensors header, or NULL */
} rp_fp8_traits;

extern const rp_fp8_traits rp_fp8_info[RP_NFMT];

/* Format by name ("e4m3fn", ..., "bf16", "fp16"); -1 if unknown. */
int rp_fp8_format_from_name(const char *name);
/* "e4m3fn, e5m2, ..." for error messages (static string). */
const char *rp_fp8_format_names(void);
/* Largest finite value of fmt (0 for an invalid fmt). */
float rp_fp8_format_max(int fmt);
/* Has fmt codes of at most 8 bits, one per byte (not bf16/fp16)? */
bool rp_fp8_is_8bit(int fmt);
/* The safetensors dtype name of fmt ("F8_E4M3", "BF16", ...), NULL if none. */
const char *rp_fp8_safetensors_dtype(int fmt);
/* The format whose safetensors dtype name is dtype; -1 if none. */
int rp_fp8_format_from_safetensors(const char *dtype);

/* The 256-entry decode table of a format with codes (static storage); codes
 * outside a sub-byte format's range decode to NaN. */
const float *rp_fp8_table(int fmt);
/* Scalar encode (RNE) of one float into an 8-bit format. */
uint8_t rp_fp8_encode1(float x, int fmt, bool saturate);

/* out[i] = code(in[i]*scale), RNE. (n) -> (n). fmt must be 8-bit. */
void rp_fp8_encode_f32(uint8_t *out, const float *in, int64_t n, int fmt, float scale, bool saturate);
/* out[i] = value(in[i]) * inv_scale. (n) -> (n). fmt must be 8-bit. */
void rp_fp8_decode_f32(float *out, const uint8_t *in, int64_t n, int fmt, float inv_scale);
/* max |x|, NaN-propagating, independent of the thread count. */
float rp_amax_f32(const float *in, int64_t n);

/* out[i] = the fmt value nearest in[i] (RNE), as f32; any fmt incl. bf16/fp16.
 * out may equal in. */
void rp_fp8_cast_f32(float *out, const float *in, int64_t n, int fmt, bool saturate);

/* Stochastic rounding: element i rounds up with probability equal to its
 * distance from the lower neighbour (in units of the spacing), using 32-bit
 * word i of the Philox stream (seed, base): deterministic and independent of
 * the thread count. Overflow as in the RNE cast. */
void rp_fp8_encode_sr_f32(uint8_t *out, const float *in, int64_t n, int fmt, float scale,
                          bool saturate, uint64_t seed, uint64_t base);
void rp_fp8_cast_sr_f32(float *out, const float *in, int64_t n, int fmt, bool saturate,
                        uint64_t seed, uint64_t base);

/* ---- quantization with statistics ---- */

typedef struct {
    float amax;          /* max |in| before scaling (NaN if any NaN) */
    float scale;         /* the scale that was applied */
    int64_t saturated;   /* non-NaN elements whose |in*scale| rounds above max (incl. inf) */
    int64_t flushed;     /* nonzero elements whose code is zero */
    int64_t numel;
} rp_fp8_qstats;

/* Fused: codes[i] = code(in[i]*scale) and the statistics above, in one pass.
 * rounding stochastic when sr (seed, base as in rp_fp8_encode_sr_f32). */
void rp_fp8_quantize_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t n,
                         int fmt, float scale, bool saturate, bool sr, uint64_t seed,
                         uint64_t base);
/* Fused quantize-dequantize of one or more tensors in one parallel region:
 * out[i] = decode(code(in[i]*scale)) * (1/scale), RNE (the f32 a GEMM on the
 * simulated format sees), codes[i] = code(in[i]*scale) when codes is not
 * NULL, and the statistics of rp_fp8_quantize_f32, in one pass over memory
 * (no codes buffer). With current, scale = rp_fp8_current_scale(amax(in),
 * fmt, margin, pow2) is computed first (one more read) and written back. fmt must be 8-bit; out, codes (n) are
 * the caller's; in, out must not overlap. Same bits as quantize + decode.
 * A job with sr rounds stochastically (rp_fp8_quantize_f32 with sr, then
 * decode): same bits at any thread count, outside the shared region. */
typedef struct {
    float *out;
    uint8_t *codes;          /* or NULL */
    const float *in;
    int64_t n;
    int fmt;
    bool saturate;
    bool current;            /* else scale is given */
    bool pow2;               /* current only */
    float margin;            /* current only */
    float scale;             /* in (given) or out (current) */
    bool sr;                 /* stochastic rounding (seed, base as rp_fp8_encode_sr_f32) */
    uint64_t seed, base;
    rp_fp8_qstats st;        /* out */
} rp_fp8_qdq_job;
#define RP_FP8_QDQ_MAXJOBS 8 /* per region; more jobs take several (same results) */
void rp_fp8_qdq_f32(rp_fp8_qdq_job *jobs, int njobs);
/* Per-row / per-column: in is (R,C) row-major, scales has R (rows) or C
 * (cols) entries; stats are totals (amax over everything, scale = 0). */
void rp_fp8_quantize_rows_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                              int64_t C, int fmt, const float *scales, bool saturate);
void rp_fp8_quantize_cols_f32(uint8_t *codes, rp_fp8_qstats *st, const float *in, int64_t R,
                              int64_t C, int fmt, const float *scales, bool saturate);
/* amax per row (out R) / per column (out C) of the (R,C) array in. */
void rp_amax_rows_f32(float *out, const float *in, int64_t R, int64_t C);
void rp_amax_cols_f32(float *out, const float *in, int64_t R, int64_t C);

/* ---- MX block formats (OCP Microscaling v1.0) ----
 * Blocks of RP_MX_BLOCK consecutive elements along the last dimension (the
 * last block of a row may be shorter) share one e8m0fnu scale X = 2^E with
 * E = floor(log2(amax of the block)) - emax(element format), clamped to
 * [-127, 127]; each element is the element format's RNE, saturating code of
 * x / X. A block of zeros gets E = -127 (code 0x00); a block holding NaN or
 * +-inf gets the NaN scale 0xFF (every element then decodes to NaN). Codes
 * are one per byte, except mxfp4: two per byte (element 2j in the low
 * nibble, 2j+1 in the high nibble, as OCP's packed FP4), a row of K elements
 * taking ceil(K/2) bytes. One row per MX format:
 *   X(ID, name, element format, emax of the element format, packed)
 * (emax = floor(log2(element max)); tests/c/test_mx.c checks it) */
#define RP_MX_FORMATS(X)                                                       \
    X(FP8_E4M3, "mxfp8_e4m3", RP_FMT_E4M3FN, 8,  false)                        \
    X(FP8_E5M2, "mxfp8_e5m2", RP_FMT_E5M2,   15, false)                        \
    X(FP6_E3M2, "mxfp6_e3m2", RP_FMT_E3M2FN, 4,  false)                        \
    X(FP6_E2M3, "mxfp6_e2m3", RP_FMT_E2M3FN, 2,  false)                        \
    X(FP4,      "mxfp4",      RP_FMT_E2M1FN, 2,  true)

#define RP_MX_ENUM_(ID, ...) RP_MX_##ID,
typedef enum { RP_MX_FORMATS(RP_MX_ENUM_) RP_NMX } rp_mx_format;
#undef RP_MX_ENUM_
#define RP_MX_BLOCK 32

typedef struct {
    const char *name;
    int elem;                /* element format (fp8.h table) */
    int emax;                /* exponent of the element format's largest normal */
    bool packed;             /* two codes per byte */
} rp_mx_traits;
extern const rp_mx_traits rp_mx_info[RP_NMX];

/* MX format by name ("mxfp8_e4m3", ..., "mxfp4"); -1 if unknown. */
int rp_mx_format_from_name(const char *name);
/* "mxfp8_e4m3, ..." for error messages (static string). */
const char *rp_mx_format_names(void);
/* Bytes of codes for one row of K elements; blocks (scales) per row. */
int64_t rp_mx_row_bytes(int mx, int64_t K);
int64_t rp_mx_row_blocks(int64_t K);
/* in (R, K) row-major -> codes (R, rp_mx_row_bytes) and scales (R,
 * rp_mx_row_blocks) e8m0fnu codes; amax (out, may be NULL) = max |in|, NaN
 * if any NaN. The caller owns every buffer. */
void rp_mx_quantize_f32(uint8_t *codes, uint8_t *scales, float *amax, const float *in, int64_t R,
                        int64_t K, int mx);
/* out (R, K) = decode(codes) * 2^(scale - 127), from rp_mx_quantize_f32's layout. */
void rp_mx_dequantize_f32(float *out, const uint8_t *codes, const uint8_t *scales, int64_t R,
                          int64_t K, int mx);

/* ---- scaling recipes ---- */

/* Just-in-time scale: fmt_max / amax / 2^margin; with pow2 rounded down to a
 * power of two (2^floor(log2(.))). amax 0 or non-finite gives 1. */
float rp_fp8_current_scale(float amax, int fmt, float margin, bool pow2);

enum { RP_AMAX_MAX = 0, RP_AMAX_MOST_RECENT = 1 };

/* TransformerEngine DelayedScaling: amax_history[0] is the current step's
 * slot; update() writes amax there, reduces (max over the history, or slot 0
 * for most_recent), rolls the history by one and zeroes slot 0, then sets
 * scale = (fmt_max / amax) / 2^margin unless amax is 0 or not finite. */
typedef struct {
    int fmt;
    int history_len;
    int algo;
    float margin;
    float scale;          /* starts at 1 */
    float amax_history[];  /* history_len entries, TE's layout */
} rp_delayed_scaling;

/* New state (free with free()); NULL + error on a bad history length/format. */
rp_delayed_scaling *rp_delayed_scaling_new(int fmt, int history_len, float margin, int algo);
/* Record this step's amax and update the scale. */
void rp_delayed_scaling_update(rp_delayed_scaling *d, float amax);

#endif
