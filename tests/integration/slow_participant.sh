#!/bin/sh
# slow_participant.sh - a participant slower than the step timeout must not
# livelock the sagas (issue #19): the payment worker takes 600 ms per batch
# (--delay-ms) under a 400 ms step timeout, 30 sagas.
#
# Every answer then arrives after its attempt's deadline, most of them after
# the next attempt was sent. Before earlier attempts' answers were accepted
# they were all ignored as stale, reserves ran out of attempts, and the
# compensations were re-sent for ever (COMPENSATE attempt 201 after two
# minutes, no saga finished). Now the first OK or REJECTED ends the wait and
# each re-send waits longer, so:
#  - every saga reaches COMPLETED or COMPENSATED within 60 s;
#  - no (saga, step, action) is sent more than 6 times. With the spec's
#    backoff (200 ms doubling, jitter 0.2) and deadlines of 400, 800, 1600,
#    1600... ms, a 6th send happens only if the first attempt's answer takes
#    over 11 s (about 18 batches of 600 ms): the bound leaves room for a
#    loaded machine, yet a flood (one send per timeout, for ever) breaks it;
#  - the business invariants of both participants hold.
#
# Isolation: a database of its own, where order_checkout is defined with
# timeout_ms 400 instead of 5000.
. "$(dirname "$0")/lib.sh"

P=$$
DB=saga_slow_$P
ADMIN_DSN=$SAGA_PG_DSN
N=30
MAX_SENDS=6
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"

SPEC=$LOGS/order_checkout_400ms.json
sed -e 's/"timeout_ms": 5000/"timeout_ms": 400/' "$ROOT/sagas/order_checkout.json" >"$SPEC"
grep -q '"timeout_ms": 400' "$SPEC" || fail "could not derive the 400 ms spec from sagas/order_checkout.json"

"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$SPEC" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "slow-$P" --qty 1000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "slow-$P" --balance 1000000 >/dev/null || fail "seed account"

spawn sagad "$BIN/sagad" --http.listen=off
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker" --delay-ms 600ms

start_orders "$N" "slow-$P" "slow-$P" "slow-$P"
ok "$N sagas started against a payment worker slower than the step timeout"

# What the sagas are doing, for the failure message.
progress() {
    psql_q "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n
      FROM sagas GROUP BY status ORDER BY status) s" | tr '\n' ' '
    psql_q "SELECT '; highest attempts: RESERVE ' || max(reserve_attempts) || ', CONFIRM '
      || max(confirm_attempts) || ', COMPENSATE ' || max(compensate_attempts) FROM saga_steps"
}
end=$(($(date +%s) + 60))
while [ "$(psql_q "SELECT count(*) FROM sagas WHERE status IN ('COMPLETED','COMPENSATED')")" != "$N" ]; do
    [ "$(date +%s)" -ge "$end" ] && fail "sagas not all finished within 60 s: $(progress)"
    sleep 0.1
done
done_ok=$(psql_q "SELECT count(*) FROM sagas WHERE status = 'COMPLETED'")
ok "all $N sagas finished: $done_ok COMPLETED, $((N - done_ok)) COMPENSATED"

most=$(psql_q "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM saga_history
    WHERE kind = 'command' GROUP BY saga_id, step, action) c")
attempts=$(psql_q "SELECT max(greatest(reserve_attempts, confirm_attempts, compensate_attempts))
    FROM saga_steps")
[ "$most" -le "$MAX_SENDS" ] || fail "a command was sent $most times (bound $MAX_SENDS)"
[ "$attempts" -le "$MAX_SENDS" ] || fail "a step reached attempt $attempts (bound $MAX_SENDS)"
[ "$most" -eq "$attempts" ] || fail "history counts $most sends, saga_steps $attempts attempts"
ok "at most $most sends per step and action (bound $MAX_SENDS)"

earlier=$(psql_q "SELECT count(*) FROM saga_history WHERE kind = 'applied'
    AND text LIKE 'reply for attempt % accepted %'")
[ "$earlier" -gt 0 ] || fail "no earlier attempt's answer was accepted: the test did not slow anything"
ok "$earlier answers to earlier or timed-out attempts accepted and recorded"

[ "$(violations "true")" = 0 ] || fail "business invariants broken"
"$BIN/inventory-worker" check --prefix "slow-$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "slow-$P" >/dev/null || fail "payment-worker check"
ok "business invariants hold"
