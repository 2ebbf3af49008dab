#!/bin/sh
# run.sh - `make bench`: how fast sagad is at what it exists for, measured on
# this machine, with durable PostgreSQL and the real Kafka broker, sagad and
# both real workers. Never a pass/fail test: it prints and records figures.
#
# The benchmark gets a stack of its own (tests/stack/stack.sh with its own
# directory and ports, wiped at the start), so it is reproducible and cannot
# disturb, or be disturbed by, tests, the demo or chaos runs on the shared
# stack. Its PostgreSQL is configured exactly as the shared one (fsync and
# synchronous_commit on).
#
# Phases, each with its method printed as it runs:
#   floor     Kafka produce->consume round trip (kafka_rtt)
#   ceiling   the same business SQL without orchestration (direct)
#   single    one saga at a time on an idle system
#   ladder    open-loop rates rising until latency or backlog diverges
#   half      half of the highest sustained rate, BENCH_TRIALS trials (median)
#   fixed     100, 500 and 1000 sagas/s, BENCH_TRIALS trials each (median)
#   drain     a restarted sagad finishing BENCH_DRAIN_N in-flight sagas
#   ... and ladder, fixed and drain again with two sagad processes.
#   soak      (BENCH_SOAK=1) BENCH_SOAK_S seconds at a fixed rate, sagad RSS
#
# Knobs: BENCH_QUICK=1 (a ~3-4 minute smoke run), BENCH_SOAK=1,
# BENCH_SOAK_S, BENCH_SOAK_RATE, BENCH_TRIALS, BENCH_STEP_S, BENCH_DRAIN_N,
# BENCH_RATES (ladder), BENCH_FIXED, BENCH_KEEP_STACK=1 (leave the stack up),
# BENCH_CONFIGS (default "s1 s2"; empty with BENCH_SOAK=1 and BENCH_SOAK_RATE
# runs the soak alone, without a report),
# BENCH_DOC=0 (do not touch docs/benchmarks.md), SAGA_BENCH_PG_PORT,
# SAGA_BENCH_KAFKA_PORT.
#
# Output: build/bench/results.json, build/bench/latency.png,
# build/bench/results.md, process logs in build/bench/logs/, and the results
# section of docs/benchmarks.md (between its bench markers) with the chart
# copied to docs/benchmarks-latency.png.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/build/bin
TOOLS=$ROOT/build/tools
OUT=$ROOT/build/bench
LOGS=$OUT/logs
PARTS=$OUT/parts
STACK_DIR=$OUT/stack
PG_PORT=${SAGA_BENCH_PG_PORT:-55452}
KAFKA_PORT=${SAGA_BENCH_KAFKA_PORT:-59112}
CTRL_PORT=$((KAFKA_PORT + 1))

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    TRIALS=${BENCH_TRIALS:-1}
    STEP_S=${BENCH_STEP_S:-6}
    FIXED_S=${BENCH_FIXED_S:-6}
    DRAIN_N=${BENCH_DRAIN_N:-2000}
    SINGLE_N=20
    WARM_S=3
    RTT_N=300
    DIRECT_S=4
    RATES=${BENCH_RATES:-100 200 400 800 1600 2400}
else
    TRIALS=${BENCH_TRIALS:-3}
    STEP_S=${BENCH_STEP_S:-15}
    FIXED_S=${BENCH_FIXED_S:-15}
    DRAIN_N=${BENCH_DRAIN_N:-10000}
    SINGLE_N=200
    WARM_S=30
    RTT_N=1000
    DIRECT_S=10
    RATES=${BENCH_RATES:-100 200 300 400 500 750 1000 1500 2000 2500 3000 4000}
