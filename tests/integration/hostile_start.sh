#!/bin/sh
# hostile_start.sh - bad start requests through sagactl (the saga_start C
# API underneath): fields of the wrong type, missing and unknown fields,
# inputs that are not objects or not JSON, NUL and invalid UTF-8, integers
# past 64 bits, trailing garbage, an input over the 256 KiB limit, an
# over-long idempotency key, an unreadable @FILE, definition names that look
# like SQL or do not exist.
#
# Each must be refused with exit status 1 and one `sagactl: error:` line
# that names the field or the limit (at most one `hint:` line more), and
# store nothing. Strings that look like SQL in valid places (input values,
# the idempotency key, the traceparent) must be accepted and stored
# verbatim, with every table still there. Runs in a database of its own,
# dropped at exit (no sagad: nothing here needs to run).
. "$(dirname "$0")/lib.sh"

DB=saga_hostile_start_$$
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$ROOT/sagas/order_checkout.json" >/dev/null || fail "def apply"

GOOD='"sku": "A-1", "qty": 1, "account": "acc", "amount": 100'
awk 'BEGIN { printf "{\"order_id\": \""; for (i = 0; i < 300000; i++) printf "x"; printf "\", \"sku\": \"A\", \"qty\": 1, \"account\": \"a\", \"amount\": 1}" }' >"$TMP/big.json"
LONGKEY=$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf "k" }')

n=0
# refused DESCRIPTION WANT DEF INPUT [KEY]: start must fail with exit 1, one
# error line containing WANT, and store nothing.
refused() {
    n=$((n + 1))
    key=${5:-hostile-$n}
    "$S" start "$3" --key "$key" --input "$4" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" = 1 ] || { cat "$TMP/out" "$TMP/err" >&2; fail "$1: exit $rc, wanted 1"; }
    [ "$(grep -c '^sagactl: error: ' "$TMP/err")" = 1 ] && [ "$(grep -vc '^hint: ' "$TMP/err")" = 1 ] ||
        { cat "$TMP/err" >&2; fail "$1: not one error line (and a hint)"; }
    grep -qF -- "$2" "$TMP/err" || { cat "$TMP/err" >&2; fail "$1: the error does not say \"$2\""; }
    [ ! -s "$TMP/out" ] || fail "$1: printed a saga id although refused"
}

refused "wrong type" "input.order_id: expected string, got integer" order_checkout "{\"order_id\": 7, $GOOD}"
refused "float for an integer" "input.qty: expected integer, got number" order_checkout \
    '{"order_id": "o", "sku": "A", "qty": 1.5, "account": "a", "amount": 1}'
refused "array for a string" "input.sku: expected string, got array" order_checkout \
    '{"order_id": "o", "sku": ["A"], "qty": 1, "account": "a", "amount": 1}'
refused "null for a string" "input.account: expected string, got null" order_checkout \
    '{"order_id": "o", "sku": "A", "qty": 1, "account": null, "amount": 1}'
refused "missing field" "input.order_id: required field missing" order_checkout "{$GOOD}"
refused "unknown field" "input.evil: unknown field" order_checkout "{\"order_id\": \"o\", $GOOD, \"evil\": true}"
refused "array input" "input: expected object, got array" order_checkout '[]'
refused "string input" "input: not valid JSON" order_checkout '"{}"'
refused "truncated JSON" "input: not valid JSON" order_checkout '{"order_id": "o",'
refused "empty input" "input: not valid JSON" order_checkout ''
refused "trailing garbage" "input: not valid JSON" order_checkout "{\"order_id\": \"o\", $GOOD} {}"
refused "escaped NUL" "input: not valid JSON" order_checkout "{\"order_id\": \"a\\u0000b\", $GOOD}"
refused "invalid UTF-8" "input: not valid JSON" order_checkout "$(printf '{"order_id": "\377\376", %s}' "$GOOD")"
refused "integer past 64 bits" "input: not valid JSON" order_checkout \
    '{"order_id": "o", "sku": "A", "qty": 99999999999999999999, "account": "a", "amount": 1}'
refused "input over the limit" "larger than the limit of 262144 bytes" order_checkout "@$TMP/big.json"
refused "unreadable @FILE" "could not open" order_checkout "@$TMP/no/such/file"
refused "key over the limit" "idempotency key: longer than 200 bytes" order_checkout \
    "{\"order_id\": \"o\", $GOOD}" "$LONGKEY"
refused "definition that looks like SQL" "no definition named" \
    "order_checkout'; DROP TABLE sagas; --" "{\"order_id\": \"o\", $GOOD}"
refused "unknown definition" "no definition named \"order_chekout\"" order_chekout "{\"order_id\": \"o\", $GOOD}"
refused "unknown version" "order_checkout" "order_checkout@99" "{\"order_id\": \"o\", $GOOD}"
ok "$n bad start requests refused with one line naming the problem"
[ "$(psql_q "SELECT count(*) FROM sagas")" = 0 ] || fail "a refused start stored a saga"
ok "nothing stored"

# SQL-looking strings where any string is allowed: stored verbatim.
EVIL="x'); DELETE FROM sagas; DROP TABLE saga_steps; --"
KEY="k' OR '1'='1"
"$S" start order_checkout --key "$KEY" --traceparent "'; TRUNCATE saga_outbox; --" \
    --input "{\"order_id\": \"$EVIL\", \"sku\": \"\\\"; DROP SCHEMA public CASCADE; --\", \"qty\": 1, \"account\": \"\$\$;\", \"amount\": 1}" \
    >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "a valid input with SQL-looking strings was refused"; }
[ "$(psql_q "SELECT input->>'order_id' FROM sagas WHERE idempotency_key = 'k'' OR ''1''=''1'")" = "$EVIL" ] ||
    fail "the SQL-looking input was not stored verbatim"
[ "$(psql_q "SELECT count(*) FROM sagas")" = 1 ] && [ "$(psql_q "SELECT count(*) FROM saga_steps")" = 2 ] ||
    fail "the SQL-looking input changed other rows"
[ "$(psql_q "SELECT to_regclass('public.saga_steps') IS NOT NULL AND to_regclass('public.saga_outbox') IS NOT NULL")" = t ] ||
    fail "a table disappeared"
ok "SQL-looking input, key and traceparent are stored verbatim; every table intact"
# The same key again is the same saga, not a second one.
"$S" start order_checkout --key "$KEY" --input "{\"order_id\": \"other\", $GOOD}" >"$TMP/again" ||
    fail "repeating the key failed"
[ "$(cat "$TMP/again")" = "$(cat "$TMP/out")" ] || fail "a repeated key started another saga"
[ "$(psql_q "SELECT count(*) FROM sagas")" = 1 ] || fail "a repeated key stored another saga"
ok "a repeated idempotency key returns the first saga"
