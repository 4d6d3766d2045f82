/* symmetry.h: space groups, Niggli and standardised cells through spglib's C
 * API (Debian libsymspg-dev). spglib holds lattice vectors as the COLUMNS of
 * its 3x3 array; rp_structure holds them as rows: the conversion is here and
 * nowhere else. */
#ifndef RP_SYMMETRY_H
#define RP_SYMMETRY_H

#include "crystal.h"

/* symbol (>= 32 bytes) = international short symbol ("Pm-3m"), *number =
 * 1..230, found with distance tolerance symprec (Angstrom) and angle_tol
 * (degrees; < 0 lets spglib choose). -1 + error if spglib finds none. */
int rp_spacegroup(char *symbol, int *number, const rp_structure *s, double symprec, double angle_tol);

/* Niggli-reduce a lattice in place (rows are vectors) with tolerance eps
 * (relative, spglib's); -1 + error on failure. */
int rp_niggli_lattice(double *lattice, double eps);
/* A new structure on the Niggli-reduced lattice, the same atoms with their
 * fractional coordinates wrapped into [0, 1) (pymatgen's
 * get_reduced_structure). NULL + error on failure. */
rp_structure *rp_niggli_structure(const rp_structure *s, double eps);
/* spglib's standardised conventional (to_primitive 0) or primitive (1) cell;
 * no_idealize keeps the input orientation and undistorted positions. New
 * structure or NULL + error. */
rp_structure *rp_standardize(const rp_structure *s, int to_primitive, int no_idealize, double symprec);

#endif
