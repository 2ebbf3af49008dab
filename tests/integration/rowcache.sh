#!/bin/sh
# rowcache.sh - sagad remembers the sagas it wrote (cache.sagas) and reads
# nothing for their next turn, yet never decides on a remembered state that
# someone else has changed (engine/rowcache.h, schema/009_saga_writer.sql).
#
# The payment worker is made slow (1.5 s per batch), so an order_checkout
# saga waits with its payment reserve in flight while sagad remembers it
# as RUNNING. Then an operator aborts it (sagactl, the engine path, in its
# own transaction): the saga is COMPENSATING in PostgreSQL, and sagad's
# memory is stale. The next reply sagad applies for it must be decided on
# the stored state: the saga ends COMPENSATED, no CONFIRM is ever sent,
# and sagad reports the turn it ran again.
#  - The same run with the writer check defeated (saga_unchanged
#    replaced by one that always agrees, in a database of its own) must
#    show the damage - the stale state written over the abort and a
#    CONFIRM sent - or the check above proves nothing.
#  - The status line counts the reads the cache saved.
. "$(dirname "$0")/lib.sh"
P=$$

# scenario DB [SQL]: one aborted saga under a sagad that remembered it
# (SQL, if given, run first); sets STATUS (the saga's status once it
# finished or a CONFIRM went out) and CONFIRMS (CONFIRM commands sent).
scenario() {
    own_database "$1"
    "$BIN/sagactl" migrate >/dev/null || fail "migrate"
    "$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
    "$BIN/inventory-worker" migrate >/dev/null || fail "inventory migrate"
    "$BIN/payment-worker" migrate >/dev/null || fail "payment migrate"
    "$BIN/inventory-worker" seed --sku "rc-$P" --qty 1000 >/dev/null || fail "seed stock"
    "$BIN/payment-worker" seed --account "rc-$P" --balance 1000000 >/dev/null || fail "seed account"
    [ -z "${2:-}" ] || psql_q "$2" >/dev/null || fail "set-up SQL"
    spawn "inventory-$1" "$BIN/inventory-worker"
    inv=$SPAWNED
    spawn "payment-$1" "$BIN/payment-worker" --delay-ms 1500ms
    pay=$SPAWNED
    spawn "sagad-$1" "$BIN/sagad" --log.status_interval=1s
    sd=$SPAWNED
    wait_for 60 "sagad's partitions assigned" grep -q 'sagad: assigned' "$LOGS/sagad-$1.log"
    id=$("$BIN/sagactl" start order_checkout --key "rc-$1" --json --input \
        "{\"order_id\":\"rc-$1\",\"sku\":\"rc-$P\",\"qty\":1,\"account\":\"rc-$P\",\"amount\":100}" |
        jq -r .id) || fail "sagactl start"
    wait_sql "SELECT count(*) FROM saga_history WHERE saga_id = '$id' AND kind = 'command'
        AND step = 'reserve_payment'" 1 30 "the payment reserve was not sent"
    "$BIN/sagactl" abort "$id" --reason "rowcache test" --yes >/dev/null || fail "sagactl abort"
    confirms="SELECT count(*) FROM saga_history WHERE saga_id = '$id'
        AND kind = 'command' AND action = 'CONFIRM'"
    wait_sql "SELECT status IN ('COMPLETED', 'COMPENSATED') OR ($confirms) > 0
        FROM sagas WHERE id = '$id'" t 60 "the aborted saga neither finished nor confirmed"
    STATUS=$(psql_q "SELECT status FROM sagas WHERE id = '$id'")
    CONFIRMS=$(psql_q "$confirms")
    wait_for 10 "a status line" grep -q 'sagas remembered' "$LOGS/sagad-$1.log"
    stop_gracefully "$sd"
    stop_gracefully "$inv"
    stop_gracefully "$pay"
}

scenario "saga_rowcache_$P"
[ "$STATUS $CONFIRMS" = "COMPENSATED 0" ] ||
    fail "an aborted saga sagad remembered ended $STATUS with $CONFIRMS CONFIRM commands sent"
