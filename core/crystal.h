/* crystal.h: periodic crystal structures: a lattice (rows are the lattice
 * vectors a, b, c in Angstrom), fractional coordinates and atomic numbers;
 * lattice parameters, fractional <-> Cartesian, volume, wrapping, periodic
 * neighbour lists (every image within a cutoff, or the k nearest) and the
 * minimum interatomic distance.
 *
 * Convention: a Cartesian position is r = f . L (f a row of fractional
 * coordinates, L the 3x3 lattice, rows a, b, c). A neighbour (src, dst,
 * image) is the atom dst shifted by the integer cell offset `image`, so its
 * vector from src is (f[dst] + image - f[src]) . L, with f as given (not
 * wrapped). Indices are 0-based here.
 */
#ifndef RP_CRYSTAL_H
#define RP_CRYSTAL_H

#include <stdint.h>

/* Most atoms a structure may hold (guards allocations from untrusted input). */
#define RP_CRYSTAL_MAXATOMS 100000

typedef struct {
    double lattice[9]; /* row-major 3x3, rows are lattice vectors (Angstrom) */
    int n;             /* number of atoms */
    double *frac;      /* n x 3 fractional coordinates (owned) */
    int32_t *z;        /* n atomic numbers, 1..118 (owned) */
} rp_structure;

/* A new structure copying lattice (9), frac (n x 3) and z (n); NULL + error if
 * the lattice is singular or non-finite, a coordinate is non-finite or an
 * atomic number is outside 1..118. Free with rp_structure_free. */
rp_structure *rp_structure_new(const double *lattice, int n, const double *frac,
                               const int32_t *z);
/* A deep copy (NULL + error on out of memory). */
rp_structure *rp_structure_copy(const rp_structure *s);
void rp_structure_free(rp_structure *s); /* NULL is fine */

/* Volume |det L| of a lattice (Angstrom^3). */
double rp_lattice_volume(const double *lattice);
/* out[6] = a, b, c (Angstrom), alpha, beta, gamma (degrees) of a lattice. */
void rp_lattice_params(double *out, const double *lattice);
/* lattice[9] from a, b, c, alpha, beta, gamma in pymatgen's orientation
 * (Lattice.from_parameters: c along z, a in the xz plane). -1 + error if the
 * lengths are not positive or the angles do not make a cell. */
int rp_lattice_from_params(double *lattice, const double *params);
/* inv[9] = L^-1 (so f = r . L^-1); -1 + error if singular. */
int rp_lattice_inverse(double *inv, const double *lattice);
/* cart (n x 3) = frac . L; may alias. */
void rp_frac_to_cart(double *cart, const double *frac, const double *lattice, int n);
/* Interplanar spacings d[3] (distance between lattice planes, = 1/|b*_i|). */
void rp_lattice_spacings(double *d, const double *lattice);

/* A periodic neighbour list: m edges (src, dst, dist, image[3]), sorted by
 * src, then distance, then dst, then image. Arrays owned; free with
 * rp_neighbors_free. */
typedef struct {
    int64_t m;
    int32_t *src, *dst;
    double *dist;
    int32_t *image; /* m x 3 integer cell offsets */
} rp_neighbors;

/* Every pair (i, j, image) with distance <= cutoff over all periodic images,
 * excluding an atom with itself at zero offset (its own other images are
 * included). -1 + error on a bad cutoff or when the search would visit more
 * than ~2e8 atom-image pairs (a cutoff far larger than a thin cell). */
int rp_structure_neighbors(rp_neighbors *out, const rp_structure *s, double cutoff);
/* The k nearest neighbours of every atom (ties broken by dst then image);
 * with max_cutoff > 0 only those within it (then an atom may have fewer than
 * k). -1 + error on bad k or a structure with no atoms. */
int rp_structure_knn(rp_neighbors *out, const rp_structure *s, int k, double max_cutoff);
void rp_neighbors_free(rp_neighbors *nb);

/* The shortest distance between two different atoms over all periodic images
 * (pymatgen's distance_matrix off the diagonal); with self_images also an
 * atom to its own periodic images. +INFINITY if there is no pair (one atom
 * and !self_images). Returns -1 + error if the search would be too large (a
 * cell far thinner than the distances in it) or memory runs out. */
double rp_structure_min_distance(const rp_structure *s, int self_images);

/* Wrap fractional coordinates into [0, 1) in place (values within 1e-12 of
 * 1 become 0, so that wrapping is idempotent). */
void rp_structure_wrap(rp_structure *s);

/* ---- elements ------------------------------------------------------------ */
/* Atomic number of an element symbol ("Ba"; case-sensitive, 1..118) or 0. */
int rp_element_z(const char *symbol, int len);
/* Symbol of atomic number z, or NULL if outside 1..118. */
const char *rp_element_symbol(int z);

#endif
