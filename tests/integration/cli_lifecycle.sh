#!/bin/sh
# cli_lifecycle.sh - sagactl against real sagas on the real stack: sagad and
# the inventory and payment workers run sagas to COMPLETED and COMPENSATED;
# a payment worker started with --ignore COMPENSATE leaves two sagas stuck,
# which `stuck` reports with the right reason (and, ignoring CONFIRM too,
# one saga stuck CONFIRMING, which `abort` refuses); after that worker is
# restarted normally `retry` brings one to COMPENSATED and the CONFIRMING
# one to COMPLETED, and `resolve` closes the other; `abort` compensates a RUNNING saga whose inventory reserve is
# being ignored; `tail`, `show`, `list`, `stats` and their JSON are checked
# along the way.
#
# Isolation: a database of its own, definitions whose steps use topics of
# their own (cli-<pid>.*), and consumer groups of their own, so sagas of
# other tests running at the same time are never touched.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"

P=$$
DB=saga_cli_life_$P
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
T=cli-$P

status_is() { [ "$(psql_q "SELECT status FROM sagas WHERE id = '$1'")" = "$2" ]; }
stuck_count_is() {
    [ "$("$S" stuck --def "$1" --json | jq .count)" -eq "$2" ]
}

# --- definitions ----------------------------------------------------------------
spec() { # name timeout max_backoff stuck_after step1 participant1 topic1 step2 participant2 topic2
    cat <<EOF
{
  "name": "$1", "version": 1,
  "input": {"sku": {"type": "string"}, "qty": {"type": "integer"},
            "account": {"type": "string"}, "amount": {"type": "integer"}},
  "defaults": {"timeout_ms": $2, "stuck_after_ms": $4,
               "retry": {"max_attempts": 3, "initial_backoff_ms": 300,
                         "max_backoff_ms": $3, "multiplier": 10, "jitter": 0}},
  "steps": [
    {"name": "$5", "participant": "$6", "topic": "$7",
     "reserve": {"command": "$(cmd "$6" reserve)", "payload": $(payload "$6")},
     "confirm": {"command": "$(cmd "$6" confirm)", "payload": $(result "$5" "$6")},
     "compensate": {"command": "$(cmd "$6" compensate)", "payload": $(result "$5" "$6")}},
    {"name": "$8", "participant": "$9", "topic": "${10}", "after": ["$5"],
     "reserve": {"command": "$(cmd "$9" reserve)", "payload": $(payload "$9")},
     "confirm": {"command": "$(cmd "$9" confirm)", "payload": $(result "$8" "$9")},
     "compensate": {"command": "$(cmd "$9" compensate)", "payload": $(result "$8" "$9")}}
  ]
}
EOF
}
cmd() {
    case "$1-$2" in
    inventory-reserve) echo reserve_stock ;; inventory-confirm) echo commit_stock ;;
    inventory-compensate) echo release_stock ;; payment-reserve) echo hold_funds ;;
    payment-confirm) echo capture_funds ;; payment-compensate) echo release_funds ;;
    esac
}
payload() {
    if [ "$1" = inventory ]; then echo '{"sku": "${input.sku}", "qty": "${input.qty}"}'
    else echo '{"account": "${input.account}", "amount": "${input.amount}"}'; fi
}
result() {
    if [ "$2" = inventory ]; then echo "{\"reservation_id\": \"\${steps.$1.reserve.result.reservation_id}\"}"
    else echo "{\"hold_id\": \"\${steps.$1.reserve.result.hold_id}\"}"; fi
}
# checkout: stock then funds, both answered normally.
spec checkout 3000 5000 60000 stock inventory "$T.inv" funds payment "$T.pay" >"$TMP/checkout.json"
# payfirst: funds (by a payment worker ignoring COMPENSATE) then stock; an
# order larger than the stock is rejected, so the funds must be released and
# never are. Backoff grows tenfold (300 ms, 3 s, 30 s, ...) so that only an
# operator's retry brings it back quickly.
spec payfirst 1000 600000 2000 funds payment "$T.paystuck" stock inventory "$T.inv" >"$TMP/payfirst.json"
# slow: funds, then stock by an inventory worker ignoring RESERVE, with a
# long timeout: the saga stays RUNNING until aborted.
spec slow 60000 5000 600000 funds payment "$T.pay" stock inventory "$T.invslow" >"$TMP/slow.json"

"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$TMP/checkout.json" "$TMP/payfirst.json" "$TMP/slow.json" >/dev/null || fail "def apply"
ok "3 definitions applied"

