-- Docstrings of repro.crystal for help(): dotted name -> "signature\ndescription".
return {
  ["crystal.Structure"] = [[crystal.Structure{lattice = L, species = S, frac = F | cart = C} -> Structure
A periodic crystal structure. L is 3x3 (table or tensor; rows are the lattice vectors a, b, c in Angstrom); S a
list of element symbols or atomic numbers; F an N x 3 table or tensor of fractional coordinates (C: Cartesian,
Angstrom, instead). Values are kept in double precision. Raises on a singular lattice, unknown elements,
non-finite coordinates or mismatched sizes.]],
  ["crystal.read_cif"] = [[crystal.read_cif(text) -> Structure
Parses the P1 CIF subset pymatgen writes: one data block, cell lengths and angles (esd "(n)" allowed), space group
P 1 with the single operation 'x, y, z', one atom-site loop (type symbol or label, multiplicity 1, fractional
x/y/z, occupancy 1). Anything else raises an error naming the line. The lattice is built from the parameters in
pymatgen's orientation (c along z, a in the xz plane), so Cartesian coordinates agree with pymatgen's.]],
  ["crystal.lattice_from_params"] = [[crystal.lattice_from_params(a, b, c, alpha, beta, gamma) -> 3x3 table
Lattice vectors (rows) from lengths (Angstrom) and angles (degrees) in pymatgen's Lattice.from_parameters
orientation; like pymatgen it caps an impossible cosine into [-1, 1] and raises only if the cell is flat.]],
  ["crystal.elements"] = [[crystal.elements[Z or symbol] -> {Z, symbol, mass, X, electronegativity, metal,
oxidation_states, common_oxidation_states}
The element table for Z = 1..103 (data/crystal/elements.tsv): mass and X (Pauling, orders formulae) from pymatgen;
electronegativity (Pauling, SMACT's, used by composition_valid), metal and oxidation_states (the smact14 set)
from SMACT 2021, as CDVAE and DiffCSP evaluated; common_oxidation_states from pymatgen. Both MIT licensed.]],
  ["crystal.symbol"] = [[crystal.symbol(z) -> "Ba"
The element symbol of atomic number z (1..118).]],
  ["crystal.atomic_number"] = [[crystal.atomic_number(symbol) -> z
The atomic number of an element symbol (case-sensitive).]],
  ["crystal.reduced_formula"] = [[crystal.reduced_formula{Ba = 1, Ti = 1, O = 3} -> "BaTiO3", factor
pymatgen's Composition.reduced_formula: elements ordered by electronegativity, counts divided by their gcd,
polyanions bracketed (Ba(NO3)2) and pymatgen's special formulae (O2, Li2O2, ...); factor is the number of
formula units.]],
  ["crystal.is_structure"] = [[crystal.is_structure(v) -> boolean
Whether v is a Structure.]],
  ["crystal.match"] = [[crystal.match(a, b, {ltol = 0.2, stol = 0.3, angle_tol = 5, anonymous = false,
primitive_cell = true, scale = true}) -> matched, rms, max_dist
pymatgen's StructureMatcher.get_rms_dist: both structures Niggli-reduced and reduced to primitive cells, scaled
to a common volume, every lattice mapping within ltol/angle_tol tried with every trial translation, sites assigned
species by species (Hungarian algorithm) over periodic images; rms and max_dist are normalised by (V/N)^(1/3).
matched when the best rms < stol (nil rms otherwise). anonymous: any one-to-one species mapping (the best rms over
mappings, get_rms_anonymous). Supercell matching (attempt_supercell) is not supported: different primitive sizes
never match.]],
  ["crystal.fit"] = [[crystal.fit(a, b, opts) -> boolean
pymatgen's StructureMatcher.fit (or fit_anonymous with anonymous = true): like crystal.match but a mapping is
accepted by its largest normalised displacement < stol.]],
  ["crystal.composition_valid"] = [[crystal.composition_valid(s or {symbol = count}) -> boolean
SMACT charge neutrality as CDVAE/DiffCSP's smact_validity: valid if one element or only metals; otherwise some
combination of smact14 oxidation states must be neutral for the gcd-reduced counts and pass the Pauling
electronegativity test (cations less electronegative than anions); more than 1e7 combinations, or an element
beyond the table (Z > 103), is invalid.]],
  ["crystal.structure_valid"] = [[crystal.structure_valid(s, {cutoff = 0.5, min_volume = 0.1}) -> boolean
CDVAE's structure_validity: every distance between two different atoms over periodic images >= cutoff (Angstrom)
and volume >= min_volume (Angstrom^3). A cell too thin for the periodic search counts as invalid.]],
  ["crystal.valid"] = [[crystal.valid(s) -> valid, composition_valid, structure_valid
Both validity tests, as CDVAE's Crystal.valid.]],
  ["crystal.match_rate"] = [[crystal.match_rate(generated, reference, {ltol = 0.3, stol = 0.5, angle_tol = 10,
anonymous = false, check_validity = true}) -> rate, mean_rms, rms_list
CDVAE/DiffCSP's reconstruction metric. generated[i] is a Structure (k = 1: counted if it and reference[i] are both
valid and match) or a list of Structures (k samples: the smallest rms of the valid ones), or false for a failed
generation. rate is the matched fraction, mean_rms the mean rms over matches, rms_list[i] the rms or false.]],
  ["crystal.uniqueness"] = [[crystal.uniqueness(list, {ltol = 0.3, stol = 0.5, angle_tol = 10, anonymous = false})
-> fraction, unique_indices
The fraction of structures that fit no earlier structure of the list (StructureMatcher.fit), and their indices.]],
  ["crystal.novelty"] = [[crystal.novelty(list, reference, opts) -> fraction, novel_indices
The fraction of structures of list that fit no structure of reference, and their indices.]],
  ["crystal.load"] = [[crystal.load(name, {split = "all", seed = 0, fractions = {train = 0.8, val = 0.1, test = 0.1}})
-> records
The bundled data sets "perov_5" (7,572 rows) and "carbon_24" (4,062): records {structure, formula (pymatgen's
reduced), cif, source ("val"/"test" file), row, material_id, and heat_ref, heat_all, dir_gap, ind_gap,
formula_source (perov_5) or energy_per_atom (carbon_24)}. A split is seeded and by composition (reduced formula)
for perov_5, by structure for carbon_24 (one composition); records are shared between calls, do not modify them.]],
  ["Structure:lattice"] = [[s:lattice() -> 3x3 f32 tensor
The lattice vectors as rows (Angstrom). s:lattice_table() gives them as doubles in a nested table.]],
  ["Structure:lattice_table"] = [[s:lattice_table() -> {{ax, ay, az}, {bx, ...}, {cx, ...}}
The lattice in double precision.]],
  ["Structure:frac"] = [[s:frac() -> N x 3 f32 tensor
Fractional coordinates as stored (not wrapped). s:frac_table() gives doubles.]],
  ["Structure:frac_table"] = [[s:frac_table() -> N x 3 table
Fractional coordinates in double precision.]],
  ["Structure:cart"] = [[s:cart() -> N x 3 f32 tensor
Cartesian coordinates (Angstrom): frac . lattice.]],
  ["Structure:numbers"] = [[s:numbers() -> i32 tensor of N atomic numbers
s:numbers_table() gives a Lua table.]],
  ["Structure:numbers_table"] = [[s:numbers_table() -> {z1, z2, ...}
Atomic numbers as a Lua table.]],
  ["Structure:species"] = [[s:species() -> {"Ba", "Ti", "O", ...}
Element symbols in site order.]],
  ["Structure:natoms"] = [[s:natoms() -> N
The number of sites.]],
  ["Structure:volume"] = [[s:volume() -> V
Cell volume in Angstrom^3.]],
  ["Structure:lattice_params"] = [[s:lattice_params() -> a, b, c, alpha, beta, gamma
Lengths in Angstrom, angles in degrees (alpha between b and c).]],
  ["Structure:wrap"] = [[s:wrap() -> Structure
A copy with fractional coordinates wrapped into [0, 1) (idempotent).]],
  ["Structure:composition"] = [[s:composition() -> {Ba = 1, Ti = 1, O = 3}
Element counts of the cell.]],
  ["Structure:formula"] = [[s:formula() -> "BaTiO3"
The reduced formula in pymatgen's order (crystal.reduced_formula).]],
  ["Structure:to_cif"] = [[s:to_cif() -> text
CIF in the layout of pymatgen's CifWriter (P1, 8 decimals; data_ block named by the reduced formula). Reading it
back with crystal.read_cif, pymatgen or ASE gives the same structure.]],
  ["Structure:min_distance"] = [[s:min_distance{self_images = false} -> d
The shortest distance (Angstrom) between two different atoms over all periodic images (pymatgen's
distance_matrix off the diagonal; math.huge for a single atom); with self_images an atom and its own images count.]],
  ["Structure:neighbors"] = [[s:neighbors(cutoff) or s:neighbors{k = 12, cutoff = nil} -> src, dst, dist, image
Periodic neighbour list: every (src, dst, image) with distance <= cutoff over all images (an atom with itself at
zero offset excluded), or the k nearest of each atom (within cutoff if given). src, dst are 1-based i32 (E),
dist f32 (E), image i32 (E x 3) integer cell offsets: the neighbour sits at (frac[dst] + image) . lattice.
Sorted by src, then distance. Cutoffs larger than the cell are fine.]],
  ["Structure:spacegroup"] = [[s:spacegroup{symprec = 0.01, angle_tolerance = -1} -> {symbol = "Pm-3m", number = 221}
The space group found by spglib (Debian libsymspg-dev) with distance tolerance symprec (Angstrom).]],
  ["Structure:niggli"] = [[s:niggli{eps = 1e-5} -> Structure
The same crystal on spglib's Niggli-reduced cell, coordinates wrapped.]],
  ["Structure:standardize"] = [[s:standardize{primitive = false, symprec = 0.01, no_idealize = false} -> Structure
spglib's standardised conventional (or primitive) cell.]],
}
