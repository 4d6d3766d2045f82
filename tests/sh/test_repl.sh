#!/usr/bin/env bash
# The REPL driven through a pipe (stdin not a terminal: no readline, no
# prompts, no history): expressions print, multi-line chunks continue, errors
# do not end the session, the kit's globals exist, SIGINT interrupts a loop.
# Usage: bash test_repl.sh PATH/TO/repro
set -u
BIN=$(readlink -f "${1:?usage: test_repl.sh PATH/TO/repro}")
TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
fails=0 checks=0
fail() { fails=$((fails + 1)); echo "FAIL ${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}: $*" >&2; }
check_eq() { # WHAT EXPECTED ACTUAL
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: expected [$2], actual [$3]"
}

# an expression is echoed
check_eq "echo 1+1 | repro -i" "2" "$(echo '1+1' | "$BIN" -i 2>&1)"
# several values, nil included; a statement prints nothing
check_eq "multiple values" "a	2	nil" "$(printf 'x = 5\n"a", 2, nil\n' | "$BIN" -i 2>&1)"
# print goes through the global print, so __tostring applies
check_eq "__tostring" "OBJ" \
  "$(echo 'setmetatable({}, {__tostring = function() return "OBJ" end})' | "$BIN" -i 2>&1)"

# a function defined across lines, then called; a table constructor across lines
out=$(printf 'function sq(x)\n  local y = x * x\n  return y\nend\nsq(7)\nt = {\n  1,\n  2,\n}\n#t\n' | "$BIN" -i 2>&1)
check_eq "multi-line function and table" "49
2" "$out"

# an error does not end the session; its message and traceback go to stderr
printf 'error("boom")\nprint("still here")\nlocal = 1\n6 * 7\n' | "$BIN" -i >"$TMP/out" 2>"$TMP/err"
check_eq "exit code after errors" "0" "$?"
check_eq "stdout after errors" "still here
42" "$(cat "$TMP/out")"
checks=$((checks + 1)); grep -qF "stdin:1: boom" "$TMP/err" || fail "stderr lacks 'stdin:1: boom': $(cat "$TMP/err")"
checks=$((checks + 1)); grep -qF "stack traceback" "$TMP/err" || fail "stderr lacks the traceback: $(cat "$TMP/err")"
checks=$((checks + 1)); grep -qF "<name> expected near" "$TMP/err" || fail "stderr lacks the syntax error: $(cat "$TMP/err")"

# an unfinished chunk at end of input is reported, not run
printf 'for i = 1, 3 do\n' | "$BIN" -i >"$TMP/out" 2>"$TMP/err"
checks=$((checks + 1)); grep -qF "<eof>" "$TMP/err" || fail "unfinished chunk: stderr is '$(cat "$TMP/err")'"

# REPL globals: repro and its submodules under short names
out=$(printf 'type(repro), type(T), type(nn), type(optim), type(fp8), type(plot)\nT == repro.tensor\nrepro._VERSION\n' | "$BIN" -i 2>&1)
check_eq "REPL globals" "table	table	table	table	table	table
true
repro $("$BIN" -e 'io.write(require("repro").version())')" "$out"

# a tensor prints as a tensor, through its __tostring
out=$(echo 'T.zeros(2, 3)' | "$BIN" -i 2>&1)
checks=$((checks + 1))
case $out in tensor*) ;; *) fail "T.zeros(2, 3) printed [$out], expected a tensor";; esac

# -i SCRIPT runs the script, then stays; the script's globals are visible
printf 'answer = 41\n' >"$TMP/s.lua"
check_eq "-i SCRIPT" "42" "$(echo 'answer + 1' | "$BIN" -i "$TMP/s.lua" 2>&1)"
# -e then -i
check_eq "-e CODE -i" "10" "$(echo 'z * 2' | "$BIN" -e 'z = 5' -i 2>&1)"

# without -i and without a terminal, stdin runs as one script
check_eq "stdin as a script" "3" "$(printf 'local a = 1\nprint(a + 2)\n' | "$BIN" 2>&1)"

# SIGINT interrupts a running computation and the session goes on
mkfifo "$TMP/in"
"$BIN" -i <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
PID=$!
exec 3>"$TMP/in"
echo 'print("started") while true do end' >&3
for _ in $(seq 100); do grep -q started "$TMP/out" 2>/dev/null && break; sleep 0.05; done
sleep 0.2
kill -INT "$PID"
echo 'print("alive after interrupt")' >&3
exec 3>&-
wait "$PID"; rc=$?; PID=
check_eq "exit code after SIGINT" "0" "$rc"
checks=$((checks + 1)); grep -qF "interrupted!" "$TMP/err" || fail "no 'interrupted!' on stderr: $(cat "$TMP/err")"
checks=$((checks + 1)); grep -qF "alive after interrupt" "$TMP/out" || fail "session ended at SIGINT: $(cat "$TMP/out")"

if [ "$fails" -gt 0 ]; then echo "test_repl: $fails of $checks checks failed" >&2; exit 1; fi
echo "test_repl: $checks checks passed"
