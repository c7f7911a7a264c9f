#!/usr/bin/env bash
# Checks the C sources for what compilers and clang-format miss (after
# curl's checksrc):
#   - the first #include of every .c file is "core/compat.h";
#   - no _WIN32 outside core/compat.h, src/platform/win and sandbox_win.c;
#   - no typedef'd structs;
#   - no assignment inside an if condition ("if ((x = f()))");
#   - every header compiles on its own;
#   - an #include "module/..." goes only where the layering table below
#     allows it, and that table is acyclic.
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

# The layering: which modules each module of src/ may include (its own is
# always allowed). Derived from the includes of the tree as it was when the
# check was written; the graph is acyclic, and the check below keeps it so.
# core and platform know nothing above them, http knows neither db nor auth,
# the worker knows no HTTP, and only main.c (the module "main") puts the
# server and the worker together. A new edge is a design decision: add it
# here and to the table of docs/architecture.md, in the same commit
# (tests/integration/test_docs.py compares the two).
declare -A layers=(
  [core]=""
  [platform]="core"
  [config]="core platform"
  [log]="core platform"
  [db]="core platform"
  [sandbox]="core platform"
  [http]="core platform log"
  [auth]="core platform log db"
  [queue]="core db"
  [worker]="core platform config log db queue sandbox"
  [api]="core platform config log db http auth queue sandbox"
  [cli]="core platform config log db auth"
  [main]="core platform config log db http api cli worker"
)

# The table itself must stay acyclic: tsort reports a loop.
edges=""
for m in "${!layers[@]}"; do
  for d in ${layers[$m]}; do edges+="$d $m"$'\n'; done
done
if ! printf '%s' "$edges" | tsort >/dev/null 2>/tmp/checksrc-tsort.$$; then
  complain "scripts/checksrc.sh: the layering table has a cycle: $(head -3 /tmp/checksrc-tsort.$$ | tr '\n' ' ')"
fi
rm -f /tmp/checksrc-tsort.$$

for f in $(git ls-files 'src/*.c' 'src/*.h'); do
  rel=${f#src/}
  mod=${rel%%/*}
  [ "$mod" = "$rel" ] && mod=${rel%.*} # src/main.c is the module "main"
  if [ -z "${layers[$mod]+set}" ]; then
    complain "$f: module \"$mod\" is missing from the layering table in scripts/checksrc.sh"
    continue
  fi
  while IFS=: read -r line inc; do
    inc=${inc#*\"}
    inc=${inc%%\"*}
    dep=${inc%%/*}
    # A bare "name.h" is the including file's own directory.
    [ "$dep" = "$inc" ] && continue
    [ "$dep" = "$mod" ] && continue
    case " ${layers[$mod]} " in *" $dep "*) continue ;; esac
    complain "$f:$line: $mod may not include \"$inc\" (layering: $mod may include only ${layers[$mod]:-itself}; the table is in scripts/checksrc.sh)"
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
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
