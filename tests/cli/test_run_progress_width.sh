#!/usr/bin/env bash
# The progress line fits the terminal: `parallm run --progress` under a
# pseudo-terminal of several widths never draws a progress line wider
# than width - 1 columns (so no redraw wraps and scrolls), and after the
# terminal is resized (SIGWINCH) the next lines fit the new width.
# Usage: test_run_progress_width.sh PATH_TO_PARALLM
. "$(dirname "$0")/run_lib.sh"
gen_input in.jsonl 12
gen_input long.jsonl 20

cat >pty_run.py <<'PY'
"""Runs argv[3:] on a pseudo-terminal argv[1] columns wide; when argv[2]
is not 0, resizes it to argv[2] columns after the first progress line.
Prints the width of each progress line drawn (escapes removed), one
'WIDTH COLUMNS' pair a line, and 'RESIZED' where the resize happened."""
import fcntl, os, pty, re, select, signal, struct, sys, termios, time

cols, new_cols, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]

def set_size(fd, c):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, c, 0, 0))

pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("COLUMNS", None)
    os.execv(argv[0], argv)
set_size(fd, cols)
os.kill(pid, signal.SIGWINCH)  # the child may have read the size first
data, resized, deadline = b"", -1, time.time() + 120
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 1.0)
    if not r:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
    if new_cols and resized < 0 and re.search(rb"\r\x1b\[1m|\r\d+/", data):
        resized = len(data)
        set_size(fd, new_cols)  # the kernel sends SIGWINCH to the child
os.waitpid(pid, 0)
text = data.decode("utf-8", "replace")
plain = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
pos = 0
for seg in re.split(r"[\r\n]", text):
    start = pos
    pos += len(seg) + 1
    seg = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", seg)
    if resized >= 0 and start >= resized:
        print("RESIZED")
        resized = len(data) + 1
    if re.match(r"\d+/(\d+|\?)", seg):
        print(len(seg), seg)
PY

for w in 120 80 60 40 30 24 20 12; do
    python3 pty_run.py "$w" 0 "$PLM" run in.jsonl -o "out$w.jsonl" \
        --provider mock --mock-latency 50ms -c 1 --progress >"lines$w.txt" ||
        fail "width $w: pty run failed"
    [ -s "lines$w.txt" ] || fail "width $w: no progress line drawn"
    while read -r n rest; do
        [ "$n" -le $((w - 1)) ] ||
            fail "width $w: a ${n}-column progress line: $rest"
    done <"lines$w.txt"
done
# At 120 columns nothing is dropped; at 20 the count still shows.
grep -q "in flight .* retries .* errors .* ETA" lines120.txt ||
    fail "wide terminal: $(cat lines120.txt)"
grep -q "^[0-9]* 12/12" lines20.txt || fail "20 columns: $(cat lines20.txt)"

# Resized from 100 to 30 columns mid-run: once a line fits the new width,
# every later one does, and one does (at the latest the final line).
python3 pty_run.py 100 30 "$PLM" run long.jsonl -o resize.jsonl \
    --provider mock --mock-latency 100ms -c 2 --progress >resize.txt ||
    fail "resize: pty run failed"
python3 - <<'PY' || fail "resize: $(cat resize.txt)"
lines = open("resize.txt").read().split("\n")
at = lines.index("RESIZED")
before = [int(l.split()[0]) for l in lines[:at] if l]
after = [int(l.split()[0]) for l in lines[at + 1:] if l]
assert before and max(before) > 29, before
first = next(i for i, n in enumerate(after) if n <= 29)
assert all(n <= 29 for n in after[first:]), after
PY
echo ok
