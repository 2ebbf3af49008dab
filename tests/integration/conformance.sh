#!/bin/sh
# conformance.sh - `sagactl participant check` (issue #15) passes the two C
# workers and fails each deliberately broken participant on the rule it
# breaks, and only on that rule.
#
# The broken ones are tests/conformance/rogue_participant.c, one process per
# mode (each breaks one decision of the contract; `none` breaks nothing and
# must pass, so a failure of the others is the mode's doing, not the fake's).
# The C workers get a long timeout: their first RESERVE waits for the
# consumer group to form, and nothing else waits when they pass. The rogues
# are assigned their topic at once, so silence is judged after 2 s.
. "$(dirname "$0")/lib.sh"

P=$$
TOOLS=$(dirname "$BIN")/tools
CHECK="$BIN/sagactl participant check"

# expect NAME STATUS "RULE..." ARGS...: runs the check and asserts its exit
# status and the exact set of rules reported FAIL (or WARN, for the rule
# that is only reported).
expect() {
    what=$1 want_status=$2 want_rules=$3
    shift 3
    out=$LOGS/check-$what.txt
    $CHECK "$@" >"$out" 2>&1
    status=$?
    got=$(awk '$1 == "FAIL" || $1 == "WARN" {print $2}' "$out" | sort | tr '\n' ' ' | sed 's/ $//')
    want=$(printf '%s\n' $want_rules | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$status" = "$want_status" ] || { cat "$out"; fail "$what: exit status $status, want $want_status"; }
    [ "$got" = "$want" ] || { cat "$out"; fail "$what: failed rules '$got', want '$want'"; }
    ok "$what: exit $status${got:+, reports $got}"
}

# Usage errors are status 2, before anything is contacted.
$CHECK inventory >/dev/null 2>&1
[ $? = 2 ] || fail "no --reserve-payload: want exit status 2"
$CHECK inventory --reserve-payload '[1]' >/dev/null 2>&1
[ $? = 2 ] || fail "a payload that is not an object: want exit status 2"
$CHECK inventory --reserve-payload '{}' --timeout 5 >/dev/null 2>&1
[ $? = 2 ] || fail "a timeout without unit: want exit status 2"
$CHECK "nobody-$P" --reserve-payload '{}' >"$LOGS/nobody.txt" 2>&1
[ $? = 1 ] && grep -q "does not exist" "$LOGS/nobody.txt" || fail "a participant with no topic: want exit 1 and why"
ok "usage errors exit 2; a participant that is not there exits 1"

# The C workers, with stock and funds of their own.
"$BIN/inventory-worker" seed --sku "conf-$P" --qty 1000 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "conf-$P" --balance 1000000 --account "conf-blocked-$P" \
    --balance 1000 --blocked >/dev/null || fail "seed accounts"
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker"
expect inventory 0 "" inventory --timeout 20s \
    --reserve-payload "{\"sku\":\"conf-$P\",\"qty\":1}" --reject-payload "{\"sku\":\"conf-$P\",\"qty\":0}"
expect payment 0 "" payment --timeout 20s \
    --reserve-payload "{\"account\":\"conf-$P\",\"amount\":100}" \
    --reject-payload "{\"account\":\"conf-blocked-$P\",\"amount\":100}"
"$BIN/inventory-worker" check --prefix "conf-$P" >/dev/null || fail "inventory invariants after the check"
"$BIN/payment-worker" check --prefix "conf-$P" >/dev/null || fail "payment invariants after the check"

# rogue MODE STATUS "RULES": one broken participant, checked, stopped.
rogue() {
    participant=rogue-$1-$P
    spawn "rogue-$1" "$TOOLS/rogue_participant" --participant "$participant" --break "$1"
    pid=$SPAWNED
    end=$(($(date +%s) + 20))
    until grep -q "^rogue: consuming" "$LOGS/rogue-$1.log" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && fail "rogue $1 did not start: $(cat "$LOGS/rogue-$1.log")"
        sleep 0.05
    done
    expect "$1" "$2" "$3" "$participant" --timeout 2s --reserve-payload '{"qty":1}' --reject-payload '{"qty":0}'
    kill -TERM "$pid" 2>/dev/null
}

rogue none 0 ""
rogue ok-to-all 1 "compensate-after-confirm hanging-reserve confirm-after-compensate reject-payload"
rogue reapply-duplicates 1 "duplicate-reserve"
rogue no-empty-compensation 1 "empty-compensation"
rogue no-hanging-protection 1 "hanging-reserve"
rogue confirm-after-compensate 1 "confirm-after-compensate"
rogue silent-on-reject 1 "reject-payload"
rogue dies-on-poison 1 "survives-undecodable dead-letters-undecodable"
rogue no-traceparent 1 "reply-envelope"
rogue no-dlq 0 "dead-letters-undecodable"

# --json says the same in one document; a participant that stopped fails
# every rule, each saying why it was not checked.
spawn rogue-json "$TOOLS/rogue_participant" --participant "rogue-json-$P" --break none
end=$(($(date +%s) + 20))
until grep -q "^rogue: consuming" "$LOGS/rogue-json.log" 2>/dev/null; do
    [ "$(date +%s)" -ge "$end" ] && fail "rogue json did not start"
    sleep 0.05
done
$CHECK "rogue-json-$P" --json --timeout 2s --reserve-payload '{"qty":1}' >"$LOGS/json.json" ||
    fail "--json: exit status $?"
[ "$(jq -r '[.passed, (.rules | length), ([.rules[] | select(.status == "PASS")] | length)] | join(" ")'     "$LOGS/json.json")" = "true 13 12" ] || fail "--json: $(cat "$LOGS/json.json")"
kill -TERM "$SPAWNED"
await_exit "$SPAWNED" 10
$CHECK "rogue-json-$P" --timeout 1s --reserve-payload '{"qty":1}' >"$LOGS/stopped.txt" 2>&1
[ $? = 1 ] || fail "a stopped participant: want exit status 1"
[ "$(grep -c '^FAIL.*not checked: the participant did not answer a RESERVE' "$LOGS/stopped.txt")" = 9 ] ||
    fail "a stopped participant: $(cat "$LOGS/stopped.txt")"
ok "--json; a stopped participant fails every rule, not checked"
