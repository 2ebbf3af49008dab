#!/bin/sh
# demo.sh - `make demo`: sagad running real orders end to end.
#
# Brings the stack up, applies sagas/order_checkout.json, seeds stock and
# accounts, starts sagad and both workers, and runs its scenes: ordinary
# orders (some refused for want of stock or funds), a payment service that
# is down for a while (timeouts, retries, recovery), a compensation that
# gets stuck until an operator retries it, a saga deadline firing, an
# approval and a sub-saga (demo_flows.sh), a poison message and a
# reconciliation (demo_ops.sh). Then it prints a summary and one
# compensated saga's full timeline, and stops what it started (the stack
# stays up). Durable PostgreSQL throughout. Last, it starts the web console
# (sagactl serve) in the background and prints its URL; the console keeps
# running after the demo and stops with `make stack-down`.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=$ROOT/build/bin
sh tests/stack/stack.sh up >/dev/null
STACK=${SAGA_STACK_DIR:-$ROOT/.stack}
. "$STACK/env"
export SAGA_PG_DSN SAGA_KAFKA_BROKERS
LOG=$STACK/demo
mkdir -p "$LOG"
RUN=demo$(date +%s)
PIDS=""

say() { printf '\n\033[1m%s\033[0m\n' "$*" 2>/dev/null || printf '\n%s\n' "$*"; }
[ -t 1 ] || say() { printf '\n== %s\n' "$*"; }

stop_all() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=""
}
trap stop_all EXIT INT TERM

start_bg() { # name cmd...
    name=$1
    shift
    "$@" >>"$LOG/$name.log" 2>&1 &
    eval "PID_$name=\$!"
    PIDS="$PIDS $!"
}

q() { psql "$SAGA_PG_DSN" -qtAX -c "$1"; }

# wait_for SQL EXPECTED SECONDS: poll a condition with a deadline.
wait_for() {
    end=$(($(date +%s) + $3))
    until [ "$(q "$1")" = "$2" ]; do
        if [ "$(date +%s)" -ge "$end" ]; then
            echo "demo: gave up waiting for: $1 (wanted $2, got $(q "$1"))" >&2
            exit 1
        fi
        sleep 0.2
    done
}

order() { # key sku qty account amount
    "$BIN/sagactl" start order_checkout --key "$RUN-$1" \
        --input "{\"order_id\":\"$RUN-$1\",\"sku\":\"$2\",\"qty\":$3,\"account\":\"$4\",\"amount\":$5}" >/dev/null
}

id_of() { q "SELECT id FROM sagas WHERE idempotency_key = '$RUN-$1'"; }

say "1. Setting up: schema, the order_checkout definition, stock and accounts"
"$BIN/sagactl" migrate
"$BIN/sagactl" def apply sagas/order_checkout.json
"$BIN/inventory-worker" seed --sku "$RUN-widget" --qty 1000 --sku "$RUN-gadget" --qty 3 >/dev/null
"$BIN/payment-worker" seed --account "$RUN-alice" --balance 1000000 --account "$RUN-bob" --balance 1000 >/dev/null
echo "stock: 1000 x $RUN-widget, 3 x $RUN-gadget; accounts: $RUN-alice 10000.00, $RUN-bob 10.00"

say "2. Starting sagad, inventory-worker and payment-worker (logs in .stack/demo/)"
start_bg sagad "$BIN/sagad" --http.listen=127.0.0.1:0 --circuit.failures=4 --circuit.cooldown=2s
start_bg inventory "$BIN/inventory-worker" --http.listen 127.0.0.1:0
start_bg payment "$BIN/payment-worker" --http.listen 127.0.0.1:0

say "3. Thirty orders: 22 ordinary, 4 for the scarce gadget (stock 3, 2 each), 4 from bob who cannot pay"
i=1
while [ $i -le 22 ]; do order "w$i" "$RUN-widget" 1 "$RUN-alice" 2500; i=$((i + 1)); done
i=1
while [ $i -le 4 ]; do order "g$i" "$RUN-gadget" 2 "$RUN-alice" 9900; i=$((i + 1)); done
i=1
while [ $i -le 4 ]; do order "b$i" "$RUN-widget" 1 "$RUN-bob" 5000; i=$((i + 1)); done
wait_for "SELECT count(*) FROM sagas WHERE idempotency_key LIKE '$RUN-%'
          AND status IN ('COMPLETED', 'COMPENSATED')" 30 60
echo "all 30 finished: a gadget order that finds no stock, and bob's orders (card declined),"
echo "are compensated: the stock they reserved goes back."

say "4. The payment service goes down for a while: its circuit opens, orders wait, a probe closes it"
kill -TERM "$PID_payment"
wait "$PID_payment" 2>/dev/null || true
i=1
while [ $i -le 4 ]; do order "t$i" "$RUN-widget" 1 "$RUN-alice" 1200; i=$((i + 1)); done
wait_for "SELECT count(DISTINCT h.saga_id) FROM saga_history h JOIN sagas s ON s.id = h.saga_id
          WHERE s.idempotency_key LIKE '$RUN-t%' AND h.kind = 'timeout'" 4 60
echo "every one of the 4 orders has timed out waiting for payment (sagad runs with --circuit.failures=4)"
wait_for "SELECT state FROM saga_circuits WHERE participant = 'payment'" OPEN 30
echo "payment's circuit is open: no new RESERVE goes to payment, the orders wait for it"
echo "\$ sagactl stuck | head -1"
"$BIN/sagactl" stuck | head -1
echo "restarting payment-worker; after the 2 s cool-down the circuit half-opens: one waiting"
echo "order goes out as the probe (with none waiting, it simply closes)"
start_bg payment "$BIN/payment-worker" --http.listen 127.0.0.1:0
wait_for "SELECT state FROM saga_circuits WHERE participant = 'payment'" CLOSED 60
q "SELECT 'payment circuit CLOSED: ' || reason || ' (' || transitions || ' transitions)'
   FROM saga_circuits WHERE participant = 'payment'"