grep -q 'running the turn again: a saga it remembered was changed meanwhile' \
    "$LOGS/sagad-saga_rowcache_$P.log" ||
    fail "sagad did not report running a turn again on the stored state"
ok "a remembered saga changed by an operator: the turn was run again on what is stored," \
    "the saga ended COMPENSATED, no CONFIRM sent"
grep 'sagas remembered' "$LOGS/sagad-saga_rowcache_$P.log" |
    grep -Eq ' [1-9][0-9]* of [0-9]+ saga reads saved' ||
    fail "the status line never showed a saga read saved by the cache"
ok "the status line counts the reads the cache saved"

scenario "saga_rowcache_off_$P" "CREATE OR REPLACE FUNCTION saga_unchanged(matched bigint,
    expected bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true'"
[ "$STATUS $CONFIRMS" != "COMPENSATED 0" ] ||
    fail "with the writer check defeated the saga still ended COMPENSATED without a CONFIRM:" \
        "the check above cannot tell"
ok "with the writer check defeated the stale state won ($STATUS, $CONFIRMS CONFIRM commands):" \
    "the check tells"

# --- a remembered saga made due by someone else -----------------------------
own_database "saga_rowcache_sig_$P"
cat >"$LOGS/approval.json" <<EOF
{"name": "approval", "version": 1, "input": {"sku": {"type": "string"}},
 "defaults": {"timeout_ms": 3000},
 "steps": [
  {"name": "approve_order", "signal": {"timeout_ms": 600000}},
  {"name": "stock", "participant": "inventory", "after": ["approve_order"],
   "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": 1}},
   "confirm": {"command": "commit_stock",
               "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
   "compensate": {"command": "release_stock",
                  "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}}]}
EOF
"$BIN/sagactl" migrate >/dev/null && "$BIN/inventory-worker" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$LOGS/approval.json" >/dev/null || fail "def apply approval"
"$BIN/inventory-worker" seed --sku "rcs-$P" --qty 10 >/dev/null || fail "seed stock"
spawn sagad-sig "$BIN/sagad" --log.status_interval=1s
sd=$SPAWNED
wait_for 60 "sagad's partitions assigned" grep -q 'sagad: assigned' "$LOGS/sagad-sig.log"
id=$("$BIN/sagactl" start approval --key "rcs-$P" --json --input "{\"sku\":\"rcs-$P\"}" |
    jq -r .id) || fail "sagactl start approval"
wait_sql "SELECT status FROM saga_steps WHERE saga_id = '$id' AND name = 'approve_order'" \
    RESERVING 30 "the approval step did not start waiting"
wait_for 10 "sagad remembering the waiting saga" \
    grep -q ' 1 sagas remembered' "$LOGS/sagad-sig.log"
"$BIN/sagactl" signal "$id" approve_order --approve >/dev/null || fail "sagactl signal"
# No inventory worker yet: the stock reserve the approval sent times out,
# and only sagad's wake-up, on a saga sagactl wrote last, can resend it.
wait_sql "SELECT reserve_attempts >= 2 FROM saga_steps WHERE saga_id = '$id' AND name = 'stock'" \
    t 30 "sagad did not resend the timed-out stock reserve of a saga sagactl wrote last"
spawn inventory-sig "$BIN/inventory-worker"
wait_sql "SELECT status FROM sagas WHERE id = '$id'" COMPLETED 30 \
    "the approved saga sagad remembered did not complete"
wait_for 10 "a status line after the saga completed" grep -q ' 0 sagas remembered' "$LOGS/sagad-sig.log"
timers=$(sed -n 's/.* \([0-9][0-9]*\) timers fired.*/\1/p' "$LOGS/sagad-sig.log" |
    awk '{ s += $1 } END { print s + 0 }')
[ "$timers" -lt 50 ] || fail "$timers wake-ups for one approved saga: empty turns on a stale state"
stop_gracefully "$sd"
ok "an approval that made a remembered saga due: it completed after $timers wake-ups"
