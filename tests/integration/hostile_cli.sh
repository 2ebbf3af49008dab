#!/bin/sh
# hostile_cli.sh - bad command lines and a database that is down, for every
# program an operator runs: sagactl (malformed, unknown and ambiguous ids,
# durations out of range or in unknown units, unknown statuses, limits and
# cursors, over-long and invalid UTF-8 arguments, SQL-looking values), sagad
# and the workers (bad durations, rates, sizes, unknown keys).
#
# Each must end with the documented exit status (docs/cli.md: 1 invalid or
# not found, 2 usage, 3 database unreachable; sagad and workers: 2) and one
# error line (plus at most a hint, and for usage errors the usage line),
# never a crash. With the database down, every database command exits 3 with
# the DSN shown and its password masked; no program (sagactl, sagad, the
# workers, their --print-config) ever prints the password. Operator actions
# are audited: an abort records its actor and reason verbatim.
# Runs in a database of its own, dropped at exit.
. "$(dirname "$0")/lib.sh"

DB=saga_hostile_cli_$$
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"
ID=$("$S" start order_checkout --key cli-1 --input \
    '{"order_id": "o", "sku": "A", "qty": 1, "account": "a", "amount": 1}') || fail "start"

LONG=$(awk 'BEGIN { for (i = 0; i < 100000; i++) printf "a" }')
BAD_UTF8=$(printf '\377\376')
n=0
# expect RC WANT PROG ARGS...: exit status RC, and on stderr one line
# "PROG: ..." containing WANT (an empty WANT accepts any text), followed by
# nothing but "hint:" and "usage:" lines.
expect() {
    want_rc=$1 want=$2
    shift 2
    n=$((n + 1))
    prog=$(basename "$1")
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" = "$want_rc" ] || { cat "$TMP/err" >&2; fail "$prog $2 ...: exit $rc, wanted $want_rc"; }
    [ "$(grep -Evc '^(hint|usage): ' "$TMP/err")" = 1 ] && head -n 1 "$TMP/err" | grep -q "^$prog: " ||
        { cat "$TMP/err" >&2; fail "$prog $2 ...: not one \"$prog: ...\" line"; }
    [ -z "$want" ] || grep -qF -- "$want" "$TMP/err" ||
        { cat "$TMP/err" >&2; fail "$prog $2 ...: the error does not say \"$want\""; }
}

# --- sagactl: ids, durations, statuses, limits ---------------------------------------------------
expect 1 "invalid saga id" "$S" show zzzz-not-hex
expect 1 "invalid saga id" "$S" show "$BAD_UTF8"
expect 1 "invalid saga id" "$S" show "$LONG"
expect 1 "invalid saga id" "$S" show "'; DROP TABLE sagas; --"
expect 1 "empty saga id" "$S" show ""
expect 1 "no saga" "$S" show 00000000-0000-4000-8000-000000000000
expect 1 "no saga" "$S" abort 00000000-0000-4000-8000-000000000000 --reason x --yes
expect 1 "" "$S" retry "$ID" --step no_such_step
expect 2 "unknown status" "$S" list --status BOGUS
expect 2 "unknown status" "$S" list --status "$BAD_UTF8"
expect 2 "invalid duration" "$S" list --since 5parsecs
expect 2 "invalid duration" "$S" list --since -5m
expect 2 "too long" "$S" prune --older-than 99999999999999h
expect 2 "invalid duration" "$S" stuck --threshold "$LONG"
expect 2 "expected an integer from 1 to 100000" "$S" list --limit -1
expect 2 "expected an integer from 1 to 100000" "$S" list --limit 99999999999999999999
expect 2 "invalid cursor" "$S" list --after "'; DROP TABLE sagas; --"
expect 2 "unknown command" "$S" frobnicate
expect 2 "unknown option" "$S" list --frobnicate
expect 1 "" "$S" def show "no_such_def'; DROP TABLE saga_definitions; --"
[ "$(psql_q "SELECT count(*) FROM sagas") $(psql_q "SELECT count(*) FROM saga_definitions")" = "1 1" ] ||
    fail "a bad command changed the database"
ok "$n bad sagactl command lines: documented exit status, one error line, nothing changed"

