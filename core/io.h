/* io.h: safetensors files: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}},
 * then the raw little-endian tensor bytes. Every field read from a file is
 * validated (sizes, offsets, overlaps, dtypes) before any tensor is made. */
#ifndef RP_IO_H
#define RP_IO_H

#include <stddef.h>
#include "tensor.h"

typedef struct {
    int n;               /* number of tensors */
    char **names;        /* n names (owned) */
    rp_tensor **tensors; /* n new references (owned) */
    int nmeta;           /* metadata entries */
    char **meta_keys;    /* nmeta strings (owned) */
    char **meta_vals;
} rp_safetensors;

/* Write n tensors (any strides; written contiguous) with their names and
 * optional string metadata to path. Names must be unique and not
 * "__metadata__". Returns 0 or -1 with error. */
int rp_save_safetensors(const char *path, int n, const char *const *names,
                        const rp_tensor *const *tensors, int nmeta,
                        const char *const *meta_keys, const char *const *meta_vals);
/* Read a safetensors file: a new rp_safetensors (free with
 * rp_safetensors_free) or NULL with error. F32, I32 and U8 load as such;
 * F16, BF16 and F64 are converted to f32. */
rp_safetensors *rp_load_safetensors(const char *path);
/* Parse safetensors bytes from memory (buf is borrowed; name is used in
 * error messages): like rp_load_safetensors. The fuzzing entry point. */
rp_safetensors *rp_parse_safetensors(const void *buf, size_t len, const char *name);
void rp_safetensors_free(rp_safetensors *s);

#endif
