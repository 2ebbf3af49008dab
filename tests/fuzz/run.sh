#!/bin/sh
# run.sh SECONDS BIN... - runs each libFuzzer binary for SECONDS.
#
# A target build/fuzz/fuzz_NAME starts from the seed corpus
# tests/fuzz/corpus/NAME/ (and the dictionary tests/fuzz/NAME.dict when
# there is one). The corpus is copied to a temporary directory first, so new
# inputs the fuzzer finds never pollute the repository. Crash inputs and the
# full log are kept under build/fuzz/ to reproduce a failure:
#   build/fuzz/fuzz_NAME build/fuzz/artifacts/NAME/crash-...
# One summary line per target; the exit status is non-zero when any target
# crashed, leaked, timed out, hit a sanitizer report or exceeded memory.
set -u

[ $# -ge 2 ] || { echo "usage: $0 SECONDS BIN..." >&2; exit 2; }
secs=$1
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# UBSan reports are recoverable by default: make them fatal, like ASan's.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
failed=0

for bin in "$@"; do
    base=$(basename "$bin")
    name=${base#fuzz_}
    outdir=$(dirname "$bin")
    logdir=$outdir/logs
    artdir=$outdir/artifacts/$name
    mkdir -p "$logdir" "$artdir"
    log=$logdir/$name.log
    work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_$name.XXXXXX")
    seeds=$ROOT/tests/fuzz/corpus/$name
    [ -d "$seeds" ] && cp -R "$seeds/." "$work/"
    dict=""
    [ -f "$ROOT/tests/fuzz/$name.dict" ] && dict="-dict=$ROOT/tests/fuzz/$name.dict"

    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$artdir/" $dict "$work" \
        >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    files=$(find "$work" -type f | wc -l)
    rm -rf "$work"

    if [ "$rc" -eq 0 ] && ! grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log"; then
        echo "fuzz_$name: ok, ${runs:-?} runs in ${secs}s, corpus $files files"
    else
        failed=1
        echo "fuzz_$name: FAILED (exit $rc) after ${runs:-?} runs; log $log, inputs in $artdir/"
        grep -E 'ERROR:|runtime error:|SUMMARY:|property violated' "$log" | head -n 5 | sed 's/^/    /'
    fi
done
exit "$failed"
