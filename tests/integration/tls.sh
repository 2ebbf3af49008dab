#!/bin/sh
# tls.sh - sagad, sagactl and both workers over TLS only: PostgreSQL with
# ssl = on reached with sslmode=verify-full by a role that has a password,
# Kafka through its SSL listener alone (client certificate with an
# encrypted key). One order runs end to end; the server side shows every
# connection is TLS; the passwords appear in no log, no --help or
# --print-config output, no /metrics and no connection error.
#
# Uses the running stack when it is TLS-capable (SAGA_TLS_DIR and
# SAGA_KAFKA_SSL_BROKERS set, as `SAGA_TLS=1 stack.sh up` writes in its env
# file); otherwise starts a private one beside it (SAGA_STACK_DIR-tls, ports
# SAGA_TLS_PG_PORT, SAGA_TLS_KAFKA_PORT, SAGA_TLS_KAFKA_CONTROLLER_PORT and
# SAGA_TLS_KAFKA_SSL_PORT, by default the plain stack's minus 30000) and stops
# it at the end, so the default stack is never changed.
. "$(dirname "$0")/lib.sh"

STACK_SH=$ROOT/tests/stack/stack.sh
OWN_STACK=""
trap 'cleanup; [ -z "$OWN_STACK" ] || sh "$STACK_SH" down >/dev/null 2>&1' EXIT INT TERM
if [ -z "${SAGA_TLS_DIR:-}" ] || [ -z "${SAGA_KAFKA_SSL_BROKERS:-}" ]; then
    export SAGA_STACK_DIR="${SAGA_STACK_DIR:-$ROOT/.stack}-tls"
    # Below the kernel's ephemeral range (32768-60999 here): a port in it
    # can be held, for a moment, by any outgoing connection on the box.
    export SAGA_PG_PORT="${SAGA_TLS_PG_PORT:-$((${SAGA_PG_PORT:-55432} - 30000))}"
    export SAGA_KAFKA_PORT="${SAGA_TLS_KAFKA_PORT:-$((${SAGA_KAFKA_PORT:-59092} - 30000))}"
    export SAGA_KAFKA_CONTROLLER_PORT="${SAGA_TLS_KAFKA_CONTROLLER_PORT:-$((${SAGA_KAFKA_CONTROLLER_PORT:-59093} - 30000))}"
    export SAGA_KAFKA_SSL_PORT="${SAGA_TLS_KAFKA_SSL_PORT:-$((SAGA_KAFKA_PORT + 2))}"
    OWN_STACK=1
    SAGA_TLS=1 sh "$STACK_SH" up >"$LOGS/stack.log" 2>&1 ||
        fail "TLS stack did not start: $(tail -n 5 "$LOGS/stack.log")"
    . "$SAGA_STACK_DIR/env"
    ok "private TLS stack up in $SAGA_STACK_DIR"
