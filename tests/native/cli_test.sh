#!/usr/bin/env bash
# End-to-end tests of the `preheat` CLI against test_origin.
# Usage: cli_test.sh PREHEAT_BINARY TEST_ORIGIN_BINARY
set -u
PREHEAT=$1
ORIGIN=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/preheat-cli-XXXXXX")
ORIGIN_PID=
cleanup() {
  if [ -n "$ORIGIN_PID" ]; then kill "$ORIGIN_PID" 2>/dev/null; wait "$ORIGIN_PID" 2>/dev/null; fi
  chattr -i "$WORK/ro/cache.db" 2>/dev/null  # made immutable by the read-only checks
  rm -rf "$WORK"
}
trap cleanup EXIT

"$ORIGIN" > "$WORK/port" &
ORIGIN_PID=$!
for _ in $(seq 1 500); do [ -s "$WORK/port" ] && break; sleep 0.01; done
PORT=$(head -n1 "$WORK/port")
BASE="http://127.0.0.1:$PORT"
DB="$WORK/cache/cache.db"

passed=0
failed=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name"; fi
}
run() {  # run ARGS... ; sets OUT, ERR, RC
  "$PREHEAT" "$@" > "$WORK/out" 2> "$WORK/err"
  RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}

run get --db "$DB" "$BASE/r/one"
check "get: miss exits 0" [ "$RC" -eq 0 ]
check "get: body on stdout" [ "$OUT" = "body of /r/one" ]
check "get: state on stderr" grep -q "network miss status=200" "$WORK/err"

run get --db "$DB" "$BASE/r/one"
check "get again (new process): from the store" grep -q "store fresh" "$WORK/err"

run get --json --db "$DB" "$BASE/r/one"
check "get --json: one object" grep -q '"source":"store"' "$WORK/out"
check "get --json: body included" grep -q '"body":"body of /r/one\\n"' "$WORK/out"

run warm --db "$DB" "$BASE/r/two" "$BASE/r/three"
check "warm: exit 0" [ "$RC" -eq 0 ]
run ls --db "$DB"
check "ls: lists three URLs" [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 3 ]
check "ls: shows tags" [ "$(awk -F'\t' -v u="$BASE/r/two" '$1 == u { print $4 }' "$WORK/out")" = "t1" ]
run stat --json --db "$DB"
check "stat --json: three entries" grep -q '"entries":3' "$WORK/out"
run stat --db "$DB"
check "stat: table" grep -q "^entries *3" "$WORK/out"

# Output that cannot be written is a failure (exit 7, one line saying so),
# never exit 0 with a truncated or empty file.
full_output() {  # full_output NAME ARGS...: runs preheat ARGS with stdout on a full disk
  local name=$1; shift
  "$PREHEAT" "$@" > /dev/full 2> "$WORK/err"
  RC=$?
  check "$name > /dev/full: exit 7" [ "$RC" -eq 7 ]
  check "$name > /dev/full: says so" grep -q "cannot write output" "$WORK/err"
}
if [ -w /dev/full ]; then
  : > "$WORK/empty.jsonl"
  full_output "get" get --db "$DB" "$BASE/r/one"
  full_output "get --json" get --json --db "$DB" "$BASE/r/one"
  full_output "ls" ls --db "$DB"
  full_output "stat" stat --db "$DB"
  full_output "stat --json" stat --json --db "$DB"
  full_output "replay" replay "$WORK/empty.jsonl"
fi

# get --cache MODE (fetch()'s cache modes).
run get --db "$DB" --cache only-if-cached "$BASE/r/one"
check "get --cache only-if-cached: held, served" [ "$RC" -eq 0 ] && check "get --cache only-if-cached: from the store" grep -q "store" "$WORK/err"
run get --db "$DB" --cache only-if-cached "$BASE/r/never-fetched"
check "get --cache only-if-cached, nothing held: exit 8" [ "$RC" -eq 8 ]
run ls --db "$DB" "$BASE/r/never-fetched"
check "get --cache only-if-cached: nothing fetched" [ -z "$OUT" ]
run get --db "$DB" --cache reload "$BASE/r/one"
check "get --cache reload: from the network" grep -q "network miss" "$WORK/err"
run get --db "$DB" --cache no-cache "$BASE/r/one"
check "get --cache no-cache: validated with the origin (304)" grep -q "store revalidated status=200" "$WORK/err"
run get --db "$DB" --cache sometimes "$BASE/r/one"
check "get --cache with an unknown mode: usage error" [ "$RC" -eq 1 ]
run ls --db "$DB" --cache reload
check "--cache on another command: usage error" [ "$RC" -eq 1 ]
run get --db "$DB" --cache no-store "$BASE/r/kept-nowhere"
check "get --cache no-store: from the network, not stored" grep -q "network miss status=200 .*not-stored" "$WORK/err"
run ls --db "$DB" "$BASE/r/kept-nowhere"
check "get --cache no-store: nothing written" [ -z "$OUT" ]

