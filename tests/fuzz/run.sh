#!/usr/bin/env bash
# Builds every fuzz target with libFuzzer + ASan + UBSan (clang-14) and runs
# each for SECONDS (default 60), starting from its checked-in corpus. New
# inputs go to a scratch folder, so the checked-in corpus stays small; a
# crash leaves its reproducer in build/fuzz/ and fails the run.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"
mkdir -p "$out"
sources=$(ls "$root"/core/src/*.cc)
status=0
for target in "$root"/tests/fuzz/*_fuzz.cc; do
  name=$(basename "$target" .cc)
  corpus=${name%_fuzz}
  echo "== $name (${seconds}s)"
  clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined \
    -I "$root/core/include" "$target" $sources -o "$out/$name"
  mkdir -p "$out/corpus-$corpus"
  if ! (cd "$out" && "./$name" -max_total_time="$seconds" -print_final_stats=0 \
        "corpus-$corpus" "$root/tests/fuzz/corpus/$corpus" 2>&1 | tail -3); then
    status=1
  fi
done
exit $status