# --- processes ------------------------------------------------------------------------
SKU=sku-$P
"$BIN/inventory-worker" seed --sku "$SKU" --qty 1000 >/dev/null || fail "seed inventory"
"$BIN/payment-worker" seed --account "rich-$P" --balance 1000000 --account "poor-$P" --balance 1 >/dev/null ||
    fail "seed payment"
# sagactl's operator actions must name the same reply topic as sagad.
export SAGA_TOPICS_REPLIES="$T.replies" SAGA_TOPICS_SIGNALS="$T.signals"
spawn sagad "$BIN/sagad" --http.listen=off --sagad.group="$T.sagad" --log.format=text \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
spawn inv "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --log.format text
spawn invslow "$BIN/inventory-worker" --topic "$T.invslow" --group "$T.invslow" --ignore RESERVE --log.format text
spawn pay "$BIN/payment-worker" --topic "$T.pay" --group "$T.pay" --log.format text
spawn paystuck "$BIN/payment-worker" --topic "$T.paystuck" --group "$T.paystuck" \
    --ignore COMPENSATE,CONFIRM --log.format text
PAYSTUCK=$SPAWNED

# --- tail, COMPLETED, COMPENSATED ---------------------------------------------------------
"$S" tail --def checkout --json --count 3 --timeout 60s >"$TMP/tail.jsonl" 2>"$TMP/tail.err" &
TAIL=$!
PIDS="$PIDS $TAIL"
wait_for 10 "tail starts following" grep -q following "$TMP/tail.err"
# The first saga may wait for the consumers to join their groups.
"$S" start checkout --input "{\"sku\": \"$SKU\", \"qty\": 2, \"account\": \"rich-$P\", \"amount\": 100}" \
    --wait --timeout 60s >"$TMP/out" || fail "start --wait of a good order: exit $?"
DONE=$(head -n 1 "$TMP/out")
[ "$(sed -n 2p "$TMP/out")" = COMPLETED ] || fail "start --wait printed $(cat "$TMP/out")"
ok "start --wait: COMPLETED, exit 0"
"$S" start checkout --input "{\"sku\": \"$SKU\", \"qty\": 2, \"account\": \"poor-$P\", \"amount\": 100}" \
    --wait --timeout 30s --json >"$TMP/out"
rc=$?
[ $rc -eq 4 ] || fail "start --wait of a rejected order: exit $rc, wanted 4"
[ "$(jq -r .status "$TMP/out")" = COMPENSATED ] || fail "start --wait --json: $(cat "$TMP/out")"
REJECTED=$(jq -r .id "$TMP/out")
ok "start --wait: COMPENSATED, exit 4"

wait_for 20 "tail exits after 3 entries" sh -c "! kill -0 $TAIL"
[ "$(jq -r 'select(.saga_id == "'"$DONE"'") | .kind + ":" + (.text | split(":")[0])' "$TMP/tail.jsonl" | tr '\n' ' ')" = \
    "created:saga created from checkout@1 transition:RUNNING -> CONFIRMING transition:CONFIRMING -> COMPLETED " ] ||
    fail "tail printed: $(cat "$TMP/tail.jsonl")"
ok "tail followed the saga's transitions"

"$S" show "$DONE" >"$TMP/out" || fail "show"
grep -q "status      COMPLETED" "$TMP/out" || fail "show header: $(cat "$TMP/out")"
grep -q "stock  *inventory  *CONFIRMED  *[0-9]*/1/0  *OK  *OK" "$TMP/out" || fail "show steps: $(cat "$TMP/out")"
grep -q "command  *funds  *CONFIRM #1 .*sent to $T.pay" "$TMP/out" || fail "show timeline: $(cat "$TMP/out")"
grep -q "waiting for: nothing, the saga is COMPLETED" "$TMP/out" || fail "show waiting"
"$S" show "$REJECTED" --json >"$TMP/out" || fail "show --json"
[ "$(jq -r '[.status, (.steps[] | .name + "=" + .status), (.duration_ms > 0 | tostring)] | join(" ")' "$TMP/out")" = \
    "COMPENSATED stock=COMPENSATED funds=REJECTED true" ] || fail "show --json steps: $(jq -c .steps "$TMP/out")"
jq -e '.timeline | map(select(.kind == "reply" and .step == "funds" and .outcome == "REJECTED")) | length == 1' \
    "$TMP/out" >/dev/null || fail "show --json timeline lacks the REJECTED reply"
jq -e '.steps[] | select(.name == "funds") | .last_error | test("insufficient")' "$TMP/out" >/dev/null ||
    fail "show --json last_error"
ok "show: steps, outcomes, last error and timeline of real sagas"

# --- stuck: payment ignores COMPENSATE ------------------------------------------------------
for n in 1 2; do
    "$S" start payfirst --input "{\"sku\": \"$SKU\", \"qty\": 100000, \"account\": \"rich-$P\", \"amount\": 10}" \
        >>"$TMP/stuck_ids" || fail "start payfirst"
