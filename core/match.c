/* match.c: StructureMatcher after pymatgen (match.h), read from
 * pymatgen/analysis/structure_matcher.py (2022.11): _preprocess (Niggli,
 * primitive cell, volume scaling), _strict_match (lattice mappings from
 * Lattice.find_all_mappings, trial translations that put the struct2 site of
 * the rarest species on each same-species struct1 site, the fractional
 * pre-check _cmp_fstruct, then _cart_dists: shortest periodic vectors in an
 * LLL basis, a linear assignment on squared distances, the mean displacement
 * removed, distances normalised by (N/V)^(1/3)). Written from that reading,
 * not translated; where the implementation differs it says so. */
#include "match.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "symmetry.h"
#include "error.h"

#define PI 3.14159265358979323846
#define BIG 1e12 /* cost of a forbidden pair in the assignment */

/* ---- small linear algebra ---------------------------------------------------- */

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void matmul3(double *c, const double *a, const double *b)
{
    double r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    memcpy(c, r, sizeof r);
}

static double det3(const double *m)
{
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
           m[2] * (m[3] * m[7] - m[4] * m[6]);
}

/* lengths of the reciprocal lattice vectors including 2*pi (pymatgen's
 * reciprocal_lattice.abc) */
static void recip_abc(double *out, const double *L)
{
    double inv[9];
    rp_lattice_inverse(inv, L);
    for (int k = 0; k < 3; k++) {
        double c[3] = {inv[k], inv[3 + k], inv[6 + k]}; /* column k of L^-1 */
        out[k] = 2 * PI * sqrt(dot3(c, c));
    }
}

/* LLL reduction (delta 0.75) of the rows of L, in place. */
static void lll_reduce(double *L)
{
    double b[3][3];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) b[i][k] = L[3 * i + k];
    int k = 1, guard = 0;
    while (k < 3 && guard++ < 10000) {
        /* Gram-Schmidt */
        double bs[3][3], mu[3][3], B[3];
        for (int i = 0; i < 3; i++) {
            memcpy(bs[i], b[i], sizeof bs[i]);
            for (int j = 0; j < i; j++) {
                mu[i][j] = dot3(b[i], bs[j]) / B[j];
                for (int c = 0; c < 3; c++) bs[i][c] -= mu[i][j] * bs[j][c];
            }
            B[i] = dot3(bs[i], bs[i]);
        }
        for (int j = k - 1; j >= 0; j--) {
            double q = round(mu[k][j]);
            if (q != 0) {
                for (int c = 0; c < 3; c++) b[k][c] -= q * b[j][c];
                for (int l = 0; l <= j; l++) mu[k][l] -= q * (l == j ? 1.0 : mu[j][l]);
            }
        }
        if (B[k] >= (0.75 - mu[k][k - 1] * mu[k][k - 1]) * B[k - 1]) {
            k++;
        } else {
            double t[3];
            memcpy(t, b[k], sizeof t);
            memcpy(b[k], b[k - 1], sizeof t);
            memcpy(b[k - 1], t, sizeof t);
            k = k > 1 ? k - 1 : 1;
        }
    }
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++) L[3 * i + c] = b[i][c];
}

/* ---- Hungarian algorithm (rows n <= cols m), minimising the sum of cost --- */

/* assign[i] = column of row i. cost is n x m row-major. -1 on out of memory. */
static int hungarian(int *assign, const double *cost, int n, int m)
{
    double *u = calloc((size_t)n + 1, sizeof(double)), *v = calloc((size_t)m + 1, sizeof(double));
    double *minv = malloc(sizeof(double) * ((size_t)m + 1));
    int *p = calloc((size_t)m + 1, sizeof(int)), *way = calloc((size_t)m + 1, sizeof(int));
    char *used = malloc((size_t)m + 1);
    if (!u || !v || !minv || !p || !way || !used) {
        free(u); free(v); free(minv); free(p); free(way); free(used);
        return rp_seterr("match: out of memory");
    }
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) { minv[j] = INFINITY; used[j] = 0; }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= m; j++)
                if (!used[j]) {
                    double cur = cost[(size_t)(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
                    if (minv[j] < delta) { delta = minv[j]; j1 = j; }
                }
            for (int j = 0; j <= m; j++)
                if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
                else minv[j] -= delta;
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= m; j++)
        if (p[j]) assign[p[j] - 1] = j - 1;
    free(u); free(v); free(minv); free(p); free(way); free(used);
    return 0;
}

