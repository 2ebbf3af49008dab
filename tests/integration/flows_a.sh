#!/bin/sh
# flows_a.sh - saga deadlines, scheduled starts and tags on the real stack
# (issue 13, features 1, 3 and 5).
#
#  - deadline: the stock step's worker ignores RESERVE, so a saga started
#    with --deadline 2s compensates when it passes ("deadline of 2s passed"
#    in show; saga_deadline_expired_total counts it), the in-flight step
#    included; a saga that reserves everything in time completes although
#    its deadline passes while it confirms.
#  - scheduled: --in 2s is SCHEDULED at once and listed as such, survives a
#    sagad restart, and completes once due; --at in an hour is aborted and
#    ends COMPENSATED without any command sent.
#  - tags and --where: the spec's templated tag and --tag both find the
#    saga; --where input.sku=... finds it; --json.
#  - bad input (--deadline without unit, --at in the past or unparseable, a
#    tag with an empty key) is refused with the option named and stores
#    nothing.
#
# Isolation: a database and topics (flows-<pid>.*) of its own.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"

P=$$
DB=saga_flows_a_$P
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
T=flows-$P
HTTP=127.0.0.1:$((20000 + P % 20000))

count() { psql_q "SELECT count(*) FROM sagas"; }
status_of() { psql_q "SELECT status FROM sagas WHERE id = '$1'"; }

