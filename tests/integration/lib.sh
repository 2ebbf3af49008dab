# lib.sh - shared helpers of the shell integration tests (sourced, not run).
#
# The runner (tests/run.sh) exports SAGA_PG_DSN, SAGA_KAFKA_BROKERS and
# SAGA_BIN (build/bin or build/asan/bin). Every process a test starts is
# recorded and killed on exit, so a failing test leaves nothing running.
# Waiting is always on a condition with a deadline (wait_sql), never a bare
# sleep.

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SAGA_BIN:-$ROOT/build/bin}
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac
# Logs of this run only (the asan suite keeps its own).
case "$BIN" in *asan*) LOGS=$ROOT/build/test-logs/$(basename "$0" .sh)-asan ;;
*) LOGS=$ROOT/build/test-logs/$(basename "$0" .sh) ;; esac
rm -rf "$LOGS"
mkdir -p "$LOGS"
PIDS=""
TEST_NAME=$(basename "$0" .sh)
# Every binary serves HTTP on a fixed default port; tests start several at
# once, so HTTP is off unless a test asks for it with --http.listen.
export SAGA_HTTP_LISTEN=off

# Stops with SIGTERM first, so consumers leave their groups cleanly and the
# next test's consumers are not kept waiting for a session timeout.
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    end=$(($(date +%s) + 15))
    for p in $PIDS; do
        while kill -0 "$p" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.05; done
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

ok() { echo "ok - $*"; }

psql_q() { psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX -c "$1"; }

# wait_sql SQL EXPECTED SECONDS [MESSAGE]: polls until SQL prints EXPECTED.
wait_sql() {
    end=$(($(date +%s) + $3))
    while :; do
        got=$(psql_q "$1" 2>/dev/null)
        [ "$got" = "$2" ] && return 0
        [ "$(date +%s)" -ge "$end" ] && fail "${4:-timed out}: wanted '$2', got '$got' from: $1"
        sleep 0.1
    done
}

# wait_for SECONDS MESSAGE CMD...: polls until CMD succeeds.
wait_for() {
    end=$(($(date +%s) + $1))
    msg=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && fail "timed out: $msg"
        sleep 0.1
    done
}

# spawn NAME CMD...: starts CMD in the background, logging to $LOGS/NAME.log;
# sets SPAWNED to its pid.
spawn() {
    name=$1
    shift
    "$@" >>"$LOGS/$name.log" 2>&1 &
    SPAWNED=$!
    PIDS="$PIDS $SPAWNED"
}

# await_exit PID SECONDS: waits for PID (a child) to exit, failing after
# SECONDS; sets EXIT_CODE.
await_exit() {
    end=$(($(date +%s) + $2))
    while kill -0 "$1" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && fail "process $1 did not stop within $2 s"
        sleep 0.05
    done
    wait "$1"
    EXIT_CODE=$?
}

# stop_gracefully PID: SIGTERM and wait; fails unless it exits 0 in time.
stop_gracefully() {
    kill -TERM "$1" 2>/dev/null
    await_exit "$1" 20
    [ "$EXIT_CODE" -eq 0 ] || fail "process $1 exited $EXIT_CODE on SIGTERM"
}

# free_port N: an HTTP port for the N-th process of this test, so processes
# of one test do not collide.
free_port() {
    echo $(($$ % 2000 + 20000 + ${1:-0}))
}

# violations SAGA_FILTER: business invariants across the coordinator and both
# workers for the sagas matched by SAGA_FILTER (a WHERE clause on sagas s).
# Prints the number of sagas that break one: a COMPLETED saga whose stock
# reservation is not confirmed or whose funds are not captured; a
# COMPENSATED saga with a live or confirmed reservation or hold.
violations() {
    psql_q "SELECT count(*) FROM sagas s
      LEFT JOIN inventory.reservations r ON r.saga_id = s.id::text
      LEFT JOIN payment.holds h ON h.saga_id = s.id::text
      WHERE ($1) AND (
        (s.status = 'COMPLETED' AND (r.status IS DISTINCT FROM 'confirmed'
                                     OR h.status IS DISTINCT FROM 'captured'))
        OR (s.status = 'COMPENSATED' AND (r.status IN ('reserved', 'confirmed')
                                          OR h.status IN ('held', 'captured'))))"
}

# start_orders N PREFIX SKU ACCOUNT: starts N order_checkout sagas with
# idempotency keys PREFIX-1..N.
start_orders() {
    i=1
    while [ "$i" -le "$1" ]; do
        "$BIN/sagactl" start order_checkout --key "$2-$i" --input \
            "{\"order_id\":\"$2-$i\",\"sku\":\"$3\",\"qty\":1,\"account\":\"$4\",\"amount\":100}" \
            >/dev/null || fail "sagactl start $2-$i"
        i=$((i + 1))
    done
}

# own_database NAME: runs the test in a database of its own (created now,
# dropped on exit) by pointing SAGA_PG_DSN at it.
own_database() {
    OWN_DB=$1
    ADMIN_DSN=$SAGA_PG_DSN
    psql_q "CREATE DATABASE $OWN_DB" || fail "cannot create database $OWN_DB"
    trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $OWN_DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
    export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$OWN_DB"
}

