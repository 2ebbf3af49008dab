#!/bin/sh
# reconcile.sh - `sagactl reconcile` on the real stack.
#
# A COMPLETED and a COMPENSATED saga reconcile clean (0 mismatches, exit 0).
# Then each kind of disagreement is made on purpose and must be named with
# saga, step and participant: a saga resolved as compensated while the
# inventory still holds its reservation (reserved_not_compensated), a payment
# worker that is down (no_answer), a CONFIRM row written by hand into the
# inventory barrier of the compensated saga (confirmed_on_compensated and
# unknown_record), the payment CONFIRM row of the completed saga deleted
# (reserved_not_confirmed and not_recorded). `--repair --participant
# inventory` sends the missing COMPENSATE through the outbox, audited with
# the actor, and leaves the kinds it cannot fix alone; once the hand-made
# damage is undone and the worker is back, a re-run reports 0.
#
# Isolation: a database of its own and topics of its own (rec-<pid>.*).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"

P=$$
own_database saga_rec_$P
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
T=rec-$P

status_is() { [ "$(psql_q "SELECT status FROM sagas WHERE id = '$1'")" = "$2" ]; }
recorded() { # SCHEMA SAGA ACTION: the barrier row's outcome
    psql_q "SELECT outcome FROM $1.barrier WHERE saga_id = '$2' AND action = '$3'"
}
has_row() { [ "$(recorded "$1" "$2" "$3")" = "$4" ]; }
# has_mismatch FILE SAGA STEP PARTICIPANT KIND
has_mismatch() {
    jq -e --arg s "$2" --arg st "$3" --arg p "$4" --arg k "$5" \
        '.items[] | select(.saga_id == $s and .step == $st and .participant == $p and .kind == $k)' \
        "$1" >/dev/null || fail "no $5 for $2 $3 ($4) in: $(jq -c '[.items[] | [.saga_id[0:8], .step, .kind]]' "$1")"
}

