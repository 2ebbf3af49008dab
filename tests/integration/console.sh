#!/bin/sh
# console.sh - `sagactl serve` on the real stack, driven by headless
# Chromium: the list shows the sagas just run; a compensated saga's page
# shows its steps with their states and is not live; the stuck board lists
# a stuck saga with its reason and refreshes itself; a saga whose input is
# hostile HTML renders inert (page title unchanged, no injected element in
# the DOM after scripts ran); /api/... answers exactly what `sagactl ...
# --json` prints; actions are refused without --actions, without the token
# and from another origin (403), and with the token abort a stuck saga
# through the engine, recorded with the console's actor; the list filters
# by tag and input field; a saga waiting for a signal has Approve / Reject
# buttons with --actions, which with the token decide the step through
# `sagactl signal`'s path, actor recorded. Screenshots of
# every page are kept in build/test-logs/console/shots/.
#
# Isolation: a database of its own, topics and groups of their own
# (con-<pid>.*), consoles on ports of their own.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"
command -v chromium >/dev/null || fail "chromium is needed (make deps installs it)"

P=$$
DB=saga_console_$P
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
SHOTS=$LOGS/shots
rm -rf "$TMP" "$SHOTS" && mkdir -p "$TMP" "$SHOTS"
T=con-$P

# chrome ARGS...: one headless Chromium run with a profile of its own.
N=0
chrome() {
    N=$((N + 1))
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$TMP/profile-$N" "$@" 2>>"$LOGS/chromium.log"
}
# dom URL OUT: the DOM after the page's scripts ran (and a live page refreshed once).
dom() { chrome --virtual-time-budget=3000 --dump-dom "$1" >"$2" || fail "chromium could not load $1"; }
shot() { chrome --window-size=1280,1000 --hide-scrollbars --screenshot="$SHOTS/$2.png" "$1" >/dev/null ||
    fail "no screenshot of $1"; }
has() { grep -q -- "$2" "$1" || fail "$3: no \"$2\" in $1"; }
hasnt() { ! grep -q -- "$2" "$1" || fail "$3: \"$2\" in $1"; }

