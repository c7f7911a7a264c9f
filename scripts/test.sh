#!/usr/bin/env bash
# `make test`: every test suite against real components. Starts a throwaway
# PostgreSQL cluster on a free port and stops it afterwards, pass or fail.
#   1. style: clang-format --dry-run --Werror, scripts/checksrc.sh, ruff
#   2. unit: ctest (cmocka) on the ASan+UBSan build
#   3. integration: pytest against the real binary (ASan+UBSan build, leak
#      detection on), the runner's tests (tests/runner, both cores), then
#      the escape suite (tests/escapes)
#   4. threads: the threaded suites again on the ThreadSanitizer build
#   5. Windows: the win/ platform code cross-compiled, smoke-tested in Wine
#   6. fuzz: each libFuzzer target for a bounded number of runs
# Every suite runs even when an earlier one fails; the exit status is
# non-zero when any failed. Set TW_TEST_QUICK=1 to skip the ThreadSanitizer
# and fuzz runs (make test-quick builds neither).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py=$root/.venv/bin/python
failed=()

section() { printf '\n==> %s\n' "$*"; }

# sanitizer_reports DIR PATTERN: the processes a test stops with SIGKILL, or
# whose exit status it does not check, can still have printed a sanitizer
# report to the *.stderr files the fixtures keep under pytest's basetemp.
# Prints the first report and fails when there is one.
sanitizer_reports() {
  local hits
  hits=$(grep -rlE --include='*.stderr' "$2" "$1" 2>/dev/null)
  [ -z "$hits" ] && return 0
  echo "sanitizer reports in: $hits"
  grep -m1 -A30 -E "$2" $(echo "$hits" | head -1)
  return 1
}

pgdir=$(mktemp -d /tmp/tw-test-pg.XXXXXX)
cleanup() { "$py" tests/pgcluster.py stop "$pgdir" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

section "starting a throwaway PostgreSQL cluster"
if ! TW_TEST_DATABASE_URL=$("$py" tests/pgcluster.py start "$pgdir"); then
  echo "could not start PostgreSQL; see $pgdir/postgres.log" >&2
  exit 1
fi
export TW_TEST_DATABASE_URL
echo "cluster up in $pgdir"

section "style"
files=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h')
if ! clang-format --dry-run --Werror $files; then failed+=(clang-format); fi
if ! scripts/checksrc.sh; then failed+=(checksrc); fi
if ! .venv/bin/ruff check --quiet tests sandbox bench; then failed+=(ruff); fi

section "unit tests (ctest, ASan+UBSan)"
if ! ctest --test-dir build-test --output-on-failure --timeout 300; then
  failed+=(ctest)
fi

section "integration tests (pytest, ASan+UBSan binary, leak detection on)"
basetemp=$(mktemp -d /tmp/tw-test-pytest.XXXXXX)
TW_TEST_BINARY=$root/build-test/tablewright "$py" -m pytest -q --basetemp="$basetemp" \
  tests/integration
rc=$?
if [ $rc -ne 0 ]; then failed+=("pytest(exit $rc)"); fi
# The runner's own tests start one real runner each and time nothing but
# CPU seconds: both cores at once.
"$py" -m pytest -q -n 2 -p no:cacheprovider tests/runner
rc=$?
if [ $rc -ne 0 ]; then failed+=("runner(exit $rc)"); fi
if ! sanitizer_reports "$basetemp" 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'; then
  failed+=(asan-reports)
fi
rm -rf "$basetemp"

section "escape suite (tests/escapes: every attack through the real stack)"
basetemp=$(mktemp -d /tmp/tw-test-escapes.XXXXXX)
TW_TEST_BINARY=$root/build-test/tablewright "$py" -m pytest -q --basetemp="$basetemp" tests/escapes
rc=$?
if [ $rc -ne 0 ]; then failed+=("escapes(exit $rc)"); fi
rm -rf "$basetemp"

if [ "${TW_TEST_QUICK:-0}" != 1 ]; then
  # The threaded suites on the ThreadSanitizer build (TW_TSAN): the connection
  # pool, the event streams, the worker's job slots and the preview runners. A subset, to keep the
  # added time to a few minutes; docs/development.md says what and why.
  section "threaded suites (ThreadSanitizer build)"
  if ! TSAN_OPTIONS="suppressions=$root/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure --timeout 300 -R '^db$'; then
    failed+=(tsan-ctest)
  fi
  basetemp=$(mktemp -d /tmp/tw-test-tsan.XXXXXX)
  tsan_pytest() {
    TW_TEST_BINARY=$root/build-tsan/tablewright "$py" -m pytest -q \
      --basetemp="$basetemp/$(basename "$1" .py)" "$@"
  }
  worker_slots=(test_job_runs_through_queued_running_succeeded_with_live_events
    test_outcomes_are_classified test_cancel_running_job_kills_its_tree_within_2s
    test_two_workers_fifty_jobs_each_runs_once test_graceful_stop_finishes_running_jobs
    test_graceful_stop_cancels_jobs_past_the_deadline)
  worker_slots=$(printf ' or %s' "${worker_slots[@]}")
  tsan_pytest tests/integration/test_jobs_api.py -k "events or stream" || failed+=(tsan-events)
  tsan_pytest tests/integration/test_security_jobs.py -k stream || failed+=(tsan-streams)
  tsan_pytest tests/integration/test_worker.py -k "${worker_slots# or }" || failed+=(tsan-worker)
  # The data path's reader thread beside the job's own, stopped by a cancel.
  tsan_pytest tests/integration/test_datapath.py \
    -k "round_trips or many_rows or cancel_mid_job or garbage" || failed+=(tsan-datapath)
  tsan_pytest tests/integration/test_preview.py \
    -k "validate_ok or too_many or after_the_rush or stop_leaves" || failed+=(tsan-preview)
  if ! sanitizer_reports "$basetemp" 'WARNING: ThreadSanitizer'; then failed+=(tsan-reports); fi
  rm -rf "$basetemp"
fi

section "Windows: mingw-w64 cross-compile and Wine smoke test"
if ! sh tests/win/run_smoke.sh > /tmp/tw-win-smoke.log 2>&1; then
  tail -40 /tmp/tw-win-smoke.log; failed+=(windows-smoke)
else
  grep -E '^not ok|passed' /tmp/tw-win-smoke.log
fi

if [ "${TW_TEST_QUICK:-0}" != 1 ]; then
  section "fuzzing (bounded runs)"
  for f in build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=tests/fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    runs=${TW_FUZZ_RUNS:-100000}
    # Every bcrypt input costs at least 2^4 key expansions.
    [ "$name" = fuzz_bcrypt ] && runs=$((runs / 10))
    if "$f" -runs="$runs" -max_len=4096 "$work" >"$work.log" 2>&1; then
      echo "$name: $(grep -E '^Done' "$work.log" | tail -1)"
    else
      echo "$name: FAILED"; tail -30 "$work.log"; failed+=("$name")
    fi
    rm -rf "$work" "$work.log"
  done
fi

section "summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test suites passed"
