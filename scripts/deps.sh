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

# The sandbox venv. The worker runs the runner as TW_SANDBOX_USER (nobody)
# with `python -I -m tablewright_runner`, so the venv, the interpreter it
# points to and the runner must all be readable by that user:
# - the interpreter is Debian's /usr/bin/python3 (the python3 first on PATH
#   may be a pyenv build under /root, mode 700); python3 when it is missing;
# - when root's checkout is out of the sandbox user's reach (cloned under
#   /root), the venv lives in /var/lib/tablewright/sandbox-venv-<hash of the
#   checkout path> and sandbox/.venv is a symlink to it (the worker resolves
#   it with realpath() before exec);
# - the runner package is copied into the venv's site-packages (-I ignores
#   the current directory and PYTHONPATH), again whenever its files change.
sandbox_venv() {
  umask 022
  local py=/usr/bin/python3 link=sandbox/.venv dir stamp sum user
  [ -x "$py" ] || py=$(command -v python3)
  dir=$link
  if [ "$(id -u)" -eq 0 ]; then
    user=${TW_SANDBOX_USER:-nobody}
    if id "$user" >/dev/null 2>&1 && command -v runuser >/dev/null 2>&1 &&
      ! runuser -u "$user" -- test -r "$(pwd -P)/sandbox/requirements.txt" 2>/dev/null; then
      dir=/var/lib/tablewright/sandbox-venv-$(pwd -P | sha256sum | cut -c1-12)
    fi
  fi
  if [ "$dir" != "$link" ]; then
    mkdir -p "$(dirname "$dir")"
    chmod a+rx /var/lib/tablewright
    if [ "$(readlink "$link" 2>/dev/null)" != "$dir" ]; then
      rm -rf "$link"
      ln -s "$dir" "$link"
    fi
  elif [ -L "$link" ]; then
    rm -f "$link"
  fi
  sum=$( (sha256sum sandbox/requirements.txt; "$py" -c 'import sys; print(sys.executable, sys.version)') |
    sha256sum | cut -d' ' -f1)
  stamp="$dir/.requirements.sha256"
  if ! [ -x "$dir/bin/python" ] || ! [ -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "deps: creating $dir from sandbox/requirements.txt with $py"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$dir/bin/python" -m pip install -q -r sandbox/requirements.txt
    chmod -R a+rX "$dir"
    echo "$sum" > "$stamp"
  fi
  # The runner, copied (not linked: a symlink into an unreachable checkout
  # would not do) when its sources changed; byte-compiled here, since the
  # sandbox user cannot write __pycache__ there.
  local site src=sandbox/tablewright_runner
  [ -d "$src" ] || return 0
  site=$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  sum=$(cd "$src" && find . -name '*.py' -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$site/tablewright_runner/.source.sha256" 2>/dev/null)" != "$sum" ]; then
    echo "deps: installing the runner into $site"
    rm -rf "$site/tablewright_runner"
    mkdir "$site/tablewright_runner"
    (cd "$src" && find . -name '*.py' -type f -exec cp --parents {} "$site/tablewright_runner/" \;)
    "$dir/bin/python" -m compileall -q "$site/tablewright_runner" >/dev/null
    echo "$sum" > "$site/tablewright_runner/.source.sha256"
    chmod -R a+rX "$site/tablewright_runner"
  fi
}

if [ "$want_sandbox" = 1 ]; then
  (sandbox_venv)
fi

if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "deps: npm ci in web/"
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