done
"$S" start payfirst --input "{\"sku\": \"$SKU\", \"qty\": 1, \"account\": \"rich-$P\", \"amount\": 10}" \
    >"$TMP/out" || fail "start payfirst"
CONF=$(cat "$TMP/out")
A=$(sed -n 1p "$TMP/stuck_ids")
B=$(sed -n 2p "$TMP/stuck_ids")
wait_for 30 "three stuck sagas" stuck_count_is payfirst 3
"$S" stuck --json >"$TMP/out" || fail "stuck --json"
for id in "$A" "$B"; do
    reason=$(jq -r ".sagas[] | select(.id == \"$id\") | .reason" "$TMP/out")
    case "$reason" in
    *"payment COMPENSATE"*"attempt "*'last error "no reply within '*' ms"'*) ;;
    *) fail "stuck reason of $id: $reason" ;;
    esac
done
jq -e '.groups[] | select(.name == "payfirst" and .step == "funds" and .action == "COMPENSATE" and .count == 2)' \
    "$TMP/out" >/dev/null || fail "stuck groups: $(jq -c .groups "$TMP/out")"
case "$(jq -r ".sagas[] | select(.id == \"$CONF\") | .status + \" \" + .reason" "$TMP/out")" in
"CONFIRMING "*"payment CONFIRM"*) ;;
*) fail "stuck CONFIRMING saga: $(jq -c ".sagas[] | select(.id == \"$CONF\")" "$TMP/out")" ;;
esac
"$S" abort "$CONF" --reason "too late" >/dev/null 2>"$TMP/err" && fail "abort of a CONFIRMING saga was accepted"
grep -q "confirm has begun and cannot be undone" "$TMP/err" || fail "abort refusal: $(cat "$TMP/err")"
"$S" list --status CONFIRMING --json >"$TMP/out"
[ "$(jq -r '.sagas[0].id' "$TMP/out")" = "$CONF" ] || fail "list --status CONFIRMING"
ok "a saga stuck CONFIRMING: listed, reported, and abort is refused"
"$S" stuck >"$TMP/out" || fail "stuck"
grep -q "$A  payfirst@1  COMPENSATING .*payment COMPENSATE" "$TMP/out" || fail "stuck table: $(cat "$TMP/out")"
ok "stuck: $(grep "$A" "$TMP/out" | sed 's/.*COMPENSATING *//')"
"$S" list --stuck --json >"$TMP/out" || fail "list --stuck"
[ "$(jq -r '[.sagas[].id] | sort | join(" ")' "$TMP/out")" = "$(printf '%s\n%s\n%s\n' "$A" "$B" "$CONF" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
    fail "list --stuck: $(jq -c '[.sagas[].id]' "$TMP/out")"
jq -e ".sagas[] | select(.id == \"$A\") | .current[0] | .step == \"funds\" and .action == \"COMPENSATE\"" \
    "$TMP/out" >/dev/null || fail "list current: $(jq -c '.sagas[].current' "$TMP/out")"
ok "list --stuck shows all three, with the COMPENSATE in flight"

# --- resolve one (before the participant is fixed, so it cannot finish by itself) -----------------------------------------------------------------------
"$S" resolve "$B" --as compensated --reason "funds released by hand" --actor oncall >"$TMP/out" || fail "resolve"
grep -q "resolved saga $B (COMPENSATING -> COMPENSATED) as oncall" "$TMP/out" || fail "resolve: $(cat "$TMP/out")"
status_is "$B" COMPENSATED || fail "resolved saga not COMPENSATED"
[ "$(psql_q "SELECT resolved FROM sagas WHERE id = '$B'")" = t ] || fail "not marked resolved"
"$S" resolve "$B" --as completed --reason again >/dev/null 2>&1 && fail "resolving twice was accepted"
ok "resolve closed the other stuck saga; a second resolve is refused"

# --- retry, then fix the participant ---------------------------------------------------------
# The operator retries while the participant is down, so the saga cannot
# finish by a scheduled re-send first; the fixed participant then answers.
kill "$PAYSTUCK"
wait "$PAYSTUCK" 2>/dev/null
"$S" retry "$A" --dry-run >"$TMP/out" || fail "retry --dry-run"
grep -q "would retry" "$TMP/out" || fail "retry --dry-run: $(cat "$TMP/out")"
"$S" retry "$A" --reason "payment worker restarted" --actor oncall >"$TMP/out" || fail "retry: exit $?"
grep -q "command    funds COMPENSATE #[0-9]*: sent to $T.paystuck" "$TMP/out" || fail "retry output: $(cat "$TMP/out")"
"$S" retry "$CONF" --reason "payment worker restarted" >/dev/null || fail "retry of the CONFIRMING saga"
spawn paystuck2 "$BIN/payment-worker" --topic "$T.paystuck" --group "$T.paystuck" --log.format text
wait_for 30 "retry brings the saga to COMPENSATED" status_is "$A" COMPENSATED
"$S" show "$A" --json >"$TMP/out"
[ "$(jq -r '.stuck, .operator_actions[0].actor, .operator_actions[0].action' "$TMP/out" | tr '\n' '|')" = \
    "false|oncall|retry: re-sending 1 command now: payment worker restarted|" ] ||
    fail "retry audit: $(jq -c '.stuck, .operator_actions' "$TMP/out")"
wait_for 30 "retry brings the CONFIRMING saga to COMPLETED" status_is "$CONF" COMPLETED
ok "retry, then the worker restart: COMPENSATED and COMPLETED, audited"

# --- abort a RUNNING saga ----------------------------------------------------------------------
"$S" start slow --input "{\"sku\": \"$SKU\", \"qty\": 1, \"account\": \"rich-$P\", \"amount\": 10}" >"$TMP/out" ||
    fail "start slow"
SLOW=$(cat "$TMP/out")
wait_for 20 "the slow saga's stock reserve is in flight" \
    sh -c "[ \"\$(psql \"$SAGA_PG_DSN\" -qtAX -c \"SELECT action FROM saga_steps WHERE saga_id = '$SLOW' AND name = 'stock'\")\" = RESERVE ]"
"$S" abort "$SLOW" --reason "customer cancelled" --json >"$TMP/out" || fail "abort: exit $?"
[ "$(jq -r '.status_before + " " + .status_after + " " + (.commands > 0 | tostring)' "$TMP/out")" = \
    "RUNNING COMPENSATING true" ] || fail "abort: $(cat "$TMP/out")"
wait_for 20 "the aborted saga is compensated" status_is "$SLOW" COMPENSATED
"$S" show "$SLOW" --json >"$TMP/out"
[ "$(jq -r '[.aborted, (.steps[] | .name + "=" + .status)] | map(tostring) | join(" ")' "$TMP/out")" = \
    "true funds=COMPENSATED stock=COMPENSATED" ] || fail "aborted saga: $(jq -c '.aborted, .steps' "$TMP/out")"
"$S" abort "$DONE" --reason x >/dev/null 2>"$TMP/err" && fail "abort of a COMPLETED saga was accepted"
grep -q "only a RUNNING saga can be aborted" "$TMP/err" || fail "abort refusal: $(cat "$TMP/err")"
"$S" retry "$DONE" >/dev/null 2>&1 && fail "retry of a COMPLETED saga was accepted"
ok "abort compensated a RUNNING saga; abort and retry of a finished one are refused"

# --- list and stats over every status ---------------------------------------------------------
"$S" list --json --limit 100 >"$TMP/out" || fail "list"
[ "$(jq -r '[.sagas[].status] | sort | unique | join(" ")' "$TMP/out")" = "COMPENSATED COMPLETED" ] ||
    fail "statuses: $(jq -c '[.sagas[].status]' "$TMP/out")"
"$S" list --status COMPENSATED --def payfirst --json >"$TMP/out"
[ "$(jq .count "$TMP/out")" -eq 2 ] || fail "list --status --def"
"$S" stats --json >"$TMP/out" || fail "stats"
[ "$(jq -r '[.totals.COMPLETED, .totals.COMPENSATED, .active, .stuck] | map(tostring) | join(" ")' "$TMP/out")" = "2 4 0 0" ] ||
    fail "stats: $(jq -c '.totals, .active, .stuck' "$TMP/out")"
jq -e '.durations[] | select(.name == null) | .finished == 6 and .p50_ms > 0 and .p99_ms >= .p50_ms' "$TMP/out" >/dev/null ||
    fail "stats durations: $(jq -c .durations "$TMP/out")"
"$S" stuck >"$TMP/out"
grep -q "no stuck sagas" "$TMP/out" || fail "stuck after repairs: $(cat "$TMP/out")"
ok "list, stats and stuck agree: 2 COMPLETED, 4 COMPENSATED, nothing stuck"

"$BIN/payment-worker" check --prefix "rich-$P" >"$TMP/out" 2>&1 || fail "payment ledger: $(cat "$TMP/out")"
"$BIN/inventory-worker" check --prefix "$SKU" >"$TMP/out" 2>&1 || fail "inventory ledger: $(cat "$TMP/out")"
ok "participants' books balance"
echo "cli_lifecycle: all checks passed"
