#!/bin/sh
# failpoints.sh - every named crash point (common/failpoint.h) is hit on
# the real stack: for each, the process that owns it is started with
# SAGA_FAILPOINTS=<point>=crash@3, must die there (exit status 86, so the
# point was reached), and is restarted without it. After all of them every
# saga is terminal, no effect is applied twice or lost (units sold = sagas
# completed, the workers' own checks), and the outbox drains.
. "$(dirname "$0")/lib.sh"

P=fp$$
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 100000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-rich" --balance 100000000 >/dev/null ||
    fail "seed accounts"

# start_role ROLE [FAILPOINTS]: starts sagad, inventory or payment, armed
# with FAILPOINTS when given; sets PID_<ROLE>.
start_role() {
    case "$1" in
    sagad) cmd="$BIN/sagad" ;;
    inventory) cmd="$BIN/inventory-worker" ;;
    payment) cmd="$BIN/payment-worker" ;;
    esac
    if [ -n "${2:-}" ]; then
        spawn "$1" env SAGA_FAILPOINTS="$2" "$cmd"
    else
        spawn "$1" "$cmd"
    fi
    eval "PID_$1=$SPAWNED"
}

F="s.idempotency_key LIKE '$P-%'"
start_role inventory
start_role payment
PID_sagad=
total=0
for point in turn.after_begin turn.before_commit turn.after_commit turn.after_publish \
             worker.after_commit worker.after_reply; do
    case "$point" in turn.*) role=sagad ;; *) role=payment ;; esac
    eval "old=\$PID_$role"
    [ -z "$old" ] || stop_gracefully "$old"
    start_role "$role" "$point=crash@3"
    eval "victim=\$PID_$role"
    start_orders 15 "$P-$point" "$P" "$P-rich"
    total=$((total + 15))
    await_exit "$victim" 60
    [ "$EXIT_CODE" = 86 ] || fail "$point: $role did not crash at the point (exit status $EXIT_CODE)"
    start_role "$role"
    wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" \
        "$total" 120 "$point: not every saga finished after the crash"
    ok "$point: $role crashed there, restarted, all $total sagas terminal"
done

[ "$(violations "$F")" = 0 ] || fail "business invariants broken"
"$BIN/inventory-worker" check --prefix "$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "$P" >/dev/null || fail "payment-worker check"
[ "$(psql_q "SELECT sold FROM inventory.stock WHERE sku = '$P'")" = \
  "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" ] ||
    fail "units sold differ from completed sagas: an effect was applied twice or lost"
[ "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" = "$total" ] ||
    fail "a saga compensated although every participant could serve it"
ok "no effect lost or applied twice over $total sagas; worker checks pass"
wait_sql "SELECT count(*) FROM saga_outbox" 0 30 "outbox did not drain"
ok "outbox empty"
