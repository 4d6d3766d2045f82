#!/usr/bin/env bash
# The REPL (driven through a pipe) prints results readably: plain and nested
# tables, shapes, FP8 format info, optimizers with their hyperparameters,
# models with parameter counts, generators; help() prints docstrings; and
# -e, piped scripts and scripts run by path see the same globals as the REPL.
# Usage: bash test_repl_print.sh PATH/TO/repro
set -u
BIN=$(readlink -f "${1:?usage: test_repl_print.sh PATH/TO/repro}")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0
fail() { fails=$((fails + 1)); echo "FAIL ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}: $*" >&2; }
check_eq() { # WHAT EXPECTED ACTUAL
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: expected [$2], actual [$3]"
}
check_has() { # WHAT NEEDLE HAYSTACK
  checks=$((checks + 1))
  case $3 in *"$2"*) ;; *) fail "$1: [$2] not in [$3]";; esac
}
repl() { printf '%s\n' "$@" | "$BIN" -i 2>&1; }

# plain tables: lists, records with sorted keys, nesting, strings quoted inside
check_eq "list" "{1, 2, 3}" "$(repl '{1, 2, 3}')"
check_eq "nested table" '{1, "two", {a = 1, b = {true, false}}, x = 0.1}' \
  "$(repl '{1, "two", {b = {true, false}, a = 1}, x = 0.1}')"
check_eq "empty table" "{}" "$(repl '{}')"
check_eq "keys that are not names" '{[1.5] = "a", ["b c"] = 2}' "$(repl '{["b c"] = 2, [1.5] = "a"}')"
check_eq "cycle" "{self = <cycle>}" "$(repl 't = {}' 't.self = t' 't')"
# a long table goes one entry a line
out=$(repl 'x = {}' 'for i = 1, 12 do x["key" .. i] = i * 1000 end' 'x')
check_has "long table, first line" "{
  key1 = 1000," "$out"
check_has "long table, last line" "  key9 = 9000,
}" "$out"
# shapes
check_eq "a shape" "{4, 8}" "$(repl 'T.zeros(4, 8):shape()')"
check_eq "several values" "{2, 3}	6	f32" "$(repl 'x = T.ones(2, 3)' 'x:shape(), x:numel(), x:dtype()')"
# tensors inside tables: small ones in full, others brief
check_eq "tensors in a table" "{a = tensor([1., 1.], shape={2}, dtype=f32), b = tensor{3,4} f32}" \
  "$(repl '{a = T.ones(2), b = T.ones(3, 4)}')"
# FP8 format info, as the README shows it
out=$(repl 'fp8.info("e4m3fn")')
check_has "fp8.info max" "  max = 448.0," "$out"
check_has "fp8.info min_subnormal" "  min_subnormal = 0.001953125," "$out"
check_has "fp8.info inf" "  inf = false," "$out"
check_has "fp8.info name" '  name = "e4m3fn",' "$out"
# optimizers with their hyperparameters
out=$(repl 'w = T.zeros({4, 4}, {requires_grad = true})' \
  'optim.soap({w}, {lr = 3e-3, betas = {0.95, 0.95}, weight_decay = 0.01, precondition_frequency = 10})')
check_has "soap" "repro.Optimizer: soap {lr = 0.003, betas = {0.95, 0.95}," "$out"
check_has "soap frequency" "precondition_frequency = 10," "$out"
check_has "soap count" "(1 tensor, 1 group, 0 steps)" "$out"
out=$(repl 'w = T.zeros({4, 4}, {requires_grad = true})' 'optim.adamw({w})')
check_eq "adamw" 'repro.Optimizer: adamw {lr = 0.001, betas = {0.9, 0.999}, eps = 1e-08, m_format = "fp32", v_format = "fp32", weight_decay = 0.01} (1 tensor, 1 group, 0 steps)' "$out"
# models, with parameter counts
check_eq "a linear" "Linear(8 -> 4, bias)  (36 params)  weight{4,8} bias{4}
total: 36 parameters" "$(repl 'nn.Linear(8, 4, {bias = true})')"
out=$(repl 'nn.Llama{vocab = 65, dim = 16, layers = 1, heads = 2}')
check_has "llama head line" "Llama(vocab=65, dim=16, layers=1, heads=2, ffn=48, mlp=swiglu, numerics=fp32)  (5.5K params)" "$out"
check_has "llama child" "  tok_emb: Embedding(65, 16)  (1.0K params)  weight{65,16}" "$out"
check_has "llama total" "total: 5456 parameters" "$out"
check_eq "a model inside a table" "{model = <nn.Linear 32 params>}" "$(repl '{model = nn.Linear(8, 4)}')"
# generators, and kit functions by name
check_eq "generator" "Generator(seed=3, offset=0)" "$(repl 'repro.Generator(3)')"
check_eq "a kit function" "<function tensor.randn>" "$(repl 'T.randn')"
# strings at the top level print as print prints them
check_eq "top-level string" "a b" "$(repl '"a b"')"

# help
out=$(repl 'help(T.randn)')
check_has "help(T.randn)" "T.randn(shape | d1, ... [, {generator =, requires_grad =}]) -> Tensor" "$out"
check_has "help(T.randn) description" "Standard normal values" "$out"
check_has "help 'optim.soap'" "optim.soap(params" "$(repl 'help "optim.soap"')"
check_has "help(opt) lists methods" "opt:step()" "$(repl 'help(optim.sgd({T.zeros(1)}))')"
check_eq "help of an unknown name: a message, nothing returned" "help: nothing is documented under 'nope' (try help() or help \"tensor\")
nil" "$(repl 'x = help "nope"' 'x')"

# -e, piped scripts and scripts by path: the same globals
expect="table	table	table	table	table	table	function"
probe='print(type(repro), type(T), type(nn), type(optim), type(fp8), type(plot), type(help))'
check_eq "-e globals" "$expect" "$("$BIN" -e "$probe" 2>&1)"
check_eq "piped script (-)" "$expect" "$(echo "$probe" | "$BIN" - 2>&1)"
check_eq "piped script (no argument)" "$expect" "$(echo "$probe" | "$BIN" 2>&1)"
echo "$probe" >"$TMP/s.lua"
check_eq "script by path" "$expect" "$("$BIN" "$TMP/s.lua" 2>&1)"
check_eq "REPL globals" "$expect" "$(echo "$probe" | "$BIN" -i 2>&1)"
check_eq "the README example under -e" "2" "$("$BIN" -e 'print(T.randn{2}:numel())' 2>&1)"
check_eq "piped README example" "2" "$(echo 'print(T.randn{2}:numel())' | "$BIN" - 2>&1)"
check_eq "T is repro.tensor" "true	true" "$("$BIN" -e 'print(T == repro.tensor, help == repro.help)' 2>&1)"
# a script's own locals shadow the globals as usual
printf 'local T = 5\nprint(T)\n' >"$TMP/shadow.lua"
check_eq "locals shadow globals" "5" "$("$BIN" "$TMP/shadow.lua" 2>&1)"

if [ "$fails" -gt 0 ]; then echo "test_repl_print: $fails of $checks checks failed" >&2; exit 1; fi
echo "test_repl_print: $checks checks passed"