/* ---- primitive cell -------------------------------------------------------------- */

static double fdiff(double d) { return fabs(d - round(d)); }

/* pymatgen's get_primitive_structure(tolerance = tol Angstrom), followed
 * step by step: sites grouped by species (sorted by symbol, i.e. by atomic
 * number here: only the grouping matters); candidate translations from the
 * rarest species, kept if they map every group onto itself within twice the
 * fractional tolerance; then the supercell matrices in Hermite normal form
 * of each determinant dividing the gcd of the group sizes, smallest first;
 * the first whose new lattice vectors are all candidate translations and
 * whose sites fall into cliques of exactly `det` coinciding sites gives the
 * smaller cell (positions averaged), which is Niggli-reduced and reduced
 * again recursively. A copy of s if none is found; NULL + error on failure. */
static rp_structure *primitive(const rp_structure *s, double tol, int depth)
{
    int n = s->n;
    if (n < 2 || depth > 8) return rp_structure_copy(s);
    /* order: sites sorted by atomic number (stable), groups contiguous */
    int *ord = malloc(sizeof(int) * (size_t)n), *gstart = malloc(sizeof(int) * ((size_t)n + 1));
    double *vecs = malloc(sizeof(double) * 3 * (size_t)n), *all = malloc(sizeof(double) * 3 * (size_t)n);
    double *nf = malloc(sizeof(double) * 3 * (size_t)n);
    int32_t *nz = malloc(sizeof(int32_t) * (size_t)n);
    char *nonnb = malloc((size_t)n * n), *grp = malloc((size_t)n * n), *added = malloc((size_t)n);
    rp_structure *r = NULL;
    if (!ord || !gstart || !vecs || !all || !nf || !nz || !nonnb || !grp || !added) {
        rp_seterr("match: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: stable */
        for (int j = i; j > 0 && s->z[ord[j - 1]] > s->z[ord[j]]; j--) { int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t; }
    int ng = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || s->z[ord[i]] != s->z[ord[i - 1]]) gstart[ng++] = i;
    gstart[ng] = n;
    const double *F = s->frac;
#define FC(i, k) F[3 * ord[i] + (k)]
    double p[6];
    rp_lattice_params(p, s->lattice);
    double sft[3] = {tol / p[0], tol / p[1], tol / p[2]};
    /* min_vecs from the smallest group (the first of the smallest) */
    int gmin = 0;
    for (int g = 1; g < ng; g++)
        if (gstart[g + 1] - gstart[g] < gstart[gmin + 1] - gstart[gmin]) gmin = g;
    int nv = 0;
    for (int i = gstart[gmin]; i < gstart[gmin + 1]; i++, nv++)
        for (int k = 0; k < 3; k++) vecs[3 * nv + k] = FC(i, k) - FC(gstart[gmin], k);
    /* keep the vectors that map every site of every group near a site of the
     * group (groups in order of size; pymatgen's pbc_coord_intersection) */
    int *gorder = malloc(sizeof(int) * (size_t)ng);
    if (!gorder) { rp_seterr("match: out of memory"); goto out; }
    for (int g = 0; g < ng; g++) gorder[g] = g;
    for (int i = 1; i < ng; i++)
        for (int j = i; j > 0 && gstart[gorder[j - 1] + 1] - gstart[gorder[j - 1]] > gstart[gorder[j] + 1] - gstart[gorder[j]]; j--) {
            int t = gorder[j]; gorder[j] = gorder[j - 1]; gorder[j - 1] = t;
        }
    for (int gi = 0; gi < ng; gi++) {
        int g = gorder[gi];
        for (int f = gstart[g]; f < gstart[g + 1]; f++) {
            int keep = 0;
            for (int v = 0; v < nv; v++) {
                int any = 0;
                for (int x = gstart[g]; x < gstart[g + 1] && !any; x++)
                    any = fdiff(vecs[3 * v] - (FC(x, 0) - FC(f, 0))) < 2 * sft[0] &&
                          fdiff(vecs[3 * v + 1] - (FC(x, 1) - FC(f, 1))) < 2 * sft[1] &&
                          fdiff(vecs[3 * v + 2] - (FC(x, 2) - FC(f, 2))) < 2 * sft[2];
                if (any) { memmove(vecs + 3 * keep, vecs + 3 * v, 3 * sizeof(double)); keep++; }
            }
            nv = keep;
        }
    }
    free(gorder);
    /* sites that may not merge: farther than 2 * tol in some coordinate */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int far = i == j;
            for (int k = 0; k < 3; k++) far |= fdiff(FC(j, k) - FC(i, k)) > 2 * sft[k];
            nonnb[(size_t)i * n + j] = (char)far;
        }
    int num_fu = 0;
    for (int g = 0; g < ng; g++) {
        int a = num_fu, b = gstart[g + 1] - gstart[g];
        while (b) { int t = a % b; a = b; b = t; }
        num_fu = a;
    }
    for (int det = 2; det <= num_fu; det++) {
        if (num_fu % det) continue;
        for (int a = 1; a <= det; a++) {
            if (det % a) continue;
            for (int e = 1; e <= det / a; e++) {
                if ((det / a) % e) continue;
                int gg = det / a / e;
                for (int b = 0; b < a; b++)
                    for (int c = 0; c < a; c++)
                        for (int f = 0; f < e; f++) {
                            double m[9] = {a, b, c, 0, e, f, 0, 0, gg}, im[9];
                            if (rp_lattice_inverse(im, m)) continue;
                            /* every row of m^-1 close to a candidate translation */
                            int ok = 1;
                            for (int row = 0; row < 3 && ok; row++) {
                                int any = 0;
                                for (int v = 0; v < nv && !any; v++)
                                    any = fdiff(im[3 * row] - vecs[3 * v]) < sft[0] &&
                                          fdiff(im[3 * row + 1] - vecs[3 * v + 1]) < sft[1] &&
                                          fdiff(im[3 * row + 2] - vecs[3 * v + 2]) < sft[2];
                                ok = any;
                            }
                            if (!ok) continue;
                            double nl[9];
                            matmul3(nl, im, s->lattice);
                            double np_[6];
                            rp_lattice_params(np_, nl);
                            double ft[3] = {tol / np_[0], tol / np_[1], tol / np_[2]};
                            for (int i = 0; i < n; i++) { /* all_frac = fc . m */
                                double fi[3] = {FC(i, 0), FC(i, 1), FC(i, 2)};
                                for (int k = 0; k < 3; k++)
                                    all[3 * i + k] = fi[0] * m[k] + fi[1] * m[3 + k] + fi[2] * m[6 + k];
                            }
                            int valid = 1, nn = 0;
                            for (int g = 0; g < ng && valid; g++) {
                                int g0 = gstart[g], g1 = gstart[g + 1];
                                for (int i = g0; i < g1; i++)
                                    for (int j = g0; j < g1; j++) {
                                        int close = 1;
                                        for (int k = 0; k < 3; k++)
                                            close &= fdiff(all[3 * j + k] - all[3 * i + k]) < ft[k];
                                        grp[(size_t)i * n + j] = (char)(close && nonnb[(size_t)i * n + j]);
                                    }
                                for (int j = g0; j < g1 && valid; j++) { /* column sums == det */
                                    int cs = 0;
                                    for (int i = g0; i < g1; i++) cs += grp[(size_t)i * n + j];
                                    valid = cs == det;
                                }
                                for (int i = g0; i < g1 && valid; i++) /* cliques */
                                    for (int x = g0; x < g1 && valid; x++)
                                        for (int y = g0; y < g1 && valid; y++)
                                            if (grp[(size_t)i * n + x] && grp[(size_t)i * n + y])
                                                valid = grp[(size_t)x * n + y];
                                if (!valid) break;
                                for (int i = g0; i < g1; i++) added[i] = 0;
                                for (int i = g0; i < g1; i++) {
                                    if (added[i]) continue;
                                    double co[3];
                                    int first = -1, cnt = 0;
                                    for (int j = g0; j < g1; j++) {
                                        if (!grp[(size_t)i * n + j]) continue;
                                        added[j] = 1;
                                        double w[3];
                                        for (int k = 0; k < 3; k++) w[k] = all[3 * j + k] - floor(all[3 * j + k]);
                                        if (first < 0) { first = j; memcpy(co, w, sizeof co); cnt = 1; continue; }
                                        cnt++;
                                        for (int k = 0; k < 3; k++) {
                                            double off = w[k] - co[k];
                                            co[k] += (off - round(off)) / cnt;
                                        }
                                    }
                                    if (nn == n) { valid = 0; break; }
                                    memcpy(nf + 3 * nn, co, sizeof co);
                                    nz[nn++] = s->z[ord[i]];
                                }
                            }
                            if (!valid) continue;
                            rp_structure *t = rp_structure_new(nl, nn, nf, nz);
                            if (!t) goto out;
                            rp_structure *t2 = primitive(t, tol, depth + 1);
                            rp_structure_free(t);
                            if (!t2) goto out;
                            r = rp_niggli_structure(t2, 1e-5);
                            rp_structure_free(t2);
                            goto out;
                        }
            }
        }
    }
#undef FC
    r = rp_structure_copy(s);
out:
    free(ord); free(gstart); free(vecs); free(all); free(nf); free(nz); free(nonnb); free(grp); free(added);
    return r;
}

