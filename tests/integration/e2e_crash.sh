#!/bin/sh
# e2e_crash.sh - no saga is lost and no effect applied twice when sagad is
# killed with SIGKILL at random moments: 200 order_checkout sagas start
# while sagad is killed and restarted five times; then three sagad
# processes share 150 more and one is killed mid-run. Every saga must end
# terminal, the business invariants of both workers must hold, and the
# outbox must drain. SEED (default: the pid) replays the kill schedule.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$$}
echo "seed $SEED"
P=crash$$
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 100000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-rich" --balance 100000000 --account "$P-poor" \
    --balance 150 >/dev/null || fail "seed accounts"
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker"

# delays N: N pseudo-random delays in [0.2, 1.0) s from SEED.
delays() { awk -v n="$1" -v s="$SEED" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.2f\n", 0.2 + rand() * 0.8 }'; }

spawn sagad "$BIN/sagad" --http.listen=off
SAGAD=$SPAWNED
( start_orders 180 "$P-a" "$P" "$P-rich"; start_orders 20 "$P-b" "$P" "$P-poor" ) &
STARTER=$!
kills=0
for d in $(delays 5); do
    sleep "$d" # the fault schedule: when to kill, not a wait for a condition
    kill -9 "$SAGAD" 2>/dev/null && kills=$((kills + 1))
    wait "$SAGAD" 2>/dev/null
    spawn sagad "$BIN/sagad" --http.listen=off
    SAGAD=$SPAWNED
done
wait "$STARTER" || fail "starting sagas failed"
echo "sagad killed $kills times while 200 sagas started"

F="s.idempotency_key LIKE '$P-%'"
wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" 200 180 \
    "not every saga finished after the kills"
ok "all 200 sagas terminal after $kills kills"

# Scale-out: three coordinators, one killed mid-run.
spawn sagad2 "$BIN/sagad" --http.listen=off
spawn sagad3 "$BIN/sagad" --http.listen=off
VICTIM=$SPAWNED
start_orders 150 "$P-c" "$P" "$P-rich"
kill -9 "$VICTIM"
ok "killed one of three sagad processes"
wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" 350 180 \
    "not every saga finished after a sagad of three died"
ok "all 150 sagas of the three-coordinator run terminal"

[ "$(violations "$F")" = 0 ] || fail "business invariants broken"
[ "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" -ge 300 ] ||
    fail "fewer than 300 completed"
ok "business invariants hold for 350 sagas"
"$BIN/inventory-worker" check --prefix "$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "$P" >/dev/null || fail "payment-worker check"
ok "worker checks pass"
[ "$(psql_q "SELECT sold FROM inventory.stock WHERE sku = '$P'")" = \
  "$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")" ] ||
    fail "units sold differ from completed sagas: an effect was applied twice or lost"
ok "units sold = completed sagas (no double effect)"
wait_sql "SELECT count(*) FROM saga_outbox" 0 30 "outbox did not drain"
ok "outbox empty"