# get --header: request directives (RFC 9111 5.2.1).
run get --db "$DB" -H "Cache-Control: max-age=0" "$BASE/r/one"
check "get -H 'Cache-Control: max-age=0': validated (304)" grep -q "store revalidated status=200" "$WORK/err"
run get --db "$DB" --header "Pragma: no-cache" "$BASE/r/one"
check "get --header 'Pragma: no-cache': validated (304)" grep -q "store revalidated status=200" "$WORK/err"
run get --db "$DB" -H "Cache-Control: no-store" "$BASE/r/header-no-store"
check "get -H 'Cache-Control: no-store': not stored" grep -q "network miss status=200 .*not-stored" "$WORK/err"
run get --db "$DB" -H "cache-control: only-if-cached" "$BASE/r/header-no-store"
check "get -H 'Cache-Control: only-if-cached', nothing held: exit 8" [ "$RC" -eq 8 ]
run get --db "$DB" -H "no colon here" "$BASE/r/one"
check "get -H without a colon: usage error" [ "$RC" -eq 1 ] && check "get -H without a colon: says so" grep -q "is not NAME: VALUE" "$WORK/err"
run get --db "$DB" -H "Bad Name: x" "$BASE/r/one"
check "get -H with a bad name: usage error" [ "$RC" -eq 1 ]
run stat --db "$DB" -H "Cache-Control: no-cache"
check "--header on another command: usage error" [ "$RC" -eq 1 ]

# get --json: a body that is not UTF-8 goes as base64, text as it is.
run get --json --db "$WORK/json.db" "$BASE/bin"
check "get --json, a binary body: body_base64" grep -q '"body_base64":"AP/+gGFiYw=="' "$WORK/out"
check "get --json, a binary body: no lossy body" bash -c "! grep -q '\"body\":' '$WORK/out'"
run get --json --db "$WORK/json.db" "$BASE/utf8"
check "get --json, a UTF-8 body: body as text" grep -q '"body":"caf' "$WORK/out"
check "get --json, a UTF-8 body: no body_base64" bash -c "! grep -q 'body_base64' '$WORK/out'"

run get --db "$DB" "$BASE/nostore"
check "no-store: served" [ "$OUT" = "secret" ]
run ls --db "$DB" "$BASE/nostore"
check "no-store: not stored" [ -z "$OUT" ]

run purge --db "$DB" --key "$BASE/r/one"
check "purge --key: one removed" [ "$OUT" = "removed 1 entries" ]
run purge --db "$DB" --tag t1
check "purge --tag: two removed" [ "$OUT" = "removed 2 entries" ]
run warm --db "$DB" "$BASE/r/four"
run purge --db "$DB" --all
check "purge --all" [ "$OUT" = "removed 1 entries" ]

run warm --db "$DB" "$BASE/r/five" "$BASE/r/six"
run purge --db "$DB" --prefix ""
check "purge --prefix '': every entry of the namespace" [ "$OUT" = "removed 2 entries" ]
run purge --db "$DB" --key ""
check "purge --key '': usage error" [ "$RC" -eq 1 ]
# An empty --db (an unset variable: --db "$DB") is a usage error; it used
# to mean the default database, which `purge --all` then emptied.
XDG_CACHE_HOME="$WORK/xdg-default" "$PREHEAT" warm "$BASE/r/kept" > /dev/null 2>&1
XDG_CACHE_HOME="$WORK/xdg-default" run purge --all --db ""
check "--db '': usage error" [ "$RC" -eq 1 ]
XDG_CACHE_HOME="$WORK/xdg-default" run stat --json
check "--db '': the default database untouched" grep -q '"entries":1' "$WORK/out"
# warm takes a list longer than the preheat lane holds (2 on the wire, 128
# queued): every URL is warmed, none fails with limit_reached.
urls=()
for i in $(seq 1 200); do urls+=("$BASE/r/many$i"); done
run warm --db "$WORK/many.db" "${urls[@]}"
check "warm of 200 URLs: exit 0" [ "$RC" -eq 0 ]
check "warm of 200 URLs: none refused" [ "$(grep -c limit_reached "$WORK/err")" -eq 0 ]
run stat --json --db "$WORK/many.db"
check "warm of 200 URLs: all stored" grep -q '"entries":200' "$WORK/out"
# ls and stat only read: a database file that cannot be written (a
# read-only file; as root, whom modes do not stop, an immutable one) is
# read, not refused with exit 5. Skipped where neither can be made.
ro_db="$WORK/ro/cache.db"
run warm --db "$ro_db" "$BASE/r/ro-one" "$BASE/r/ro-two"
read_only=no
if [ "$(id -u)" -ne 0 ]; then
  chmod 0444 "$ro_db" && read_only=yes
elif chattr +i "$ro_db" 2> /dev/null; then
  read_only=immutable
