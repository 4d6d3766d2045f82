-- Docstrings of repro.util: small helpers for paths, files, configs, TSV, time.
return {
  ["util.shell_quote"] = [=[util.shell_quote(s) -> string
s single-quoted for /bin/sh, safe to paste into a command line.]=],
  ["util.run"] = [=[util.run(cmd) -> boolean
Run a shell command; true when it exited with status 0.]=],
  ["util.join"] = [=[util.join(...) -> string
Path pieces joined with single slashes ("a/", "b" -> "a/b"); empty pieces are skipped.]=],
  ["util.dirname"] = [=[util.dirname(path) -> string
The folder part of a path ("." when there is none).]=],
  ["util.basename"] = [=[util.basename(path) -> string
The last component of a path, trailing slashes ignored.]=],
  ["util.exists"] = [=[util.exists(path) -> boolean
Whether a file or folder exists at path.]=],
  ["util.isdir"] = [=[util.isdir(path) -> boolean
Whether path is a folder.]=],
  ["util.mkdir_p"] = [=[util.mkdir_p(path)
Create a folder and its parents (mkdir -p); raises naming the path on failure.]=],
  ["util.read_file"] = [=[util.read_file(path) -> string | nil, message
The whole file, or nil and a message.]=],
  ["util.write_file_atomic"] = [=[util.write_file_atomic(path, s)
Write s to a temporary file in the same folder, then rename it over path: readers (and a crash midway) see the old file or the whole new one. Raises on a full disk.]=],
  ["util.write_file"] = [=[util.write_file(path, s)
Write s to path (atomically, as util.write_file_atomic).]=],
  ["util.flatten"] = [=[util.flatten(tbl [, prefix]) -> {["a.b"] = value}
Nested tables flattened to dotted keys.]=],
  ["util.sorted_keys"] = [=[util.sorted_keys(t) -> {key, ...}
The keys of t, sorted (numbers before strings).]=],
  ["util.config_string"] = [=[util.config_string(tbl) -> string
key=value lines of a nested table (dotted keys, arrays as comma lists in brackets), sorted, so the same settings give the same bytes.]=],
  ["util.write_config"] = [=[util.write_config(path, tbl)
Write util.config_string(tbl) atomically to path.]=],
  ["util.read_config"] = [=[util.read_config(path) -> {["a.b"] = value} | nil, message
Read a key=value file back into a flat table (numbers and booleans converted).]=],
  ["util.tsv_number"] = [=[util.tsv_number(v) -> string
A number as written in the kit's TSV files: integers exact, floats "%.9g", NaN, Inf and -Inf spelled out.]=],
  ["util.read_tsv"] = [=[util.read_tsv(path) -> {columns = {...}, rows = {{...}, ...}} | nil, message
Read a TSV with a header line; numeric cells (and NaN, Inf) become numbers, lines starting with # are skipped.]=],
  ["util.timer"] = [=[util.timer() -> timer
A wall-clock timer: t:elapsed() returns the seconds since creation or t:reset().]=],
  ["util.stderr_is_tty"] = [=[util.stderr_is_tty() -> boolean
Whether standard error is a terminal (REPRO_PROGRESS=tty or lines overrides), which decides how progress lines are drawn.]=],
  ["util.format_duration"] = [=[util.format_duration(seconds) -> string
A duration as "42s", "3m05s" or "1h07m" ("?" when unknown).]=],
  ["util.mean_sd"] = [=[util.mean_sd(values) -> mean, sd
Mean and sample standard deviation (denominator n - 1) of a list: sd 0 for one value, NaN and NaN for none; non-finite values make both NaN.]=],
  ["util.deepcopy"] = [=[util.deepcopy(v) -> copy
A deep copy of plain tables (other values returned as they are).]=],
  ["util.source_dir"] = [=[util.source_dir() -> string
The folder holding the kit's data/ and experiments/: REPRO_SOURCE_DIR if set, else found from where repro/util.lua was loaded — the source tree's root, a LuaRocks tree's repro/share, or PREFIX/share/repro after cmake --install — so data load from any working directory.]=],
  ["util.write_exact"] = [=[util.write_exact(path, value [, who])
Write plain data (numbers, strings, booleans and tables of them) to path, atomically, as a Lua chunk that reads back to the same values bit for bit: floats in hexadecimal, integers as integers, NaN with its sign, infinities. Used to keep finished runs' results for --resume.]=],
  ["util.row_cosines"] = [=[util.row_cosines(a, b [, who]) -> {c1, c2, ...}
The cosine of row i of a against row i of b for every row, in doubles; a and b are {F, D} tensors or nested tables of the same shape; a zero row gives 0. The W1/W2 alignment of a SwiGLU (nn) and the FP8 experiments' statistics use it. Errors name who.]=],
  ["util.read_exact"] = [=[util.read_exact(path) -> value | nil, message
The value a file written by util.write_exact holds (its chunk runs with an empty environment), or nil and a message when the file is missing or unreadable.]=],
}
