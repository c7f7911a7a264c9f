#!/bin/sh
# Cross-compiles the Windows platform layer and the Windows sandbox
# supervisor with mingw-w64 and runs their smoke tests under Wine:
# smoke_plat.exe (src/platform/win, and src/log for its file names) and
# smoke_sandbox.exe
# (src/sandbox/sandbox.c + sandbox_win.c, and how the child is isolated:
# the restricted-token fallback under Wine). Needs: apt-get install
# mingw-w64 wine64.
# Exit status: 0 when every check of both programs passed, non-zero when a
# build or a check failed; 77 when the tools are missing (the automake
# convention for "skipped"). Each program prints a final "N passed,
# N failed" line.
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
compile() { # compile SOURCE OBJECT
	$CC $FLAGS -Werror -c "$1" -o "$2"
}
libs=
for f in src/core/*.c src/platform/*.c src/platform/win/*.c; do
	o="$OUT/lib_$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
	compile "$f" "$o"
	libs="$libs $o"
done
compile tests/win/smoke.c "$OUT/smoke.o"
compile tests/win/smoke_plat.c "$OUT/smoke_plat.o"
# The log (src/log/log.c) is tested in a non-ASCII directory; it needs
# pthreads, which mingw-w64 has as winpthreads, linked in statically so
# that Wine needs no libwinpthread-1.dll.
compile src/log/log.c "$OUT/log_log.o"
# shellcheck disable=SC2086
$CC -o "$OUT/smoke_plat.exe" "$OUT/smoke_plat.o" "$OUT/smoke.o" "$OUT/log_log.o" $libs \
	-lws2_32 -lshell32 -static -lpthread
sbx=
for f in src/sandbox/sandbox.c src/sandbox/sandbox_win.c \
	tests/win/smoke_sandbox.c; do
	o="$OUT/sbx_$(basename "$f" .c).o"
	compile "$f" "$o"
	sbx="$sbx $o"
done
# shellcheck disable=SC2086
$CC -o "$OUT/smoke_sandbox.exe" $sbx "$OUT/smoke.o" $libs -lws2_32 -lshell32 -lpsapi -ladvapi32

status=0
for prog in smoke_plat smoke_sandbox; do
	echo "# $prog"
	if WINEDEBUG=${WINEDEBUG:--all} "$WINE" "$OUT/$prog.exe"; then
		:
	else
		echo "# $prog failed (exit status $?)"
		status=1
	fi
done
exit $status
