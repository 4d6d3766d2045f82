#!/usr/bin/env bash
# The REPL on a terminal (readline): driven through a pseudo-terminal with
# python3's standard pty module. Echoed expressions, multi-line input, an error
# that does not end the session, Ctrl-C interrupting a loop and discarding a
# half-typed line, Tab completion, Ctrl-D exiting with status 0, and the
# history file in $HOME. Skipped (exit 0 with a note) without python3.
# Usage: bash test_repl_pty.sh PATH/TO/repro
set -u
BIN=$(readlink -f "${1:?usage: test_repl_pty.sh PATH/TO/repro}")
if ! command -v python3 >/dev/null 2>&1; then
  echo "test_repl_pty: SKIPPED: python3 is not installed (test_repl.sh still covers the REPL via a pipe)"
  exit 0
fi
HOME_DIR=$(mktemp -d)
trap 'rm -rf "$HOME_DIR"' EXIT

python3 - "$BIN" "$HOME_DIR" <<'PY'
import os, pty, re, select, signal, sys, time

binary, home = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ, HOME=home, TERM="dumb", INPUTRC="/dev/null")
    env.pop("REPRO_THREADS", None)
    os.execve(binary, [binary], env)

buf = b""
failures = []

def read_until(pattern, timeout=20.0):
    """Read the terminal until the regex matches what came since the last call."""
    global buf
    deadline = time.time() + timeout
    rx = re.compile(pattern.encode())
    while True:
        m = rx.search(buf)
        if m:
            seen, buf = buf[:m.end()], buf[m.end():]
            return seen.decode(errors="replace")
        left = deadline - time.time()
        if left <= 0:
            failures.append("timed out waiting for %r; terminal shows %r" % (pattern, buf[-600:]))
            raise SystemExit(report())
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                failures.append("terminal closed waiting for %r; it showed %r" % (pattern, buf[-600:]))
                raise SystemExit(report())
            buf += chunk

def send(s):
    os.write(fd, s.encode())

def report():
    for f in failures:
        print("FAIL test_repl_pty: " + f, file=sys.stderr)
    if failures:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return 1
    return 0

PROMPT = r"(?m)^> $"
banner = read_until(PROMPT)
if "Ctrl-D exits" not in banner:
    failures.append("banner missing: %r" % banner)

send("1+1\r")
out = read_until(PROMPT)
if not re.search(r"\r\n2\r\n", out):
    failures.append("'1+1' did not print 2: %r" % out)

send("function sq(x)\r")
read_until(r">> $")
send("  return x * x\r")
read_until(r">> $")
send("end\r")
read_until(PROMPT)
send("sq(12)\r")
out = read_until(PROMPT)
if "144" not in out:
    failures.append("multi-line function: sq(12) gave %r" % out)

send("error('pty boom')\r")
out = read_until(PROMPT)
if "pty boom" not in out or "stack traceback" not in out:
    failures.append("error report: %r" % out)
send("print('still ' .. 'here')\r")
out = read_until(PROMPT)
if "still here" not in out:
    failures.append("session after an error: %r" % out)

# Ctrl-C interrupts a running loop and the REPL stays
send("n = 0; while true do n = n + 1 end\r")
time.sleep(0.5)
send("\x03")
out = read_until(PROMPT)
if "interrupted!" not in out:
    failures.append("Ctrl-C during a loop: %r" % out)
send("n > 0\r")
out = read_until(PROMPT)
if "true" not in out:
    failures.append("after Ctrl-C, n > 0 gave %r" % out)

# Ctrl-C at the prompt drops the half-typed line
send("this is not lua")
time.sleep(0.2)
send("\x03")
read_until(PROMPT)
send("6 * 7\r")
out = read_until(PROMPT)
if "42" not in out or "syntax" in out or "near" in out:
    failures.append("Ctrl-C at the prompt did not discard the line: %r" % out)

# REPL globals and Tab completion of a field
send("type(T), type(repro)\r")
out = read_until(PROMPT)
if not re.search(r"table\s+table", out):
    failures.append("REPL globals: %r" % out)
send("repro.get_thr\t")
time.sleep(0.3)
send("()\r")
out = read_until(PROMPT)
if not re.search(r"\r\n\d+\r\n", out):
    failures.append("Tab completion of repro.get_thr -> get_threads(): %r" % out)

# Ctrl-D exits with status 0 and saves the history
send("\x04")
deadline = time.time() + 10
status = None
while time.time() < deadline:
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid:
        status = st
        break
    try:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            os.read(fd, 4096)
    except OSError:
        pass
if status is None:
    failures.append("Ctrl-D did not end the REPL")
elif not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    failures.append("Ctrl-D: exit status %r" % status)

hist = os.path.join(home, ".repro_history")
if not os.path.exists(hist):
    failures.append("no history file at " + hist)
else:
    text = open(hist, errors="replace").read()
    if "sq(12)" not in text or "6 * 7" not in text:
        failures.append("history lacks the typed lines: %r" % text[-400:])

rc = report()
if rc == 0:
    print("test_repl_pty: all checks passed")
sys.exit(rc)
PY
rc=$?
[ $rc -eq 0 ] || exit 1

# an unwritable HOME: the REPL still works, the history is skipped silently
python3 - "$BIN" <<'PY'
import os, pty, select, sys, time
binary = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execve(binary, [binary], dict(os.environ, HOME="/nonexistent/home", TERM="dumb", INPUTRC="/dev/null"))
time.sleep(0.3)
os.write(fd, b"40 + 2\r")
time.sleep(0.3)
os.write(fd, b"\x04")
out, deadline, status = b"", time.time() + 10, None
while time.time() < deadline and status is None:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid:
        status = st
if status is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or b"42" not in out:
    print("FAIL test_repl_pty: unwritable HOME: status %r, output %r" % (status, out[-400:]), file=sys.stderr)
    sys.exit(1)
print("test_repl_pty: unwritable HOME ok")
PY
