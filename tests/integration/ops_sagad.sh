#!/bin/sh
# ops_sagad.sh - what an operator relies on in sagad: configuration
# precedence and refusals, masked secrets, retrying an unreachable database
# while reporting not-ready, /metrics matching the database after a run,
# one order followed by its trace id across every process's log, and a
# SIGTERM under load that loses nothing.
. "$(dirname "$0")/lib.sh"

P=ops$$
CONF=$LOGS/sagad.conf

# --- configuration --------------------------------------------------------
printf '# test config\nbatch.max = 10\nlog.level = warn\n' >"$CONF"
eff() { "$BIN/sagad" --config "$CONF" "$@" --print-config | sed -n "s/^batch.max = //p"; }
[ "$(eff)" = 10 ] || fail "file value not applied"
[ "$(SAGA_BATCH_MAX=20 eff)" = 20 ] || fail "env does not override the file"
[ "$(SAGA_BATCH_MAX=20 eff --batch.max=30)" = 30 ] || fail "flag does not override env"
ok "precedence: default < file < env < flag"

printf 'bach.max = 10\n' >"$LOGS/bad.conf"
out=$("$BIN/sagad" --config "$LOGS/bad.conf" 2>&1)
[ $? -eq 2 ] || fail "unknown key not refused with exit 2"
echo "$out" | grep -q 'bad.conf:1: .*bach.max' || fail "unknown key message lacks file:line and key: $out"
echo "$out" | grep -q 'batch.max' || fail "no hint of the closest key: $out"
out=$("$BIN/sagad" --batch.max=ten 2>&1)
[ $? -eq 2 ] && echo "$out" | grep -q 'batch.max' || fail "bad value not refused naming the key: $out"
ok "unknown keys and bad values refused with the key named"

out=$(SAGA_PG_DSN="host=127.0.0.1 port=1 user=saga password=hunter2 dbname=saga" \
      "$BIN/sagad" --kafka.sasl.password=swordfish --print-config)
echo "$out" | grep -q 'hunter2\|swordfish' && fail "a secret was printed: $out"
echo "$out" | grep -q 'password=\*\*\*\*' || fail "DSN password not shown masked"
ok "--print-config masks secrets"

# --- an unreachable database: retry, not ready, still alive --------------
HP=$(free_port 1)
spawn down env SAGA_PG_DSN="host=127.0.0.1 port=1 user=saga dbname=saga password=hunter2" \
    "$BIN/sagad" --http.listen="127.0.0.1:$HP" --reconnect.max_backoff=200ms
DOWN=$SPAWNED
end=$(($(date +%s) + 20))
until grep -q 'retrying' "$LOGS/down.log"; do
    [ "$(date +%s)" -ge "$end" ] && fail "no retry logged while PostgreSQL is unreachable"
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz")" = 503 ] || fail "/readyz not 503"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/healthz")" = 200 ] || fail "/healthz not 200"
grep -q hunter2 "$LOGS/down.log" && fail "password in the log"
stop_gracefully "$DOWN"
ok "unreachable PostgreSQL: retries with backoff, /readyz 503, /healthz 200, exits 0 on SIGTERM"

# --- a run: metrics against the database, traces across processes ---------
"$BIN/sagactl" migrate >/dev/null || fail migrate
sed "s/\"order_checkout\"/\"$P\"/" "$ROOT/sagas/order_checkout.json" >"$LOGS/$P.json"
"$BIN/sagactl" def apply "$LOGS/$P.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 1000 >/dev/null || fail seed
"$BIN/payment-worker" seed --account "$P-rich" --balance 1000000 --account "$P-poor" --balance 10 >/dev/null || fail seed
HP=$(free_port 2)
spawn sagad "$BIN/sagad" --http.listen="127.0.0.1:$HP" --log.format=json
SAGAD=$SPAWNED
spawn inventory "$BIN/inventory-worker" --kafka session.timeout.ms=6000
spawn payment "$BIN/payment-worker" --kafka session.timeout.ms=6000
end=$(($(date +%s) + 30))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz")" = 200 ]; do
    [ "$(date +%s)" -ge "$end" ] && fail "sagad never became ready"
    sleep 0.1
