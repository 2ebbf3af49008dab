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

# run_check NAME ARGS...: runs the check, keeping its output and status.
run_check() {
    what=$1
    shift
    $CHECK "$@" >"$LOGS/check-$what.txt" 2>&1
    echo $? >"$LOGS/check-$what.status"
}

# verdict NAME STATUS "RULE...": asserts a finished check's exit status and
# the exact set of rules it reported FAIL (or WARN, for the rule that is
# only reported).
verdict() {
    out=$LOGS/check-$1.txt
    status=$(cat "$LOGS/check-$1.status")
    got=$(awk '$1 == "FAIL" || $1 == "WARN" {print $2}' "$out" | sort | tr '\n' ' ' | sed 's/ $//')
    want=$(printf '%s\n' $3 | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$status" = "$2" ] || { cat "$out"; fail "$1: exit status $status, want $2"; }
    [ "$got" = "$want" ] || { cat "$out"; fail "$1: failed rules '$got', want '$want'"; }
    ok "$1: exit $status${got:+, reports $got}"
}

# await_rogue MODE: waits until the rogue of MODE consumes its topic.
await_rogue() {
    end=$(($(date +%s) + 20))
    until grep -q "^rogue: consuming" "$LOGS/rogue-$1.log" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && fail "rogue $1 did not start: $(cat "$LOGS/rogue-$1.log")"
        sleep 0.05
    done
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
run_check inventory inventory --timeout 20s \
    --reserve-payload "{\"sku\":\"conf-$P\",\"qty\":1}" --reject-payload "{\"sku\":\"conf-$P\",\"qty\":0}"
verdict inventory 0 ""
run_check payment payment --timeout 20s \
    --reserve-payload "{\"account\":\"conf-$P\",\"amount\":100}" \
    --reject-payload "{\"account\":\"conf-blocked-$P\",\"amount\":100}"
verdict payment 0 ""
"$BIN/inventory-worker" check --prefix "conf-$P" >/dev/null || fail "inventory invariants after the check"
"$BIN/payment-worker" check --prefix "conf-$P" >/dev/null || fail "payment invariants after the check"

# The broken participants, one process per mode, checked side by side
# (silence costs each check its 2 s timeout, not the sum of them).
MODES="none ok-to-all reapply-duplicates no-empty-compensation no-hanging-protection
confirm-after-compensate silent-on-reject dies-on-poison no-traceparent no-dlq"
for m in $MODES; do
    spawn "rogue-$m" "$TOOLS/rogue_participant" --participant "rogue-$m-$P" --break "$m"
done
for m in $MODES; do await_rogue "$m"; done
CHECKS=""
for m in $MODES; do
    run_check "$m" "rogue-$m-$P" --timeout 2s --reserve-payload '{"qty":1}' --reject-payload '{"qty":0}' &
    CHECKS="$CHECKS $!"
done
for c in $CHECKS; do wait "$c"; done
verdict none 0 ""
verdict ok-to-all 1 "compensate-after-confirm hanging-reserve confirm-after-compensate reject-payload"
verdict reapply-duplicates 1 "duplicate-reserve"
verdict no-empty-compensation 1 "empty-compensation"
verdict no-hanging-protection 1 "hanging-reserve"
verdict confirm-after-compensate 1 "confirm-after-compensate"
verdict silent-on-reject 1 "reject-payload"
verdict dies-on-poison 1 "survives-undecodable dead-letters-undecodable"
verdict no-traceparent 1 "reply-envelope"
verdict no-dlq 0 "dead-letters-undecodable"

# --json says the same in one document; a participant that stopped fails
# every rule, each saying why it was not checked.
spawn rogue-json "$TOOLS/rogue_participant" --participant "rogue-json-$P" --break none
await_rogue json
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
