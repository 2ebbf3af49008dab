#!/bin/sh
# circuit.sh - a participant's circuit breaker on the real stack (issue #16):
# a payment worker that answers RETRY to everything opens payment's circuit
# within the threshold; RESERVEs to payment then stop (counted from the
# 'command' rows of saga_history, one per command sent, and on the topic
# with kcat) while the sagas
# wait; a healthy payment worker closes it through the half-open probe and
# every saga completes. Two sagad processes share the work, and both report
# the same breaker state on /metrics (it lives in PostgreSQL).
. "$(dirname "$0")/lib.sh"

P=$$
N=8
own_database saga_circuit_$P

# order_checkout with room for retries, and a breaker on payment: 5
# failures within 30 s open it, 2 s of cool-down before a probe.
SPEC=$LOGS/order_checkout_circuit.json
sed -e 's/"max_attempts": 3/"max_attempts": 50/' \
    -e 's/"stuck_after_ms": 60000/"stuck_after_ms": 60000, "circuit": {"failures": 5, "window_ms": 30000, "cooldown_ms": 2000}/' \
    "$ROOT/sagas/order_checkout.json" >"$SPEC"
grep -q '"circuit"' "$SPEC" || fail "could not derive the spec with a circuit"

"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$SPEC" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "cb-$P" --qty 1000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "cb-$P" --balance 1000000 >/dev/null || fail "seed account"

PORT_A=$(free_port 1)
PORT_B=$(free_port 2)
spawn sagad_a "$BIN/sagad" --http.listen=127.0.0.1:$PORT_A --outbox.interval=200ms
spawn sagad_b "$BIN/sagad" --http.listen=127.0.0.1:$PORT_B --outbox.interval=200ms
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker" --retry-rate 1
PAYMENT=$SPAWNED

start_orders "$N" "cb-$P" "cb-$P" "cb-$P"
ok "$N sagas started against a payment worker answering RETRY to everything"

wait_sql "SELECT state FROM saga_circuits WHERE participant = 'payment'" OPEN 30 \
    "payment's circuit did not open"
failures=$(psql_q "SELECT count(*) FROM saga_history WHERE kind = 'reply' AND outcome = 'RETRY'")
ok "payment circuit OPEN after $failures RETRY replies (threshold 5)"

for port in $PORT_A $PORT_B; do
    wait_for 5 "sagad on $port reports the open circuit" sh -c \
        "curl -fsS http://127.0.0.1:$port/metrics | grep -E '^saga_circuit_state\\{participant=\"payment\"\\} [12]\$'"
done
ok "both sagad processes report payment's circuit as not closed on /metrics"

# Every saga ends up held: none may send payment a RESERVE while OPEN.
wait_sql "SELECT count(*) FROM saga_circuit_waits WHERE participant = 'payment'" "$N" 20 \
    "not every saga is held by the open circuit"
held=$(psql_q "SELECT count(DISTINCT saga_id) FROM saga_history WHERE kind = 'circuit'
    AND text = 'RESERVE held: payment circuit open'")
[ "$held" -eq "$N" ] || fail "$held sagas noted a held RESERVE, wanted $N"
ok "all $N sagas wait for payment's circuit, each says so in its history"
"$BIN/sagactl" stuck >"$LOGS/circuit_stuck.txt" 2>&1 || fail "sagactl stuck"
grep -Eq "^payment circuit (open|half-open) since .*, $N sagas waiting" "$LOGS/circuit_stuck.txt" ||
    fail "sagactl stuck does not show the circuit: $(head -3 "$LOGS/circuit_stuck.txt")"
"$BIN/sagactl" stats --json | grep -q '"participant": "payment"' || fail "sagactl stats --json lacks the circuit"
ok "sagactl stuck: $(head -1 "$LOGS/circuit_stuck.txt")"

# RESERVEs to payment sent while the breaker was OPEN, past the 200 ms a
# copy may be stale: none. (Probes go out only in HALF_OPEN.)
opened=$(psql_q "SELECT since FROM saga_circuits WHERE participant = 'payment'")
wait_sql "SELECT state <> 'OPEN' OR since > '$opened' FROM saga_circuits
    WHERE participant = 'payment'" t 10 "payment's circuit never left OPEN after the cool-down"
during=$(psql_q "SELECT count(*) FROM saga_history WHERE kind = 'command'
    AND step = 'reserve_payment' AND action = 'RESERVE'
    AND at > timestamptz '$opened' + interval '500 milliseconds'
    AND at < timestamptz '$opened' + interval '2 seconds'")
[ "$during" -eq 0 ] || fail "$during RESERVEs to payment sent while its circuit was OPEN"
# The same on the topic itself: no message of any kind reached payment's
# command topic in that window (the held sagas have nothing else for it).
from=$(psql_q "SELECT (extract(epoch FROM timestamptz '$opened') * 1000)::bigint + 500")
on_topic=$(kcat -b "$SAGA_KAFKA_BROKERS" -C -t saga.payment.commands -o "s@$from" \
    -o "e@$((from + 1500))" -e -q -f '%T\n' 2>/dev/null | grep -c .)
[ "$on_topic" -eq 0 ] || fail "$on_topic messages on saga.payment.commands while its circuit was OPEN"
before=$(kcat -b "$SAGA_KAFKA_BROKERS" -C -t saga.payment.commands -o "s@$((from - 10500))" \
    -o "e@$((from - 500))" -e -q -f '%T\n' 2>/dev/null | grep -c .)
[ "$before" -gt 0 ] || fail "the topic count sees nothing even before the circuit opened"
ok "no RESERVE to payment during the cool-down (topic: $on_topic messages; $before in the 10 s before)"

# Still failing: the probe fails and the circuit opens again.
wait_sql "SELECT count(*) > 0 FROM saga_history WHERE kind = 'circuit'
    AND text LIKE 'payment circuit OPEN: probe failed%'" t 20 "a failed probe did not reopen the circuit"
probes=$(psql_q "SELECT count(*) FROM saga_history WHERE kind = 'command'
    AND step = 'reserve_payment' AND action = 'RESERVE' AND at > timestamptz '$opened'")
ok "a failed probe reopened the circuit ($probes RESERVEs to payment since it opened)"

kill -TERM "$PAYMENT"
await_exit "$PAYMENT" 20
spawn payment_ok "$BIN/payment-worker"
wait_sql "SELECT state FROM saga_circuits WHERE participant = 'payment'" CLOSED 30 \
    "a healthy payment worker did not close the circuit"
ok "the healthy payment worker closed the circuit through the probe"

wait_sql "SELECT count(*) FROM sagas WHERE status = 'COMPLETED'" "$N" 30 \
    "the waiting sagas did not all complete"
closed=$(psql_q "SELECT count(DISTINCT saga_id) FROM saga_history WHERE kind = 'circuit'
    AND text LIKE 'payment circuit CLOSED:%'")
[ "$closed" -ge 1 ] || fail "no saga's history records the circuit closing"
ok "all $N sagas COMPLETED; $closed histories record the circuit closing"

[ "$(violations "true")" = 0 ] || fail "business invariants broken"
transitions=$(for port in $PORT_A $PORT_B; do curl -fsS "http://127.0.0.1:$port/metrics"; done |
    awk '/^saga_circuit_transitions_total\{participant="payment"/ {s += $2} END {print s + 0}')
db=$(psql_q "SELECT transitions FROM saga_circuits WHERE participant = 'payment'")
[ "$transitions" -eq "$db" ] || fail "metrics count $transitions transitions, the table $db"
ok "saga_circuit_transitions_total over both processes = $db transitions"
