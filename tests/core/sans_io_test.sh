#!/usr/bin/env bash
# The sans-IO rule: core/ reads no clock, starts no thread, opens no file or
# socket, touches no SQLite or Emscripten and draws no global randomness.
# Fails (exit 1) listing every offending line.
set -u
core_dir=${1:?usage: sans_io_test.sh CORE_DIR}
banned=(
  '#include <(thread|mutex|condition_variable|future|atomic|chrono|ctime|time\.h|random|fstream|iostream|cstdio|stdio\.h|filesystem|unistd\.h|fcntl\.h|csignal|signal\.h|pthread\.h)>'
  '#include <(sys|netinet|arpa)/'
  '#include [<"](sqlite3|curl/|emscripten)'
  '\bstd::(thread|mutex|async|random_device|rand|srand|chrono|filesystem|fstream|ifstream|ofstream|cout|cerr|cin)\b'
  '\b(rand|srand|time|clock|gettimeofday|clock_gettime|fopen|open|socket|connect|sleep|usleep|getenv|exit|abort)\s*\('
  '\b(sqlite3_|EM_JS|EM_ASM|emscripten_)'
  '\bthrow\b'
)
status=0
for pattern in "${banned[@]}"; do
  # Comments are allowed to name the things they avoid.
  hits=$(grep -rnE --include='*.h' --include='*.cc' "$pattern" "$core_dir" \
    | grep -vE '^[^:]+:[0-9]+:\s*//' || true)
  if [ -n "$hits" ]; then
    echo "sans-IO violation ($pattern):"
    echo "$hits"
    status=1
  fi
done
files=$(find "$core_dir" -name '*.cc' -o -name '*.h' | wc -l)
if [ "$files" -lt 10 ]; then
  echo "sans-IO check found only $files files under $core_dir: wrong folder?"
  status=1
fi
[ $status -eq 0 ] && echo "sans-IO: $files files clean"
exit $status
