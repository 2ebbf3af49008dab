#!/bin/sh
# go_participant.sh - the Go participant library (workers/go) and its example
# (examples/participant-go, participant "courier"):
#  - gofmt and go vet are clean, and `go test ./...` passes against this
#    stack's PostgreSQL and Kafka (it also checks that the generated code and
#    the barrier SQL copy are up to date, and that the C library's barrier
#    migration is the one the Go library records);
#  - `sagactl participant check courier` passes against the Go example;
#  - sagas/order_courier.json runs end to end with the C inventory and
#    payment workers and the Go courier: a booked slot completes the saga, a
#    full slot compensates the C participants' reservations;
#  - the Go worker stops cleanly on SIGTERM (exit 0).
# Isolation: a database of its own for the sagas; Go modules come through
# the module proxy into the Go cache, pinned by the committed go.sum files.
. "$(dirname "$0")/lib.sh"

P=$$
command -v go >/dev/null || fail "go not found: the Go toolchain is needed (see tests/stack/deps.sh)"
export GOFLAGS="${GOFLAGS:--mod=readonly}"

for dir in workers/go examples/participant-go; do
    unformatted=$(cd "$ROOT/$dir" && gofmt -l .)
    [ -z "$unformatted" ] || fail "$dir: not gofmt-clean: $unformatted"
    (cd "$ROOT/$dir" && go vet ./...) >"$LOGS/vet.log" 2>&1 || { cat "$LOGS/vet.log"; fail "$dir: go vet"; }
done
ok "gofmt and go vet are clean"

(cd "$ROOT/workers/go" && SAGA_BIN=$BIN go test -count=1 ./...) >"$LOGS/go-test.log" 2>&1 ||
    { cat "$LOGS/go-test.log"; fail "go test ./... in workers/go"; }
grep -q '^ok' "$LOGS/go-test.log" || fail "go test ran nothing: $(cat "$LOGS/go-test.log")"
ok "go test ./... in workers/go"

COURIER=$LOGS/courier-worker
(cd "$ROOT/examples/participant-go" && go build -o "$COURIER" .) >"$LOGS/build.log" 2>&1 ||
    { cat "$LOGS/build.log"; fail "building examples/participant-go"; }

DB=saga_go_$P
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"

"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_courier.json" >/dev/null || fail "def apply order_courier"
"$BIN/inventory-worker" seed --sku "go-$P" --qty 100 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "go-$P" --balance 100000 >/dev/null || fail "seed account"
"$COURIER" seed "check-$P" 1000 "one-$P" 1 || fail "courier-worker seed"
[ "$(psql_q "SELECT count(*) FROM saga_schema_migrations WHERE component IN ('courier', 'barrier:courier')")" = 2 ] ||
    fail "the courier's migrations are not recorded as the C library records them"

spawn courier "$COURIER"
COURIER_PID=$SPAWNED
# The check refuses a participant whose command topic does not exist yet:
# wait until the courier has created it.
topic_ready() { kcat -b "$SAGA_KAFKA_BROKERS" -L -t saga.courier.commands 2>/dev/null | grep -q 'partition 0,'; }
wait_for 60 "the courier creates saga.courier.commands" topic_ready
"$BIN/sagactl" participant check courier --timeout 20s \
    --reserve-payload "{\"order_id\":\"check\",\"slot\":\"check-$P\"}" \
    --reject-payload "{\"order_id\":\"check\",\"slot\":\"no-such-slot-$P\"}" >"$LOGS/check.txt" 2>&1 ||
    { cat "$LOGS/check.txt"; fail "sagactl participant check courier"; }
ok "sagactl participant check passes the Go courier"

spawn sagad "$BIN/sagad" --http.listen=off
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker"
for o in a b; do
    "$BIN/sagactl" start order_courier --key "go-$P-$o" --input \
        "{\"order_id\":\"go-$P-$o\",\"sku\":\"go-$P\",\"qty\":1,\"account\":\"go-$P\",\"amount\":100,\"slot\":\"one-$P\"}" \
        >/dev/null || fail "sagactl start $o"
done
wait_sql "SELECT string_agg(status, ',' ORDER BY status) FROM sagas" "COMPENSATED,COMPLETED" 60 \
    "one saga completes, the other finds the slot full"
done_order=$(psql_q "SELECT input->>'order_id' FROM sagas WHERE status = 'COMPLETED'")
undone_order=$(psql_q "SELECT input->>'order_id' FROM sagas WHERE status = 'COMPENSATED'")
[ "$(psql_q "SELECT order_id || '=' || status FROM courier.bookings WHERE slot = 'one-$P'")" = "$done_order=confirmed" ] ||
    fail "courier bookings: $(psql_q "SELECT order_id, status FROM courier.bookings")"
[ "$(psql_q "SELECT booked FROM courier.slots WHERE slot = 'one-$P'")" = 1 ] || fail "the slot count is off"
[ "$(violations "true")" = 0 ] || fail "inventory or payment disagree with the sagas' outcomes"
"$BIN/inventory-worker" check --prefix "go-$P" >/dev/null || fail "inventory-worker check"
"$BIN/payment-worker" check --prefix "go-$P" >/dev/null || fail "payment-worker check"
ok "order_courier: $done_order completed with a confirmed slot, $undone_order compensated in C"

stop_gracefully "$COURIER_PID"
grep -q 'msg=stopped' "$LOGS/courier.log" || fail "the Go worker did not log its stop"
ok "the Go worker stops cleanly on SIGTERM"
