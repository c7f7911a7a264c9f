# Tablewright's front door. `make run` and `make test` are all a fresh Debian
# machine needs; both install what is missing first (make deps).

BUILD      ?= build
NINJA      := $(shell command -v ninja 2>/dev/null)
GENERATOR  := $(if $(NINJA),-G Ninja,)
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-test build-tsan build-fuzz run test test-quick clean format windows-check \
	bench-deps bench-transform escapes-calibrate

all: build

deps:
	@scripts/deps.sh

# The everyday build: build/tablewright.
build: deps
	@cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The build the tests run: warnings are errors, ASan + UBSan on.
build-test: deps
	@cmake -S . -B build-test $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
		-DTW_WERROR=ON -DTW_SANITIZE=ON >/dev/null
	@cmake --build build-test -j $(JOBS)

# The threaded suites' build: ThreadSanitizer (it cannot share a build with
# ASan). Only what scripts/test.sh runs under it is built.
build-tsan: deps
	@cmake -S . -B build-tsan $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
		-DTW_WERROR=ON -DTW_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target tablewright test_db

# libFuzzer targets, built with clang.
build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
		-DTW_FUZZ=ON -DTW_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

run: build
	@$(BUILD)/tablewright run

test: build build-test build-tsan build-fuzz
	@scripts/test.sh

# Unit and integration tests only, without the fuzz runs.
test-quick: build-test
	@TW_TEST_QUICK=1 scripts/test.sh

# The escape suite's calibration: every attack with plain exec outside the
# sandbox, as the sandbox user, must do what it says (docs/sandbox.md).
escapes-calibrate: deps
	@TW_ESCAPES_UNSAFE=1 .venv/bin/python -m pytest -q tests/escapes

# Cross-compiles the Windows platform code with mingw-w64 and runs its smoke
# test under Wine (docs/windows.md says what that does and does not prove).
windows-check: deps
	@sh tests/win/run_smoke.sh

# The benchmarks' own venv (bench/requirements.txt: ADBC, SQLAlchemy),
# kept out of `make test`; bench-transform prints the data path's figures
# (bench/transform.py; ARGS=--skip-slow leaves out the minutes-long to_sql).
bench-deps: deps
	@if [ ! -x bench/.venv/bin/python ] || [ bench/requirements.txt -nt bench/.venv/.stamp ]; then \
		rm -rf bench/.venv && python3 -m venv bench/.venv && \
		bench/.venv/bin/pip install -q -r bench/requirements.txt && touch bench/.venv/.stamp; fi

bench-transform: build bench-deps
	@.venv/bin/python bench/transform.py $(ARGS)

format:
	@git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' | xargs clang-format -i

clean:
	rm -rf build build-test build-tsan build-fuzz