/* Niggli, then primitive (pymatgen's _get_reduced_structure). */
static rp_structure *reduce(const rp_structure *s, int prim)
{
    rp_structure *a = rp_niggli_structure(s, 1e-5);
    if (!a || !prim) return a;
    rp_structure *b = primitive(a, 0.25, 0);
    rp_structure_free(a);
    return b;
}

/* ---- strict match ---------------------------------------------------------------- */

typedef struct {
    double ltol, stol, angle_tol;
    int use_rms;
    int break_on_match;
} strict_opts;

/* One lattice mapping: aligned (rows = 3 lattice vectors of s1's lattice close
 * to s2's a, b, c). */
typedef void (*mapping_fn)(void *ctx, const double *aligned);

static double angle_of(const double *u, const double *v, double lu, double lv)
{
    double x = dot3(u, v) / lu / lv;
    if (x > 1) x = 1;
    if (x < -1) x = -1;
    return acos(x) * 180.0 / PI;
}

/* Lattice.find_all_mappings(self = L1, other = L2): every triple of lattice
 * vectors of L1 whose lengths and angles are within ltol / atol of L2's and
 * whose integer matrix is non-singular; calls fn for those with |det| = 1
 * (the supercell size 1 of _get_lattices). Returns -1 + error on too much work. */
