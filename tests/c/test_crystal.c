/* test_crystal.c: the crystal core from C: lattice parameters <-> vectors,
 * inverse and spacings, structure checks, the CIF reader's error channel,
 * spglib's lattice-as-columns convention through rp_spacegroup, Niggli
 * reduction, and the matcher's options check. (The Lua tests cover the rest
 * against brute force and pymatgen.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "cif.h"
#include "crystal.h"
#include "match.h"
#include "symmetry.h"
#include "tensor.h"

static void test_lattice(void)
{
    double p[6] = {3.0, 4.0, 5.0, 80.0, 95.0, 110.0}, L[9], q[6], inv[9], d[3];
    CHECK(rp_lattice_from_params(L, p) == 0);
    rp_lattice_params(q, L);
    for (int k = 0; k < 6; k++) CHECK_NEAR(p[k], q[k], 1e-10);
    CHECK(rp_lattice_inverse(inv, L) == 0);
    for (int i = 0; i < 3; i++) /* L . L^-1 = I */
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++) s += L[3 * i + k] * inv[3 * k + j];
            CHECK_NEAR(i == j ? 1.0 : 0.0, s, 1e-12);
        }
    double cube[9] = {2, 0, 0, 0, 3, 0, 0, 0, 4};
    rp_lattice_spacings(d, cube);
    CHECK_NEAR(2, d[0], 1e-12);
    CHECK_NEAR(3, d[1], 1e-12);
    CHECK_NEAR(4, d[2], 1e-12);
    CHECK_NEAR(24, rp_lattice_volume(cube), 1e-12);
    double bad[6] = {1, 1, 1, 90, 90, 180};
    CHECK(rp_lattice_from_params(L, bad) == -1);
    CHECK(strstr(rp_errmsg(), "angle 3") != NULL);
    double singular[9] = {1, 0, 0, 2, 0, 0, 0, 0, 1};
    CHECK(rp_lattice_inverse(inv, singular) == -1);
}

static void test_structure_checks(void)
{
    double L[9] = {4, 0, 0, 0, 4, 0, 0, 0, 4}, f[3] = {0, 0, 0};
    int32_t z = 56, zbad = 0;
    rp_structure *s = rp_structure_new(L, 1, f, &z);
    CHECK(s != NULL);
    rp_structure_free(s);
    CHECK(rp_structure_new(L, 1, f, &zbad) == NULL);
    CHECK(strstr(rp_errmsg(), "atomic number") != NULL);
    double fnan[3] = {NAN, 0, 0};
    CHECK(rp_structure_new(L, 1, fnan, &z) == NULL);
    double flat[9] = {1, 0, 0, 0, 1, 0, 1, 1, 0};
    CHECK(rp_structure_new(flat, 1, f, &z) == NULL);
    CHECK(strstr(rp_errmsg(), "singular") != NULL);
    CHECK_EQ_INT(56, rp_element_z("Ba", 2));
    CHECK_EQ_INT(0, rp_element_z("Xy", 2));
    CHECK(strcmp(rp_element_symbol(8), "O") == 0);
    CHECK(rp_element_symbol(0) == NULL && rp_element_symbol(119) == NULL);
}

static void test_cif_errors(void)
{
    const char *t = "data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
                    "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n"
                    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nNa 0 0 0\nCl 0.5 0.5 0.5\n";
    rp_structure *s = rp_read_cif(t, strlen(t));
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(2, s->n);
        CHECK_EQ_INT(11, s->z[0]);
        CHECK_EQ_INT(17, s->z[1]);
        char *out;
        size_t n;
        CHECK(rp_write_cif(&out, &n, s, "NaCl", "NaCl", "Na1 Cl1", 1) == 0);
        CHECK(strlen(out) == n);
        rp_structure *u = rp_read_cif(out, n);
        CHECK(u != NULL && u->n == 2);
        rp_structure_free(u);
        free(out);
        rp_structure_free(s);
    }
    /* the text need not be NUL-terminated: a prefix reads only the prefix */
    CHECK(rp_read_cif(t, 20) == NULL);
    CHECK(strstr(rp_errmsg(), "read_cif") != NULL);
}

static rp_structure *cubic_perovskite(double a)
{
    double L[9] = {a, 0, 0, 0, a, 0, 0, 0, a};
    double f[15] = {0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0.5, 0, 0.5, 0, 0.5, 0.5};
    int32_t z[5] = {56, 22, 8, 8, 8};
    return rp_structure_new(L, 5, f, z);
}

static void test_spglib_convention(void)
{
    char sym[32];
    int num;
    rp_structure *s = cubic_perovskite(4.0);
    CHECK(rp_spacegroup(sym, &num, s, 0.01, -1) == 0);
    CHECK_EQ_INT(221, num);
    CHECK(strcmp(sym, "Pm-3m") == 0);
    rp_structure_free(s);
    /* hexagonal rows (a,0,0), (-a/2, a sqrt3/2, 0), (0,0,c): read as columns the
     * metric is not hexagonal and P6/mmm would be missed */
    double a = 2.5, c = 4.1;
    double H[9] = {a, 0, 0, -a / 2, a * sqrt(3) / 2, 0, 0, 0, c}, f[3] = {0, 0, 0};
    int32_t z = 12;
    rp_structure *h = rp_structure_new(H, 1, f, &z);
    CHECK(rp_spacegroup(sym, &num, h, 1e-4, -1) == 0);
    CHECK_EQ_INT(191, num);
    /* Niggli keeps the volume and gives a = b */
    double skew[9];
    memcpy(skew, H, sizeof skew);
    for (int k = 0; k < 3; k++) skew[6 + k] += 2 * H[k] + H[3 + k];
    rp_structure *k2 = rp_structure_new(skew, 1, f, &z);
    rp_structure *n = k2 ? rp_niggli_structure(k2, 1e-5) : NULL;
    CHECK(n != NULL);
    if (n) {
        double p[6];
        rp_lattice_params(p, n->lattice);
        CHECK_NEAR(a, p[0], 1e-9);
        CHECK_NEAR(a, p[1], 1e-9);
        CHECK_NEAR(c, p[2], 1e-9);
        CHECK_NEAR(rp_lattice_volume(H), rp_lattice_volume(n->lattice), 1e-9);
    }
    rp_structure_free(n);
    rp_structure_free(k2);
    rp_structure_free(h);
}

static void test_match_options(void)
{
    rp_structure *a = cubic_perovskite(4.0), *b = cubic_perovskite(4.3);
    rp_match_result r;
    rp_match_opts o = {.ltol = 0.2, .stol = 0.3, .angle_tol = 5, .primitive_cell = 1, .scale = 1, .use_rms = 1};
    CHECK(rp_match(&r, a, b, &o) == 0);
    CHECK(r.matched);
    CHECK_NEAR(0, r.rms, 1e-9);
    o.stol = -1;
    CHECK(rp_match(&r, a, b, &o) == -1);
    CHECK(!r.matched);
    rp_structure_free(a);
    rp_structure_free(b);
}

int main(void)
{
    test_lattice();
    test_structure_checks();
    test_cif_errors();
    test_spglib_convention();
    test_match_options();
    return check_report("test_crystal");
}