done
ok "/readyz 200 once connected and assigned"

TRACE=4bf92f3577b34da6a3ce929d0e0e$(printf '%04x' $(($$ % 65536)))
"$BIN/sagactl" start "$P" --key "$P-traced" --traceparent "00-$TRACE-00f067aa0ba902b7-01" \
    --input "{\"order_id\":\"$P-t\",\"sku\":\"$P\",\"qty\":1,\"account\":\"$P-rich\",\"amount\":10}" >/dev/null
i=1
while [ $i -le 20 ]; do
    acct=$P-rich
    [ $((i % 5)) -eq 0 ] && acct=$P-poor
    "$BIN/sagactl" start "$P" --key "$P-$i" \
        --input "{\"order_id\":\"$P-$i\",\"sku\":\"$P\",\"qty\":1,\"account\":\"$acct\",\"amount\":100}" >/dev/null
    i=$((i + 1))
done
wait_sql "SELECT count(*) FROM sagas WHERE def_name = '$P' AND status IN ('COMPLETED','COMPENSATED')" 21 60
M=$(curl -s "http://127.0.0.1:$HP/metrics")
metric() { echo "$M" | grep "^$1" | awk '{s += $NF} END {print s + 0}'; }
db_done=$(psql_q "SELECT count(*) FROM sagas WHERE def_name = '$P' AND status = 'COMPLETED'")
db_comp=$(psql_q "SELECT count(*) FROM sagas WHERE def_name = '$P' AND status = 'COMPENSATED'")
[ "$(metric "saga_started_total{definition=\"$P\"}")" = 21 ] || fail "saga_started_total != 21"
[ "$(metric "saga_finished_total{definition=\"$P\",status=\"COMPLETED\"}")" = "$db_done" ] ||
    fail "saga_finished_total COMPLETED != $db_done"
[ "$(metric "saga_finished_total{definition=\"$P\",status=\"COMPENSATED\"}")" = "$db_comp" ] ||
    fail "saga_finished_total COMPENSATED != $db_comp"
echo "$M" | grep -q '^saga_step_duration_seconds_bucket{definition="'"$P"'",step="reserve_payment",action="RESERVE",le="+Inf"}' ||
    fail "no step duration histogram"
echo "$M" | grep -q '^saga_outbox_pending ' || fail "no saga_outbox_pending"
# Every sample line has the exposition format: name{labels} value
bad=$(echo "$M" | grep -v '^#' | grep -v -E '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfa]+$' | head -3)
[ -z "$bad" ] || fail "unparsable metric lines: $bad"
ok "/metrics parses and its counters match the database ($db_done completed, $db_comp compensated)"

for f in sagad inventory payment; do
    grep -q "$TRACE" "$LOGS/$f.log" || fail "trace id $TRACE not in the $f log"
done
ok "trace $TRACE followed through sagad, inventory-worker and payment-worker logs"

# --- SIGTERM under load loses nothing -------------------------------------
( i=1; while [ $i -le 60 ]; do
    "$BIN/sagactl" start "$P" --key "$P-l$i" \
      --input "{\"order_id\":\"$P-l$i\",\"sku\":\"$P\",\"qty\":1,\"account\":\"$P-rich\",\"amount\":100}" >/dev/null
    i=$((i + 1)); done ) &
LOADER=$!
wait_sql "SELECT count(*) >= 20 FROM sagas WHERE idempotency_key LIKE '$P-l%'" t 60
stop_gracefully "$SAGAD"
ok "sagad exited 0 on SIGTERM under load"
wait "$LOADER"
spawn sagad2 "$BIN/sagad" --http.listen=off
wait_sql "SELECT count(*) FROM sagas WHERE idempotency_key LIKE '$P-l%' AND status IN ('COMPLETED','COMPENSATED')" 60 90
wait_sql "SELECT count(*) FROM saga_outbox" 0 30
[ "$(violations "s.def_name = '$P'")" = 0 ] || fail "business invariants broken"
ok "after SIGTERM and restart: all 60 sagas terminal, outbox empty, invariants hold"
