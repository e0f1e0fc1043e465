#!/usr/bin/env bash
# Crash safety: SIGKILL a SqliteStore writer at random moments, then check
# the file's integrity, that every batch reported committed survived, and
# that no batch is half there. Bounded: ITERATIONS kills.
# Usage: crash_test.sh CRASH_WRITER_BINARY [ITERATIONS]
set -u
WRITER=$1
ITERATIONS=${2:-25}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/preheat-crash-XXXXXX")
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
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
  "$WRITER" write "$DB" $((i * 100000)) > "$WORK/log" 2> "$WORK/err" &
  PID=$!
  # Let it commit at least once, then kill at a random point after that.
  for _ in $(seq 1 1000); do grep -q committed "$WORK/log" && break; sleep 0.01; done
  sleep "0.$(printf '%03d' $((RANDOM % 200)))"
  kill -9 "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  PID=
  if "$WRITER" check "$DB" "$WORK/log" > "$WORK/check" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: iteration $i (seed=$seed):"; cat "$WORK/check" "$WORK/err"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
