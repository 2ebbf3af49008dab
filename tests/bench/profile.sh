#!/bin/sh
# profile.sh [RATE] [SECONDS] - where the time goes at a steady open-loop
# rate: CPU seconds per 1,000 sagas of every process on the box (sagad, the
# workers, their PostgreSQL backends, the other PostgreSQL processes, the
# Kafka broker, the load generator), PostgreSQL's own per-statement planning
# and execution time (pg_stat_statements), and, when perf is installed, the
# hottest symbols of the whole system.
#
# It runs on the benchmark's stack (build/bench/stack; started if needed)
# and turns pg_stat_statements on there for the duration (a restart of that
# PostgreSQL; fsync and synchronous_commit stay on), then turns it off again
# so `make bench` measures the stock configuration. A 15 s load at the same
# rate runs first, unmeasured, so the broker's JIT compiler is warm.
# Output: build/bench/profile/.
#
# For trying a fix before proposing it: PROFILE_SETUP_SQL is run first (e.g.
# an index change), PROFILE_SAGAD names another sagad binary (e.g. one built
# from a patched copy of engine/). PROFILE_WRAP is put in front of sagad's
# command line, e.g. PROFILE_WRAP="valgrind --tool=callgrind
# --callgrind-out-file=build/bench/callgrind.sagad.out" with a rate of 20.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${1:-100}
SECS=${2:-30}
OUT=$ROOT/build/bench/profile
STACK_DIR=$ROOT/build/bench/stack
PG_PORT=${SAGA_BENCH_PG_PORT:-55452}
KAFKA_PORT=${SAGA_BENCH_KAFKA_PORT:-59112}
BIN=$ROOT/build/bin
TOOLS=$ROOT/build/tools
RUN=p$(date +%s)
mkdir -p "$OUT"

log() { printf '%s profile: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
stack() {
    SAGA_STACK_DIR=$STACK_DIR SAGA_PG_PORT=$PG_PORT SAGA_KAFKA_PORT=$KAFKA_PORT \
        SAGA_KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) sh "$ROOT/tests/stack/stack.sh" "$@"
}
psql_q() { psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX -c "$1"; }

PIDS=""
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do
        n=0
        while kill -0 "$p" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
    done
    if [ -n "${SAGA_PG_DSN:-}" ]; then
        psql_q "ALTER SYSTEM RESET shared_preload_libraries" 2>/dev/null
        psql_q "ALTER SYSTEM RESET pg_stat_statements.track_planning" 2>/dev/null
        stack restart-pg >/dev/null 2>&1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stack up >"$OUT/stack.log" 2>&1 || { cat "$OUT/stack.log" >&2; exit 1; }
. "$STACK_DIR/env"
export SAGA_PG_DSN SAGA_KAFKA_BROKERS
psql_q "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
stack restart-pg >>"$OUT/stack.log" 2>&1
psql_q "ALTER SYSTEM SET pg_stat_statements.track_planning = on"
psql_q "SELECT pg_reload_conf()" >/dev/null
psql_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
"$BIN/sagactl" migrate >/dev/null && "$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null
"$BIN/inventory-worker" migrate >/dev/null && "$BIN/payment-worker" migrate >/dev/null
set --
i=0
while [ $i -lt 1000 ]; do set -- "$@" --sku "$RUN-$i" --qty 1000000000000; i=$((i + 1)); done
"$BIN/inventory-worker" seed "$@" >/dev/null
set --
i=0
while [ $i -lt 1000 ]; do set -- "$@" --account "$RUN-$i" --balance 1000000000000000; i=$((i + 1)); done
"$BIN/payment-worker" seed "$@" >/dev/null
set --

[ -n "${PROFILE_SETUP_SQL:-}" ] && psql_q "$PROFILE_SETUP_SQL"
# shellcheck disable=SC2086 # PROFILE_WRAP is a command line: split it
${PROFILE_WRAP:-} "${PROFILE_SAGAD:-$BIN/sagad}" --http.listen=off >"$OUT/sagad.log" 2>&1 &
SAGAD=$!
"$BIN/inventory-worker" >"$OUT/inventory.log" 2>&1 &
INV=$!
"$BIN/payment-worker" >"$OUT/payment.log" 2>&1 &
PAY=$!
PIDS="$SAGAD $INV $PAY"
"$TOOLS/loadgen" --prefix "$RUN-warm" --sku-prefix "$RUN" --account-prefix "$RUN" --single 5 \
    --gap-ms 50 >/dev/null 2>&1
