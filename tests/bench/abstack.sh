# abstack.sh - the private durable stack the interleaved comparisons
# (ab.sh, broker_ab.sh) measure on; sourced, not run. The caller sets ROOT,
# OUT and B (the bin directory whose sagactl and workers set it up), then
# calls abstack_up. Processes put in PIDS are stopped on exit, and the
# stack with them.

stack() { sh "$ROOT/tests/stack/stack.sh" "$@"; }
PIDS=""
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    stack down >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# abstack_up DIR PG_PORT KAFKA_PORT PREFIX: wipes and starts the stack,
# migrates, defines order_checkout and seeds 100 SKUs and 100 accounts
# named PREFIX-0..99 with more than any run can use.
abstack_up() {
    export SAGA_STACK_DIR=$1 SAGA_PG_PORT=$2 SAGA_KAFKA_PORT=$3
    export SAGA_KAFKA_CONTROLLER_PORT=$(($3 + 1))
    stack reset >"$OUT/stack.log" 2>&1
    stack up >>"$OUT/stack.log" 2>&1 || { cat "$OUT/stack.log" >&2; exit 1; }
    . "$SAGA_STACK_DIR/env"
    export SAGA_PG_DSN SAGA_KAFKA_BROKERS
    "$B/sagactl" migrate >/dev/null && "$B/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null &&
        "$B/inventory-worker" migrate >/dev/null && "$B/payment-worker" migrate >/dev/null || exit 1
    skus="" accounts=""
    i=0
    while [ $i -lt 100 ]; do
        skus="$skus --sku $4-$i --qty 1000000000000"
        accounts="$accounts --account $4-$i --balance 1000000000000000"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086 # the seed arguments are words on purpose
    "$B/inventory-worker" seed $skus >/dev/null && "$B/payment-worker" seed $accounts >/dev/null ||
        exit 1
}
