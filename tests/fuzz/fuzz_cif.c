/* fuzz_cif.c: the CIF reader on arbitrary bytes. Any input must either parse
 * into a valid structure (at least one atom, finite coordinates, atomic
 * numbers 1..118, a non-singular lattice) or fail with an error message;
 * never crash, leak or read out of bounds. What parses is written back and
 * read again: the second writing must equal the first (to_cif is a fixed
 * point of read_cif . to_cif), and min_distance must not fail on it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cif.h"
#include "tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rp_structure *s = rp_read_cif((const char *)data, size);
    if (!s) {
        if (rp_errmsg()[0] == '\0') abort(); /* a failure must say why */
        return 0;
    }
    if (s->n < 1) abort();
    for (int i = 0; i < s->n; i++) {
        if (s->z[i] < 1 || s->z[i] > 118) abort();
        for (int k = 0; k < 3; k++)
            if (!isfinite(s->frac[3 * i + k])) abort();
    }
    if (!(rp_lattice_volume(s->lattice) > 0)) abort();
    char *a = NULL, *b = NULL;
    size_t na, nb;
    if (rp_write_cif(&a, &na, s, "fuzz", NULL, NULL, 0) == 0) {
        rp_structure *t = rp_read_cif(a, na);
        /* the writer rounds to 8 decimals: a lattice that rounds to a
         * degenerate one may fail to read back, nothing else may */
        if (t) {
            if (t->n != s->n) abort();
            if (rp_write_cif(&b, &nb, t, "fuzz", NULL, NULL, 0) == 0) {
                rp_structure *u = rp_read_cif(b, nb);
                char *c = NULL;
                size_t nc;
                if (!u || rp_write_cif(&c, &nc, u, "fuzz", NULL, NULL, 0) != 0) abort();
                if (nc != nb || memcmp(b, c, nb) != 0) abort(); /* a fixed point after one round */
                free(c);
                rp_structure_free(u);
            }
            rp_structure_free(t);
        }
    }
    if (s->n <= 64) (void)rp_structure_min_distance(s, 1); /* may refuse a huge search, never crash */
    free(a);
    free(b);
    rp_structure_free(s);
    return 0;
}
