#!/usr/bin/env bash
# Installs what building, running and testing Tablewright needs, idempotently:
# Debian packages (only the missing ones, so a second run is fast), the test
# tools' Python venv (.venv) and the sandbox runner's venv (sandbox/.venv),
# each rebuilt only when its requirements file changes, and the web UI's npm
# packages once the UI exists. Usage: scripts/deps.sh [--no-sandbox]
set -euo pipefail
cd "$(dirname "$0")/.."

want_sandbox=1
[ "${1:-}" = "--no-sandbox" ] && want_sandbox=0

# --no-install-recommends keeps installs small, so whatever the build needs
# from a Recommends is named here: libclang-rt-dev holds the libFuzzer and
# sanitizer runtimes that clang only recommends.
packages=(
  build-essential cmake ninja-build pkg-config
  libmicrohttpd-dev libjansson-dev libpq-dev libsodium-dev libcmocka-dev
  postgresql postgresql-client
  clang clang-format libclang-rt-dev
  gcc-mingw-w64-x86-64 wine wine64
  python3 python3-venv python3-pip libcrypt-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# make_venv DIR REQUIREMENTS: (re)creates DIR when REQUIREMENTS changed.
make_venv() {
  local dir=$1 req=$2 stamp
  stamp="$dir/.requirements.sha256"
  local sum
  sum=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    return 0
  fi
  echo "deps: creating $dir from $req"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$dir/bin/python" -m pip install -q -r "$req"
  echo "$sum" > "$stamp"
}

make_venv .venv tests/requirements.txt
if [ "$want_sandbox" = 1 ]; then
  make_venv sandbox/.venv sandbox/requirements.txt
fi

if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "deps: npm ci in web/"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
