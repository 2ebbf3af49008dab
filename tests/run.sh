#!/bin/sh
# run.sh [SUITE...] - the test runner behind `make test`.
#
# Suites, in order (default: all):
#   unit         the layering check (tests/layers/) and cmocka unit tests
#                of pure logic (build/tests/test_*)
#   valgrind     the unit tests again under valgrind memcheck
#   integration  cmocka (build/tests/it_*) and shell (tests/integration/*.sh)
#                tests against the real stack, which this script starts
#   asan         unit and integration tests built with ASan + UBSan (not
#                the chaos, perf, crash and install scripts: time, no checks)
#   fuzz         every libFuzzer target for FUZZ_BRIEF seconds (default 30)
# Every test is one program; its exit status decides. A summary line
# "N passed, N failed" closes the run; the exit code is non-zero on any failure.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
SUITES=${*:-unit valgrind integration asan fuzz}
LOGDIR=build/test-logs
mkdir -p "$LOGDIR"
passed=0
failed=0
failures=""

now() { date +%s; }

run_one() { # name, command...
    name=$1
    shift
    log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
    t0=$(now)
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        n=$(grep -Eo '\[  PASSED  \] [0-9]+' "$log" | awk '{s += $4} END {print s + 0}')
        extra=""
        [ "$n" -gt 0 ] && extra=" ($n cases)"
        echo "PASS $name$extra [$(($(now) - t0))s]"
    else
        failed=$((failed + 1))
        failures="$failures $name"
        echo "FAIL $name [$(($(now) - t0))s] - last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    /'
    fi
}

stack_up() {
    [ -n "${STACK_DONE:-}" ] && return 0
    sh tests/stack/stack.sh up || { echo "FAIL stack-up"; exit 1; }
    # shellcheck disable=SC1090
    . "${SAGA_STACK_DIR:-./.stack}/env"
    export SAGA_PG_DSN SAGA_KAFKA_BROKERS
    STACK_DONE=1
}

suite_unit() { # bindir
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "unit/$(basename "$t")${2:-}" "$t"
    done
}

suite_integration() { # bindir
    stack_up
    for t in "$1"/tests/it_*; do
        [ -x "$t" ] || continue
        SAGA_BIN="$1/bin" run_one "integration/$(basename "$t")${2:-}" "$t"
    done
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        [ "$(basename "$t")" = lib.sh ] && continue
        # Under the sanitizers, skip what only measures time or kills
        # processes on purpose: it adds minutes and no memory checking.
        case "${2:-}:$(basename "$t")" in
        *asan*:chaos_*|*asan*:*_perf.sh|*asan*:e2e_crash.sh|*asan*:install.sh) continue ;;
        # Go's own tests do not change with the C build; the conformance
        # checks of the C workers run under ASan in conformance.sh.
        *asan*:go_participant.sh) continue ;;
        esac
        SAGA_BIN="$1/bin" run_one "integration/$(basename "$t" .sh)${2:-}" sh "$t"
    done
}

for s in $SUITES; do
    echo "== $s"
    case "$s" in
    unit)
        run_one "unit/layers" sh tests/layers/check.sh
        run_one "unit/layers-selftest" sh tests/layers/selftest.sh
        suite_unit build
        ;;
    valgrind)
        for t in build/tests/test_*; do
            [ -x "$t" ] || continue
            run_one "valgrind/$(basename "$t")" valgrind -q --leak-check=full \
                --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$t"
        done
        ;;
    integration) suite_integration build ;;
    asan)
        make --no-print-directory asan >"$LOGDIR/asan-build.log" 2>&1 ||
            { echo "FAIL asan build"; tail -n 30 "$LOGDIR/asan-build.log"; failed=$((failed + 1)); continue; }
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        suite_unit build/asan " (asan)"
        suite_integration build/asan " (asan)"
        unset ASAN_OPTIONS UBSAN_OPTIONS
        ;;
    fuzz)
        bins=$(ls tests/fuzz/fuzz_*.c 2>/dev/null | sed 's|tests/fuzz/\(.*\)\.c|build/fuzz/\1|')
        if [ -n "$bins" ]; then
            # shellcheck disable=SC2086
            if make --no-print-directory $bins >"$LOGDIR/fuzz-build.log" 2>&1; then
                # shellcheck disable=SC2086
                run_one "fuzz/all (${FUZZ_BRIEF:-30}s each)" sh tests/fuzz/run.sh "${FUZZ_BRIEF:-30}" $bins
            else
                echo "FAIL fuzz build"
                tail -n 30 "$LOGDIR/fuzz-build.log"
                failed=$((failed + 1))
            fi
        fi
        ;;
    *) echo "unknown suite $s" >&2; exit 2 ;;
    esac
done

echo
[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
