#!/bin/sh
# e2e_checkout.sh - sagas/order_checkout.json end to end with the real
# sagad, inventory-worker and payment-worker: completed orders, an order
# refused for want of stock, one refused by payment (declined), and the
# business invariants of both participants afterwards.
. "$(dirname "$0")/lib.sh"

P=e2e$$
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P-ok" --qty 100 --sku "$P-few" --qty 1 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-rich" --balance 100000 --account "$P-poor" --balance 50 \
    >/dev/null || fail "seed accounts"

spawn sagad "$BIN/sagad" --http.listen=off
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker"

start_orders 5 "$P-ok" "$P-ok" "$P-rich"
start_orders 2 "$P-few" "$P-few" "$P-rich"      # second one finds no stock
start_orders 1 "$P-poor" "$P-ok" "$P-poor"      # declined: inventory compensated

F="s.idempotency_key LIKE '$P-%'"
wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" 8 60 \
    "sagas did not finish"
[ "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" = 6 ] ||
    fail "expected 6 completed"
ok "8 sagas finished: 6 completed, 2 compensated"
[ "$(psql_q "SELECT s.status FROM sagas s WHERE idempotency_key = '$P-poor-1'")" = COMPENSATED ] ||
    fail "declined order not compensated"
[ "$(psql_q "SELECT count(*) FROM saga_steps st JOIN sagas s ON s.id = st.saga_id
      WHERE s.idempotency_key = '$P-poor-1' AND st.name = 'reserve_inventory'
      AND st.status = 'COMPENSATED'")" = 1 ] || fail "declined order: inventory not compensated"
ok "declined payment compensated the stock reservation"
[ "$(violations "$F")" = 0 ] || fail "business invariants broken"
ok "business invariants hold"
[ "$(psql_q "SELECT available || '/' || sold FROM inventory.stock WHERE sku = '$P-ok'")" = 95/5 ] ||
    fail "stock of $P-ok is not 95 available / 5 sold"
"$BIN/inventory-worker" check --prefix "$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "$P" >/dev/null || fail "payment-worker check"
ok "inventory-worker check and payment-worker check pass"
[ "$(psql_q "SELECT count(*) FROM saga_outbox")" = 0 ] || fail "outbox not empty"
ok "outbox empty"
