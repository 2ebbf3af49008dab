#!/bin/sh
# hostile_kafka.sh - bad input on every topic the system consumes: random
# bytes, null values, truncated protobufs, valid protobufs with nonsense
# (not a UUID, unknown saga, unknown step, negative attempt, bad action or
# outcome, invalid UTF-8, invalid or non-object JSON, 800 KiB payloads,
# unknown definitions, names that look like SQL, inputs of the wrong types
# or over the size limit, over-long keys, commands over the worker's size
# limit) on the replies, start and command topics.
#
# Every poison message must be dead-lettered with a reason that says what is
# wrong (checked per kind), counted in sagad's metrics and the workers'
# counters; replies that are well-formed but do not apply (a COMPENSATE for a
# completed saga, a stale attempt) must be recorded as ignored, not applied;
# no saga may be created or changed by any of it; and every process must go
# on serving: sagas started afterwards, through sagactl and through the
# start topic, complete.
#
# Isolation: topics, consumer groups and a definition of its own
# (hostile-<pid>.*), so other tests may run at the same time.
. "$(dirname "$0")/lib.sh"

K=$(dirname "$BIN")/tools/chaos_kafka
[ -x "$K" ] || fail "$K is missing (make all)"
T=hostile-$$
P=hk$$
DEF=hostile_kafka_$$
HTTP=127.0.0.1:$(free_port 1)
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"

# order_checkout on topics of its own.
sed -e "s/\"name\": \"order_checkout\"/\"name\": \"$DEF\"/" \
    -e "s/\"participant\": \"inventory\",/\"participant\": \"inventory\", \"topic\": \"$T.inventory\",/" \
    -e "s/\"participant\": \"payment\",/\"participant\": \"payment\", \"topic\": \"$T.payment\",/" \
    "$ROOT/sagas/order_checkout.json" >"$TMP/def.json"
grep -q "\"topic\": \"$T.payment\"" "$TMP/def.json" || fail "could not derive the definition"
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$TMP/def.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P-sku" --qty 1000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-acc" --balance 1000000 >/dev/null || fail "seed account"

spawn sagad "$BIN/sagad" --http.listen="$HTTP" --sagad.group="$T.sagad" \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
SAGAD=$SPAWNED
# A small size limit, so that "too large" can be tested below the broker's.
INV_HTTP=127.0.0.1:$(free_port 2)
PAY_HTTP=127.0.0.1:$(free_port 3)
spawn inventory "$BIN/inventory-worker" run --worker.topic="$T.inventory" \
    --worker.group="$T.inventory" --dlq.topic="$T.dlq" --worker.max.message.bytes=65536 \
    --http.listen="$INV_HTTP"
INV=$SPAWNED
spawn payment "$BIN/payment-worker" run --worker.topic="$T.payment" --worker.group="$T.payment" \
    --dlq.topic="$T.dlq" --http.listen="$PAY_HTTP"
PAY=$SPAWNED

input() { echo "{\"order_id\": \"$1\", \"sku\": \"$P-sku\", \"qty\": 1, \"account\": \"$P-acc\", \"amount\": 100}"; }
"$BIN/sagactl" start "$DEF" --key "$P-first" --input "$(input "$P-first")" --wait --timeout 90s \
    >"$TMP/first" || fail "the first saga did not complete (exit $?)"
FIRST=$(head -n 1 "$TMP/first")
ok "a saga completes before the poison ($FIRST)"
IGNORED_BEFORE=$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$FIRST' AND kind = 'ignored'")

# --- inject ------------------------------------------------------------------------------
# expect TOPIC KIND SUBSTRING [ARGS]: injects one message of KIND and records
# the reason its dead letter must contain.
expect() {
    topic=$1 kind=$2 want=$3
    shift 3
    "$K" poison "$topic" "$kind" --seed "$$" "$@" >"$TMP/one" 2>>"$TMP/poison.err" ||
        fail "cannot inject $kind on $topic"
    printf '%s\t%s\n' "$(cut -d' ' -f1-3 "$TMP/one")" "$kind|$want" >>"$TMP/expected"
}
: >"$TMP/expected"
R=$T.replies
for kv in "garbage|undecodable Reply protobuf" "empty|saga_id is not a UUID" \
    "truncated|" "not_uuid|saga_id is not a UUID" "unknown_saga|no saga " \
    "negative_attempt|attempt is not positive" "bad_action|action is not RESERVE" \
    "bad_outcome|outcome is not OK" "bad_utf8|not UTF-8" \
    "bad_json|payload is not a JSON object" "payload_array|payload is not a JSON object" \
    "huge_payload|no saga "; do
    expect "$R" "${kv%%|*}" "${kv#*|}"