spec() { # name funds_topic
    cat <<EOF
{
  "name": "$1", "version": 1,
  "input": {"sku": {"type": "string"}, "account": {"type": "string"}, "amount": {"type": "integer"}},
  "defaults": {"timeout_ms": 60000},
  "steps": [
    {"name": "stock", "participant": "inventory", "topic": "$T.inv",
     "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": 1}},
     "confirm": {"command": "commit_stock",
                 "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
     "compensate": {"command": "release_stock",
                    "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}},
    {"name": "funds", "participant": "payment", "topic": "$2", "after": ["stock"],
     "reserve": {"command": "hold_funds", "payload": {"account": "\${input.account}", "amount": "\${input.amount}"}},
     "confirm": {"command": "capture_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}},
     "compensate": {"command": "release_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}}}
  ]
}
EOF
}
spec checkout "$T.pay" >"$TMP/checkout.json"
spec stuckpay "$T.paystuck" >"$TMP/stuckpay.json"
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$TMP/checkout.json" "$TMP/stuckpay.json" >/dev/null || fail "def apply"
SKU=sku-$P
"$BIN/inventory-worker" seed --sku "$SKU" --qty 100 >/dev/null || fail "seed inventory"
"$BIN/payment-worker" seed --account "rich-$P" --balance 100000 --account "poor-$P" --balance 1 >/dev/null ||
    fail "seed payment"

export SAGA_TOPICS_REPLIES="$T.replies" SAGA_TOPICS_SIGNALS="$T.signals"
spawn sagad "$BIN/sagad" --http.listen=off --sagad.group="$T.sagad" --log.format=text \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
spawn inv "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --log.format text
spawn pay "$BIN/payment-worker" --topic "$T.pay" --group "$T.pay" --log.format text
spawn paystuck "$BIN/payment-worker" --topic "$T.paystuck" --group "$T.paystuck" --ignore RESERVE \
    --log.format text
PAYSTUCK=$SPAWNED

# --- a clean run ----------------------------------------------------------------------------
order() { echo "{\"sku\": \"$SKU\", \"account\": \"$1-$P\", \"amount\": 100}"; }
"$S" start checkout --input "$(order rich)" --wait --timeout 60s >"$TMP/out" || fail "start (rich)"
C=$(head -n 1 "$TMP/out")
"$S" start checkout --input "$(order poor)" --wait --timeout 60s >"$TMP/out"
PC=$(head -n 1 "$TMP/out")
status_is "$PC" COMPENSATED || fail "the poor order did not compensate"
"$S" reconcile --since 1h >"$TMP/out" || fail "clean reconcile: exit $?: $(cat "$TMP/out")"
grep -q "^0 mismatches in 4 steps of 2 finished sagas" "$TMP/out" || fail "clean reconcile: $(cat "$TMP/out")"
ok "clean run: 0 mismatches in 4 steps of 2 finished sagas, exit 0"

# --- each kind of mismatch, on purpose ----------------------------------------------------
R=$("$S" start stuckpay --input "$(order rich)") || fail "start stuckpay"
wait_for 30 "inventory reserves for the stuck saga" has_row inventory "$R" RESERVE OK
wait_for 30 "the payment worker consumes (and ignores) the RESERVE" \
    grep -q "saga_id=$R step=funds action=RESERVE.*ignored\|ignored.*saga_id=$R step=funds action=RESERVE" "$LOGS/paystuck.log"
"$S" resolve "$R" --as compensated --reason "customer cancelled by phone" --actor oncall >/dev/null ||
    fail "resolve"
kill -TERM "$PAYSTUCK"
await_exit "$PAYSTUCK" 20
psql_q "INSERT INTO inventory.barrier (idempotency_key, action, outcome, saga_id, step, attempt)
    VALUES ('$PC/stock', 'CONFIRM', 'OK', '$PC', 'stock', 1)" >/dev/null || fail "insert"
psql_q "CREATE TABLE saved AS SELECT * FROM payment.barrier WHERE saga_id = '$C' AND action = 'CONFIRM';
    DELETE FROM payment.barrier WHERE saga_id = '$C' AND action = 'CONFIRM'" >/dev/null || fail "delete"

"$S" reconcile --since 1h --timeout 4s --json >"$TMP/found.json"
rc=$?
[ $rc -eq 1 ] || fail "reconcile with mismatches: exit $rc, wanted 1"
has_mismatch "$TMP/found.json" "$R" stock inventory reserved_not_compensated
has_mismatch "$TMP/found.json" "$R" funds payment no_answer
has_mismatch "$TMP/found.json" "$PC" stock inventory confirmed_on_compensated
has_mismatch "$TMP/found.json" "$PC" stock inventory unknown_record
has_mismatch "$TMP/found.json" "$C" funds payment reserved_not_confirmed
has_mismatch "$TMP/found.json" "$C" funds payment not_recorded
[ "$(jq '.mismatches' "$TMP/found.json")" -eq 6 ] || fail "mismatches: $(jq -c .items "$TMP/found.json")"
jq -e --arg r "$R" '.items[] | select(.saga_id == $r and .kind == "reserved_not_compensated")
    | .resolved and .repair == "COMPENSATE" and .participant_record.reserve.outcome == "OK"
      and .participant_record.compensate == null and .log.compensate.sent == 0' "$TMP/found.json" >/dev/null ||
    fail "what each side says: $(jq -c '.items[0]' "$TMP/found.json")"
ok "all six kinds named with saga, step, participant and both sides; exit 1"

# The same check as sagad's periodic job (reconcile.interval): it reports
# and counts, and repairs nothing.
RPORT=$(free_port 7)
spawn sagad-rj "$BIN/sagad" --http.listen="127.0.0.1:$RPORT" --sagad.group="$T.sagad" \
    --log.format=text --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" \
    --topics.dlq="$T.dlq" --reconcile.interval=2s --reconcile.timeout=3s
RJ=$SPAWNED
metric_ok() {
    curl -s -m 2 "http://127.0.0.1:$RPORT/metrics" |
        grep -q 'saga_reconcile_mismatches_total{kind="reserved_not_compensated",participant="inventory"} [1-9]'
}
wait_for 40 "the periodic job counts the mismatch" metric_ok
grep -q "reconcile: reserved_not_compensated at inventory" "$LOGS/sagad-rj.log" ||
    fail "the periodic job did not log the mismatch"
has_row inventory "$R" COMPENSATE OK && fail "the periodic job repaired on its own"
stop_gracefully "$RJ"
ok "sagad's periodic job (reconcile.interval) logs and counts the mismatches, repairs nothing"

"$S" reconcile --since 1h --timeout 4s >"$TMP/out"
grep -q "^$R  *stock  *inventory  *reserved_not_compensated  *COMPENSATED (resolved): reserve OK (1 sent), confirm -, compensate -  *reserve OK, confirm -, compensate -  *COMPENSATE" "$TMP/out" ||
    fail "human report: $(cat "$TMP/out")"
grep -q "^6 mismatches in 6 steps of 3 finished sagas (1 step unanswered)" "$TMP/out" || fail "summary: $(cat "$TMP/out")"
ok "the table says what the log and the participant each say"

# --- repair --------------------------------------------------------------------------------
"$S" reconcile --since 1h --participant inventory --repair --actor fixer --json >"$TMP/repair.json"
[ $? -eq 1 ] || fail "reconcile --repair: exit status"
jq -e --arg r "$R" '.items[] | select(.saga_id == $r) | .repaired' "$TMP/repair.json" >/dev/null ||
    fail "not repaired: $(jq -c .items "$TMP/repair.json")"
jq -e --arg p "$PC" '[.items[] | select(.saga_id == $p) | .repaired] | all(. == false)' "$TMP/repair.json" >/dev/null ||
    fail "a confirm on a compensated saga was 'repaired'"
wait_for 30 "inventory compensates the resolved saga" has_row inventory "$R" COMPENSATE OK
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$R' AND kind = 'operator' AND actor = 'fixer'
    AND action = 'COMPENSATE' AND text LIKE 'repair: send COMPENSATE%reserved_not_compensated%'")" = 1 ] ||
    fail "repair not audited in the saga's history"
status_is "$R" COMPENSATED || fail "the repair changed the saga's status"
ok "--repair sent the missing COMPENSATE through the outbox, audited as fixer"

psql_q "DELETE FROM inventory.barrier WHERE saga_id = '$PC' AND action = 'CONFIRM';
    INSERT INTO payment.barrier SELECT * FROM saved; DROP TABLE saved" >/dev/null || fail "undo"
spawn paystuck "$BIN/payment-worker" --topic "$T.paystuck" --group "$T.paystuck" --log.format text
"$S" reconcile --since 1h --timeout 20s >"$TMP/out" || fail "re-run: exit $?: $(cat "$TMP/out")"
grep -q "^0 mismatches in 6 steps of 3 finished sagas" "$TMP/out" || fail "re-run: $(cat "$TMP/out")"
ok "after the repair and the undo, a re-run reports 0"

BROKERS=$SAGA_KAFKA_BROKERS
SAGA_KAFKA_BROKERS= "$S" reconcile >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] || fail "reconcile without brokers is not a usage error"
grep -q "no Kafka brokers" "$TMP/err" || fail "message: $(cat "$TMP/err")"
export SAGA_KAFKA_BROKERS=$BROKERS
ok "without brokers: a usage error naming what is missing"