wait_for "SELECT count(*) FROM sagas WHERE idempotency_key LIKE '$RUN-t%' AND status = 'COMPLETED'" 4 60
echo "all 4 completed once the probe closed the circuit, each step applied once (idempotency keys)"

say "5. A stuck compensation: inventory-worker ignores COMPENSATE, bob orders again"
kill -TERM "$PID_inventory"
wait "$PID_inventory" 2>/dev/null || true
start_bg inventory "$BIN/inventory-worker" --http.listen 127.0.0.1:0 --ignore COMPENSATE
order stuck "$RUN-widget" 1 "$RUN-bob" 5000
STUCK=$(id_of stuck)
wait_for "SELECT count(*) FROM saga_history WHERE saga_id = '$STUCK' AND kind = 'timeout'
          AND action = 'COMPENSATE'" 1 60
echo "the compensation of saga $STUCK gets no answer; what an operator sees:"
echo "\$ sagactl stuck --threshold 3s"
"$BIN/sagactl" stuck --threshold 3s || true
echo "fixing the participant (restart without the fault), then:"
kill -TERM "$PID_inventory"
wait "$PID_inventory" 2>/dev/null || true
start_bg inventory "$BIN/inventory-worker" --http.listen 127.0.0.1:0
echo "\$ sagactl retry $STUCK"
"$BIN/sagactl" retry "$STUCK"
wait_for "SELECT status FROM sagas WHERE id = '$STUCK'" COMPENSATED 60
echo "saga $STUCK is COMPENSATED"

say "5a. A deadline: payment is down, an order started with --deadline 3s compensates"
kill -TERM "$PID_payment"
wait "$PID_payment" 2>/dev/null || true
echo "\$ sagactl start order_checkout --deadline 3s --tag order=$RUN-late ..."
"$BIN/sagactl" start order_checkout --key "$RUN-late" --deadline 3s --tag "order=$RUN-late" \
    --input "{\"order_id\":\"$RUN-late\",\"sku\":\"$RUN-widget\",\"qty\":1,\"account\":\"$RUN-alice\",\"amount\":700}"
LATE=$(id_of late)
wait_for "SELECT status FROM sagas WHERE id = '$LATE'" COMPENSATING 30
echo "the deadline passed before payment answered; the order is being undone (payment back up):"
start_bg payment "$BIN/payment-worker" --http.listen 127.0.0.1:0
wait_for "SELECT status FROM sagas WHERE id = '$LATE'" COMPENSATED 60
echo "\$ sagactl list --tag order=$RUN-late"
"$BIN/sagactl" list --tag "order=$RUN-late"
echo "\$ sagactl show $LATE | grep \"deadline of\""
"$BIN/sagactl" show "$LATE" | grep "deadline of"
. "$ROOT/examples/demo_flows.sh"
. "$ROOT/examples/demo_ops.sh"

say "6. Summary of this run"
psql "$SAGA_PG_DSN" -P footer=off -c "
  SELECT status, count(*) AS sagas,
         round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000)::numeric, 1) AS p50_ms,
         round(max(extract(epoch FROM finished_at - created_at) * 1000)::numeric, 1) AS max_ms
  FROM sagas WHERE idempotency_key LIKE '$RUN-%' GROUP BY status ORDER BY status"
stuck=$(q "SELECT count(*) FROM sagas WHERE idempotency_key LIKE '$RUN-%' AND stuck")
echo "stuck now: $stuck"
"$BIN/inventory-worker" check --prefix "$RUN"
"$BIN/payment-worker" check --prefix "$RUN"

say "7. The full story of one compensated order (bob, card declined)"
echo "\$ sagactl show $(id_of b1)"
"$BIN/sagactl" show "$(id_of b1)"

stop_all

say "8. The web console: every saga above as a picture"
# Detached from the demo (stdin, stdout and stderr elsewhere), so make
# returns at once; a console from an earlier demo is replaced. 8080 unless
# SAGA_CONSOLE_LISTEN says otherwise, any free port if that one is taken.
sh tests/stack/stack.sh console-down
start_console() {
    : >"$LOG/console.log"
    nohup "$BIN/sagactl" serve --listen "$1" </dev/null >>"$LOG/console.log" 2>&1 &
    echo $! >"$STACK/console.pid"
    end=$(($(date +%s) + 10))
    until grep -q '^console:' "$LOG/console.log"; do
        kill -0 "$(cat "$STACK/console.pid")" 2>/dev/null || return 1
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.1
    done
}
start_console "${SAGA_CONSOLE_LISTEN:-127.0.0.1:8080}" || start_console 127.0.0.1:0 ||
    { echo "demo: the console did not start: $(cat "$LOG/console.log")" >&2; exit 1; }
URL=$(sed -n 's/^console: \(http[^ ]*\) .*/\1/p' "$LOG/console.log")
echo "console: $URL  (pid $(cat "$STACK/console.pid"), log .stack/demo/console.log)"
echo "open it for the sagas, the stuck board (/stuck), one saga as a graph and timeline"
echo "(/sagas/$(id_of b1)) and the charts (/stats); make stack-down stops it."

say "Done. The stack is still up; look further with:"
echo "  . .stack/env"
echo "  build/bin/sagactl list --def order_checkout --limit 20"
echo "  build/bin/sagactl show ID        build/bin/sagactl stats --since 10m"
echo "  make stack-down                  # when finished"
