#!/bin/sh
# stack.sh up|down|reset|status - the local stack sagad runs and is tested on:
# a private PostgreSQL 15 cluster and a single-node Apache Kafka broker in
# KRaft mode, both under .stack/ in the checkout, both on 127.0.0.1.
#
# Kafka has no Debian package, so its jars come from Maven Central (pom.xml
# beside this file) and are cached outside the checkout, in
# $SAGA_CACHE_DIR (default ~/.cache/sagad): a second clone starts offline.
# PostgreSQL stays durable (fsync and synchronous_commit on): the same stack
# serves the demo and the benchmark, where durability is not negotiable.
#
# Overridable: SAGA_STACK_DIR, SAGA_PG_PORT (55432), SAGA_KAFKA_PORT (59092),
# SAGA_KAFKA_CONTROLLER_PORT (59093), SAGA_CACHE_DIR, SAGA_KAFKA_VERSION.
# For measuring broker settings (tests/bench/ab.sh, docs/operations.md):
# SAGA_KAFKA_JVM (the JVM's flags; default below) and SAGA_KAFKA_PROPS
# (extra server.properties lines, "key=value" separated by spaces; a key
# given twice, the later line wins).
#
# TLS, opt-in: `SAGA_TLS=1 stack.sh up` also makes a CA and certificates in
# $STACK/tls (certs.sh), starts PostgreSQL with ssl = on, where every role
# but the stack's own `saga` must come over TLS with a password, and adds a
# Kafka SSL listener on SAGA_KAFKA_SSL_PORT (SAGA_KAFKA_PORT + 2) that
# requires a client certificate, beside the PLAINTEXT one. A stack made so
# stays so (reset makes it plain again); the default stack is untouched.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STACK=${SAGA_STACK_DIR:-$ROOT/.stack}
PG_PORT=${SAGA_PG_PORT:-55432}
KAFKA_PORT=${SAGA_KAFKA_PORT:-59092}
CTRL_PORT=${SAGA_KAFKA_CONTROLLER_PORT:-59093}
KAFKA_VERSION=${SAGA_KAFKA_VERSION:-3.9.1}
CACHE=${SAGA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sagad}
# The broker shares two cores with everything else here. The parallel
# collector and one network / two I/O threads (instead of G1 and 3 / 8)
# took 15-28 % less broker CPU per saga and lowered the latencies
# (tests/bench/broker_ab.sh; docs/operations.md#kafka-on-a-shared-host).
KAFKA_JVM=${SAGA_KAFKA_JVM:--Xms512m -Xmx512m -XX:+UseParallelGC}
KAFKA_THREADS="num.network.threads=1 num.io.threads=2"
KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
PG_BIN=/usr/lib/postgresql/15/bin
PGDATA=$STACK/pg
START_DEADLINE=${SAGA_STACK_DEADLINE:-90}
TLS_DIR=$STACK/tls
SSL_PORT=${SAGA_KAFKA_SSL_PORT:-$((KAFKA_PORT + 2))}
TLS=0
{ [ "${SAGA_TLS:-0}" = 1 ] || [ -f "$TLS_DIR/.complete" ]; } && TLS=1