# --- sagad and the workers --------------------------------------------------------------------------
m=$n
expect 2 "outbox.interval" "$BIN/sagad" --outbox.interval=5parsecs --http.listen=off
expect 2 "batch.max" "$BIN/sagad" --batch.max=0 --http.listen=off
expect 2 "batch.max" "$BIN/sagad" --batch.max=99999999999999999999 --http.listen=off
expect 2 "frobnicate" "$BIN/sagad" --frobnicate=1
expect 2 "shutdown.timeout" "$BIN/sagad" --shutdown.timeout=-1s --http.listen=off
for w in inventory-worker payment-worker; do
    expect 2 "fault.delay" "$BIN/$w" run --fault.delay=abc
    expect 2 "fault.reject.rate" "$BIN/$w" run --fault.reject.rate=2
    expect 2 "worker.max.message.bytes" "$BIN/$w" run --worker.max.message.bytes=1
    expect 2 "fault.seed" "$BIN/$w" run --fault.seed=-1
    expect 2 "frobnicate" "$BIN/$w" frobnicate
done
expect 2 "check" "$BIN/inventory-worker" check --prefix
ok "$((n - m)) bad sagad and worker command lines refused with exit 2 and one line"

# --- the database is down ------------------------------------------------------------------------------
DOWN="host=127.0.0.1 port=1 user=saga password=hunter2 dbname=saga connect_timeout=3"
DOWN_URI="postgresql://saga:hunter2@127.0.0.1:1/saga?connect_timeout=3"
m=$n
for dsn in "$DOWN" "$DOWN_URI"; do
    for args in "list" "show $ID" "stuck" "stats" "def list" "migrate" "retry $ID" \
        "abort $ID --reason x --yes" "prune --older-than 30d"; do
        # shellcheck disable=SC2086
        expect 3 "cannot connect to PostgreSQL" "$S" --dsn "$dsn" $args
        grep -q hunter2 "$TMP/err" && fail "sagactl $args printed the password"
    done
    expect 3 "cannot connect to PostgreSQL" "$S" --dsn "$dsn" start order_checkout --input \
        '{"order_id": "o", "sku": "A", "qty": 1, "account": "a", "amount": 1}'
    grep -q hunter2 "$TMP/err" && fail "sagactl start printed the password"
    expect 2 "" "$BIN/inventory-worker" --pg.dsn="$dsn" check
    grep -q hunter2 "$TMP/err" && fail "inventory-worker check printed the password"
done
"$S" --dsn "$DOWN" def validate "$ROOT/sagas/order_checkout.json" >/dev/null 2>&1 ||
    fail "def validate needs no database, yet failed with it down"
ok "$((n - m)) commands with the database down: exit 3 (workers 2), password masked"

# Daemons keep retrying a database that is down and never log the password.
spawn sagad-down "$BIN/sagad" --pg.dsn="$DOWN" --http.listen=off --log.format=json
SAGAD=$SPAWNED
spawn worker-down "$BIN/inventory-worker" run --pg.dsn="$DOWN" --log.format=json --http.listen=off
WORKER=$SPAWNED
wait_log() { grep -q "$2" "$LOGS/$1.log" 2>/dev/null; }
end=$(($(date +%s) + 30))
until wait_log sagad-down retrying && wait_log worker-down 127.0.0.1; do
    [ "$(date +%s)" -ge "$end" ] && fail "sagad or the worker did not report the unreachable database"
    sleep 0.2
done
kill -0 "$SAGAD" && kill -0 "$WORKER" || fail "a daemon gave up on a database that is down"
stop_gracefully "$SAGAD"
stop_gracefully "$WORKER"
grep -l hunter2 "$LOGS/sagad-down.log" "$LOGS/worker-down.log" && fail "a daemon logged the password"
"$BIN/sagad" --pg.dsn="$DOWN" --print-config >"$TMP/out" 2>&1
grep -q hunter2 "$TMP/out" && fail "sagad --print-config printed the password"
grep -q 'password=\*\*\*\*' "$TMP/out" || fail "sagad --print-config does not show the masked DSN"
ok "sagad and the workers retry a database that is down, and never print its password"

# --- operator actions are audited ------------------------------------------------------------------------
REASON="customer called; '); DROP TABLE saga_history; --"
"$S" abort "$ID" --reason "$REASON" --actor "ops'alice" --yes >/dev/null 2>"$TMP/err" ||
    { cat "$TMP/err" >&2; fail "abort of a RUNNING saga"; }
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$ID' AND kind = 'operator'
    AND actor = 'ops''alice' AND position('DROP TABLE saga_history' in text) > 0")" = 1 ] ||
    fail "the abort is not in the history with its actor and reason"
ok "an abort is audited with its actor and reason, stored verbatim"
