/* io.h: safetensors files: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
 * then the raw little-endian tensor bytes. Every field read from a file is
 * validated (sizes, offsets, overlaps, dtypes) before any tensor is made. */
#ifndef RP_IO_H
#define RP_IO_H

#include <stddef.h>
#include "tensor.h"

/* The file dtypes repro reads (all) and writes (F32 I32 U8 F16 BF16 F8_*).
 * F8_E4M3 is ml_dtypes' float8_e4m3fn and F8_E5M2 its float8_e5m2 (the
 * safetensors and PyTorch meaning). */
typedef enum {
    RP_ST_F32 = 0, RP_ST_I32, RP_ST_U8, RP_ST_F16, RP_ST_BF16, RP_ST_F64, RP_ST_I64,
    RP_ST_F8_E4M3, RP_ST_F8_E5M2, RP_ST_NDTYPES
} rp_st_dtype;
/* "F32", "BF16", "F8_E4M3", ... (static string). */
const char *rp_st_dtype_name(rp_st_dtype d);
/* The file dtype named s (exactly as in the format: "BF16"), or -1. */
int rp_st_dtype_from_name(const char *s);

typedef struct {
    int n;               /* number of tensors */
    char **names;        /* n names (owned) */
    rp_tensor **tensors; /* n new references (owned) */
    int nmeta;           /* metadata entries */
    char **meta_keys;    /* nmeta strings (owned) */
    char **meta_vals;
    rp_st_dtype *dtypes; /* n: each tensor's dtype in the file (owned) */
} rp_safetensors;

/* Write n tensors (any strides; written contiguous) with their names and
 * optional string metadata to path. Names must be unique and not
 * "__metadata__". Returns 0 or -1 with error. */
int rp_save_safetensors(const char *path, int n, const char *const *names,
                        const rp_tensor *const *tensors, int nmeta,
                        const char *const *meta_keys, const char *const *meta_vals);
/* Like rp_save_safetensors, tensor i stored as file dtype as[i] (as NULL:
 * each tensor's own dtype). f32 -> F32, F16 or BF16 (round to nearest even,
 * overflow to inf, NaN stays NaN, as ml_dtypes / PyTorch casts); u8 -> U8,
 * F8_E4M3 or F8_E5M2 (the bytes are FP8 codes, written as they are);
 * i32 -> I32. Any other pairing is an error naming the tensor. */
int rp_save_safetensors_as(const char *path, int n, const char *const *names,
                           const rp_tensor *const *tensors, const rp_st_dtype *as, int nmeta,
                           const char *const *meta_keys, const char *const *meta_vals);
/* Read a safetensors file: a new rp_safetensors (free with
 * rp_safetensors_free) or NULL with error. F32, I32 and U8 load as such;
 * F16, BF16 and F64 are converted to f32 (exactly, but F64), I64 to i32 (an
 * error if a value does not fit); F8_E4M3 and F8_E5M2 load as their u8
 * codes (s->dtypes says which: decode with rp_fp8_decode_f32). */
rp_safetensors *rp_load_safetensors(const char *path);
/* Parse safetensors bytes from memory (buf is borrowed; name is used in
 * error messages): like rp_load_safetensors. The fuzzing entry point. */
rp_safetensors *rp_parse_safetensors(const void *buf, size_t len, const char *name);
void rp_safetensors_free(rp_safetensors *s);

#endif
