/* crystal.c: lattices, structures, periodic neighbour lists (crystal.h). */
#include "crystal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "error.h"

#define PI 3.14159265358979323846
/* Fractional coordinates beyond this are refused: they would overflow the
 * integer image offsets and say nothing a wrapped coordinate does not. */
#define MAX_FRAC 1e6
/* Atom-image pairs one neighbour search may visit. */
#define MAX_VISITS 200000000.0

static const char *const symbols[119] = {
    NULL, "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P",
    "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
    "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
    "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re",
    "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
    "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db",
    "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};

int rp_element_z(const char *symbol, int len)
{
    if (len < 1 || len > 2) return 0;
    for (int z = 1; z <= 118; z++)
        if ((int)strlen(symbols[z]) == len && memcmp(symbols[z], symbol, (size_t)len) == 0)
            return z;
    return 0;
}

const char *rp_element_symbol(int z) { return z >= 1 && z <= 118 ? symbols[z] : NULL; }

/* ---- lattices ------------------------------------------------------------- */

static double det3(const double *m)
{
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
           m[2] * (m[3] * m[7] - m[4] * m[6]);
}

double rp_lattice_volume(const double *lattice) { return fabs(det3(lattice)); }

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static double angle_deg(const double *u, const double *v)
{
    double c = dot3(u, v) / sqrt(dot3(u, u) * dot3(v, v));
    if (c > 1) c = 1;
    if (c < -1) c = -1;
    return acos(c) * 180.0 / PI;
}

void rp_lattice_params(double *out, const double *m)
{
    for (int i = 0; i < 3; i++) out[i] = sqrt(dot3(m + 3 * i, m + 3 * i));
    out[3] = angle_deg(m + 3, m + 6);
    out[4] = angle_deg(m + 0, m + 6);
    out[5] = angle_deg(m + 0, m + 3);
}

int rp_lattice_from_params(double *m, const double *p)
{
    for (int i = 0; i < 3; i++)
        if (!(p[i] > 0) || !isfinite(p[i]))
            return rp_seterr("lattice_from_params: length %d must be positive and finite, got %g",
                             i + 1, p[i]);
    for (int i = 3; i < 6; i++)
        if (!(p[i] > 0 && p[i] < 180))
            return rp_seterr("lattice_from_params: angle %d must be in (0, 180) degrees, got %g",
                             i - 2, p[i]);
    double al = p[3] * PI / 180, be = p[4] * PI / 180, ga = p[5] * PI / 180;
    double ca = cos(al), cb = cos(be), cg = cos(ga), sa = sin(al), sb = sin(be);
    /* pymatgen caps this cosine into [-1, 1] (abs_cap); so do we */
    double val = (ca * cb - cg) / (sa * sb);
    if (val > 1) val = 1;
    if (val < -1) val = -1;
    double gstar = acos(val);
    double lat[9] = {p[0] * sb, 0.0, p[0] * cb,
                     -p[1] * sa * cos(gstar), p[1] * sa * sin(gstar), p[1] * ca,
                     0.0, 0.0, p[2]};
    if (!(rp_lattice_volume(lat) > 0))
        return rp_seterr("lattice_from_params: angles %g, %g, %g do not make a cell", p[3], p[4], p[5]);
    memcpy(m, lat, sizeof lat);
    return 0;
}

int rp_lattice_inverse(double *inv, const double *m)
{
    double d = det3(m);
    if (!(fabs(d) > 0) || !isfinite(d)) return rp_seterr("lattice is singular (determinant %g)", d);
    double r[9] = {
        (m[4] * m[8] - m[5] * m[7]) / d, (m[2] * m[7] - m[1] * m[8]) / d, (m[1] * m[5] - m[2] * m[4]) / d,
        (m[5] * m[6] - m[3] * m[8]) / d, (m[0] * m[8] - m[2] * m[6]) / d, (m[2] * m[3] - m[0] * m[5]) / d,
        (m[3] * m[7] - m[4] * m[6]) / d, (m[1] * m[6] - m[0] * m[7]) / d, (m[0] * m[4] - m[1] * m[3]) / d};
    memcpy(inv, r, sizeof r);
    return 0;
}

void rp_frac_to_cart(double *cart, const double *frac, const double *m, int n)
{
    for (int i = 0; i < n; i++) {
        double f0 = frac[3 * i], f1 = frac[3 * i + 1], f2 = frac[3 * i + 2];
        for (int k = 0; k < 3; k++) cart[3 * i + k] = f0 * m[k] + f1 * m[3 + k] + f2 * m[6 + k];
    }
}

void rp_lattice_spacings(double *d, const double *m)
{
    /* d_i = V / |b_j x b_k| */
    double v = rp_lattice_volume(m);
    for (int i = 0; i < 3; i++) {
        const double *u = m + 3 * ((i + 1) % 3), *w = m + 3 * ((i + 2) % 3);
        double c[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
        d[i] = v / sqrt(dot3(c, c));
    }
}

/* ---- structures ------------------------------------------------------------ */

static int check_lattice(const double *lattice)
{
    for (int i = 0; i < 9; i++)
        if (!isfinite(lattice[i])) return rp_seterr("structure: lattice entry %d is not finite (%g)", i + 1, lattice[i]);
    double v = rp_lattice_volume(lattice);
    double p[6];
    rp_lattice_params(p, lattice);
    /* a cell flatter than 1e-9 of its box is singular for every purpose here */
    if (!(v > 1e-9 * p[0] * p[1] * p[2]) || !(v > 0))
        return rp_seterr("structure: lattice is singular (volume %g A^3)", v);
    return 0;
}

rp_structure *rp_structure_new(const double *lattice, int n, const double *frac, const int32_t *z)
{
    if (n < 0 || n > RP_CRYSTAL_MAXATOMS) {
        rp_seterr("structure: %d atoms (at most %d)", n, RP_CRYSTAL_MAXATOMS);
        return NULL;
    }
    if (check_lattice(lattice)) return NULL;
    for (int i = 0; i < 3 * n; i++)
        if (!isfinite(frac[i]) || fabs(frac[i]) > MAX_FRAC) {
            rp_seterr("structure: fractional coordinate %d of atom %d is %g (must be finite, |f| <= %g)",
                      i % 3 + 1, i / 3 + 1, frac[i], MAX_FRAC);
            return NULL;
        }
    for (int i = 0; i < n; i++)
        if (z[i] < 1 || z[i] > 118) {
            rp_seterr("structure: atomic number of atom %d is %d (must be 1..118)", i + 1, (int)z[i]);
            return NULL;
        }
    rp_structure *s = calloc(1, sizeof *s);
    if (!s) { rp_seterr("structure: out of memory"); return NULL; }
    s->frac = malloc(sizeof(double) * 3 * (size_t)(n ? n : 1));
    s->z = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!s->frac || !s->z) {
        rp_structure_free(s);
        rp_seterr("structure: out of memory for %d atoms", n);
        return NULL;
    }
    memcpy(s->lattice, lattice, sizeof s->lattice);
    s->n = n;
    if (n) {
        memcpy(s->frac, frac, sizeof(double) * 3 * (size_t)n);
        memcpy(s->z, z, sizeof(int32_t) * (size_t)n);
    }
    return s;
}

rp_structure *rp_structure_copy(const rp_structure *s)
{
    return rp_structure_new(s->lattice, s->n, s->frac, s->z);
}

void rp_structure_free(rp_structure *s)
{
    if (!s) return;
    free(s->frac);
    free(s->z);
    free(s);
}

static double wrap1(double f)
{
    double w = f - floor(f);
    if (w >= 1.0 - 1e-12) w = 0.0; /* 1 - tiny rounds back to 0: idempotent */
    return w;
}

void rp_structure_wrap(rp_structure *s)
{
    for (int i = 0; i < 3 * s->n; i++) s->frac[i] = wrap1(s->frac[i]);
}

/* ---- neighbour enumeration --------------------------------------------------- */

/* Calls visit(ctx, i, j, image, d2) for every pair within cutoff (see
 * rp_structure_neighbors); image is relative to the given (unwrapped)
 * coordinates. Returns -1 + error if the search is too large. */
typedef void (*visit_fn)(void *ctx, int i, int j, const int *image, double d2);

static int enumerate_pairs(const rp_structure *s, double cutoff, visit_fn visit, void *ctx,
                           const char *fn)
{
    if (!(cutoff >= 0) || !isfinite(cutoff))
        return rp_seterr("%s: cutoff must be a finite number >= 0, got %g", fn, cutoff);
    int n = s->n;
    if (n == 0) return 0;
    double d[3];
    rp_lattice_spacings(d, s->lattice);
    int nmax[3];
    double visits = (double)n * n;
    for (int k = 0; k < 3; k++) {
        double r = ceil(cutoff / d[k]) + 1;
        visits *= 2 * r + 1;
        if (!(visits <= MAX_VISITS))
            return rp_seterr("%s: cutoff %g is too large for this cell (interplanar spacings %.3g, %.3g, "
                             "%.3g A): more than %.0f atom-image pairs", fn, cutoff, d[0], d[1], d[2],
                             MAX_VISITS);
        nmax[k] = (int)r;
    }
    double *w = malloc(sizeof(double) * 3 * (size_t)n);
    int *sh = malloc(sizeof(int) * 3 * (size_t)n);
    double *cw = malloc(sizeof(double) * 3 * (size_t)n);
    if (!w || !sh || !cw) {
        free(w); free(sh); free(cw);
        return rp_seterr("%s: out of memory", fn);
    }
    const double *L = s->lattice;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) {
            double f = floor(s->frac[3 * i + k]);
            w[3 * i + k] = s->frac[3 * i + k] - f;
            sh[3 * i + k] = (int)f;
        }
        for (int k = 0; k < 3; k++)
            cw[3 * i + k] = w[3 * i] * L[k] + w[3 * i + 1] * L[3 + k] + w[3 * i + 2] * L[6 + k];
    }
    double c2 = cutoff * cutoff;
    for (int i = 0; i < n; i++) {
        for (int a = -nmax[0]; a <= nmax[0]; a++)
            for (int b = -nmax[1]; b <= nmax[1]; b++)
                for (int c = -nmax[2]; c <= nmax[2]; c++) {
                    double t[3];
                    for (int k = 0; k < 3; k++) t[k] = a * L[k] + b * L[3 + k] + c * L[6 + k];
                    for (int j = 0; j < n; j++) {
                        if (i == j && a == 0 && b == 0 && c == 0) continue;
                        double dx = cw[3 * j] + t[0] - cw[3 * i];
                        double dy = cw[3 * j + 1] + t[1] - cw[3 * i + 1];
                        double dz = cw[3 * j + 2] + t[2] - cw[3 * i + 2];
                        double d2 = dx * dx + dy * dy + dz * dz;
                        if (d2 <= c2) {
                            int img[3] = {a - sh[3 * j] + sh[3 * i], b - sh[3 * j + 1] + sh[3 * i + 1],
                                          c - sh[3 * j + 2] + sh[3 * i + 2]};
                            visit(ctx, i, j, img, d2);
                        }
                    }
                }
    }
    free(w); free(sh); free(cw);
    return 0;
}