static int for_each_mapping(const double *L1, const double *L2, double ltol, double atol, mapping_fn fn, void *ctx)
{
    double p2[6];
    rp_lattice_params(p2, L2);
    double rmax = fmax(p2[0], fmax(p2[1], p2[2])) * (1 + ltol);
    double d[3];
    rp_lattice_spacings(d, L1);
    int nm[3];
    double count = 1;
    for (int k = 0; k < 3; k++) {
        nm[k] = (int)ceil(rmax / d[k]);
        count *= 2.0 * nm[k] + 1;
    }
    if (count > 2e6) return rp_seterr("match: the lattices are too different in shape (%.0f lattice points to search)", count);
    /* candidate vectors for each of a, b, c */
    int cap = (int)count;
    double *cart = malloc(sizeof(double) * 3 * (size_t)cap), *len = malloc(sizeof(double) * (size_t)cap);
    int *fr = malloc(sizeof(int) * 3 * (size_t)cap);
    int *lists[3] = {malloc(sizeof(int) * (size_t)cap), malloc(sizeof(int) * (size_t)cap), malloc(sizeof(int) * (size_t)cap)};
    int ln[3] = {0, 0, 0};
    int np = 0, rc = 0;
    if (!cart || !len || !fr || !lists[0] || !lists[1] || !lists[2]) { rc = rp_seterr("match: out of memory"); goto out; }
    for (int a = -nm[0]; a <= nm[0]; a++)
        for (int b = -nm[1]; b <= nm[1]; b++)
            for (int c = -nm[2]; c <= nm[2]; c++) {
                double v[3];
                for (int k = 0; k < 3; k++) v[k] = a * L1[k] + b * L1[3 + k] + c * L1[6 + k];
                double l = sqrt(dot3(v, v));
                if (l > rmax) continue;
                memcpy(cart + 3 * np, v, sizeof v);
                len[np] = l;
                fr[3 * np] = a; fr[3 * np + 1] = b; fr[3 * np + 2] = c;
                for (int q = 0; q < 3; q++)
                    if (l / p2[q] < 1 + ltol && l / p2[q] > 1 / (1 + ltol)) lists[q][ln[q]++] = np;
                np++;
            }
    for (int i = 0; i < ln[0]; i++) {
        int ia = lists[0][i];
        for (int j = 0; j < ln[1]; j++) {
            int ib = lists[1][j];
            if (fabs(angle_of(cart + 3 * ia, cart + 3 * ib, len[ia], len[ib]) - p2[5]) >= atol) continue;
            for (int k = 0; k < ln[2]; k++) {
                int ic = lists[2][k];
                if (fabs(angle_of(cart + 3 * ib, cart + 3 * ic, len[ib], len[ic]) - p2[3]) >= atol) continue;
                if (fabs(angle_of(cart + 3 * ia, cart + 3 * ic, len[ia], len[ic]) - p2[4]) >= atol) continue;
                double sm[9] = {fr[3 * ia], fr[3 * ia + 1], fr[3 * ia + 2], fr[3 * ib], fr[3 * ib + 1], fr[3 * ib + 2],
                                fr[3 * ic], fr[3 * ic + 1], fr[3 * ic + 2]};
                double dt = det3(sm);
                if (fabs(dt) < 1e-8 || fabs(fabs(dt) - 1) >= 0.5) continue;
                double al[9];
                memcpy(al, cart + 3 * ia, 3 * sizeof(double));
                memcpy(al + 3, cart + 3 * ib, 3 * sizeof(double));
                memcpy(al + 6, cart + 3 * ic, 3 * sizeof(double));
                fn(ctx, al);
            }
        }
    }
out:
    free(cart); free(len); free(fr); free(lists[0]); free(lists[1]); free(lists[2]);
    return rc;
}

