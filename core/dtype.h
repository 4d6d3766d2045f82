/* dtype.h: the element types of tensors, one traits table (ggml style). The
 * number formats stored inside them (fp8 codes in u8) are fp8.h's. */
#ifndef RP_DTYPE_H
#define RP_DTYPE_H

#include <stddef.h>

typedef enum { RP_F32 = 0, RP_I32, RP_U8, RP_NDTYPES } rp_dtype;

typedef struct {
    const char *name; /* "f32", "i32", "u8" */
    size_t size;      /* bytes per element */
    const char *safetensors_name; /* "F32", "I32", "U8" */
} rp_dtype_traits;

extern const rp_dtype_traits rp_dtype_info[RP_NDTYPES];
/* dtype by name ("f32"/"float32", "i32"/"int32", "u8"/"uint8"); -1 if unknown. */
int rp_dtype_from_name(const char *name);

#endif
