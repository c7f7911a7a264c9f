#!/bin/sh
# Cross-compiles the Windows platform layer with mingw-w64 and runs its
# smoke test under Wine. Needs: apt-get install mingw-w64 wine64.
# Exit status: the smoke test's (0: all checks passed); 77 when the tools
# are missing (the automake convention for "skipped").
set -eu
cd "$(dirname "$0")/../.."
CC=${CC:-x86_64-w64-mingw32-gcc}
WINE=${WINE:-wine}
OUT=${OUT:-${TMPDIR:-/tmp}/tw_smoke_plat}
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$WINE" >/dev/null 2>&1
then
	echo "skipped: $CC or $WINE not installed"
	exit 77
fi
mkdir -p "$OUT"
FLAGS="-std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wwrite-strings -Wformat=2 -Isrc"
objs=
for f in src/core/*.c; do
	o="$OUT/core_$(basename "$f" .c).o"
	$CC $FLAGS -Werror -c "$f" -o "$o"
	objs="$objs $o"
done
for f in src/platform/win/*.c tests/win/smoke_plat.c; do
	o="$OUT/$(basename "$f" .c).o"
	$CC $FLAGS -Werror -c "$f" -o "$o"
	objs="$objs $o"
done
# shellcheck disable=SC2086
$CC -o "$OUT/smoke_plat.exe" $objs -lws2_32 -lshell32
WINEDEBUG=${WINEDEBUG:--all} "$WINE" "$OUT/smoke_plat.exe"