typedef struct {
    const rp_structure *s1, *s2; /* s1 has >= sites; here equal */
    const char *mask;            /* n2 x n1: 1 = species differ */
    const int *t1;               /* s1 translation site indices */
    int nt1, t2;
    strict_opts o;
    double *cart1;               /* n1 x 3 Cartesian coordinates of s1 */
    /* scratch */
    double *s1fc, *ts2, *cost, *vec;
    int *assign;
    /* result */
    int have, done, err;
    double best, best_rms, best_max;
} strict_ctx;

static void try_mapping(void *vctx, const double *aligned)
{
    strict_ctx *c = vctx;
    if (c->done || c->err) return;
    int n1 = c->s1->n, n2 = c->s2->n;
    double inv[9];
    if (rp_lattice_inverse(inv, aligned)) return;
    for (int i = 0; i < n1; i++) {
        rp_frac_to_cart(c->s1fc + 3 * i, c->cart1 + 3 * i, inv, 1);
        for (int k = 0; k < 3; k++) c->s1fc[3 * i + k] -= floor(c->s1fc[3 * i + k]);
    }
    /* the average lattice */
    double pa[6], pb[6], pavg[6], avg[9];
    rp_lattice_params(pa, aligned);
    rp_lattice_params(pb, c->s2->lattice);
    for (int k = 0; k < 6; k++) pavg[k] = (pa[k] + pb[k]) / 2;
    if (rp_lattice_from_params(avg, pavg)) return;
    double vol = rp_lattice_volume(avg);
    double norm = cbrt(n1 / vol);
    double inv_abc[3], frac_tol[3];
    recip_abc(inv_abc, avg);
    for (int k = 0; k < 3; k++) frac_tol[k] = inv_abc[k] * c->o.stol / (PI * norm);
    double lll[9], lll_inv[9], lll_abc[3], lll_tol[3];
    memcpy(lll, avg, sizeof lll);
    lll_reduce(lll);
    if (rp_lattice_inverse(lll_inv, lll)) return;
    recip_abc(lll_abc, lll);
    for (int k = 0; k < 3; k++) lll_tol[k] = lll_abc[k] * c->o.stol / (PI * norm);
    const double *s2f = c->s2->frac;
    for (int ti = 0; ti < c->nt1 && !c->done; ti++) {
        int s1i = c->t1[ti];
        double t[3];
        for (int k = 0; k < 3; k++) t[k] = c->s1fc[3 * s1i + k] - s2f[3 * c->t2 + k];
        for (int i = 0; i < n2; i++)
            for (int k = 0; k < 3; k++) c->ts2[3 * i + k] = s2f[3 * i + k] + t[k];
        /* _cmp_fstruct: every translated s2 site near some allowed s1 site */
        int ok = 1;
        for (int i = 0; i < n2 && ok; i++) {
            int any = 0;
            for (int j = 0; j < n1 && !any; j++) {
                if (c->mask[(size_t)i * n1 + j]) continue;
                any = fdiff(c->s1fc[3 * j] - c->ts2[3 * i]) < frac_tol[0] &&
                      fdiff(c->s1fc[3 * j + 1] - c->ts2[3 * i + 1]) < frac_tol[1] &&
                      fdiff(c->s1fc[3 * j + 2] - c->ts2[3 * i + 2]) < frac_tol[2];
            }
            ok = any;
        }
        if (!ok) continue;
        /* _cart_dists: shortest vectors s2 -> s1 in the LLL basis over 27 images */
        for (int i = 0; i < n2; i++) {
            double ci[3], fi[3];
            rp_frac_to_cart(ci, c->ts2 + 3 * i, avg, 1);
            rp_frac_to_cart(fi, ci, lll_inv, 1);
            for (int j = 0; j < n1; j++) {
                size_t ij = (size_t)i * n1 + j;
                double *v = c->vec + 3 * ij;
                c->cost[ij] = BIG;
                v[0] = v[1] = v[2] = 0;
                if (c->mask[ij]) continue;
                double cj[3], fj[3], df[3];
                rp_frac_to_cart(cj, c->s1fc + 3 * j, avg, 1);
                rp_frac_to_cart(fj, cj, lll_inv, 1);
                int within = 1;
                for (int k = 0; k < 3; k++) {
                    df[k] = fj[k] - fi[k];
                    df[k] -= round(df[k]);
                    if (fabs(df[k]) > lll_tol[k]) within = 0;
                }
                if (!within) continue;
                double best = INFINITY;
                for (int a = -1; a <= 1; a++)
                    for (int b = -1; b <= 1; b++)
                        for (int cc = -1; cc <= 1; cc++) {
                            double f[3] = {df[0] + a, df[1] + b, df[2] + cc}, r[3];
                            rp_frac_to_cart(r, f, lll, 1);
                            double d2 = dot3(r, r);
                            if (d2 < best) { best = d2; memcpy(v, r, sizeof r); }
                        }
                c->cost[ij] = best;
            }
        }
        if (hungarian(c->assign, c->cost, n2, n1)) { c->err = 1; return; }
        double tr[3] = {0, 0, 0};
        int forbidden = 0;
        for (int i = 0; i < n2; i++) {
            size_t ij = (size_t)i * n1 + c->assign[i];
            if (c->cost[ij] >= BIG) forbidden = 1;
            for (int k = 0; k < 3; k++) tr[k] += c->vec[3 * ij + k] / n2;
        }
        if (forbidden) continue; /* pymatgen: a 1e20 distance, never a match */
        double sum2 = 0, mx = 0;
        for (int i = 0; i < n2; i++) {
            size_t ij = (size_t)i * n1 + c->assign[i];
            double d[3] = {c->vec[3 * ij] - tr[0], c->vec[3 * ij + 1] - tr[1], c->vec[3 * ij + 2] - tr[2]};
            double dist = sqrt(dot3(d, d)) * norm;
            sum2 += dist * dist;
            if (dist > mx) mx = dist;
        }
        double rms = sqrt(sum2 / n2);
        double val = c->o.use_rms ? rms : mx;
        if (!c->have || val < c->best) {
            c->have = 1;
            c->best = val;
            c->best_rms = rms;
            c->best_max = mx;
            if ((c->o.break_on_match || val < 1e-5) && val < c->o.stol) c->done = 1;
        }
    }
}

