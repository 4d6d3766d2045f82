/* symmetry.c: spglib wrappers (symmetry.h). */
#include "symmetry.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <spglib.h>
#include "error.h"

/* rows (ours) -> columns (spglib's lattice[i][j] = component i of vector j) */
static void to_spg(double out[3][3], const double *rows)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) out[i][j] = rows[3 * j + i];
}

static void from_spg(double *rows, double in[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) rows[3 * j + i] = in[i][j];
}

static const char *spg_msg(void)
{
    const char *m = spg_get_error_message(spg_get_error_code());
    return m ? m : "unknown spglib error";
}

int rp_spacegroup(char *symbol, int *number, const rp_structure *s, double symprec, double angle_tol)
{
    symbol[0] = 0;
    *number = 0;
    if (!(symprec > 0) || !isfinite(symprec))
        return rp_seterr("spacegroup: symprec must be a positive number, got %g", symprec);
    if (s->n == 0) return rp_seterr("spacegroup: the structure has no atoms");
    double lat[3][3];
    to_spg(lat, s->lattice);
    double (*pos)[3] = malloc(sizeof(double[3]) * (size_t)s->n);
    int *types = malloc(sizeof(int) * (size_t)s->n);
    if (!pos || !types) { free(pos); free(types); return rp_seterr("spacegroup: out of memory"); }
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; k < 3; k++) pos[i][k] = s->frac[3 * i + k];
        types[i] = s->z[i];
    }
    char sym[11] = {0};
    int num = spgat_get_international(sym, lat, pos, types, s->n, symprec,
                                      angle_tol < 0 ? -1.0 : angle_tol);
    free(pos);
    free(types);
    if (num <= 0) return rp_seterr("spacegroup: spglib found no space group (symprec %g): %s", symprec, spg_msg());
    sym[10] = 0;
    strcpy(symbol, sym);
    *number = num;
    return 0;
}

int rp_niggli_lattice(double *lattice, double eps)
{
    double lat[3][3];
    to_spg(lat, lattice);
    if (!spg_niggli_reduce(lat, eps)) return rp_seterr("niggli: spglib could not reduce the lattice: %s", spg_msg());
    from_spg(lattice, lat);
    return 0;
}

rp_structure *rp_niggli_structure(const rp_structure *s, double eps)
{
    if (!(eps > 0) || !isfinite(eps)) {
        rp_seterr("niggli: eps must be a positive number, got %g", eps);
        return NULL;
    }
    double nl[9], inv[9];
    memcpy(nl, s->lattice, sizeof nl);
    if (rp_niggli_lattice(nl, eps) || rp_lattice_inverse(inv, nl)) return NULL;
    rp_structure *r = rp_structure_copy(s);
    if (!r) return NULL;
    memcpy(r->lattice, nl, sizeof nl);
    /* f' = (f . L) . L'^-1; the new lattice spans the same points, so it is
     * an integer change of basis and wrapping loses nothing */
    for (int i = 0; i < s->n; i++) {
        double c[3];
        rp_frac_to_cart(c, s->frac + 3 * i, s->lattice, 1);
        rp_frac_to_cart(r->frac + 3 * i, c, inv, 1);
    }
    rp_structure_wrap(r);
    return r;
}

rp_structure *rp_standardize(const rp_structure *s, int to_primitive, int no_idealize, double symprec)
{
    if (!(symprec > 0) || !isfinite(symprec)) {
        rp_seterr("standardize: symprec must be a positive number, got %g", symprec);
        return NULL;
    }
    if (s->n == 0 || s->n > RP_CRYSTAL_MAXATOMS / 4) {
        rp_seterr("standardize: %d atoms (need 1..%d)", s->n, RP_CRYSTAL_MAXATOMS / 4);
        return NULL;
    }
    /* a conventional cell holds at most 4x the atoms of a primitive one */
    size_t cap = 4 * (size_t)s->n;
    double lat[3][3];
    to_spg(lat, s->lattice);
    double (*pos)[3] = malloc(sizeof(double[3]) * cap);
    int *types = malloc(sizeof(int) * cap);
    if (!pos || !types) {
        free(pos); free(types);
        rp_seterr("standardize: out of memory");
        return NULL;
    }
    for (int i = 0; i < s->n; i++) {
        for (int k = 0; k < 3; k++) pos[i][k] = s->frac[3 * i + k];
        types[i] = s->z[i];
    }
    int n = spg_standardize_cell(lat, pos, types, s->n, to_primitive, no_idealize, symprec);
    rp_structure *r = NULL;
    if (n <= 0 || (size_t)n > cap) {
        rp_seterr("standardize: spglib failed (symprec %g): %s", symprec, spg_msg());
    } else {
        double rows[9];
        from_spg(rows, lat);
        r = rp_structure_new(rows, n, &pos[0][0], types);
    }
    free(pos);
    free(types);
    return r;
}