done
expect "$R" unknown_step "has no step \"no_such_step\"" --saga "$FIRST"
S=$T.start
for kv in "garbage|undecodable StartSaga protobuf" "empty|name is empty" "truncated|" \
    "unknown_def|no definition named \"no_such_saga\"" "sql_name|no definition named" \
    "negative_version|negative version" "input_array|input is not a JSON object" \
    "input_bad_json|input is not a JSON object" "input_wrong_types|input." \
    "input_missing|required field missing" "bad_utf8|not UTF-8" \
    "long_key|idempotency_key is not UTF-8 or too long" "huge_input|larger than the limit"; do
    expect "$S" "${kv%%|*}" "${kv#*|}"
done
for w in inventory payment; do
    for kv in "garbage|not a saga.Command protobuf" "empty|saga_id is empty" "truncated|" \
        "empty_saga_id|saga_id is empty" "bad_action|action 0 is not RESERVE" \
        "negative_attempt|attempt -5 is negative" "bad_utf8|not valid UTF-8" \
        "bad_json|payload is not JSON" "payload_array|payload is JSON but not an object" \
        "long_key|idempotency_key is 700 bytes long, the limit is 640"; do
        expect "$T.$w" "${kv%%|*}" "${kv#*|}"
    done
done
expect "$T.inventory" big "exceeds the limit of 65536 bytes" --bytes 100000
N_EXPECTED=$(wc -l <"$TMP/expected")
# Well-formed, but not poison: recorded as ignored, or answered.
"$K" poison "$R" wrong_action --saga "$FIRST" >/dev/null || fail "inject wrong_action"
"$K" poison "$R" stale_attempt --saga "$FIRST" >/dev/null || fail "inject stale_attempt"
"$K" poison "$T.inventory" unknown_saga --seed "$$" --reply-topic "$R" >/dev/null ||
    fail "inject a command for no saga"
ok "$N_EXPECTED poison messages and 3 well-formed nonsense messages injected"

# --- dead letters -----------------------------------------------------------------------------
: >"$TMP/base"
all_dead_lettered() {
    "$K" dlq "$T.dlq" "$TMP/base" >"$TMP/dlq" 2>>"$TMP/dlq.err" || return 1
    cut -f1 "$TMP/expected" | sort -u >"$TMP/want"
    cut -f1 "$TMP/dlq" | sort -u >"$TMP/got"
    [ -z "$(comm -23 "$TMP/want" "$TMP/got")" ] &&
        [ "$(grep -c "^$R .*	no saga " "$TMP/dlq")" -ge 3 ]
}
end=$(($(date +%s) + 60))
until all_dead_lettered; do
    if [ "$(date +%s)" -ge "$end" ]; then
        comm -23 "$TMP/want" "$TMP/got" | while read -r t p o; do
            echo "not dead-lettered: $t [$p] @$o: $(grep "^$t $p $o	" "$TMP/expected" | cut -f2 | cut -d'|' -f1)" >&2
        done
        fail "poison not dead-lettered within 60 s (a consumer may be retrying it for ever)"
    fi
    sleep 0.2
done
ok "every poison message is in the dead-letter topic"

bad_reason=0
while IFS='	' read -r where spec; do
    kind=${spec%%|*} want=${spec#*|}
    got=$(grep "^$where	" "$TMP/dlq" | head -n 1 | cut -f2)
    case "$got" in
    "" | "-") echo "dead letter of $kind ($where) has no reason" >&2; bad_reason=1 ;;
    *"$want"*) ;;
    *) echo "dead letter of $kind ($where): reason \"$got\" lacks \"$want\"" >&2; bad_reason=1 ;;
    esac
done <"$TMP/expected"
[ "$bad_reason" = 0 ] || fail "dead letters without the right reason"
ok "each dead letter says what was wrong"
# The command for no saga was answered (REJECTED: no sku), and sagad
# dead-lettered that reply: poison two hops away still ends in the DLQ.
[ "$(grep -v -F -f "$TMP/want" "$TMP/dlq" | grep -c "^$R .*	no saga ")" -ge 1 ] ||
    fail "the reply to a command for no saga was not dead-lettered"