/* _strict_match(s1, s2) with equal site counts and equal compositions. */
static int strict_match(rp_match_result *out, const rp_structure *s1, const rp_structure *s2, const strict_opts *o)
{
    int n1 = s1->n, n2 = s2->n;
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    strict_ctx c;
    memset(&c, 0, sizeof c);
    c.s1 = s1;
    c.s2 = s2;
    c.o = *o;
    size_t nn = (size_t)n1 * n2;
    char *mask = malloc(nn);
    int *t1 = malloc(sizeof(int) * (size_t)n1);
    c.cart1 = malloc(sizeof(double) * 3 * (size_t)n1);
    c.s1fc = malloc(sizeof(double) * 3 * (size_t)n1);
    c.ts2 = malloc(sizeof(double) * 3 * (size_t)n2);
    c.cost = malloc(sizeof(double) * nn);
    c.vec = malloc(sizeof(double) * 3 * nn);
    c.assign = malloc(sizeof(int) * (size_t)n2);
    int rc = 0;
    if (!mask || !t1 || !c.cart1 || !c.s1fc || !c.ts2 || !c.cost || !c.vec || !c.assign) {
        rc = rp_seterr("match: out of memory");
        goto out;
    }
    int best_row = 0, best_sum = -1;
    for (int i = 0; i < n2; i++) {
        int sum = 0;
        for (int j = 0; j < n1; j++) sum += mask[(size_t)i * n1 + j] = s2->z[i] != s1->z[j];
        if (sum > best_sum) { best_sum = sum; best_row = i; }
    }
    c.t2 = best_row;
    for (int j = 0; j < n1; j++)
        if (!mask[(size_t)best_row * n1 + j]) t1[c.nt1++] = j;
    c.mask = mask;
    c.t1 = t1;
    rp_frac_to_cart(c.cart1, s1->frac, s1->lattice, n1);
    rc = for_each_mapping(s1->lattice, s2->lattice, o->ltol, o->angle_tol, try_mapping, &c);
    if (!rc && c.err) rc = -1;
    if (!rc && c.have && c.best < o->stol) {
        out->matched = 1;
        out->rms = c.best_rms;
        out->max_dist = c.best_max;
    }
out:
    free(mask); free(t1); free(c.cart1); free(c.s1fc); free(c.ts2); free(c.cost); free(c.vec); free(c.assign);
    return rc;
}

