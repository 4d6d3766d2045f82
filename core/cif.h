/* cif.h: the P1 subset of CIF that pymatgen's CifWriter produces: one data
 * block; cell lengths and angles (an esd "(n)" allowed); space group P 1 with
 * only the identity operation 'x, y, z'; one atom-site loop of element
 * symbols (or labels), multiplicity 1, fractional coordinates, occupancy 1.
 * Anything else is refused with an error naming the line. Informational tags
 * pymatgen writes (formula, volume, Z) are accepted and ignored. */
#ifndef RP_CIF_H
#define RP_CIF_H

#include <stddef.h>
#include "crystal.h"

/* Parse CIF text (len bytes, borrowed, need not be NUL-terminated): a new
 * structure (lattice from the parameters in pymatgen's orientation, atoms in
 * file order, coordinates as written) or NULL + error "read_cif: line N: ...". */
rp_structure *rp_read_cif(const char *text, size_t len);

/* Write s as CIF in pymatgen's layout into a new NUL-terminated malloc'd
 * string (*out, length *len; caller frees). data_name names the block;
 * formula_structural / formula_sum / formula_units are written when non-NULL
 * / > 0 (pymatgen writes the reduced formula, the full formula with counts
 * ('Ba1 Ti1 O3') and the number of formula units). -1 + error on failure. */
int rp_write_cif(char **out, size_t *len, const rp_structure *s, const char *data_name,
                 const char *formula_structural, const char *formula_sum, int formula_units);

#endif
