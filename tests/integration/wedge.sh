#!/bin/sh
# wedge.sh - a sagad kept from its work says so, and recovers by itself:
#  1. a saga row locked by another transaction: its due wake-up cannot be
#     served, so /readyz turns 503 naming the overdue wake-up, the status
#     line reports it, and the reply that arrives meanwhile fails its turn
#     on pg.lock_timeout and is retried (never applied half, never
#     dead-lettered); when the lock goes, /readyz is 200 again and the
#     reply is applied;
#  2. partitions withheld: a second sagad in a group whose only partition
#     the first one holds is not ready, saying so, until the first stops.
. "$(dirname "$0")/lib.sh"

P=wedge$$
http_code() { curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2"; }
http_body() { curl -s -m 1 "http://127.0.0.1:$1$2"; }
# await_http PORT PATH CODE SECONDS WHAT
await_http() {
    end=$(($(date +%s) + $4))
    while [ "$(http_code "$1" "$2")" != "$3" ]; do
        [ "$(date +%s)" -ge "$end" ] && fail "$5: $2 on :$1 is not $3 after $4 s ($(http_body "$1" "$2"))"
        sleep 0.1
    done
}

"$BIN/sagactl" migrate >/dev/null || fail "migrate"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
"$BIN/inventory-worker" seed --sku "$P" --qty 10 >/dev/null || fail "seed stock"

# --- 1. a row lock ---------------------------------------------------------
PORT=$(free_port 1)
spawn sagad "$BIN/sagad" --http.listen="127.0.0.1:$PORT" --ready.max_timer_lag=2s \
    --pg.lock_timeout=300ms --log.status_interval=1s
await_http "$PORT" /readyz 200 30 "sagad did not become ready"
ID=$("$BIN/sagactl" start order_checkout --key "$P-1" --input \
    "{\"order_id\":\"$P-1\",\"sku\":\"$P\",\"qty\":1,\"account\":\"nobody\",\"amount\":1}" |
    grep -Eo '[0-9a-f]{8}-[0-9a-f-]{27}' | head -1)
[ -n "$ID" ] || fail "no saga id from sagactl start"
wait_sql "SELECT attempt FROM saga_steps WHERE saga_id = '$ID' AND name = 'reserve_inventory'" 1 20 \
    "the first reserve was not sent"
# The lock holder: a transaction that keeps the saga's row for 9 s. Its
# deadline (5 s) passes meanwhile, so the wake-up is due and unservable.
psql "$SAGA_PG_DSN" -qtAX -c "BEGIN; SELECT 1 FROM sagas WHERE id = '$ID' FOR UPDATE;
    SELECT pg_sleep(9); COMMIT;" >/dev/null 2>&1 &
LOCKER=$!
wait_sql "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
          WHERE a.query LIKE '%pg_sleep(9)%' AND l.pid <> pg_backend_pid()
            AND l.mode = 'RowShareLock' AND l.granted" 1 10 \
    "the lock holder did not take its lock"
spawn inventory "$BIN/inventory-worker"   # its reply meets the lock
await_http "$PORT" /readyz 503 20 "a wedged timer did not make sagad unready"
reason=$(http_body "$PORT" /readyz)
echo "$reason" | grep -q "due wake-ups are not being served" ||
    fail "not-ready reason does not name the overdue wake-up: $reason"
ok "row locked elsewhere: /readyz says \"$reason\""
end=$(($(date +%s) + 10))
until grep -q 'earliest wake-up overdue by [0-9]' "$LOGS/sagad.log"; do
    [ "$(date +%s)" -ge "$end" ] && fail "the status line does not report the overdue wake-up"
    sleep 0.1
done
ok "the status line reports it: $(grep -o 'earliest wake-up overdue by [^"]*' "$LOGS/sagad.log" | tail -1)"
wait "$LOCKER"
await_http "$PORT" /readyz 200 20 "sagad did not recover after the lock went"
ok "lock released: ready again"
grep -q 'locked elsewhere; the turn is retried' "$LOGS/sagad.log" ||
    fail "no turn met the lock (the reply came too late to test pg.lock_timeout)"
wait_sql "SELECT status FROM saga_steps WHERE saga_id = '$ID' AND name = 'reserve_inventory'" \
    RESERVED 20 "the reply that met the lock was not applied after it went"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$ID' AND kind = 'reply'
             AND step = 'reserve_inventory' AND outcome = 'OK'")" = 1 ] ||
    fail "the reserve's reply is not in the history exactly once"
ok "the turn that met the lock was retried and its reply applied once the lock went"
stop_gracefully "$(echo "$PIDS" | awk '{print $1}')"

# --- 2. partitions withheld -------------------------------------------------
A=$(free_port 2)
B=$(free_port 3)
OPTS="--topics.replies=$P.replies --topics.signals=$P.signals --topics.start=$P.start --topics.partitions=1 --sagad.group=$P"
# shellcheck disable=SC2086
spawn sagad-a "$BIN/sagad" --http.listen="127.0.0.1:$A" $OPTS
SA=$SPAWNED
await_http "$A" /readyz 200 30 "the first sagad did not become ready"
# shellcheck disable=SC2086
spawn sagad-b "$BIN/sagad" --http.listen="127.0.0.1:$B" $OPTS
await_http "$B" /healthz 200 30 "the second sagad did not start"
end=$(($(date +%s) + 10))
until http_body "$B" /readyz | grep -q 'no partitions assigned'; do
    [ "$(date +%s)" -ge "$end" ] && fail "the second sagad did not say it has no partition: $(http_body "$B" /readyz)"
    sleep 0.1
done
[ "$(http_code "$B" /readyz)" = 503 ] || fail "a sagad without partitions answered /readyz 200"
ok "partitions withheld: /readyz says \"$(http_body "$B" /readyz)\""
kill -9 "$SA"
await_http "$B" /readyz 200 30 "the second sagad did not take the partition over"
ok "the partition's holder died: the other took it over and is ready"