typedef struct {
    int32_t src, dst;
    int32_t image[3];
    double dist;
} edge;

typedef struct {
    edge *e;
    int64_t m, cap;
    int oom;
} edge_list;

static void collect(void *ctx, int i, int j, const int *image, double d2)
{
    edge_list *l = ctx;
    if (l->oom) return;
    if (l->m == l->cap) {
        int64_t nc = l->cap ? 2 * l->cap : 256;
        edge *ne = realloc(l->e, sizeof(edge) * (size_t)nc);
        if (!ne) { l->oom = 1; return; }
        l->e = ne;
        l->cap = nc;
    }
    edge *e = &l->e[l->m++];
    e->src = i;
    e->dst = j;
    for (int k = 0; k < 3; k++) e->image[k] = image[k];
    e->dist = sqrt(d2);
}

static int edge_cmp(const void *pa, const void *pb)
{
    const edge *a = pa, *b = pb;
    if (a->src != b->src) return a->src < b->src ? -1 : 1;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    if (a->dst != b->dst) return a->dst < b->dst ? -1 : 1;
    for (int k = 0; k < 3; k++)
        if (a->image[k] != b->image[k]) return a->image[k] < b->image[k] ? -1 : 1;
    return 0;
}

static int gather(edge_list *l, double cutoff, const rp_structure *s, const char *fn)
{
    memset(l, 0, sizeof *l);
    if (enumerate_pairs(s, cutoff, collect, l, fn)) { free(l->e); return -1; }
    if (l->oom) { free(l->e); return rp_seterr("%s: out of memory for the neighbour list", fn); }
    if (l->m > 1) qsort(l->e, (size_t)l->m, sizeof(edge), edge_cmp);
    return 0;
}

