/* fuzz_safetensors.c: the safetensors parser on arbitrary bytes. Any input
 * must either parse into tensors whose byte counts agree with their shapes,
 * or fail with an error message; never crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_safetensors *s = rp_parse_safetensors(data, size, "fuzz");
    if (!s) {
        if (rp_errmsg()[0] == '\0') abort(); /* a failure must say why */
        return 0;
    }
    uint64_t total = 0;
    for (int i = 0; i < s->n; i++) {
        const rp_tensor *t = s->tensors[i];
        if (!t || !s->names[i]) abort();
        /* the file dtype is known, and F8 entries come back as 1-byte codes */
        if ((unsigned)s->dtypes[i] >= RP_ST_NDTYPES) abort();
        if ((s->dtypes[i] == RP_ST_F8_E4M3 || s->dtypes[i] == RP_ST_F8_E5M2) && t->dtype != RP_U8) abort();
        int64_t n = rp_numel(t);
        if (n < 0) abort();
        /* touch every element: a short buffer shows up under ASan */
        const unsigned char *p = rp_data(t);
        size_t nb = (size_t)n * rp_dtype_info[t->dtype].size;
        unsigned acc = 0;
        for (size_t k = 0; k < nb; k++) acc += p[k];
        (void)acc;
        total += nb;
    }
    /* every tensor comes from the data section; conversions at most widen 2x (f16 -> f32) */
    if (total > 2 * (uint64_t)size) abort();
    for (int i = 0; i < s->nmeta; i++)
        if (!s->meta_keys[i] || !s->meta_vals[i]) abort();
    rp_safetensors_free(s);
    return 0;
}
