/* match.h: structure matching after pymatgen's StructureMatcher (fit and
 * get_rms_dist with its defaults primitive_cell=True, scale=True,
 * attempt_supercell=False): Niggli reduction, primitive cells, volume
 * scaling to a common volume, every lattice mapping of one structure onto
 * the other within ltol / angle_tol, and for each mapping and trial
 * translation a species-wise periodic assignment (Hungarian algorithm) of
 * sites. Distances are normalised by (V/N)^(1/3). */
#ifndef RP_MATCH_H
#define RP_MATCH_H

#include "crystal.h"

typedef struct {
    double ltol;      /* fractional length tolerance (pymatgen 0.2) */
    double stol;      /* site tolerance, in units of (V/N)^(1/3) (pymatgen 0.3) */
    double angle_tol; /* degrees (pymatgen 5) */
    int anonymous;    /* any one-to-one species mapping (fit_anonymous) */
    int primitive_cell; /* reduce both to primitive cells first (pymatgen default 1) */
    int scale;        /* scale both to the same volume first (pymatgen default 1) */
    int use_rms;      /* 1: get_rms_dist (best and accepted by rms < stol);
                       * 0: fit (best and accepted by the largest distance < stol) */
} rp_match_opts;

typedef struct {
    int matched;     /* a mapping within stol was found (see use_rms) */
    double rms;      /* the normalised RMS displacement of the best mapping */
    double max_dist; /* the largest normalised displacement of that mapping */
} rp_match_result;

/* Match a against b. Returns 0 (see out->matched) or -1 + error on bad
 * options or a failing reduction. */
int rp_match(rp_match_result *out, const rp_structure *a, const rp_structure *b, const rp_match_opts *o);

#endif
