#!/usr/bin/env bash
# Checks the C sources for what compilers and clang-format miss (after
# curl's checksrc):
#   - the first #include of every .c file is "core/compat.h";
#   - no _WIN32 outside core/compat.h, src/platform/win and sandbox_win.c;
#   - no typedef'd structs;
#   - no assignment inside an if condition ("if ((x = f()))");
#   - every header compiles on its own.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
complain() { echo "checksrc: $*"; bad=1; }

for f in $(git ls-files 'src/*.c'); do
  first=$(grep -m1 -E '^#include' "$f")
  [ "$first" = '#include "core/compat.h"' ] ||
    complain "$f: the first include must be \"core/compat.h\" (found: $first)"
done

for f in $(git ls-files 'src/*.c' 'src/*.h' 'tests/unit/*.c'); do
  case "$f" in
    src/core/compat.h|src/platform/win/*|src/sandbox/sandbox_win.c) continue ;;
  esac
  if grep -n '_WIN32' "$f" >/dev/null; then
    complain "$f: _WIN32 belongs in src/platform/win only: $(grep -n '_WIN32' "$f" | head -1)"
  fi
done

for f in $(git ls-files 'src/*.c' 'src/*.h'); do
  if grep -nE 'typedef[[:space:]]+struct' "$f" >/dev/null; then
    complain "$f: no typedef'd structs: $(grep -nE 'typedef[[:space:]]+struct' "$f" | head -1)"
  fi
  if grep -nE '\bif \(\(?[A-Za-z_][A-Za-z0-9_>.-]* = [^=]' "$f" >/dev/null; then
    complain "$f: assignment inside if: $(grep -nE '\bif \(\(?[A-Za-z_][A-Za-z0-9_>.-]* = [^=]' "$f" | head -1)"
  fi
done

cflags="-std=c11 -Wall -Wextra -Werror -Isrc $(pkg-config --cflags libmicrohttpd jansson libsodium 2>/dev/null) -I$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)"
for h in $(git ls-files 'src/*.h'); do
  case "$h" in src/platform/win/*) continue ;; esac
  printf '#include "%s"\n' "${h#src/}" |
    cc $cflags -fsyntax-only -x c - 2>/tmp/checksrc.$$ ||
    complain "$h does not compile on its own: $(head -3 /tmp/checksrc.$$)"
done
rm -f /tmp/checksrc.$$
exit $bad