# order: funds then stock; stock's topic decides which worker answers.
spec() { # name stock_topic
    cat <<EOF
{
  "name": "$1", "version": 1,
  "input": {"order_id": {"type": "string"}, "sku": {"type": "string"},
            "qty": {"type": "integer"}, "account": {"type": "string"},
            "amount": {"type": "integer"}},
  "tags": {"order": "\${input.order_id}"},
  "defaults": {"timeout_ms": 20000},
  "steps": [
    {"name": "funds", "participant": "payment", "topic": "$T.pay",
     "reserve": {"command": "hold_funds", "payload": {"account": "\${input.account}", "amount": "\${input.amount}"}},
     "confirm": {"command": "capture_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}},
     "compensate": {"command": "release_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}}},
    {"name": "stock", "participant": "inventory", "topic": "$2", "after": ["funds"],
     "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": "\${input.qty}"}},
     "confirm": {"command": "commit_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
     "compensate": {"command": "release_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}}
  ]
}
EOF
}
spec order "$T.inv" >"$TMP/order.json"
spec slow "$T.invslow" >"$TMP/slow.json"
spec stall "$T.nobody" >"$TMP/stall.json"
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$TMP/order.json" "$TMP/slow.json" "$TMP/stall.json" >/dev/null || fail "def apply"

SKU=sku-$P
"$BIN/inventory-worker" seed --sku "$SKU" --qty 1000 >/dev/null || fail "seed inventory"
"$BIN/payment-worker" seed --account "acct-$P" --balance 1000000 >/dev/null || fail "seed payment"
start_sagad() {
    spawn sagad "$BIN/sagad" --http.listen="$HTTP" --sagad.group="$T.sagad" --log.format=text \
        --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
    SAGAD=$SPAWNED
}
start_sagad
spawn inv "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --log.format text
spawn invslow "$BIN/inventory-worker" --topic "$T.invslow" --group "$T.invslow" --ignore RESERVE --log.format text
spawn pay "$BIN/payment-worker" --topic "$T.pay" --group "$T.pay" --log.format text
input() { echo "{\"order_id\": \"$1\", \"sku\": \"$SKU\", \"qty\": 1, \"account\": \"acct-$P\", \"amount\": 10}"; }

# --- bad input: precise errors, nothing stored ------------------------------------
bad() { # expected-text args...
    want=$1
    shift
    "$S" start order --input "$(input bad)" "$@" >"$TMP/out" 2>"$TMP/err" && fail "accepted: $*"
    grep -qF -- "$want" "$TMP/err" || fail "$*: $(cat "$TMP/err")"
}
bad '--deadline: invalid duration "30": missing unit' --deadline 30
bad "--at: 2020-01-01T00:00:00Z is in the past" --at 2020-01-01T00:00:00Z
bad '--at: invalid time "tomorrow"' --at tomorrow
bad "--tag: tag key is empty" --tag =alice
bad "--at and --in both given" --at 2030-01-01T00:00:00Z --in 5m
[ "$(count)" = 0 ] || fail "a refused start stored a saga"
"$S" def validate tests/specs/invalid/flows.json >"$TMP/out" 2>&1 && fail "invalid flows spec accepted"
grep -qF 'tests/specs/invalid/flows.json:7:5: tags[""]: tag key is empty' "$TMP/out" || fail "spec error: $(cat "$TMP/out")"
ok "bad --deadline, --at, --tag and spec fields refused with the place named, nothing stored"

# --- deadline -----------------------------------------------------------------------
# The first saga also waits for the consumers to join their groups.
"$S" start order --input "$(input o-warm-$P)" --wait --timeout 60s >/dev/null || fail "warm-up saga"
LATE=$("$S" start slow --input "$(input o-late-$P)" --deadline 2s) || fail "start --deadline"
wait_sql "SELECT status FROM sagas WHERE id = '$LATE'" COMPENSATED 30 "deadline saga"
"$S" show "$LATE" >"$TMP/show" || fail "show"
grep -q "deadline of 2s passed" "$TMP/show" || fail "show lacks the reason: $(cat "$TMP/show")"
[ "$(psql_q "SELECT status FROM saga_steps WHERE saga_id = '$LATE' ORDER BY idx" | tr '\n' ' ')" = \
    "COMPENSATED COMPENSATED " ] || fail "steps not compensated"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$LATE' AND text = 'RUNNING -> COMPENSATING: deadline of 2s passed'")" = 1 ] ||
    fail "no transition note"
curl -sf "http://$HTTP/metrics" | grep -q '^saga_deadline_expired_total{definition="slow"} 1' ||
    fail "metric: $(curl -sf "http://$HTTP/metrics" | grep deadline)"
ok "deadline: in-flight reserve compensated, reason in show, metric counted"
grep -q "^deadline    expired .*: deadline of 2s passed, the saga compensates" "$TMP/show" ||
    fail "show's header lacks the expired deadline: $(cat "$TMP/show")"
"$S" show "$LATE" --json | jq -e '.deadline_ms == 2000 and .deadline_expired and
    (.deadline_at | type) == "string" and .tags == {"order": "o-late-'$P'"} and .parent_id == null
    and .start_at == null' >/dev/null || fail "show --json flow fields: $("$S" show "$LATE" --json | jq -c '{deadline_ms, deadline_at, deadline_expired, tags, parent_id, start_at}')"
"$S" list --def slow --json | jq -e '.sagas[0] | .deadline_ms == 2000 and .deadline_expired and
    .tags.order == "o-late-'$P'" and has("start_at") and has("parent_id")' >/dev/null ||
    fail "list --json flow fields: $("$S" list --def slow --json)"
# Nobody consumes stall's stock topic: past its deadline the saga waits for
# a COMPENSATE reply that never comes. Not flagged yet, so the stored
# reason is empty and only the deadline columns can say why it compensates.
STALL=$("$S" start stall --input "{\"order_id\": \"o-stall-$P\", \"sku\": \"none-$P\", \"qty\": 1, \"account\": \"acct-$P\", \"amount\": 10}" \
    --deadline 2s) || fail "start stall"
wait_sql "SELECT status FROM saga_steps WHERE saga_id = '$STALL' AND name = 'stock'" COMPENSATING 30 "stalled compensation"
"$S" stuck --threshold 1ms --def stall >"$TMP/stuck" || fail "stuck"
grep -q "$STALL.*deadline of 2s passed; awaiting inventory COMPENSATE reply" "$TMP/stuck" ||
    fail "stuck table lacks the deadline cause: $(cat "$TMP/stuck")"
"$S" stuck --threshold 1ms --def stall --json |
    jq -e '.sagas[0].reason | startswith("deadline of 2s passed; awaiting inventory COMPENSATE")' >/dev/null ||
    fail "stuck --json lacks the deadline cause"
ok "show/list --json carry deadline, tags, start and parent; stuck names the deadline with a command pending"
FAST=$("$S" start order --input "$(input o-fast-$P)" --deadline 30s --wait --timeout 30s | head -n 1) ||
    fail "a saga within its deadline did not complete"
ok "a saga that reserved in time completes"

# --- scheduled start, surviving a restart ---------------------------------------------
SOON=$("$S" start order --input "$(input o-soon-$P)" --in 3s --tag customer=alice) || fail "start --in"
[ "$(status_of "$SOON")" = SCHEDULED ] || fail "not SCHEDULED: $(status_of "$SOON")"
"$S" list --status scheduled --json | jq -e --arg id "$SOON" '.sagas | map(.id) | index($id) != null' >/dev/null ||
    fail "list --status scheduled misses it"
stop_gracefully "$SAGAD"
start_sagad
wait_sql "SELECT status FROM sagas WHERE id = '$SOON'" COMPLETED 60 "scheduled saga after restart"
ok "scheduled: SCHEDULED at once, listed, completed when due after a sagad restart"
LATER=$("$S" start order --input "$(input o-later-$P)" --at "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)") ||
    fail "start --at"
"$S" show "$LATER" >"$TMP/show" || fail "show scheduled"
grep -q "^scheduled   starts in 59m\|^scheduled   starts in 1h" "$TMP/show" || fail "show lacks the start: $(cat "$TMP/show")"
grep -q "^tags        order=o-later-$P$" "$TMP/show" || fail "show lacks the tags: $(cat "$TMP/show")"
"$S" show "$LATER" --json | jq -e '.status == "SCHEDULED" and (.start_at | type) == "string"' >/dev/null ||
    fail "show --json lacks start_at"
"$S" abort "$LATER" --reason "cancelled" >/dev/null 2>&1 || fail "abort of a SCHEDULED saga"
wait_sql "SELECT status FROM sagas WHERE id = '$LATER'" COMPENSATED 30 "aborted scheduled saga"
[ "$(psql_q "SELECT count(*) FROM saga_steps WHERE saga_id = '$LATER' AND status <> 'PENDING'")" = 0 ] ||
    fail "an aborted scheduled saga dispatched something"
ok "abort of a SCHEDULED saga: COMPENSATED, nothing sent"

# --- tags and --where ------------------------------------------------------------------------
"$S" list --tag "order=o-soon-$P" --json >"$TMP/l.json" || fail "list --tag"
[ "$(jq -r '.sagas | map(.id) | join(" ")' "$TMP/l.json")" = "$SOON" ] || fail "list --tag order: $(cat "$TMP/l.json")"
[ "$("$S" list --tag customer=alice --tag "order=o-soon-$P" --json | jq -r '.sagas | length')" = 1 ] ||
    fail "two tags"
[ "$("$S" list --tag customer=bob --json | jq -r '.sagas | length')" = 0 ] || fail "a wrong tag matched"
[ "$("$S" list --where "input.order_id=o-fast-$P" --json | jq -r '.sagas[0].id')" = "$FAST" ] || fail "--where"
[ "$("$S" list --where "input.sku=$SKU" --json | jq -r '.sagas | length')" = 5 ] || fail "--where sku"
[ "$("$S" list --where "input.qty=1" --def order --json | jq -r '.sagas | length')" = 4 ] || fail "--where number"
"$S" list --where sku=x >/dev/null 2>"$TMP/err" && fail "--where without input. accepted"
grep -qF -- '--where: expected input.FIELD=VALUE' "$TMP/err" || fail "--where error: $(cat "$TMP/err")"
ok "list --tag / --where find sagas by business keys"
