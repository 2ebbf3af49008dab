#!/bin/sh
# restart_race.sh - a process restarted right after kill -9 of its
# predecessor comes up even though the dying predecessor may still hold the
# HTTP port: binding is retried (http.bind_timeout) instead of exiting.
# Ten rounds of kill -9 and immediate restart of sagad and a worker, each
# awaited on /healthz; a port released during the wait is taken once free;
# a port held by an unrelated listener beyond the bound ends in a clear
# error. The processes use their own topics and groups, so the killed
# consumers leave nothing behind that other tests would wait for.
. "$(dirname "$0")/lib.sh"

P=restart$$
ROUNDS=${RESTART_ROUNDS:-10}
SP=$(free_port 1)
WP=$(free_port 2)
HOLD_PORT=$(free_port 3)
"$BIN/sagactl" migrate >/dev/null || fail migrate

start_sagad() { # log name
    spawn "$1" "$BIN/sagad" --http.listen="127.0.0.1:$SP" --sagad.group="$P" \
        --topics.replies="$P.replies" --topics.signals="$P.signals" --topics.start="$P.start" --topics.dlq="$P.dlq"
}
start_worker() { # log name
    spawn "$1" "$BIN/payment-worker" --http.listen="127.0.0.1:$WP" \
        --topic "$P.payment.commands" --group "$P.payment" --dlq-topic "$P.dlq"
}

http_code() { curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2"; }

# await_healthz PORT PID NAME: /healthz answers 200 while PID lives.
await_healthz() {
    end=$(($(date +%s) + 20))
    until [ "$(http_code "$1" /healthz)" = 200 ]; do
        kill -0 "$2" 2>/dev/null || fail "$3 exited: $(tail -n 3 "$LOGS/$3.log")"
        [ "$(date +%s)" -ge "$end" ] && fail "$3 did not answer /healthz within 20 s"
        sleep 0.05
    done
}

# await_log NAME TEXT SECONDS: TEXT appears in NAME's log.
await_log() {
    end=$(($(date +%s) + $3))
    until grep -q "$2" "$LOGS/$1.log"; do
        [ "$(date +%s)" -ge "$end" ] && fail "no \"$2\" in $1.log within $3 s"
        sleep 0.05
    done
}

# hold PORT: an unrelated program listening on PORT; sets HOLDER.
hold() {
    openssl s_server -nocert -accept "127.0.0.1:$1" </dev/null >"$LOGS/holder.log" 2>&1 &
    HOLDER=$!
    PIDS="$PIDS $HOLDER"
    end=$(($(date +%s) + 10))
    until ss -Hltn "sport = :$1" | grep -q LISTEN; do
        [ "$(date +%s)" -ge "$end" ] && fail "openssl s_server did not listen on $1"
        sleep 0.05
    done
}

# --- kill -9 and restart at once, ROUNDS times -----------------------------
start_sagad sagad-0
S=$SPAWNED
start_worker worker-0
W=$SPAWNED
await_healthz "$SP" "$S" sagad-0
await_healthz "$WP" "$W" worker-0
waited=0
i=1
while [ "$i" -le "$ROUNDS" ]; do
    kill -9 "$S" "$W"
    start_sagad "sagad-$i"
    S=$SPAWNED
    start_worker "worker-$i"
    W=$SPAWNED
    await_healthz "$SP" "$S" "sagad-$i"
    await_healthz "$WP" "$W" "worker-$i"
    grep -q 'retrying in' "$LOGS/sagad-$i.log" "$LOGS/worker-$i.log" && waited=$((waited + 1))
    i=$((i + 1))
done
ok "$ROUNDS of $ROUNDS rounds of kill -9 and immediate restart came up and answered /healthz ($waited waited for the port)"
kill -9 "$S" "$W"
await_exit "$S" 10
await_exit "$W" 10

# --- a port freed during the wait is taken -----------------------------------
hold "$SP"
start_sagad sagad-freed
S=$SPAWNED
await_log sagad-freed "cannot listen on 127.0.0.1:$SP: Address already in use (try 1); retrying in" 10
kill "$HOLDER"
await_healthz "$SP" "$S" sagad-freed
grep -q "127.0.0.1:$SP is free after" "$LOGS/sagad-freed.log" || fail "no log line on taking the port"
kill -9 "$S"
ok "a port held at start and released during the wait is taken, the wait logged at warn"

# --- held beyond the bound: a clear error ------------------------------------
hold "$HOLD_PORT"
spawn sagad-held "$BIN/sagad" --http.listen="127.0.0.1:$HOLD_PORT" --http.bind_timeout=2s
S=$SPAWNED
spawn worker-held "$BIN/payment-worker" --http.listen="127.0.0.1:$HOLD_PORT" \
    --http.bind_timeout=2s --topic "$P.payment.commands" --group "$P.payment"
W=$SPAWNED
await_exit "$S" 15
[ "$EXIT_CODE" -ne 0 ] || fail "sagad exited 0 although its port was held"
await_exit "$W" 15
[ "$EXIT_CODE" -ne 0 ] || fail "the worker exited 0 although its port was held"
for n in sagad-held worker-held; do
    grep -q "cannot listen on 127.0.0.1:$HOLD_PORT: Address already in use (still in use after [0-9]* tries over [0-9]* ms)" \
        "$LOGS/$n.log" || fail "$n: no clear error: $(tail -n 2 "$LOGS/$n.log")"
    [ "$(grep -c 'retrying in' "$LOGS/$n.log")" -ge 3 ] || fail "$n: tries not logged"
done
kill "$HOLDER"
ok "a port held beyond http.bind_timeout: each try logged, then exit with a clear error"