/* Copy the edges keep[i] != 0 (or all if keep is NULL) into out. */
static int emit(rp_neighbors *out, const edge_list *l, const char *keep, const char *fn)
{
    int64_t m = 0;
    for (int64_t i = 0; i < l->m; i++) m += keep ? keep[i] != 0 : 1;
    size_t cnt = (size_t)(m ? m : 1);
    out->m = m;
    out->src = malloc(sizeof(int32_t) * cnt);
    out->dst = malloc(sizeof(int32_t) * cnt);
    out->dist = malloc(sizeof(double) * cnt);
    out->image = malloc(sizeof(int32_t) * 3 * cnt);
    if (!out->src || !out->dst || !out->dist || !out->image) {
        rp_neighbors_free(out);
        return rp_seterr("%s: out of memory for %lld edges", fn, (long long)m);
    }
    int64_t o = 0;
    for (int64_t i = 0; i < l->m; i++) {
        if (keep && !keep[i]) continue;
        out->src[o] = l->e[i].src;
        out->dst[o] = l->e[i].dst;
        out->dist[o] = l->e[i].dist;
        for (int k = 0; k < 3; k++) out->image[3 * o + k] = l->e[i].image[k];
        o++;
    }
    return 0;
}

int rp_structure_neighbors(rp_neighbors *out, const rp_structure *s, double cutoff)
{
    memset(out, 0, sizeof *out);
    edge_list l;
    if (gather(&l, cutoff, s, "neighbors")) return -1;
    int r = emit(out, &l, NULL, "neighbors");
    free(l.e);
    return r;
}

