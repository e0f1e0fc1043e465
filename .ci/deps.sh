#!/usr/bin/env bash
# Installs what the build and tests need, idempotently: Debian packages that
# are missing (apt-get), then the npm packages of the web tests. Safe to run
# again: it does nothing when everything is there.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libsqlite3-dev sqlite3 nlohmann-json3-dev doctest-dev libbenchmark-dev
  libcurl4-openssl-dev libcpp-httplib-dev
  clang-14 libclang-rt-14-dev
  emscripten nodejs chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package conflicts with a nodejs that bundles its own npm
# (NodeSource's), so ask for it only when there is no npm command at all.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: all Debian packages present"
fi

# npm packages for the web tests (fake-indexeddb, playwright-core, vite),
# installed from the lock file when node_modules is missing or stale. (The
# package in web/ itself has no dependencies.)
root=$(cd "$(dirname "$0")/.." && pwd)
for dir in "$root/tests/web"; do
  if [ -f "$dir/package.json" ]; then
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
      echo "deps: npm install in ${dir#$root/}"
      (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
        else npm install --no-audit --no-fund --loglevel=error; fi)
      touch "$dir/node_modules"
    fi
  fi
done
