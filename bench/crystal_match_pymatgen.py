"""bench/crystal_match_pymatgen.py PAIRS.json REPS: seconds per
StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10).get_rms_dist over the
pairs bench/crystal_match.lua dumps (CPU time, the loop only). Debian
python3-pymatgen; run through bench/crystal_match.sh."""
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

pairs = json.load(open(sys.argv[1]))
reps = int(sys.argv[2])


def mk(x):
    return Structure(Lattice([x["lattice"][0:3], x["lattice"][3:6], x["lattice"][6:9]]), x["species"], x["frac"])


S = [(mk(a), mk(b)) for a, b in pairs]
m = StructureMatcher(ltol=0.3, stol=0.5, angle_tol=10)
t0 = time.process_time()
matched = 0
for _ in range(reps):
    for a, b in S:
        if m.get_rms_dist(a, b) is not None:
            matched += 1
dt = time.process_time() - t0
print("pymatgen %.6f s/match (%d matches of %d)" % (dt / (reps * len(S)), matched, reps * len(S)))