fi
FIXED=${BENCH_FIXED:-100 500 1000}
SOAK=${BENCH_SOAK:-0}
SOAK_S=${BENCH_SOAK_S:-600}
SKUS=1000
RUN=b$(date +%s)

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$LOGS" "$PARTS"
rm -f "$PARTS"/*.json "$LOGS"/*.log "$LOGS"/*.err

# --- processes -----------------------------------------------------------------

PIDS=""
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
        kill -9 "$p" 2>/dev/null
    done
    PIDS=""
    if [ "${BENCH_KEEP_STACK:-0}" != 1 ] && [ -n "${STACK_STARTED:-}" ]; then
        stack down >/dev/null 2>&1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stack() {
    SAGA_STACK_DIR=$STACK_DIR SAGA_PG_PORT=$PG_PORT SAGA_KAFKA_PORT=$KAFKA_PORT \
        SAGA_KAFKA_CONTROLLER_PORT=$CTRL_PORT sh "$ROOT/tests/stack/stack.sh" "$@"
}

# stop PID: SIGTERM, wait for it (graceful stops leave consumer groups
# cleanly, so the next process is not kept waiting for a session timeout).
stop() {
    kill -TERM "$1" 2>/dev/null
    n=0
    while kill -0 "$1" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
}

start_sagad() { # N -> SAGAD_PID
    "$BIN/sagad" --http.listen="127.0.0.1:$((KAFKA_PORT + 10 + $1))" \
        >>"$LOGS/sagad$1.log" 2>&1 &
    SAGAD_PID=$!
    PIDS="$PIDS $SAGAD_PID"
}

start_worker() { # inventory|payment -> WORKER_PID
    "$BIN/$1-worker" >>"$LOGS/$1.log" 2>&1 &
    WORKER_PID=$!
    PIDS="$PIDS $WORKER_PID"
}

psql_q() { psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX -c "$1"; }

# wait_sql SQL EXPECTED SECONDS: polls until SQL prints EXPECTED.
wait_sql() {
    end=$(($(date +%s) + $3))
    while :; do
        got=$(psql_q "$1" 2>/dev/null)
        [ "$got" = "$2" ] && return 0
        [ "$(date +%s)" -ge "$end" ] && { log "timed out waiting: wanted '$2', got '$got'"; return 1; }
        sleep 0.2
    done
}

# Nothing in flight: no running saga, empty outbox.
quiesce() {
    wait_sql "SELECT count(*) FROM sagas WHERE status IN ('RUNNING','CONFIRMING','COMPENSATING')" 0 "${1:-300}" &&
        wait_sql "SELECT count(*) FROM saga_outbox" 0 60
}

# Waits until every consumer group of the bench has its partitions, by
# running sagas end to end, then runs a discarded load so that the
# broker's JIT compiler and PostgreSQL's caches are warm before measuring
# (30 s at 200/s in a full run: after 10 s at 50/s the first rates of the
# ladder still ran at twice the latency they had a minute later).
warm_up() { # TAG
    "$TOOLS/loadgen" --prefix "$RUN-warm$1" --sku-prefix "$RUN" --account-prefix "$RUN" \
        --skus $SKUS --single 5 --gap-ms 50 >/dev/null 2>>"$LOGS/warmup.err" ||
        die "warm-up sagas did not complete (see $LOGS)"
    "$TOOLS/loadgen" --prefix "$RUN-warmload$1" --sku-prefix "$RUN" --account-prefix "$RUN" \
        --skus $SKUS --rate "${BENCH_WARM_RATE:-200}" --duration "$WARM_S" >/dev/null \
        2>>"$LOGS/warmup.err"
    quiesce 300
}

# --- set-up ------------------------------------------------------------------------

for t in loadgen direct kafka_rtt; do
    [ -x "$TOOLS/$t" ] || die "$TOOLS/$t missing: run make (make bench builds it)"
done
# The programs are copied first, so a rebuild during the run cannot mix
# two versions into one set of figures.
mkdir -p "$OUT/bin"
for b in sagad sagactl inventory-worker payment-worker; do
    [ -x "$BIN/$b" ] || die "$BIN/$b missing: run make"
    cp "$BIN/$b" "$OUT/bin/$b.tmp" && mv "$OUT/bin/$b.tmp" "$OUT/bin/$b"
done
BIN=$OUT/bin

log "wiping and starting the benchmark's own stack in $STACK_DIR (PostgreSQL :$PG_PORT, Kafka :$KAFKA_PORT)"
stack reset >"$LOGS/stack.log" 2>&1
STACK_STARTED=1
stack up >>"$LOGS/stack.log" 2>&1 || { cat "$LOGS/stack.log" >&2; die "stack did not start"; }
. "$STACK_DIR/env"
export SAGA_PG_DSN SAGA_KAFKA_BROKERS

[ "$(psql_q 'SHOW fsync')/$(psql_q 'SHOW synchronous_commit')" = on/on ] ||
    die "PostgreSQL must run with fsync and synchronous_commit on"

"$BIN/sagactl" migrate >>"$LOGS/setup.log" 2>&1 || die "sagactl migrate failed"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >>"$LOGS/setup.log" 2>&1 ||
    die "def apply failed"
"$BIN/inventory-worker" migrate >>"$LOGS/setup.log" 2>&1 || die "inventory migrate failed"
"$BIN/payment-worker" migrate >>"$LOGS/setup.log" 2>&1 || die "payment migrate failed"
# Stock and funds no run can exhaust, spread over $SKUS SKUs and accounts.
set --
i=0
while [ $i -lt $SKUS ]; do set -- "$@" --sku "$RUN-$i" --qty 1000000000000; i=$((i + 1)); done
"$BIN/inventory-worker" seed "$@" >>"$LOGS/setup.log" 2>&1 || die "seeding stock failed"
set --
i=0
while [ $i -lt $SKUS ]; do set -- "$@" --account "$RUN-$i" --balance 1000000000000000; i=$((i + 1)); done
"$BIN/payment-worker" seed "$@" >>"$LOGS/setup.log" 2>&1 || die "seeding funds failed"
set --

# --- machine -------------------------------------------------------------------------

kv() { printf '"%s": %s' "$1" "$(printf '%s' "$2" | jq -Rs .)"; }
{
    echo "{"
    kv cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"; echo ","
    echo "\"cores\": $(nproc),"
    echo "\"memory_gb\": $(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo),"
    kv kernel "$(uname -r)"; echo ","
    kv os "$(. /etc/os-release && echo "$PRETTY_NAME")"; echo ","
    kv postgresql "$(psql_q 'SHOW server_version')"; echo ","
    kv kafka "${SAGA_KAFKA_VERSION:-3.9.1} (KRaft, single broker)"; echo ","
    kv librdkafka "$(pkg-config --modversion rdkafka)"; echo ","
    kv disk_fsync "$(/usr/lib/postgresql/15/bin/pg_test_fsync -s 1 -f "$OUT/fsync.test" 2>/dev/null |
        awk '$1 == "fdatasync" {print $2 " fdatasync/s of 8 kB"; exit}')"; echo ","
    kv load_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"; echo ","
    kv command "make bench$( [ "$QUICK" = 1 ] && echo ' (BENCH_QUICK=1)')"; echo ","
    kv date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo ","
    # Edits under docs/ (this run rewrites docs/benchmarks.md itself) do not
    # change what is measured.
    kv commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo '+changes')"
    echo "}"
} >"$PARTS/machine.json"
rm -f "$OUT/fsync.test"
log "machine: $(jq -c . "$PARTS/machine.json")"

# --- floor and ceiling ---------------------------------------------------------------------

log "floor: $RTT_N Kafka produce->consume round trips with sagad's client settings"
"$TOOLS/kafka_rtt" --count "$RTT_N" >"$PARTS/floor.json" 2>>"$LOGS/kafka_rtt.err" ||
    die "kafka_rtt failed"
log "floor: $(jq -c .rtt_ms "$PARTS/floor.json")"

log "ceiling: inventory + payment RESERVE and CONFIRM with barrier rows, no orchestration, ${DIRECT_S}s each"
"$TOOLS/direct" --prefix "$RUN-direct128" --sku-prefix "$RUN" --account-prefix "$RUN" \
    --skus $SKUS --conns 2 --batch 128 --duration "$DIRECT_S" >"$PARTS/ceiling.json" \
    2>>"$LOGS/direct.err" || die "direct failed"
"$TOOLS/direct" --prefix "$RUN-direct1" --sku-prefix "$RUN" --account-prefix "$RUN" \
    --skus $SKUS --conns 2 --batch 1 --duration "$DIRECT_S" >"$PARTS/ceiling_unbatched.json" \
    2>>"$LOGS/direct.err" || die "direct failed"
"$TOOLS/direct" --prefix "$RUN-direct8" --sku-prefix "$RUN" --account-prefix "$RUN" \
    --skus $SKUS --conns 8 --batch 1 --duration "$DIRECT_S" >"$PARTS/ceiling_unbatched8.json" \
    2>>"$LOGS/direct.err" || die "direct failed"
log "ceiling: $(jq -r .orders_per_s "$PARTS/ceiling.json") orders/s (2 conns, 128 per transaction);" \
    "$(jq -r .orders_per_s "$PARTS/ceiling_unbatched.json") unbatched on 2 conns," \
    "$(jq -r .orders_per_s "$PARTS/ceiling_unbatched8.json") unbatched on 8"

# --- saga phases ------------------------------------------------------------------------------

SAGADS=""
WATCH=""
start_all() { # number of sagad processes
    start_worker inventory
    INV_PID=$WORKER_PID
    start_worker payment
    PAY_PID=$WORKER_PID
    SAGADS=""
    WATCH="--watch inventory=$INV_PID --watch payment=$PAY_PID"
    k=1
    while [ $k -le "$1" ]; do
        start_sagad $k
        SAGADS="$SAGADS $SAGAD_PID"
        WATCH="$WATCH --watch sagad$k=$SAGAD_PID"
        k=$((k + 1))
    done
}

stop_all() {
    for p in $SAGADS $INV_PID $PAY_PID; do stop "$p"; done
    SAGADS=""
}

# open_run NAME RATE SECONDS: one open-loop run; its JSON goes to parts/NAME.json.
open_run() {
    cap=$(awk -v r="$2" -v s="$3" 'BEGIN { printf "%d", 60 + r * s / 50 }')
    "$TOOLS/loadgen" --prefix "$RUN-$1" --sku-prefix "$RUN" --account-prefix "$RUN" \
        --skus $SKUS --rate "$2" --duration "$3" --drain-timeout "$cap" $WATCH \
        >"$PARTS/$1.json" 2>"$LOGS/$1.err"
    quiesce 300 || log "warning: sagas of $1 still in flight"
}

# Sustained: everything finished, nothing timed out into compensation, the
# last quarter's median latency within twice the first quarter's + 100 ms,
# and p99 under a second.
sustained() {
    jq -e '.unfinished == 0 and .compensated == 0 and
           .latency_q4_p50_ms <= 2 * .latency_q1_p50_ms + 100 and
           .latency_ms.p99 <= 1000' "$1" >/dev/null
}

brief() {
    jq -r '"\(.rate)/s: \(.throughput_overall) done/s, p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) max \(.latency_ms.max) ms, backlog at end \(.backlog_at_send_end), compensated \(.compensated), unfinished \(.unfinished)"' "$1"
}

# ladder TAG: rising rates until one is not sustained, then two bisection
# steps between the last sustained rate and the first that was not;
# MAX_RATE = the highest sustained offered rate.
ladder() {
    MAX_RATE=0
    FAIL_RATE=0
    for r in $RATES; do
        ladder_step "$1" "$r" || { FAIL_RATE=$r; break; }
    done
    for _ in 1 2; do
        [ "$FAIL_RATE" -gt 0 ] || break
        r=$(( (MAX_RATE + FAIL_RATE) / 20 * 10 ))
        [ "$r" -gt "$MAX_RATE" ] && [ "$r" -lt "$FAIL_RATE" ] || break
        ladder_step "$1" "$r" || FAIL_RATE=$r
    done
    log "ladder $1: highest sustained offered rate $MAX_RATE/s"
}

ladder_step() { # TAG RATE: 0 when sustained (and MAX_RATE raised)
    open_run "$1-ladder-$2" "$2" "$STEP_S"
    log "ladder $1 $(brief "$PARTS/$1-ladder-$2.json")"
    sustained "$PARTS/$1-ladder-$2.json" || return 1
    [ "$2" -gt "$MAX_RATE" ] && MAX_RATE=$2
    return 0
}

# fixed TAG: each rate of $FIXED, $TRIALS trials; rates the ladder showed
# beyond capacity run once (their latency is the backlog's, not the system's).
fixed() {
    for r in $FIXED; do
        t=1
        n=$TRIALS
        dur=$FIXED_S
        if [ "$r" -gt "$MAX_RATE" ]; then
            n=1
            dur=$(( FIXED_S < 10 ? FIXED_S : 10 ))
        fi
        while [ $t -le $n ]; do
            open_run "$1-fixed-$r-t$t" "$r" "$dur"
            log "fixed $1 trial $t $(brief "$PARTS/$1-fixed-$r-t$t.json")"
            t=$((t + 1))
        done
    done
}

# half TAG: $TRIALS trials at half of the highest sustained rate (rounded
# down to 10/s): how much latency has grown by half of capacity.
half() {
    r=$(( MAX_RATE / 20 * 10 ))
    [ "$r" -gt 0 ] || return 0
    t=1
    while [ $t -le "$TRIALS" ]; do
        open_run "$1-half-$r-t$t" "$r" "$FIXED_S"
        log "half $1 trial $t $(brief "$PARTS/$1-half-$r-t$t.json")"
        t=$((t + 1))
    done
}

# drain TAG N_SAGAD: with sagad stopped, BENCH_DRAIN_N sagas are started
# (saga_start(), as an application would in its own transactions) and wait
# in PostgreSQL; then sagad starts: how long until all of them are finished.
drain() {
    p="$RUN-$1-drain"
    for s in $SAGADS; do stop "$s"; done
    log "drain $1: sagad stopped; starting $DRAIN_N sagas through saga_start()"
    "$TOOLS/loadgen" --prefix "$p" --sku-prefix "$RUN" --account-prefix "$RUN" --skus $SKUS \
        --count "$DRAIN_N" --via-db >"$PARTS/$1-drain-start.json" 2>>"$LOGS/$1-drain.err" ||
        log "warning: drain set-up failed"
    since=$(date +%s%6N)
    SAGADS=""
    WATCH="--watch inventory=$INV_PID --watch payment=$PAY_PID"
    k=1
    while [ $k -le "$2" ]; do
        start_sagad $k
        SAGADS="$SAGADS $SAGAD_PID"
        WATCH="$WATCH --watch sagad$k=$SAGAD_PID"
        k=$((k + 1))
    done
    "$TOOLS/loadgen" --prefix "$p" --count "$DRAIN_N" --wait-only --since-us "$since" \
        --drain-timeout 900 $WATCH >"$PARTS/$1-drain.json" 2>>"$LOGS/$1-drain.err" ||
        log "warning: not every drained saga finished"
    log "drain $1: $(jq -r '"\(.finished) of \(.count) finished (\(.compensated) compensated) \(.drain_s) s after sagad started (first after \(.first_finish_s) s)"' "$PARTS/$1-drain.json")"
    quiesce 300
}

# A config of N sagad processes: ladder, fixed rates, drain.
config() { # TAG N
    start_all "$2"
    warm_up "$1"
    if [ "$1" = s1 ]; then
        log "single: $SINGLE_N sagas one at a time, 100 ms apart"
        "$TOOLS/loadgen" --prefix "$RUN-single" --sku-prefix "$RUN" --account-prefix "$RUN" \
            --skus $SKUS --single "$SINGLE_N" --gap-ms 100 >"$PARTS/single.json" \
            2>>"$LOGS/single.err" || log "warning: single run incomplete"
        log "single: $(jq -c .latency_ms "$PARTS/single.json")"
    fi
    ladder "$1"
    echo "$MAX_RATE" >"$PARTS/$1-max-rate.txt"
    half "$1"
    fixed "$1"
    drain "$1" "$2"
    stop_all
}

CONFIGS=${BENCH_CONFIGS-s1 s2}
for c in $CONFIGS; do
    case $c in
    s1) log "config s1: one sagad, inventory-worker, payment-worker (shipped defaults)"
        config s1 1 ;;
    s2) log "config s2: two sagad processes in one consumer group"
        config s2 2 ;;
    *) die "BENCH_CONFIGS: unknown config $c (s1, s2)" ;;
    esac
done

if [ "$SOAK" = 1 ]; then
    start_all 1
    warm_up soak
    [ -n "${BENCH_SOAK_RATE:-}" ] || [ -f "$PARTS/s1-max-rate.txt" ] ||
        die "the soak needs BENCH_SOAK_RATE when config s1 is not run"
    rate=${BENCH_SOAK_RATE:-$(awk -v m="$(cat "$PARTS/s1-max-rate.txt")" 'BEGIN { r = int(m * 0.7); print r < 50 ? 50 : r }')}
    log "soak: ${SOAK_S}s at $rate/s, sampling sagad's RSS every second"
    open_run soak "$rate" "$SOAK_S"
    log "soak $(brief "$PARTS/soak.json")"
    stop_all
fi

# --- results ---------------------------------------------------------------------------------------

if [ -z "$CONFIGS" ]; then
    log "BENCH_CONFIGS is empty: no report; the soak's figures are in $PARTS/soak.json"
    exit 0
fi

log "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
jq -n --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" '{load_at_end: $load}' >"$PARTS/end.json"
sh "$ROOT/tests/bench/report.sh" "$OUT" "$RUN" || die "report failed"
if [ "${BENCH_DOC:-1}" = 1 ]; then
    sh "$ROOT/tests/bench/doc.sh" "$OUT/results.md" "$ROOT/docs/benchmarks.md" &&
        cp "$OUT/latency.png" "$ROOT/docs/benchmarks-latency.png" &&
        log "updated docs/benchmarks.md and docs/benchmarks-latency.png"
fi
cat "$OUT/results.md"