int rp_structure_knn(rp_neighbors *out, const rp_structure *s, int k, double max_cutoff)
{
    memset(out, 0, sizeof *out);
    if (k < 1) return rp_seterr("neighbors: k must be >= 1, got %d", k);
    if (s->n == 0) return 0;
    if (max_cutoff < 0 || !isfinite(max_cutoff))
        return rp_seterr("neighbors: cutoff must be finite and >= 0, got %g", max_cutoff);
    int n = s->n;
    /* a first radius holding about k atoms on average, grown until every atom
     * has k neighbours (or up to max_cutoff) */
    double v = rp_lattice_volume(s->lattice);
    double r = 1.3 * cbrt(3.0 * k * v / (4.0 * PI * n)) + 0.5;
    edge_list l;
    int *count = malloc(sizeof(int) * (size_t)n);
    if (!count) return rp_seterr("neighbors: out of memory");
    for (;;) {
        if (max_cutoff > 0 && r > max_cutoff) r = max_cutoff;
        if (gather(&l, r, s, "neighbors")) { free(count); return -1; }
        memset(count, 0, sizeof(int) * (size_t)n);
        for (int64_t i = 0; i < l.m; i++) count[l.e[i].src]++;
        int enough = 1;
        for (int i = 0; i < n; i++) enough &= count[i] >= k;
        if (enough || (max_cutoff > 0 && r >= max_cutoff)) break;
        free(l.e);
        r *= 1.5;
    }
    char *keep = malloc((size_t)(l.m ? l.m : 1));
    if (!keep) { free(l.e); free(count); return rp_seterr("neighbors: out of memory"); }
    memset(count, 0, sizeof(int) * (size_t)n);
    for (int64_t i = 0; i < l.m; i++) keep[i] = count[l.e[i].src]++ < k; /* sorted by src, dist */
    int rc = emit(out, &l, keep, "neighbors");
    free(keep);
    free(l.e);
    free(count);
    return rc;
}

void rp_neighbors_free(rp_neighbors *nb)
{
    free(nb->src);
    free(nb->dst);
    free(nb->dist);
    free(nb->image);
    memset(nb, 0, sizeof *nb);
}

typedef struct {
    double best2;
    int self_images;
} min_ctx;

static void take_min(void *ctx, int i, int j, const int *image, double d2)
{
    (void)image;
    min_ctx *c = ctx;
    if ((i != j || c->self_images) && d2 < c->best2) c->best2 = d2;
}

double rp_structure_min_distance(const rp_structure *s, int self_images)
{
    int n = s->n;
    /* an upper bound from actual distances: the nearest of the 27 images of
     * the wrapped coordinates for each pair, and the cell edges for self */
    double ub = INFINITY;
    double *w = malloc(sizeof(double) * 3 * (size_t)(n ? n : 1));
    if (!w) { rp_seterr("min_distance: out of memory"); return -1; }
    for (int i = 0; i < 3 * n; i++) w[i] = s->frac[i] - floor(s->frac[i]);
    const double *L = s->lattice;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            for (int a = -1; a <= 1; a++)
                for (int b = -1; b <= 1; b++)
                    for (int c = -1; c <= 1; c++) {
                        double f[3] = {w[3 * j] - w[3 * i] + a, w[3 * j + 1] - w[3 * i + 1] + b,
                                       w[3 * j + 2] - w[3 * i + 2] + c};
                        double r[3];
                        rp_frac_to_cart(r, f, L, 1);
                        double d = sqrt(dot3(r, r));
                        if (d < ub) ub = d;
                    }
    free(w);
    if (self_images)
        for (int k = 0; k < 3; k++) {
            double d = sqrt(dot3(L + 3 * k, L + 3 * k));
            if (d < ub) ub = d;
        }
    if (!isfinite(ub)) return INFINITY;
    min_ctx c = {ub * ub, self_images};
    if (enumerate_pairs(s, ub * (1 + 1e-12) + 1e-12, take_min, &c, "min_distance")) return -1;
    return sqrt(c.best2);
}
