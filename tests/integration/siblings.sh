#!/bin/sh
# siblings.sh - the replies to one turn's parallel commands are applied in
# one turn (batch.sibling_wait, engine/siblings.c).
#
# order_checkout confirms both steps at once. The payment worker is made
# 30 ms slower per batch (--delay-ms), so its CONFIRM reply always arrives
# well after the inventory worker's. Every event of a turn is recorded with
# the turn's time, so two `reply` history rows with the same time were
# applied by one turn.
#  - with batch.sibling_wait=100ms, sagas started one at a time: both
#    confirm replies of every saga share a turn;
#  - with batch.sibling_wait=0ms (the check shown to fail without the
#    feature): none does, because 30 ms separate them;
#  - every saga COMPLETED, both participants' books balance.
. "$(dirname "$0")/lib.sh"

P=$$
N=8
own_database "saga_siblings_$P"
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "sib-$P" --qty 1000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "sib-$P" --balance 1000000 >/dev/null || fail "seed account"
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker" --delay-ms 30ms

# run PREFIX: N sagas one at a time, each awaited until it is COMPLETED;
# prints how many had both CONFIRM replies applied by one turn.
run() {
    i=1
    while [ "$i" -le "$N" ]; do
        "$BIN/sagactl" start order_checkout --key "$1-$i" --input \
            "{\"order_id\":\"$1-$i\",\"sku\":\"sib-$P\",\"qty\":1,\"account\":\"sib-$P\",\"amount\":100}" \
            >/dev/null || fail "sagactl start $1-$i"
        wait_sql "SELECT status FROM sagas WHERE idempotency_key = '$1-$i'" COMPLETED 30 \
            "saga $1-$i did not complete"
        i=$((i + 1))
    done
    psql_q "SELECT count(*) FROM (SELECT h.saga_id FROM saga_history h
        JOIN sagas s ON s.id = h.saga_id AND s.idempotency_key LIKE '$1-%'
        WHERE h.kind = 'reply' AND h.action = 'CONFIRM'
        GROUP BY h.saga_id HAVING count(*) = 2 AND count(DISTINCT h.at) = 1) x"
}

# assigned N: waits until sagad has logged its N-th assignment. Sagas
# started with sagactl are dispatched by sagad's timers whether or not its
# reply partitions are assigned yet; replies that arrive before that wait
# for the assignment and land in one turn, with or without the feature.
assigned() {
    wait_for 60 "sagad's partitions assigned" \
        sh -c "[ \$(grep -c 'sagad: assigned' '$LOGS/sagad.log') -ge $1 ]"
}
spawn sagad "$BIN/sagad" --batch.sibling_wait=100ms
sagad=$SPAWNED
assigned 1
together=$(run on)
[ "$together" = "$N" ] || fail "sibling_wait 100ms: $together of $N sagas had both confirm replies in one turn"
ok "sibling_wait 100ms: all $N sagas applied both confirm replies in one turn"

stop_gracefully "$sagad"
spawn sagad "$BIN/sagad" --batch.sibling_wait=0ms
assigned 2
together=$(run off)
[ "$together" = 0 ] || fail "sibling_wait 0ms: $together of $N sagas still had one turn for both replies: the check cannot tell"
ok "sibling_wait 0ms: every saga needed two turns (the check tells the difference)"

[ "$(violations "s.idempotency_key LIKE 'o%-%'")" = 0 ] || fail "business invariants broken"
"$BIN/inventory-worker" check --prefix "sib-$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "sib-$P" >/dev/null || fail "payment-worker check"
ok "both participants' books balance"