fi
if [ "$read_only" != no ]; then
  run ls --db "$ro_db"
  check "ls of a read-only database: exit 0" [ "$RC" -eq 0 ]
  check "ls of a read-only database: lists its URLs" [ "$(printf '%s\n' "$OUT" | grep -c /r/ro-)" -eq 2 ]
  run stat --json --db "$ro_db"
  check "stat of a read-only database: exit 0" [ "$RC" -eq 0 ]
  check "stat of a read-only database: its entries" grep -q '"entries":2' "$WORK/out"
  run purge --all --db "$ro_db"
  check "purge of a read-only database: exit 5" [ "$RC" -eq 5 ]
  if [ "$read_only" = immutable ]; then chattr -i "$ro_db"; else chmod 0644 "$ro_db"; fi
fi
for cmd in ls stat "purge --all"; do
  run $cmd --db "$DB" --namespace "bad ns"
  check "$cmd with an invalid namespace: exit 2" [ "$RC" -eq 2 ]
done

# replay: numbers are checked whole; flags before its name reach it.
: > "$WORK/empty.jsonl"
run replay "$WORK/empty.jsonl" --sessions 1
check "replay: exit 0" [ "$RC" -eq 0 ]
for bad in "--sessions abc" "--sessions 1xyz" "--seed banana" "--per-surface-max -3" \
           "--train-fraction abc" "--hover-intent-ms 5ms" "--write-trace $WORK/w.jsonl"; do
  run replay "$WORK/empty.jsonl" $bad
  check "replay $bad: usage error" [ "$RC" -eq 2 ]
done
run --json replay "$WORK/empty.jsonl"
check "--json replay: the replay's JSON" [ "$RC" -eq 0 ] && check "--json replay: JSON out" grep -q '^{' "$WORK/out"
# Unreadable input and an unsaved --write-trace: exit 2, as documented.
mkdir -p "$WORK/wiki"
printf 'A\nB\n' > "$WORK/wiki/articles.tsv"
printf 'A\tB\n' > "$WORK/wiki/links.tsv"
printf 'x\t1\t10\tA;B\t\n' > "$WORK/wiki/paths-dev.tsv"
run replay "$WORK/wiki"
check "replay of a directory: exit 2" [ "$RC" -eq 2 ]
run replay --prior "$WORK/wiki" "$WORK/empty.jsonl"
check "replay --prior of a directory: exit 2" [ "$RC" -eq 2 ]
if [ -w /dev/full ]; then
  run replay --wikispeedia "$WORK/wiki" --write-trace /dev/full
  check "replay --write-trace to a full disk: exit 2" [ "$RC" -eq 2 ]
  check "replay --write-trace to a full disk: says so" grep -q "cannot write /dev/full" "$WORK/err"
fi
run replay --wikispeedia "$WORK/wiki" --write-trace "$WORK/wiki/trace.jsonl"
check "replay --write-trace: saved" [ "$RC" -eq 0 ] && check "replay --write-trace: not empty" [ -s "$WORK/wiki/trace.jsonl" ]

# Errors: one line on stderr, documented exit codes.
run get --db "$DB" "$BASE/error"
check "HTTP error: exit 4" [ "$RC" -eq 4 ]
check "HTTP error: body still written" [ "$OUT" = "unavailable" ]
# An answer HTTP does not allow is the origin's fault (exit 4), not
# preheat's (6: internal error).
run get --db "$DB" "$BASE/bogus304"
check "304 to an unconditional request: exit 4" [ "$RC" -eq 4 ]
check "304 to an unconditional request: says so" grep -q "304 to an unconditional" "$WORK/err"
run warm --db "$DB" "$BASE/bogus304"
check "warm, 304 to an unconditional request: exit 4" [ "$RC" -eq 4 ]
run get --db "$DB" "not a url"
check "bad URL: exit 2" [ "$RC" -eq 2 ]
check "bad URL: one line" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
kill "$ORIGIN_PID"; wait "$ORIGIN_PID" 2>/dev/null; ORIGIN_PID=
run get --db "$DB" "$BASE/r/gone"
check "unreachable: exit 3" [ "$RC" -eq 3 ]
check "unreachable: one line" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
touch "$WORK/plain"
run get --db "$WORK/plain/cache.db" "$BASE/r/x"
check "unwritable db: exit 5" [ "$RC" -eq 5 ]
check "unwritable db: one line" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
run get --db "$DB" --bogus "$BASE/r/x"
check "unknown option: exit 1" [ "$RC" -eq 1 ]
for cmd in get warm stat ls purge; do
  run "$cmd" --help
  check "$cmd --help" grep -q "Exit codes" "$WORK/out"
done
run --help
check "--help" [ "$RC" -eq 0 ]
XDG_CACHE_HOME="$WORK/xdg" "$PREHEAT" stat > /dev/null 2>&1
check "default db under XDG_CACHE_HOME" [ -f "$WORK/xdg/preheat/cache.db" ]

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