/* species counts: z values and counts, sorted by z */
static int species_counts(int *zs, int *cnt, const rp_structure *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        int j = 0;
        while (j < k && zs[j] != s->z[i]) j++;
        if (j == k) { zs[k] = s->z[i]; cnt[k++] = 0; }
        cnt[j]++;
    }
    return k;
}

static int next_perm(int *p, int n)
{
    int i = n - 2;
    while (i >= 0 && p[i] >= p[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (p[j] <= p[i]) j--;
    int t = p[i]; p[i] = p[j]; p[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) { t = p[a]; p[a] = p[b]; p[b] = t; }
    return 1;
}

int rp_match(rp_match_result *out, const rp_structure *a, const rp_structure *b, const rp_match_opts *o)
{
    out->matched = 0;
    out->rms = out->max_dist = NAN;
    if (!(o->ltol > 0 && o->ltol < 10) || !(o->stol > 0 && o->stol < 10) || !(o->angle_tol > 0 && o->angle_tol < 90))
        return rp_seterr("match: tolerances must be ltol in (0, 10), stol in (0, 10), angle_tol in (0, 90) degrees; "
                         "got %g, %g, %g", o->ltol, o->stol, o->angle_tol);
    if (a->n == 0 || b->n == 0) return rp_seterr("match: a structure has no atoms");
    if (a->n > 2000 || b->n > 2000) return rp_seterr("match: more than 2000 atoms (%d and %d)", a->n, b->n);
    rp_structure *s1 = reduce(a, o->primitive_cell), *s2 = s1 ? reduce(b, o->primitive_cell) : NULL;
    int rc = 0;
    if (!s1 || !s2) { rc = -1; goto done; }
    if (s1->n != s2->n) goto done; /* no supercell matching: different sizes never match */
    if (o->scale) {
        double ratio = pow(rp_lattice_volume(s2->lattice) / rp_lattice_volume(s1->lattice), 1.0 / 6);
        for (int k = 0; k < 9; k++) { s1->lattice[k] *= ratio; s2->lattice[k] /= ratio; }
    }
    int n = s1->n;
    int *z1 = malloc(sizeof(int) * (size_t)n), *c1 = malloc(sizeof(int) * (size_t)n);
    int *z2 = malloc(sizeof(int) * (size_t)n), *c2 = malloc(sizeof(int) * (size_t)n);
    int *perm = malloc(sizeof(int) * (size_t)n);
    int32_t *orig = malloc(sizeof(int32_t) * (size_t)n);
    if (!z1 || !c1 || !z2 || !c2 || !perm || !orig) { rc = rp_seterr("match: out of memory"); goto free_counts; }
    int k1 = species_counts(z1, c1, s1), k2 = species_counts(z2, c2, s2);
    if (k1 != k2) goto free_counts;
    strict_opts so = {o->ltol, o->stol, o->angle_tol, o->use_rms, !o->use_rms};
    if (!o->anonymous) {
        for (int i = 0; i < k1; i++) {
            int j = 0;
            while (j < k2 && z2[j] != z1[i]) j++;
            if (j == k2 || c2[j] != c1[i]) goto free_counts;
        }
        rc = strict_match(out, s1, s2, &so);
        goto free_counts;
    }
    if (k1 > 8) { rc = rp_seterr("match: anonymous matching of %d species (at most 8)", k1); goto free_counts; }
    /* every one-to-one species mapping s1 -> s2 with equal counts; the best rms */
    memcpy(orig, s1->z, sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < k1; i++) perm[i] = i;
    do {
        int okc = 1;
        for (int i = 0; i < k1; i++) okc &= c1[i] == c2[perm[i]];
        if (!okc) continue;
        for (int i = 0; i < n; i++) {
            int j = 0;
            while (z1[j] != orig[i]) j++;
            s1->z[i] = z2[perm[j]];
        }
        rp_match_result r;
        if (strict_match(&r, s1, s2, &so)) { rc = -1; break; }
        if (r.matched && (!out->matched || (o->use_rms ? r.rms < out->rms : r.max_dist < out->max_dist))) *out = r;
        if (out->matched && !o->use_rms) break; /* fit_anonymous stops at the first match */
    } while (next_perm(perm, k1));
    memcpy(s1->z, orig, sizeof(int32_t) * (size_t)n);
free_counts:
    free(z1); free(c1); free(z2); free(c2); free(perm); free(orig);
done:
    rp_structure_free(s1);
    rp_structure_free(s2);
    return rc;
}