"$TOOLS/loadgen" --prefix "$RUN-warmload" --sku-prefix "$RUN" --account-prefix "$RUN" \
    --rate "$RATE" --duration 15 >/dev/null 2>&1

# Every process of interest, named: PostgreSQL backends by the client they serve.
snapshot() { # FILE
    {
        echo "sagad $SAGAD"
        echo "inventory-worker $INV"
        echo "payment-worker $PAY"
        psql_q "SELECT 'pg:' || CASE WHEN application_name = '' THEN 'sagad'
                       ELSE application_name END || ' ' || pid
                FROM pg_stat_activity WHERE datname = current_database()
                AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        pgpid=$(head -n 1 "$STACK_DIR/pg/postmaster.pid")
        for c in $(pgrep -P "$pgpid"); do
            grep -q "$c\$" "$1.names" 2>/dev/null || echo "pg:other $c"
        done
        echo "kafka $(cat "$STACK_DIR/kafka.pid")"
    } >"$1.names"
    while read -r name pid; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        echo "$name $pid $t"
    done <"$1.names" >"$1"
}

psql_q "SELECT pg_stat_statements_reset()" >/dev/null
snapshot "$OUT/cpu0"
log "loading at $RATE sagas/s for ${SECS}s"
if command -v perf >/dev/null 2>&1; then
    perf record -a -g -F 499 -o "$OUT/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
    PERF=$!
fi
"$TOOLS/loadgen" --prefix "$RUN-load" --sku-prefix "$RUN" --account-prefix "$RUN" \
    --rate "$RATE" --duration "$SECS" --watch sagad=$SAGAD >"$OUT/load.json" 2>"$OUT/load.err"
snapshot "$OUT/cpu1"
[ -n "${PERF:-}" ] && wait "$PERF"
N=$(jq '.completed + .compensated' "$OUT/load.json")
HZ=$(getconf CLK_TCK)

{
    echo "# $N sagas at $RATE/s ($(jq -c '.latency_ms' "$OUT/load.json"))"
    echo "# load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "## CPU seconds per 1,000 sagas, by process"
    sort -k2 "$OUT/cpu0" >"$OUT/cpu0.sorted"
    sort -k2 "$OUT/cpu1" >"$OUT/cpu1.sorted"
    join -j 2 "$OUT/cpu0.sorted" "$OUT/cpu1.sorted" 2>/dev/null |
        awk -v n="$N" -v hz="$HZ" '{ d[$2] += ($5 - $3) / hz } END {
            for (k in d) { printf "%-24s %8.3f\n", k, d[k] * 1000 / n; t += d[k] }
            printf "%-24s %8.3f\n", "total", t * 1000 / n }' | sort -k2 -rn
    echo
    echo "## PostgreSQL statements by total time (plan + execute), ms per 1,000 sagas"
    psql "$SAGA_PG_DSN" -qX -c "SELECT round(((total_plan_time + total_exec_time) * 1000 / $N)::numeric, 1) AS ms_per_1000,
            round((calls * 1000.0 / $N)::numeric, 1) AS calls_per_1000,
            round((total_plan_time / greatest(calls, 1))::numeric, 3) AS plan_ms,
            round((total_exec_time / greatest(calls, 1))::numeric, 3) AS exec_ms,
            left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
        FROM pg_stat_statements ORDER BY total_plan_time + total_exec_time DESC LIMIT 20"
    if [ -f "$OUT/perf.data" ]; then
        echo "## perf: share of all samples by command"
        perf report -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
            grep '%' | head -12
        echo
        echo "## perf: hottest symbols in PostgreSQL processes"
        perf report -i "$OUT/perf.data" --no-children --comm postgres --sort sym --stdio \
            -g none 2>/dev/null | grep '%' | head -25
        echo
        echo "## perf: hottest symbols in sagad"
        perf report -i "$OUT/perf.data" --no-children --comm sagad --sort dso,sym --stdio \
            -g none 2>/dev/null | grep '%' | head -15
    fi
} >"$OUT/profile.txt" 2>&1
cat "$OUT/profile.txt"
