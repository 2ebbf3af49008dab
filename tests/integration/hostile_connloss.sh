#!/bin/sh
# hostile_connloss.sh - PostgreSQL connections killed in the middle of
# transactions: while sagas run (at least 150, and more until 30 backends, 5 of
# them busy, have been killed), the backends of sagad and of both workers are
# terminated (pg_terminate_backend) every 50-300 ms, preferring
# those inside a transaction, so batches die half-way through, before and
# during COMMIT. Every batch must be retried after a reconnect and nothing
# may be half-applied: all sagas terminal, every COMPLETED saga's
# reservation confirmed and hold captured, every COMPENSATED saga's
# released, units sold = completed sagas, the participants' checks pass, the
# outbox drains. SEED (default: the pid) replays the kill schedule.
#
# (The broker going away during a produce is the chaos suite's Kafka
# restart: a broker cannot be taken from one client of a shared stack.)
# Isolation: topics, groups, definition and application names of its own
# (connloss-<pid>), so only this test's connections are killed.
. "$(dirname "$0")/lib.sh"

SEED=${SEED:-$$}
echo "seed $SEED"
T=connloss-$$
P=cl$$
DEF=connloss_$$
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
sed -e "s/\"name\": \"order_checkout\"/\"name\": \"$DEF\"/" \
    -e "s/\"participant\": \"inventory\",/\"participant\": \"inventory\", \"topic\": \"$T.inventory\",/" \
    -e "s/\"participant\": \"payment\",/\"participant\": \"payment\", \"topic\": \"$T.payment\",/" \
    "$ROOT/sagas/order_checkout.json" >"$TMP/def.json"
"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$TMP/def.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 100000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-rich" --balance 100000000 --account "$P-poor" \
    --balance 300 >/dev/null || fail "seed accounts"

dsn() { echo "$SAGA_PG_DSN application_name=$T-$1"; }
spawn sagad "$BIN/sagad" --pg.dsn="$(dsn sagad)" --http.listen=off --sagad.group="$T.sagad" \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
DAEMONS=$SPAWNED
for w in inventory payment; do
    spawn "$w" "$BIN/$w-worker" run --pg.dsn="$(dsn "$w")" --worker.topic="$T.$w" \
        --worker.group="$T.$w" --dlq.topic="$T.dlq" --http.listen=off
    DAEMONS="$DAEMONS $SPAWNED"
done

# The killer: terminates this test's backends, in a transaction if any is.
# Each line of kills: backends caught busy, backends terminated.
awk -v s="$SEED" 'BEGIN { srand(s); for (i = 0; i < 100000; i++) printf "%.2f\n", 0.05 + rand() * 0.25 }' \
    >"$TMP/pauses"
: >"$TMP/kills"
(
    while read -r pause; do
        [ -f "$TMP/stop" ] && break
        sleep "$pause" # the kill schedule, not a wait for a condition
        psql_q "SELECT count(*) FILTER (WHERE state <> 'idle') || ' ' || count(pg_terminate_backend(pid))
                FROM pg_stat_activity
                WHERE application_name LIKE '$T-%' AND (state <> 'idle' OR random() < 0.2)" \
            >>"$TMP/kills" 2>/dev/null
    done <"$TMP/pauses"
) &
KILLER=$!
PIDS="$PIDS $KILLER"

# Start sagas until at least 150 have been started and the killer has hit
# enough backends while they ran: a fast machine finishes 150 sagas before
# the first few kills, so the number of sagas follows the kill count rather
# than the other way round.
kills() { awk -v f="$1" '{ s += $f } END { print s + 0 }' "$TMP/kills"; }
i=1
end=$(($(date +%s) + 150))
while [ "$i" -le 150 ] || [ "$(kills 2)" -lt 30 ] || [ "$(kills 1)" -lt 5 ]; do
    [ "$(date +%s)" -ge "$end" ] &&
        fail "after $((i - 1)) sagas only $(kills 2) backends were killed ($(kills 1) busy): the test did not test"
    acc=$P-rich
    [ $((i % 10)) = 0 ] && acc=$P-poor
    until "$BIN/sagactl" start "$DEF" --key "$P-$i" --input \
        "{\"order_id\": \"$P-$i\", \"sku\": \"$P\", \"qty\": 1, \"account\": \"$acc\", \"amount\": 100}" \
        >/dev/null 2>>"$TMP/start.err"; do
        [ "$(date +%s)" -ge "$end" ] && fail "could not start saga $i"
        sleep 0.1
    done
    i=$((i + 1))
done
N=$((i - 1))
F="s.idempotency_key LIKE '$P-%'"
touch "$TMP/stop"
wait "$KILLER" 2>/dev/null
KILLS=$(kills 2)
BUSY=$(kills 1)
ok "$N sagas started while $KILLS backends were killed ($BUSY of them busy)"

wait_sql "SELECT count(*) FROM sagas s WHERE $F AND status IN ('COMPLETED','COMPENSATED')" "$N" 180 \
    "not every saga finished after the connection kills"
ok "all $N sagas terminal"
[ "$(violations "$F")" = 0 ] || fail "a saga's participants disagree with its status (half-applied)"
COMPLETED=$(psql_q "SELECT count(*) FROM sagas s WHERE $F AND status = 'COMPLETED'")
[ "$(psql_q "SELECT sold || '/' || reserved FROM inventory.stock WHERE sku = '$P'")" = "$COMPLETED/0" ] ||
    fail "units sold/reserved differ from $COMPLETED/0: an effect was applied twice, lost or left open"
[ "$(psql_q "SELECT captured || '/' || held FROM payment.accounts WHERE id = '$P-rich'")" = \
  "$(psql_q "SELECT 100 * count(*) || '/0' FROM sagas s WHERE $F AND status = 'COMPLETED' AND input->>'account' = '$P-rich'")" ] ||
    fail "money captured/held differs from the completed sagas"
"$BIN/inventory-worker" check --prefix "$P" >"$TMP/check" || { cat "$TMP/check" >&2; fail "inventory check"; }
"$BIN/payment-worker" check --prefix "$P" >"$TMP/check" || { cat "$TMP/check" >&2; fail "payment check"; }
ok "nothing half-applied: $COMPLETED completed sagas sold $COMPLETED units and captured their money once"
wait_sql "SELECT count(*) FROM saga_outbox o JOIN sagas s ON s.id::text = o.key WHERE $F" 0 60 \
    "the outbox did not drain"
ok "outbox empty"
for p in $DAEMONS; do stop_gracefully "$p"; done
grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$LOGS"/*.log &&
    fail "sanitizer reports in the logs above"
ok "sagad and both workers stop cleanly, without a sanitizer report"
