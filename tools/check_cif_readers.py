"""Reads the CIFs written by tools/write_cif_samples.lua with ASE and pymatgen and checks that both
see the same lattice parameters, species and fractional positions as repro (order-free: pymatgen
regroups sites). Needs Debian python3-ase and python3-pymatgen; not part of ctest."""
import glob, warnings
import numpy as np
warnings.filterwarnings("ignore")
import ase.io, ase
from pymatgen.core import Structure
bad = 0; n = 0
for f in sorted(glob.glob("/tmp/crystal_cifs/*.cif")):
    ref = open(f[:-4] + ".ref").read().split("\n")
    par = np.array([float(v) for v in ref[0].split()])
    rows = [r.split() for r in ref[1:] if r.strip()]
    sp = [r[0] for r in rows]; fr = np.array([[float(v) for v in r[1:]] for r in rows])
    a = ase.io.read(f, format="cif")
    s = Structure.from_file(f)
    for name, lat, species, frac in (("ase", a.cell.cellpar(), a.get_chemical_symbols(), a.get_scaled_positions(wrap=False)),
                                     ("pymatgen", np.array(s.lattice.parameters), [e.symbol for e in s.species], s.frac_coords)):
        ok = np.allclose(lat, par, atol=1e-6) and sorted(species) == sorted(sp) and len(species) == len(sp)
        dmax = 0
        for i in range(len(sp)):   # each of our sites has a same-species site at the same place (order-free)
            d = frac - fr[i]; d -= np.round(d)
            dd = [np.abs(d[j]).max() for j in range(len(species)) if species[j] == sp[i]]
            dmax = max(dmax, min(dd))
        d = np.array([dmax])
        ok = ok and dmax < 1e-7
        if not ok:
            bad += 1; print("MISMATCH", name, f, lat, par, species[:3], sp[:3], np.abs(d).max())
        n += 1
print("checked", n, "readings;", bad, "mismatches; ase", ase.__version__)
