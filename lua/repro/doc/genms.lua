-- Docstrings of repro.genms (GenMS at CPU scale, experiments/genms.lua):
-- dotted name as reached from require "repro" -> text (signature, then one paragraph).
return {
  ["genms.encode"] = [=[genms.encode(s) -> {id, ...}
Character ids of a string for the GenMS character-level language models: id 1 is padding, "\n" and the bytes 32..126 are 2..97 (genms.VOCAB = 97). Any other byte is an error naming it.]=],
  ["genms.decode"] = [=[genms.decode(ids) -> string
The text of character ids (genms.encode's inverse); padding and unknown ids decode to nothing.]=],
  ["genms.parse_formula"] = [=[genms.parse_formula(s) -> {symbol = count} | nil, reason
Parses a chemical formula such as "BaTiO3" (element symbols with optional counts 1..99, repeated symbols summed). Returns nil and a reason for anything else, including an unknown element.]=],
  ["genms.formula"] = [=[genms.formula(comp) -> string
The reduced formula of a composition table (pymatgen's rules, crystal.reduced_formula), the key of the database.]=],
  ["genms.species_list"] = [=[genms.species_list(comp) -> {symbol, ...}
A composition as the list of one symbol per atom (symbols sorted), the form the diffusion models' sample() takes.]=],
  ["genms.perovskite"] = [=[genms.perovskite(comp) -> {family, pattern, cations} | nil, reason
ABX3 analysis of a composition: one or two cations in the 1:1 ratio and three anions (O, N, F, S) whose pattern is one of perov_5's grid (O3, O2N, ON2, N3, O2F, OFN, O2S); family is oxide, oxynitride, oxyfluoride, nitride, oxyfluoronitride or oxysulfide.]=],
  ["genms.database"] = [=[genms.database(records [, {stable_frac = 0.2}]) -> db
Indexes crystal.load records by reduced formula: db.by_formula[f] (records), db.formulae (sorted), db.attr[f] = {family, cations, heat = lowest heat_ref, gap = any entry with a band gap, stable = heat within the lowest stable_frac of the database}, db.stable_cut. Used for the known database K and for K ∪ U (the lookup).]=],
  ["genms.request_text"] = [=[genms.request_text(req) -> string
The natural-language text of a templated request {family, element, stable, gap, novel, exclude = {formula, ...}, style}: e.g. "find a stable oxide perovskite containing Ba with a band gap, not in the database, not one of ...". style picks a paraphrase of genms.STYLES; genms.HELD_OUT_STYLE is never used in training.]=],
  ["genms.check"] = [=[genms.check(req, formula, known [, truth]) -> {constraint = true | false | nil}
Which constraints of a request a formula satisfies: family, element, novel (not in the database `known`), exclude (not in the request's list), and gap / stable from the labels of `truth` (nil when the formula has no label there: not checkable).]=],
  ["genms.satisfies"] = [=[genms.satisfies(req, formula, known [, truth]) -> boolean
True when no checkable constraint of genms.check fails (the request match of the formula).]=],
  ["genms.request_from"] = [=[genms.request_from(db, formula, u, p [, style]) -> req
A random request built from the true attributes of a formula of db, with u a list of uniforms in [0, 1) (at least 8) and p the probabilities {element, stable, gap, novel, exclude} of mentioning each attribute (stable and gap only when true). The family is always included; exclude sets req.exclude_n = 3 for the caller to fill.]=],
  ["genms.retrieve"] = [=[genms.retrieve(db, req, n [, skip, generator]) -> {formula, ...}
Retrieval at CPU scale: up to n formulae of db satisfying the request's family, element, stable and gap constraints (not novelty), in an order drawn from the generator, never `skip` (the training target).]=],
  ["genms.formula_prompt"] = [=[genms.formula_prompt(req [, retrieved]) -> string
The formula LM's prompt: "Q:<request>\n", then "E:<retrieved formulae>\n" when retrieval is on (these are known formulae, to avoid when the request says "not in the database"), then "A:". The completion is the formula and "\n".]=],
  ["genms.r_hi"] = [=[genms.r_hi(req, text, known) -> {ok, reason, formula, family}
The high-level heuristic R_hi on a proposed formula: it parses, is ABX3 in the requested family, holds the requested element, is charge-valid (crystal.composition_valid, SMACT's screen), is not in the known database and not in the request's exclusion list. ok = false carries the first failing reason.]=],
  ["genms.lm_batch"] = [=[genms.lm_batch(pairs, L) -> ids, targets
Training tensors of a character LM from {prompt, completion} pairs: ids (B, L) i32 right-padded, targets (B, L) the next character on the completion's positions and padding (genms.PAD) elsewhere, for T.cross_entropy(logits, targets, {ignore_index = genms.PAD}).]=],
  ["genms.lm_sample"] = [=[genms.lm_sample(model, prompt, n, {steps =, temperature = 1, top_k =, generator =, stop = "\n"}) -> {{text, logp}, ...}
n completions of one prompt from an nn.Llama with the KV cache (model:generate), each cut at the stop character, with logp the log-likelihood per token (the stop included): the length-normalised score by which R_hi ranks formulae.]=],
  ["genms.cif_body"] = [=[genms.cif_body(structure) -> string
The compact text the CIF-writing baseline LM writes: "a b c alpha beta gamma" then one "Symbol x y z" line per atom (fractional, 2 decimals). genms.body_to_cif wraps it into a P1 CIF.]=],
  ["genms.body_to_cif"] = [=[genms.body_to_cif(body) -> string | nil
The P1 CIF (pymatgen's layout) of a compact body, or nil when the body is not six cell numbers followed by 4-field atom lines.]=],
  ["genms.read_body"] = [=[genms.read_body(body) -> Structure | nil
A generated body read through genms.body_to_cif and crystal.read_cif; nil when either fails (CIF validity).]=],
  ["genms.lookup"] = [=[genms.lookup(pool, structure [, match_opts]) -> heat_ref | nil, record
The energy by lookup: the heat_ref of the entry of pool (a genms.database of K ∪ U) with the structure's formula that crystal.match finds equal (species-aware; DiffCSP's tolerances ltol 0.3, stol 0.5, angle_tol 10 by default), the closest by RMS when several match; nil when none does.]=],
  ["genms.algorithm1"] = [=[genms.algorithm1(formulae, W, L) -> plans
The paper's Algorithm 1 on precomputed draws: formulae = {{ok = R_hi passes, score = rank score (higher is better), structures = {{valid, energy}, ...}}, ...} (the H drawn). Keeps the top W R_hi-valid formulae by score, the first L structures of each, the lowest-energy valid one per formula (an invalid structure or one without an energy never wins), and returns the plans {fi, si, energy} sorted by energy, best first.]=],
  ["genms.template_formulae"] = [=[genms.template_formulae(req, cations, n [, generator]) -> {formula, ...}
The template baseline's formulae, with no model: n ABX3 formulae of the request's family, two distinct cations drawn uniformly from `cations` (the requested element always one of them) and one of the family's anion patterns in perov_5's grid. Novelty, exclusion lists, band gap and stability are not looked at.]=],
  ["genms.template_structures"] = [=[genms.template_structures(comp, a, n [, generator]) -> {Structure, ...}
n ideal cubic (Pm-3m) perovskites of an ABX3 composition with edge a: the two cations on (0,0,0) and (1/2,1/2,1/2) in random order, the anions on the face centres in random order (the template baseline's structures).]=],
  ["genms.fits_prototype"] = [=[genms.fits_prototype(structure, protos) -> boolean
pymatgen-style fit_anonymous (crystal.fit with anonymous = true, ltol 0.3, stol 0.5, angle 10) of a structure against protos[pattern], the prototype of its own anion pattern (e.g. protos.O2N); false when the formula is not ABX3 in perov_5's grid or has no prototype. Part of the request match, as in the paper's Table 1.]=],
  ["genms.bootstrap"] = [=[genms.bootstrap(xs [, {resamples = 2000, seed = 1}]) -> mean, lo, hi
Mean of the units xs and its 95% percentile bootstrap interval (resampling units with replacement, seeded); NaN for an empty list.]=],
}