# --- definitions, workers, sagas ---------------------------------------------------
spec() { # name timeout stuck_after inventory_topic
    cat <<EOF
{"name": "$1", "version": 1,
 "input": {"sku": {"type": "string"}, "qty": {"type": "integer"},
           "account": {"type": "string"}, "amount": {"type": "integer"}},
 "defaults": {"timeout_ms": $2, "stuck_after_ms": $3,
              "retry": {"max_attempts": 50, "initial_backoff_ms": 200, "max_backoff_ms": 500}},
 "steps": [
  {"name": "stock", "participant": "inventory", "topic": "$4",
   "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": "\${input.qty}"}},
   "confirm": {"command": "commit_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
   "compensate": {"command": "release_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}},
  {"name": "funds", "participant": "payment", "topic": "$T.pay", "after": ["stock"],
   "reserve": {"command": "hold_funds", "payload": {"account": "\${input.account}", "amount": "\${input.amount}"}},
   "confirm": {"command": "capture_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}},
   "compensate": {"command": "release_funds", "payload": {"hold_id": "\${steps.funds.reserve.result.hold_id}"}}}]}
EOF
}
spec checkout 3000 600000 "$T.inv" >"$TMP/checkout.json"
spec slow 400 1000 "$T.invslow" >"$TMP/slow.json"
# approval: a signal step, then the stock reserve it lets through.
cat >"$TMP/approval.json" <<EOF
{"name": "approval", "version": 1, "input": {"sku": {"type": "string"}},
 "defaults": {"timeout_ms": 3000},
 "steps": [
  {"name": "approve_order", "signal": {"timeout_ms": 600000}},
  {"name": "stock", "participant": "inventory", "topic": "$T.inv", "after": ["approve_order"],
   "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": 1}},
   "confirm": {"command": "commit_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
   "compensate": {"command": "release_stock", "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}}]}
EOF
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$TMP/checkout.json" "$TMP/slow.json" "$TMP/approval.json" >/dev/null || fail "def apply"
SKU=sku-$P
"$BIN/inventory-worker" seed --sku "$SKU" --qty 1000 >/dev/null || fail "seed inventory"
"$BIN/payment-worker" seed --account "rich-$P" --balance 1000000 --account "poor-$P" --balance 1 \
    >/dev/null || fail "seed payment"
export SAGA_TOPICS_REPLIES="$T.replies" SAGA_TOPICS_SIGNALS="$T.signals"
spawn sagad "$BIN/sagad" --http.listen=off --sagad.group="$T.sagad" --log.format=text \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
spawn inv "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --log.format text
spawn invslow "$BIN/inventory-worker" --topic "$T.invslow" --group "$T.invslow" --ignore RESERVE \
    --log.format text
spawn pay "$BIN/payment-worker" --topic "$T.pay" --group "$T.pay" --log.format text

order() { # def sku account -> saga id of a finished (or, for slow, started) saga
    "$S" start "$1" --input "{\"sku\": \"$2\", \"qty\": 1, \"account\": \"$3\", \"amount\": 100}" \
        ${4:+--wait --timeout 60s} --json | jq -r .id
}
DONE=$(order checkout "$SKU" "rich-$P" wait)
COMP=$(order checkout "$SKU" "poor-$P" wait)
HOSTILE='<img src=x onerror=\"document.title=1\"></script><script>document.title=2</script>'
EVIL=$(order checkout "$HOSTILE" "$HOSTILE" wait)
STUCK=$(order slow "$SKU" "rich-$P")
APPR=$("$S" start approval --input "{\"sku\": \"$SKU\"}" --tag "order=a-$P" --json | jq -r .id)
REJ=$("$S" start approval --input "{\"sku\": \"$SKU\"}" --tag "order=r-$P" --json | jq -r .id)
for id in "$DONE" "$COMP" "$EVIL" "$STUCK" "$APPR" "$REJ"; do
    [ "${#id}" -eq 36 ] || fail "a saga did not start: '$id'"
done
[ "$(psql_q "SELECT status FROM sagas WHERE id = '$COMP'")" = COMPENSATED ] || fail "poor order not compensated"
wait_for 30 "the slow saga is stuck" sh -c "[ \"\$('$S' stuck --json | jq .count)\" -ge 1 ]"
ok "sagas run: completed, compensated, hostile input, stuck"

# --- consoles: one read-only, one with actions -----------------------------------------
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$TMP/token"
# The read-only console's DSN carries a password (the stack trusts local
# connections, so it is not checked): no page may show it.
SECRET=pw-secret-$P
spawn console env SAGA_PG_DSN="$SAGA_PG_DSN password=$SECRET" "$S" serve --listen 127.0.0.1:0
spawn console-actions "$S" serve --listen 127.0.0.1:0 --actions --token-file "$TMP/token"
wait_for 10 "consoles print their URLs" sh -c "grep -q console: '$LOGS/console.log' &&
    grep -q console: '$LOGS/console-actions.log'"
URL=$(sed -n 's/^console: \(http[^ ]*\)\/ .*/\1/p' "$LOGS/console.log")
AURL=$(sed -n 's/^console: \(http[^ ]*\)\/ .*/\1/p' "$LOGS/console-actions.log")
case "$URL" in http://127.0.0.1:*) ;; *) fail "console URL '$URL'" ;; esac
ok "consoles at $URL and $AURL (actions)"

curl -sS -D "$TMP/headers" -o /dev/null "$URL/"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$TMP/headers" ||
    fail "no strict CSP: $(cat "$TMP/headers")"
ok "CSP header set"

# --- pages -------------------------------------------------------------------------------
dom "$URL/" "$TMP/list.html"
for id in "$DONE" "$COMP" "$EVIL" "$STUCK"; do has "$TMP/list.html" "/sagas/$id" "list"; done
has "$TMP/list.html" '<span class="st st-COMPENSATED">' "list"
ok "list shows the sagas just run"

# Tag and input-field filters: the page's form fields are list's --tag and --where.
dom "$URL/?tag=order%3Da-$P" "$TMP/list-tag.html"
has "$TMP/list-tag.html" "/sagas/$APPR" "list filtered by tag"
hasnt "$TMP/list-tag.html" "/sagas/$REJ" "list filtered by tag"
has "$TMP/list-tag.html" "name=\"tag\" placeholder=\"order=o-1\" value=\"order=a-$P\"" "tag filter field"
dom "$URL/?where=input.account%3Dpoor-$P" "$TMP/list-where.html"
has "$TMP/list-where.html" "/sagas/$COMP" "list filtered by input field"
hasnt "$TMP/list-where.html" "/sagas/$DONE" "list filtered by input field"
has "$TMP/list-where.html" 'name="where"' "input-field filter"
[ "$(curl -sS "$URL/api/sagas?tag=order%3Da-$P" | jq -r '[.sagas[].id] | join(" ")')" = "$APPR" ] ||
    fail "/api/sagas?tag= does not filter"
shot "$URL/?tag=order%3Da-$P" list-tag
ok "list filters by tag and input field (page and /api)"

dom "$URL/sagas/$COMP" "$TMP/comp.html"
has "$TMP/comp.html" '<title>saga' "compensated page"
for want in 'class="graph"' '<svg' 'id="timeline"' 'class="bar b-ok"' 'class="bar b-rejected"'; do
    has "$TMP/comp.html" "$want" "compensated page"
done
tr -d '\n' <"$TMP/comp.html" | grep -o '<table class="list" id="steps">.*</table>' | head -c 4000 >"$TMP/comp-steps"
grep -q 'stock</td><td>inventory</td><td><span class="st st-COMPENSATED">' "$TMP/comp-steps" ||
    fail "compensated page: stock not COMPENSATED: $(cat "$TMP/comp-steps")"
grep -q 'funds</td><td>payment</td><td><span class="st st-REJECTED">' "$TMP/comp-steps" ||
    fail "compensated page: funds not REJECTED"
hasnt "$TMP/comp.html" 'data-live' "a finished saga's page"
hasnt "$TMP/comp.html" 'id="actions"' "read-only console"
ok "compensated saga: graph, timeline bars, steps COMPENSATED and REJECTED, not live"

dom "$URL/stuck" "$TMP/stuck.html"
has "$TMP/stuck.html" "/sagas/$STUCK" "stuck board"
has "$TMP/stuck.html" 'awaiting inventory RESERVE reply' "stuck board reason"
has "$TMP/stuck.html" 'data-live=' "stuck board"
shot "$URL/stuck" stuck
ok "stuck board lists the stuck saga with its reason, live"

dom "$URL/sagas/$EVIL" "$TMP/evil.html"
grep -q '<title>saga [0-9a-f]\{8\} - sagad console</title>' "$TMP/evil.html" ||
    fail "hostile saga: title changed: $(grep -o '<title>[^<]*</title>' "$TMP/evil.html" | head -1)"
hasnt "$TMP/evil.html" '<img' "hostile saga (an injected element)"
hasnt "$TMP/evil.html" '<script>document' "hostile saga (an injected script)"
has "$TMP/evil.html" '&lt;img src=x onerror=' "hostile saga (the input as text)"
ok "hostile input renders as text: no element injected, title unchanged"

dom "$URL/defs" "$TMP/defs.html"
has "$TMP/defs.html" '/defs/slow%401' "definitions"
dom "$URL/defs/checkout" "$TMP/def.html"
has "$TMP/def.html" '<svg' "definition graph"
dom "$URL/stats" "$TMP/stats.html"
has "$TMP/stats.html" 'id="throughput"' "stats chart"
has "$TMP/stats.html" 'id="durations"' "stats chart"
ok "definitions, definition graph and stats pages"

# --- the API is the CLI's JSON ----------------------------------------------------------------
same() { # PATH CLI-ARGS... : compares /api PATH with sagactl ARGS --json (minus clock-relative fields)
    path=$1
    shift
    curl -sS "$URL$path" | jq -S 'del(.. | .age_ms?, .no_progress_ms?, .window_ms?, .since?)' >"$TMP/api.json"
    "$S" "$@" --json | jq -S 'del(.. | .age_ms?, .no_progress_ms?, .window_ms?, .since?)' >"$TMP/cli.json"
    cmp -s "$TMP/api.json" "$TMP/cli.json" || fail "/api$path differs from sagactl $*: $(diff "$TMP/api.json" "$TMP/cli.json" | head -20)"
}
same "/api/sagas/$COMP" show "$COMP"
same "/api/sagas?status=COMPENSATED&limit=5" list --status COMPENSATED --limit 5
same "/api/defs" def list
same "/api/defs/checkout" def show checkout
curl -sS "$URL/api/sagas/$COMP" >"$TMP/api-raw.json"
"$S" show "$COMP" --json >"$TMP/cli-raw.json"
cmp -s "$TMP/api-raw.json" "$TMP/cli-raw.json" || fail "/api/sagas/ID is not byte for byte show --json"
code=$(curl -sS -o "$TMP/err.json" -w '%{http_code}' "$URL/api/sagas?bogus=1")
[ "$code" = 400 ] || fail "unknown parameter: HTTP $code"
ok "/api/... answers what sagactl --json prints (byte for byte for show)"

# --- actions ----------------------------------------------------------------------------------
post() { # BASE TOKEN ORIGIN -> HTTP status
    curl -sS -o "$TMP/post.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${2:+-H "X-Console-Token: $2"} ${3:+-H "Origin: $3"} \
        -d '{"reason": "console test"}' "$1/api/sagas/$STUCK/abort"
}
[ "$(post "$URL" "$TOKEN")" = 403 ] || fail "action on a read-only console not refused"
[ "$(post "$AURL" "")" = 403 ] || fail "action without the token not refused"
[ "$(post "$AURL" "wrong-token-0123456789")" = 403 ] || fail "action with a wrong token not refused"
[ "$(post "$AURL" "$TOKEN" "http://evil.example")" = 403 ] || fail "cross-origin action not refused"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$STUCK' AND kind = 'operator'")" = 0 ] ||
    fail "a refused action left an operator row"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$AURL/api/sagas/$STUCK/abort")
[ "$code" = 405 ] || fail "GET on an action: HTTP $code"
ok "actions refused: read-only console, no token, wrong token, other origin, GET (403/405)"

dom "$AURL/sagas/$STUCK" "$TMP/stuck-saga.html"
has "$TMP/stuck-saga.html" 'id="actions"' "console with --actions"
has "$TMP/stuck-saga.html" 'data-action="abort"' "console with --actions"
has "$TMP/stuck-saga.html" 'data-live=' "a running saga's page"
shot "$AURL/sagas/$STUCK" saga-actions
dom "$URL/sagas/$STUCK" "$TMP/stuck-saga-ro.html"
hasnt "$TMP/stuck-saga-ro.html" 'data-action=' "read-only console"
ok "action buttons only with --actions"

code=$(post "$AURL" "$TOKEN" "$AURL")
[ "$code" = 200 ] || fail "abort with the token: HTTP $code: $(cat "$TMP/post.json")"
[ "$(jq -r '.action + " " + .status_before' "$TMP/post.json")" = "abort RUNNING" ] ||
    fail "abort answered $(cat "$TMP/post.json")"
[ "$(psql_q "SELECT actor FROM saga_history WHERE saga_id = '$STUCK' AND kind = 'operator'")" = \
    "console:127.0.0.1" ] || fail "actor not recorded as console:127.0.0.1"
wait_for 30 "the aborted saga compensates" sh -c \
    "[ \"\$(psql '$SAGA_PG_DSN' -qtAX -c \"SELECT status FROM sagas WHERE id = '$STUCK'\")\" = COMPENSATED ]"
ok "abort with the token: through the engine, actor console:127.0.0.1, saga COMPENSATED"

# --- approve / reject a signal step --------------------------------------------------------------
for id in "$APPR" "$REJ"; do
    wait_for 30 "the approval step waits" sh -c "[ \"\$(psql '$SAGA_PG_DSN' -qtAX -c \"SELECT status FROM saga_steps WHERE saga_id = '$id' AND name = 'approve_order'\")\" = RESERVING ]"
done
dom "$AURL/sagas/$APPR" "$TMP/appr.html"
has "$TMP/appr.html" 'data-action="approve"' "a waiting signal step's page"
has "$TMP/appr.html" 'data-action="reject"' "a waiting signal step's page"
has "$TMP/appr.html" 'name="step" value="approve_order"' "the signal form names its step"
shot "$AURL/sagas/$APPR" saga-signal
dom "$URL/sagas/$APPR" "$TMP/appr-ro.html"
hasnt "$TMP/appr-ro.html" 'data-action="approve"' "read-only console"
dom "$AURL/sagas/$DONE" "$TMP/done-actions.html"
hasnt "$TMP/done-actions.html" 'data-action="approve"' "a saga with no signal step waiting"
signal_post() { # BASE TOKEN ID ACTION BODY -> HTTP status
    curl -sS -o "$TMP/post.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${2:+-H "X-Console-Token: $2"} -d "$5" "$1/api/sagas/$3/$4"
}
[ "$(signal_post "$AURL" "" "$APPR" approve '{"step": "approve_order"}')" = 403 ] ||
    fail "approve without the token not refused"
[ "$(signal_post "$URL" "$TOKEN" "$APPR" approve '{"step": "approve_order"}')" = 403 ] ||
    fail "approve on a read-only console not refused"
[ "$(signal_post "$AURL" "$TOKEN" "$REJ" reject '{"step": "approve_order"}')" = 400 ] ||
    fail "reject without a reason not refused: $(cat "$TMP/post.json")"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id IN ('$APPR', '$REJ') AND kind IN ('signal', 'ignored')")" = 0 ] ||
    fail "a refused approve/reject left a history row"
code=$(signal_post "$AURL" "$TOKEN" "$APPR" approve '{"step": "approve_order", "data": {"by": "eve"}}')
[ "$code" = 200 ] || fail "approve with the token: HTTP $code: $(cat "$TMP/post.json")"
[ "$(jq -r '.action + " " + .step' "$TMP/post.json")" = "approve approve_order" ] ||
    fail "approve answered $(cat "$TMP/post.json")"
code=$(signal_post "$AURL" "$TOKEN" "$REJ" reject '{"step": "approve_order", "reason": "fraud"}')
[ "$code" = 200 ] || fail "reject with the token: HTTP $code: $(cat "$TMP/post.json")"
[ "$(psql_q "SELECT actor || ' ' || outcome FROM saga_history WHERE saga_id = '$APPR' AND kind = 'signal' AND actor IS NOT NULL")" = \
    "console:127.0.0.1 OK" ] || fail "approve's actor not recorded"
[ "$(psql_q "SELECT result->>'by' FROM saga_steps WHERE saga_id = '$APPR' AND name = 'approve_order'")" = eve ] ||
    fail "approve's data not kept"
[ "$(psql_q "SELECT actor || ' ' || text FROM saga_history WHERE saga_id = '$REJ' AND kind = 'signal' AND actor IS NOT NULL")" = \
    "console:127.0.0.1 reject: fraud" ] || fail "reject's actor and reason not recorded"
wait_for 30 "the approved saga completes" sh -c \
    "[ \"\$(psql '$SAGA_PG_DSN' -qtAX -c \"SELECT status FROM sagas WHERE id = '$APPR'\")\" = COMPLETED ]"
wait_for 30 "the rejected saga compensates" sh -c \
    "[ \"\$(psql '$SAGA_PG_DSN' -qtAX -c \"SELECT status FROM sagas WHERE id = '$REJ'\")\" = COMPENSATED ]"
ok "approve/reject buttons on a waiting signal step; with the token they go through sagactl signal's path, actor recorded"

# --- screenshots ----------------------------------------------------------------------------------
shot "$URL/" list
shot "$URL/sagas/$COMP" saga-compensated
shot "$URL/sagas/$STUCK" saga-aborted
shot "$URL/sagas/$EVIL" saga-hostile
shot "$URL/defs" defs
shot "$URL/defs/checkout" def
shot "$URL/stats" stats
[ "$(ls "$SHOTS"/*.png | wc -l)" -eq 11 ] || fail "screenshots missing: $(ls "$SHOTS")"
ok "screenshots in $SHOTS"

for p in / /stuck /defs /defs/checkout /stats "/sagas/$COMP" /sagas/nope /api/sagas /nope; do
    curl -sS "$URL$p"
done >"$TMP/all-pages"
cat "$TMP"/*.html >>"$TMP/all-pages"
hasnt "$TMP/all-pages" "$SECRET" "the DSN's password"
ok "the DSN's password appears on no page"
