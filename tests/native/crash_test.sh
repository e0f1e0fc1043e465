#!/usr/bin/env bash
# Crash safety: SIGKILL a SqliteStore writer at random moments, then check
# the file's integrity, that every batch reported committed survived, and
# that no batch is half there. Bounded: ITERATIONS kills.
# With WRITERS=2 two processes write to the same file at once (busy
# timeout, WAL), are killed at independent moments, and both are checked.
# Usage: crash_test.sh CRASH_WRITER_BINARY [ITERATIONS] [WRITERS]
set -u
WRITER=$1
ITERATIONS=${2:-25}
WRITERS=${3:-1}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/preheat-crash-XXXXXX")
PID=
PID2=
cleanup() {
  for p in $PID $PID2; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
DB="$WORK/crash.db"
seed=${CRASH_SEED:-$RANDOM}
RANDOM=$seed
echo "crash_test: seed=$seed (reproduce with CRASH_SEED=$seed)"

passed=0
failed=0
for i in $(seq 1 "$ITERATIONS"); do
  : > "$WORK/log"
  : > "$WORK/log2"
  "$WRITER" write "$DB" $((i * 100000)) > "$WORK/log" 2> "$WORK/err" &
  PID=$!
  if [ "$WRITERS" -ge 2 ]; then
    "$WRITER" write "$DB" $((i * 100000 + 50000)) > "$WORK/log2" 2> "$WORK/err2" &
    PID2=$!
  fi
  # Let each writer commit at least once (opening a large file includes a
  # quick_check), then kill at a random point after that.
  for _ in $(seq 1 3000); do grep -q committed "$WORK/log" && break; sleep 0.01; done
  if [ -n "$PID2" ]; then
    for _ in $(seq 1 3000); do grep -q committed "$WORK/log2" && break; sleep 0.01; done
  fi
  sleep "0.$(printf '%03d' $((RANDOM % 200)))"
  kill -9 "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  PID=
  if [ -n "$PID2" ]; then
    sleep "0.$(printf '%03d' $((RANDOM % 100)))"
    kill -9 "$PID2" 2>/dev/null
    wait "$PID2" 2>/dev/null
    PID2=
  fi
  ok=1
  "$WRITER" check "$DB" "$WORK/log" > "$WORK/check" 2>&1 || ok=0
  if [ "$WRITERS" -ge 2 ]; then
    "$WRITER" check "$DB" "$WORK/log2" >> "$WORK/check" 2>&1 || ok=0
    grep -q committed "$WORK/log2" || { echo "second writer never committed" >> "$WORK/check"; ok=0; }
  fi
  if [ "$ok" -eq 1 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: iteration $i (seed=$seed):"; cat "$WORK/check" "$WORK/err" "$WORK/err2" 2>/dev/null
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