ok "a well-formed command for no saga is answered and its reply dead-lettered"

# --- nothing stored, nothing changed ---------------------------------------------------------------
keys=$(grep "^$S " "$TMP/expected" | cut -f1 | awk '{ printf "%s'\''kafka:%s:%s:%s'\''", sep, $1, $2, $3; sep = "," }')
[ "$(psql_q "SELECT count(*) FROM sagas WHERE idempotency_key IN ($keys)
    OR length(idempotency_key) >= 300 OR def_name LIKE '%DROP%'")" = 0 ] ||
    fail "a poison StartSaga created a saga"
ok "no poison StartSaga created a saga"
[ "$(psql_q "SELECT status FROM sagas WHERE id = '$FIRST'")" = COMPLETED ] ||
    fail "the completed saga changed status"
wait_sql "SELECT count(*) - $IGNORED_BEFORE >= 3 FROM saga_history WHERE saga_id = '$FIRST' AND kind = 'ignored'" \
    t 30 "replies that do not apply are not recorded as ignored"
ok "an unknown step, a COMPENSATE for a completed saga and a stale attempt are recorded as ignored"
[ "$(psql_q "SELECT count(*) FROM inventory.barrier b WHERE b.outcome = 'REJECTED'
    AND b.reason LIKE 'invalid payload%' AND b.created_at > now() - interval '5 minutes'
    AND NOT EXISTS (SELECT 1 FROM sagas s WHERE s.id::text = b.saga_id)")" -ge 1 ] ||
    fail "the command for no saga was not refused by the barrier's record"
"$BIN/inventory-worker" check --prefix "$P-" >"$TMP/check" || { cat "$TMP/check" >&2; fail "inventory check"; }
"$BIN/payment-worker" check --prefix "$P-" >"$TMP/check" || { cat "$TMP/check" >&2; fail "payment check"; }
ok "the participants' invariants hold"

# --- still serving ------------------------------------------------------------------------------------
for p in "$SAGAD" "$INV" "$PAY"; do kill -0 "$p" 2>/dev/null || fail "process $p died"; done
"$BIN/sagactl" start "$DEF" --key "$P-after" --input "$(input "$P-after")" --wait --timeout 60s \
    >/dev/null || fail "a saga started through sagactl after the poison did not complete"
printf '%s\t%s\t%s\n' "$P-kafka" "$DEF" "$(input "$P-kafka")" | "$K" start "$S" >/dev/null ||
    fail "cannot start a saga through $S"
wait_sql "SELECT status FROM sagas WHERE idempotency_key = '$P-kafka'" COMPLETED 60 \
    "a saga started through $S after the poison did not complete"
ok "sagad and both workers still alive and serving"

# --- counted --------------------------------------------------------------------------------------------
curl -fsS "http://$HTTP/metrics" >"$TMP/metrics" || fail "cannot read sagad's metrics"
want_dlq=$(grep -c "^$T\.\(replies\|start\) " "$TMP/expected")
got_dlq=$(awk '/^saga_dlq_total/ { s += $NF } END { print s + 0 }' "$TMP/metrics")
[ "$got_dlq" -ge $((want_dlq + 1)) ] || fail "saga_dlq_total is $got_dlq, expected at least $((want_dlq + 1))"
got_ign=$(awk '/^saga_replies_ignored_total/ { s += $NF } END { print s + 0 }' "$TMP/metrics")
[ "$got_ign" -ge 2 ] || fail "saga_replies_ignored_total is $got_ign, expected at least 2"
ok "sagad counted $got_dlq dead letters and $got_ign ignored replies"
for w in inventory:$INV_HTTP payment:$PAY_HTTP; do
    want=$(grep -c "^$T\.${w%%:*} " "$TMP/expected")
    curl -fsS "http://${w#*:}/metrics" >"$TMP/wmetrics" || fail "cannot read ${w%%:*}-worker's metrics"
    got=$(awk '/^participant_dead_lettered_total/ { s += $NF } END { print s + 0 }' "$TMP/wmetrics")
    [ "$got" -ge "$want" ] || fail "${w%%:*}-worker counted $got dead letters, expected $want"
done
ok "each worker counted its dead letters"
for p in "$SAGAD" "$INV" "$PAY"; do stop_gracefully "$p"; done
grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$LOGS"/*.log &&
    fail "sanitizer reports in the logs above"
ok "sagad and both workers stop cleanly, without a sanitizer report"