log() { echo "stack: $*"; }
die() { echo "stack: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root; run its tools as the postgres user then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_open() { bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

tail_log() {
    echo "--- last lines of $1 ---" >&2
    tail -n 30 "$1" >&2 2>/dev/null || true
}

# --- PostgreSQL ---------------------------------------------------------------
pg_pid() {
    [ -f "$PGDATA/postmaster.pid" ] && head -n 1 "$PGDATA/postmaster.pid" || true
}

# Processes still working in the data directory (backends of a dead
# postmaster have it as their working directory).
pg_orphans() {
    for d in /proc/[0-9]*; do
        [ "$(readlink "$d/cwd" 2>/dev/null)" = "$PGDATA" ] && echo "${d#/proc/}"
    done
    return 0
}

pg_ready() {
    as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d saga -U saga
}

# Server options on the command line, so TLS never edits the data
# directory: the certificates and the hba rules live in $TLS_DIR.
pg_opts() {
    printf '%s' "-p $PG_PORT"
    [ "$TLS" = 1 ] || return 0
    printf ' %s' "-c ssl=on -c ssl_cert_file=$TLS_DIR/pg.crt" \
        "-c ssl_key_file=$TLS_DIR/pg.key -c hba_file=$TLS_DIR/pg_hba.conf"
}

pg_up() {
    if alive "$(pg_pid)" && pg_ready; then
        log "postgres already running on 127.0.0.1:$PG_PORT"
        return 0
    fi
    mkdir -p "$STACK"
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"
        mkdir -p "$PGDATA"
        [ "$(id -u)" = 0 ] && chown postgres "$PGDATA" "$STACK"
        log "initdb $PGDATA"
        as_pg "$PG_BIN/initdb" -D "$PGDATA" -U saga -A trust -E UTF8 \
            --locale=C.UTF-8 >"$STACK/initdb.log" 2>&1 ||
            { tail_log "$STACK/initdb.log"; die "initdb failed"; }
        cat >>"$PGDATA/postgresql.conf" <<EOF
# sagad local stack
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGDATA'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
EOF
    fi
    # A postmaster killed with -9 leaves its pid file and, for a moment, its
    # backends (which exit once they notice). Wait for a dying postmaster
    # and its orphans to go (a hung one is killed), then remove the file:
    # postgres refuses to start while any of them holds the data directory.
    if [ -f "$PGDATA/postmaster.pid" ]; then
        pid=$(pg_pid)
        end=$(($(date +%s) + 15))
        while { alive "$pid" || [ -n "$(pg_orphans)" ]; } && [ "$(date +%s)" -lt "$end" ]; do
            if pg_ready; then
                log "postgres already running on 127.0.0.1:$PG_PORT"
                return 0
            fi
            sleep 0.2
        done
        for p in $pid $(pg_orphans); do kill -9 "$p" 2>/dev/null || true; done
        log "removing stale postgres pid file"
        rm -f "$PGDATA/postmaster.pid"
    fi
    if port_open "$PG_PORT"; then
        die "port $PG_PORT is already in use by another program; set SAGA_PG_PORT to a free port"
    fi
    [ "$(id -u)" = 0 ] && chown postgres "$STACK" && touch "$STACK/postgres.log" &&
        chown postgres "$STACK/postgres.log"
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$STACK/postgres.log" \
        -o "$(pg_opts)" -w -t "$START_DEADLINE" start >/dev/null 2>&1 ||
        { tail_log "$STACK/postgres.log"; die "postgres did not start on port $PG_PORT"; }
    as_pg "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U saga -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'saga'" | grep -q 1 ||
        as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U saga saga
    log "postgres up on 127.0.0.1:$PG_PORT$([ "$TLS" = 1 ] && echo ' (ssl = on)')"
}

pg_down() {
    if alive "$(pg_pid)"; then
        as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            kill -9 "$(pg_pid)" 2>/dev/null || true
        log "postgres stopped"
    fi
    pkill -9 -f -- "-D $PGDATA" 2>/dev/null || true
}

# --- Kafka --------------------------------------------------------------------
kafka_pid() { [ -f "$STACK/kafka.pid" ] && cat "$STACK/kafka.pid" || true; }

kafka_ready() {
    kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 >/dev/null 2>&1
}

kafka_jars() {
    [ -f "$KAFKA_LIBS/.complete" ] && return 0
    log "resolving Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
    tmp="$KAFKA_LIBS.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    mvn -B -q -f "$ROOT/tests/stack/kafka/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$STACK/maven.log" 2>&1 ||
        { tail_log "$STACK/maven.log"; rm -rf "$tmp"; die "could not resolve Kafka jars"; }
    touch "$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
}

kafka_java() {
    # shellcheck disable=SC2086 # KAFKA_JVM is words on purpose
    java $KAFKA_JVM -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$STACK/kafka/log4j.properties" \
        -cp "$KAFKA_LIBS/*" "$@"
}

kafka_up() {
    if alive "$(kafka_pid)" && kafka_ready; then
        log "kafka already running on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    if alive "$(kafka_pid)"; then
        # Our broker is alive but not answering: it may still be starting.
        wait_kafka && { log "kafka up on 127.0.0.1:$KAFKA_PORT"; return 0; }
        kill -9 "$(kafka_pid)" 2>/dev/null || true
    fi
    rm -f "$STACK/kafka.pid"
    for p in "$KAFKA_PORT" "$CTRL_PORT" $([ "$TLS" = 1 ] && echo "$SSL_PORT"); do
        if port_open "$p"; then
            var=SAGA_KAFKA_PORT
            [ "$p" = "$CTRL_PORT" ] && var=SAGA_KAFKA_CONTROLLER_PORT
            [ "$p" = "$SSL_PORT" ] && var=SAGA_KAFKA_SSL_PORT
            die "port $p is already in use by another program; set $var to a free port"
        fi
    done
    mkdir -p "$STACK/kafka/data"
    kafka_jars
    cat >"$STACK/kafka/log4j.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
    cat >"$STACK/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$STACK/kafka/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
    [ "$TLS" = 1 ] && kafka_ssl_properties >>"$STACK/kafka/server.properties"
    for kv in $KAFKA_THREADS ${SAGA_KAFKA_PROPS:-}; do echo "$kv"; done \
        >>"$STACK/kafka/server.properties"
    if [ ! -f "$STACK/kafka/data/meta.properties" ]; then
        id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$STACK/kafka.log")
        kafka_java kafka.tools.StorageTool format -t "$id" -g \
            -c "$STACK/kafka/server.properties" >>"$STACK/kafka.log" 2>&1 ||
            { tail_log "$STACK/kafka.log"; die "kafka storage format failed"; }
    fi
    # setsid: the broker must not die with the shell that started it.
    setsid sh -c "exec java $KAFKA_JVM -Djava.awt.headless=true \
        -Dlog4j.configuration=file:$STACK/kafka/log4j.properties \
        -cp '$KAFKA_LIBS/*' kafka.Kafka $STACK/kafka/server.properties" \
        >>"$STACK/kafka.log" 2>&1 </dev/null &
    echo $! >"$STACK/kafka.pid"
    if ! wait_kafka; then
        tail_log "$STACK/kafka.log"
        die "kafka did not accept connections on 127.0.0.1:$KAFKA_PORT within ${START_DEADLINE}s"
    fi
    log "kafka up on 127.0.0.1:$KAFKA_PORT"
}

# The SSL listener beside PLAINTEXT (which the broker keeps for itself and
# the stack's tools); clients must show a certificate signed by the CA. The
# later listeners lines override the plain ones above.
kafka_ssl_properties() {
    pass=$(cat "$TLS_DIR/store.pass")
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CTRL_PORT,SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SSL://127.0.0.1:$SSL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL
ssl.keystore.type=PKCS12
ssl.keystore.location=$TLS_DIR/kafka.keystore.p12
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.truststore.type=PKCS12
ssl.truststore.location=$TLS_DIR/kafka.truststore.p12
ssl.truststore.password=$pass
listener.name.ssl.ssl.client.auth=required
EOF
}

wait_kafka() {
    end=$(($(date +%s) + START_DEADLINE))
    while [ "$(date +%s)" -lt "$end" ]; do
        alive "$(kafka_pid)" || return 1
        kafka_ready && return 0
        sleep 0.2
    done
    return 1
}

kafka_down() {
    pid=$(kafka_pid)
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        end=$(($(date +%s) + 30))
        while alive "$pid" && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
        alive "$pid" && kill -9 "$pid" 2>/dev/null
        log "kafka stopped"
    fi
    rm -f "$STACK/kafka.pid"
    pkill -9 -f -- "kafka.Kafka $STACK/kafka/server.properties" 2>/dev/null || true
}

# TLS asked of a stack running without it: refused before anything is made
# (the certificates would turn the stack to TLS for good), since a running
# server must not be silently reused without TLS.
tls_refuse_plain() {
    again="stack.sh down, then SAGA_TLS=1 stack.sh up"
    if alive "$(pg_pid)" && pg_ready; then
        on=$(as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U saga -d postgres -tAc "SHOW ssl")
        [ "$on" = on ] || die "postgres on $PG_PORT runs without TLS; $again"
    fi
    if alive "$(kafka_pid)" && kafka_ready && ! port_open "$SSL_PORT"; then
        die "kafka on $KAFKA_PORT has no SSL listener on $SSL_PORT; $again"
    fi
}

write_env() {
    cat >"$STACK/env" <<EOF
export SAGA_PG_DSN='host=127.0.0.1 port=$PG_PORT user=saga dbname=saga'
export SAGA_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
EOF
    [ "$TLS" = 1 ] || return 0
    cat >>"$STACK/env" <<EOF
export SAGA_TLS_DIR='$TLS_DIR'
export SAGA_KAFKA_SSL_BROKERS='127.0.0.1:$SSL_PORT'
EOF
}

# The console `make demo` leaves running (examples/demo.sh) reads this
# stack's database: it stops with the stack. The pid file may be stale, so
# only a sagactl is stopped.
console_down() {
    pid=$(cat "$STACK/console.pid" 2>/dev/null) || return 0
    if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sagactl ]; then
        kill -TERM "$pid" && log "console stopped (pid $pid)"
    fi
    rm -f "$STACK/console.pid"
}

case "${1:-}" in
up)
    mkdir -p "$STACK"
    if [ "$TLS" = 1 ]; then
        tls_refuse_plain
        sh "$ROOT/tests/stack/certs.sh" "$TLS_DIR" >"$STACK/certs.log" 2>&1 ||
            { tail_log "$STACK/certs.log"; die "could not make the TLS certificates"; }
    fi
    pg_up
    kafka_up
    write_env
    log "environment in $STACK/env (. $STACK/env)"
    ;;
down)
    console_down
    kafka_down
    pg_down
    ;;
reset)
    console_down
    kafka_down
    pg_down
    rm -rf "$STACK"
    log "wiped $STACK"
    ;;
status)
    if alive "$(pg_pid)" && pg_ready; then log "postgres: up on 127.0.0.1:$PG_PORT"; else log "postgres: down"; fi
    if alive "$(kafka_pid)" && kafka_ready; then log "kafka: up on 127.0.0.1:$KAFKA_PORT"; else log "kafka: down"; fi
    if [ "$TLS" = 1 ]; then log "tls: certificates in $TLS_DIR, kafka SSL on 127.0.0.1:$SSL_PORT"; fi
    ;;
restart-kafka)
    kafka_down
    kafka_up
    ;;
restart-pg)
    pg_down
    pg_up
    ;;
console-down)
    console_down
    ;;
*)
    echo "usage: stack.sh up|down|reset|status|restart-kafka|restart-pg|console-down" >&2
    exit 2
    ;;
esac