fi
TLS=$SAGA_TLS_DIR
PG_PORT=$(echo "$SAGA_PG_DSN" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
SSL_PORT=${SAGA_KAFKA_SSL_BROKERS##*:}
PLAIN_PORT=${SAGA_KAFKA_BROKERS##*:}

# --- a role with a password, its own database ---------------------------------
PW="pg-secret-$(openssl rand -hex 12)"
KPW=$(cat "$TLS/client.pass")
PGOPTIONS="-c client_min_messages=warning" psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX \
    -c "DO \$\$ BEGIN CREATE ROLE sagatls LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" \
    -c "ALTER ROLE sagatls PASSWORD '$PW'" \
    -c "DROP DATABASE IF EXISTS sagatls WITH (FORCE)" \
    -c "CREATE DATABASE sagatls OWNER sagatls" >/dev/null || fail "cannot create the TLS role"
PLAIN_DSN="host=127.0.0.1 port=$PG_PORT user=sagatls password=$PW dbname=sagatls"
psql "$PLAIN_DSN sslmode=disable" -c "SELECT 1" >/dev/null 2>&1 &&
    fail "the role connects without TLS: the server does not require it"
export SAGA_PG_DSN="$PLAIN_DSN sslmode=verify-full sslrootcert=$TLS/ca.crt"
export SAGA_KAFKA_BROKERS="$SAGA_KAFKA_SSL_BROKERS"
CONF=$LOGS/tls.conf
cat >"$CONF" <<EOF
kafka.security.protocol = ssl
kafka.ssl.ca.location = $TLS/ca.crt
kafka.ssl.certificate.location = $TLS/client.crt
kafka.ssl.key.location = $TLS/client.key
kafka.ssl.key.password = $KPW
EOF

# leaks FILE...: names the files holding either secret.
leaks() { grep -lF -e "$PW" -e "$KPW" "$@"; }
leaks "$CONF" >/dev/null || fail "the secret check does not see a secret"

# --- one order over TLS ---------------------------------------------------------
"$BIN/sagactl" migrate >"$LOGS/sagactl.log" 2>&1 || fail "sagactl migrate over TLS"
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" >>"$LOGS/sagactl.log" 2>&1 ||
    fail "def apply"
"$BIN/inventory-worker" seed --sku tls-sku --qty 10 >>"$LOGS/seed.log" 2>&1 || fail seed
"$BIN/payment-worker" seed --account tls-acct --balance 1000 >>"$LOGS/seed.log" 2>&1 || fail seed
SP=$(free_port 1)
IP=$(free_port 2)
PP=$(free_port 3)
spawn sagad "$BIN/sagad" --config "$CONF" --http.listen "127.0.0.1:$SP" --log.level debug
S=$SPAWNED
spawn inventory "$BIN/inventory-worker" --config "$CONF" --http.listen "127.0.0.1:$IP" \
    --log.level debug
I=$SPAWNED
spawn payment "$BIN/payment-worker" --config "$CONF" --http.listen "127.0.0.1:$PP" \
    --log.level debug
PAY=$SPAWNED
for p in "$SP" "$IP" "$PP"; do
    end=$(($(date +%s) + 40))
    until [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz")" = 200 ]; do
        [ "$(date +%s)" -ge "$end" ] &&
            fail "not ready on $p: $(curl -s -m 1 "http://127.0.0.1:$p/readyz")"
        sleep 0.1
    done
done
"$BIN/sagactl" start order_checkout --key tls-1 --input \
    '{"order_id":"tls-1","sku":"tls-sku","qty":1,"account":"tls-acct","amount":100}' \
    >>"$LOGS/sagactl.log" 2>&1 || fail "sagactl start"
wait_sql "SELECT status FROM sagas WHERE idempotency_key = 'tls-1'" COMPLETED 30 "saga over TLS"
ok "an order completed with PostgreSQL and Kafka over TLS only"

# --- the servers saw TLS only ---------------------------------------------------
got=$(psql_q "SELECT count(*) FILTER (WHERE s.ssl) >= 3, count(*) FILTER (WHERE NOT s.ssl)
              FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.usename = 'sagatls'")
[ "$got" = "t|0" ] || fail "pg_stat_ssl: wanted every sagatls session over TLS, got $got"
for pid in "$S" "$I" "$PAY"; do
    ss -Htnp state established "( dport = :$SSL_PORT )" | grep -q "pid=$pid," ||
        fail "process $pid has no connection to the Kafka SSL listener"
    ss -Htnp state established "( dport = :$PLAIN_PORT )" | grep -q "pid=$pid," &&
        fail "process $pid is connected to the PLAINTEXT listener"
done
ok "pg_stat_ssl: every session TLS; Kafka: SSL listener only"

# --- no secret anywhere -----------------------------------------------------------
for p in "$SP" "$IP" "$PP"; do
    curl -s -m 2 "http://127.0.0.1:$p/metrics" >"$LOGS/metrics-$p.out"
    curl -s -m 2 "http://127.0.0.1:$p/readyz" >>"$LOGS/metrics-$p.out"
done
for prog in sagad inventory-worker payment-worker; do
    "$BIN/$prog" --config "$CONF" --help >"$LOGS/help-$prog.out" 2>&1
    "$BIN/$prog" --config "$CONF" --print-config >"$LOGS/print-$prog.out" 2>&1 ||
        fail "$prog --print-config"
done
"$BIN/sagactl" --help >"$LOGS/help-sagactl.out" 2>&1
grep -q 'kafka.ssl.key.password = \*\*\*\*' "$LOGS/print-sagad.out" ||
    fail "--print-config does not show the key password masked"
"$BIN/sagactl" --dsn "host=127.0.0.1 port=1 user=sagatls password=$PW dbname=sagatls" list \
    >"$LOGS/connect-error.out" 2>&1 && fail "sagactl connected to port 1"
stop_gracefully "$S"
stop_gracefully "$I"
stop_gracefully "$PAY"
found=$(leaks "$LOGS"/*.log "$LOGS"/*.out)
[ -z "$found" ] || fail "a secret appears in: $found"
ok "no secret in logs, --help, --print-config, /metrics or a connection error"
