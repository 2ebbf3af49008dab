#!/bin/sh
# ops_scaleout.sh - several instances of everything on one machine: two
# sagad, two inventory-workers, two payment-workers against one PostgreSQL
# and one Kafka. The load spreads over every instance (each one handles a
# share), and when one instance of each kind is killed with SIGKILL the
# survivors take its partitions and finish every saga.
. "$(dirname "$0")/lib.sh"

P=scale$$
"$BIN/sagactl" migrate >/dev/null || fail migrate
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 100000 >/dev/null || fail seed
"$BIN/payment-worker" seed --account "$P" --balance 100000000 >/dev/null || fail seed

for i in 1 2; do
    spawn "sagad$i" "$BIN/sagad" --log.format=text
    eval "SAGAD$i=\$SPAWNED"
    spawn "inventory$i" "$BIN/inventory-worker" --log.format=text
    eval "INV$i=\$SPAWNED"
    spawn "payment$i" "$BIN/payment-worker" --log.format=text
    eval "PAY$i=\$SPAWNED"
done

F="s.idempotency_key LIKE '$P-%'"
# Orders are started until every instance has handled some (the group needs
# a moment to give each member its partitions), at most 400.
n=0
spread() {
    for f in sagad1 sagad2; do grep -q "saga order_checkout COMPLETED" "$LOGS/$f.log" || return 1; done
    for f in inventory1 inventory2 payment1 payment2; do grep -q "info: OK saga_id" "$LOGS/$f.log" || return 1; done
}
while ! spread; do
    [ "$n" -ge 400 ] && fail "after $n orders some instance has still handled nothing"
    start_orders 20 "$P-a$n" "$P" "$P"
    n=$((n + 20))
    wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" "$n" 60
done
for f in sagad1 sagad2; do
    echo "  $f finished $(grep -c "saga order_checkout COMPLETED" "$LOGS/$f.log") sagas"
done
for f in inventory1 inventory2 payment1 payment2; do
    echo "  $f answered $(grep -c "info: OK saga_id" "$LOGS/$f.log") commands"
done
ok "$n sagas: the work spread over 2 sagad, 2 inventory-workers, 2 payment-workers"

kill -9 "$SAGAD1" "$INV1" "$PAY1"
ok "killed one sagad, one inventory-worker and one payment-worker"
start_orders 100 "$P-b" "$P" "$P"
total=$((n + 100))
wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" "$total" 120 \
    "the survivors did not finish every saga"
[ "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" = "$total" ] ||
    fail "some sagas were compensated"
[ "$(violations "$F")" = 0 ] || fail "business invariants broken"
"$BIN/inventory-worker" check --prefix "$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "$P" >/dev/null || fail "payment-worker check"
ok "the survivors took over: all $total sagas COMPLETED, invariants and checks hold"
