#!/usr/bin/env bash
# Interchange with Python: a file saved by T.save is read by a reader written
# from the safetensors specification in plain Python (struct + json + array),
# and a file written by such a Python writer is read by T.load, bit for bit.
# (Debian 12 packages no python3-safetensors; the format is what is tested.)
set -euo pipefail
repro=${1:?usage: test_safetensors_python.sh path/to/repro}
command -v python3 >/dev/null || { echo "test_safetensors_python: python3 missing: 0 passed, 0 failed, 1 skipped"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_safetensors_python: FAIL: $*" >&2; exit 1; }

"$repro" -e "
local T = require('repro').tensor
T.save('$tmp/a.safetensors', {w = T.tensor{{1.5, -2, 3.25}, {0, 1e-8, -7}},
  ids = T.tensor({3, 1, 4, 1, 5}, {dtype = 'i32'}), codes = T.tensor({0, 127, 255}, {dtype = 'u8'}),
  v = T.tensor{{1, 2}, {3, 4}}:t()}, {step = '12'})
-- issue 21: BF16 / F16 storage and an FP8 quantized tensor with its scale_inv companion
local fp8 = require('repro').fp8
local x = T.tensor{1.0, -2.5, 448, 1/3}
T.save('$tmp/c.safetensors', {b = x, h = x, q = fp8.quantize(x, 'e4m3fn', {scale = 0.5})}, nil, {dtype = {b = 'bf16', h = 'f16'}})" || fail "T.save"

python3 - "$tmp" <<'PY' || fail "the Python reader/writer"
import array, json, struct, sys
d = sys.argv[1]
raw = open(d + "/a.safetensors", "rb").read()
n, = struct.unpack("<Q", raw[:8])
hdr = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
def get(name, code):
    e = hdr[name]
    a = array.array(code)
    a.frombytes(data[e["data_offsets"][0]:e["data_offsets"][1]])
    return e["dtype"], e["shape"], a.tolist()
assert hdr["__metadata__"] == {"step": "12"}, hdr["__metadata__"]
assert get("w", "f") == ("F32", [2, 3], [1.5, -2.0, 3.25, 0.0, array.array("f", [1e-8])[0], -7.0])
assert get("ids", "i") == ("I32", [5], [3, 1, 4, 1, 5])
assert get("codes", "B") == ("U8", [3], [0, 127, 255])
assert get("v", "f") == ("F32", [2, 2], [1.0, 3.0, 2.0, 4.0])   # a transposed view is saved as its values
ends = sorted(e["data_offsets"] for k, e in hdr.items() if k != "__metadata__")
assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:])) and ends[-1][1] == len(data)
raw = open(d + "/c.safetensors", "rb").read()
n, = struct.unpack("<Q", raw[:8])
hdr = json.loads(raw[8:8 + n].decode("utf-8"))
data = raw[8 + n:]
assert "__metadata__" not in hdr
assert {k: (e["dtype"], e["shape"]) for k, e in hdr.items()} == {
    "b": ("BF16", [4]), "h": ("F16", [4]), "q": ("F8_E4M3", [4]), "q_scale_inv": ("F32", [])}, hdr
assert get("b", "H")[2] == [0x3f80, 0xc020, 0x43e0, 0x3eab]          # bf16 bits (1/3 rounds to 0x3eab)
assert get("h", "H")[2] == [0x3c00, 0xc100, 0x5f00, 0x3555]          # f16 bits
assert get("q", "B")[2] == [0x30, 0xba, 0x76, 0x23]                  # e4m3fn codes of x * 0.5
assert get("q_scale_inv", "f")[2] == [2.0]                           # value = code value * scale_inv
# a file written the way the Python library writes one: 8-byte length, JSON padded with spaces to 8
t = {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
     "k": {"dtype": "I32", "shape": [3], "data_offsets": [16, 28]}, "__metadata__": {"format": "pt"}}
h = json.dumps(t, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
body = array.array("f", [0.5, -1.25, 3.0, 1e30]).tobytes() + array.array("i", [7, -8, 9]).tobytes()
open(d + "/b.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + body)
PY

out=$("$repro" -e "
local T = require('repro').tensor
local t, meta = T.load('$tmp/b.safetensors')
print(t.x:dtype(), table.concat(t.x:shape(), 'x'), t.x[1][1], t.x[1][2], t.x[2][1], string.format('%.9g', t.x[2][2]))
print(t.k:dtype(), t.k[1], t.k[2], t.k[3], meta.format)") || fail "T.load of the Python file"
expected=$'f32\t2x2\t0.5\t-1.25\t3.0\t1.00000002e+30\ni32\t7\t-8\t9\tpt'
[ "$out" = "$expected" ] || { printf 'got:\n%s\nexpected:\n%s\n' "$out" "$expected" >&2; fail "values differ"; }
echo "test_safetensors_python: 1 passed, 0 failed"
