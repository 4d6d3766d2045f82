/* dtype.c: the dtype traits and names. */
#include "dtype.h"

#include <string.h>

const rp_dtype_traits rp_dtype_info[RP_NDTYPES] = {
    [RP_F32] = {.name = "f32", .size = 4, .safetensors_name = "F32"},
    [RP_I32] = {.name = "i32", .size = 4, .safetensors_name = "I32"},
    [RP_U8] = {.name = "u8", .size = 1, .safetensors_name = "U8"},
};
_Static_assert(sizeof rp_dtype_info / sizeof rp_dtype_info[0] == RP_NDTYPES,
               "one traits entry per dtype");

int rp_dtype_from_name(const char *name)
{
    static const struct { const char *alias; rp_dtype d; } aliases[] = {
        {"f32", RP_F32}, {"float32", RP_F32}, {"float", RP_F32},
        {"i32", RP_I32}, {"int32", RP_I32}, {"int", RP_I32},
        {"u8", RP_U8},   {"uint8", RP_U8},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) return (int)aliases[i].d;
    return -1;
}
