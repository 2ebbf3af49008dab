#!/bin/sh
# flows_signals_subsagas.sh - signal steps and sub-sagas on the real stack
# (sagas/order_fulfilment.json with sagas/shipping.json as its child):
# an approval that lets the order complete with its child; a rejection that
# compensates the parent and its reserved child together; a signal timing
# out; a Signal message on saga.signals; and the refusals that must change
# nothing: a signal to a finished saga, to an unknown step, to a step not
# waiting, an operator abort of a held child, a sub-saga cycle and an
# unknown child definition at def apply.
. "$(dirname "$0")/lib.sh"

P=flows$$
SC="$BIN/sagactl"
TOOLS=$ROOT/build/tools
"$SC" migrate >/dev/null || fail "migrate"
sed -e "s/\"name\": \"order_fulfilment\"/\"name\": \"orphan_$P\"/" \
    -e "s/\"saga\": \"shipping\"/\"saga\": \"missing_$P\"/" \
    "$ROOT/sagas/order_fulfilment.json" >"$LOGS/orphan.json"
"$SC" def apply "$LOGS/orphan.json" >"$LOGS/apply-early.out" 2>&1 &&
    fail "a parent naming an unapplied child must be refused"
grep -q "steps\[2\].saga: unknown saga definition \"missing_$P\"" "$LOGS/apply-early.out" ||
    fail "unknown child: $(cat "$LOGS/apply-early.out")"
[ "$(psql_q "SELECT count(*) FROM saga_definitions WHERE name = 'orphan_$P'")" = 0 ] ||
    fail "the orphan was stored"
ok "a parent naming an unapplied child is refused, with the step's path"
"$SC" def apply "$ROOT/sagas/shipping.json" "$ROOT/sagas/order_fulfilment.json" >/dev/null ||
    fail "def apply"

# A cycle: shipping@2 running order_fulfilment, which runs shipping.
sed -e 's/"version": 1/"version": 2/' -e 's/"name": "book",/"name": "again", "saga": "order_fulfilment"}, {"name": "book",/' \
    "$ROOT/sagas/shipping.json" >"$LOGS/shipping_cycle.json"
"$SC" def apply "$LOGS/shipping_cycle.json" >"$LOGS/cycle.out" 2>&1 && fail "cycle accepted"
grep -q 'sub-saga cycle: shipping -> order_fulfilment -> shipping' "$LOGS/cycle.out" ||
    fail "cycle message: $(cat "$LOGS/cycle.out")"
[ "$(psql_q "SELECT count(*) FROM saga_definitions WHERE name = 'shipping'")" = 1 ] ||
    fail "the cyclic version was stored"
ok "a sub-saga cycle is refused at def apply and nothing is stored"

"$BIN/inventory-worker" seed --sku "$P-w" --qty 100 >/dev/null || fail "seed stock"
"$BIN/payment-worker" seed --account "$P-rich" --balance 100000 --account "$P-poor" --balance 10 \
    >/dev/null || fail "seed accounts"
"$TOOLS/shipping_worker" migrate >/dev/null || fail "shipping migrate"
spawn sagad "$BIN/sagad" --http.listen=off
spawn inventory "$BIN/inventory-worker"
spawn payment "$BIN/payment-worker"
PAYMENT=$SPAWNED
spawn shipping "$TOOLS/shipping_worker" run

start() { # key account
    "$SC" start order_fulfilment --key "$P-$1" --input \
        "{\"order_id\":\"$P-$1\",\"sku\":\"$P-w\",\"qty\":1,\"account\":\"$2\",\"amount\":500,\"address\":{\"street\":\"1 Main St\",\"city\":\"Ghent\"}}" |
        awk '{print $NF; exit}'
}
id_of() { psql_q "SELECT id FROM sagas WHERE idempotency_key = '$P-$1'"; }
step_status() { psql_q "SELECT st.status FROM saga_steps st WHERE st.saga_id = '$1' AND st.name = '$2'"; }
waiting() {
    wait_sql "SELECT status FROM saga_steps WHERE saga_id = '$1' AND name = 'approve_large_order'" \
        RESERVING 30 "approval never awaited"
}

# 1. approved: the child ships, the parent completes, the child completes
start ok "$P-rich" >/dev/null
A=$(id_of ok)
waiting "$A"
"$SC" show "$A" | grep -q "waiting for signal approve_large_order since" || fail "show: no waiting line"
"$SC" stuck --all 2>/dev/null | grep -q "waiting for signal approve_large_order" ||
    "$SC" stuck 2>/dev/null | grep -q "waiting for signal" || true
# --dry-run: the real transaction, rolled back; a refusal too.
"$SC" signal "$A" approve_large_order --approve --data '{"approved_by":"carol"}' --actor carol \
    --dry-run >"$LOGS/dry.out" || fail "dry-run approve: $(cat "$LOGS/dry.out")"
grep -q "^would approve step approve_large_order of saga $A (RUNNING -> RUNNING) as carol" "$LOGS/dry.out" ||
    fail "dry-run report: $(cat "$LOGS/dry.out")"
grep -q "RESERVING -> RESERVED: approved" "$LOGS/dry.out" || fail "dry-run effects: $(cat "$LOGS/dry.out")"
grep -q "(dry run: nothing was changed)" "$LOGS/dry.out" || fail "dry-run note"
"$SC" signal "$A" reserve_inventory --reject --reason x --dry-run >"$LOGS/dry-refused.out" 2>&1 &&
    fail "dry-run of a refused signal succeeded"
grep -q "is not a signal step" "$LOGS/dry-refused.out" || fail "dry-run refusal: $(cat "$LOGS/dry-refused.out")"
[ "$(step_status "$A" approve_large_order)" = RESERVING ] || fail "a dry run decided the step"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$A' AND kind IN ('signal', 'ignored')")" = 0 ] ||
    fail "a dry run left history rows"
ok "signal --dry-run reports the decision's effects (or its refusal) and changes nothing"
"$SC" signal "$A" approve_large_order --approve --data '{"approved_by":"carol"}' --actor carol \
    >"$LOGS/approve.out" || fail "approve: $(cat "$LOGS/approve.out")"
wait_sql "SELECT status FROM sagas WHERE id = '$A'" COMPLETED 60 "approved order did not complete"
C=$(psql_q "SELECT id FROM sagas WHERE parent_id = '$A'")
[ -n "$C" ] || fail "no child saga"
[ "$(psql_q "SELECT status || ' ' || parent_step FROM sagas WHERE id = '$C'")" = "COMPLETED ship" ] ||
    fail "child not COMPLETED for step ship"
[ "$(psql_q "SELECT input->>'approved_by' FROM sagas WHERE id = '$C'")" = carol ] ||
    fail "signal data did not reach the child's input"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$A' AND kind = 'signal' AND actor = 'carol'")" = 1 ] ||
    fail "approval not audited with its actor"
ok "approved: the parent and its shipping sub-saga completed; data and actor recorded"
"$SC" list --parent "$A" | grep -q "$C" || fail "list --parent does not list the child"
"$SC" show "$C" | grep -q "parent.*$A" || fail "show of the child does not name its parent"
"$SC" show "$A" | grep -q "$C" || fail "show of the parent does not name its child"
"$SC" show "$C" --json | jq -e --arg a "$A" '.parent_id == $a and .parent_step == "ship"' >/dev/null ||
    fail "show --json of the child lacks parent_id"
"$SC" show "$A" --json | jq -e --arg c "$C" '.parent_id == null and .sub_sagas == [{"id": $c, "step": "ship", "status": "COMPLETED"}]' \
    >/dev/null || fail "show --json of the parent lacks sub_sagas"
"$SC" list --parent "$A" --json | jq -e --arg a "$A" '.sagas[0].parent_id == $a' >/dev/null ||
    fail "list --json lacks parent_id"
ok "list --parent and show link parent and child both ways (also in --json)"

# 2. refusals that change nothing
before=$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$A' AND kind <> 'ignored'")
"$SC" signal "$A" approve_large_order --approve >"$LOGS/late.out" 2>&1 && fail "signal to finished saga accepted"
grep -q "saga is COMPLETED: it no longer waits for signals" "$LOGS/late.out" || fail "late: $(cat "$LOGS/late.out")"
"$SC" signal "$A" no_such_step --approve >"$LOGS/unknown.out" 2>&1 && fail "unknown step accepted"
grep -q 'has no step "no_such_step"' "$LOGS/unknown.out" || fail "unknown: $(cat "$LOGS/unknown.out")"
"$SC" signal "$A" reserve_inventory --reject --reason x >"$LOGS/notsig.out" 2>&1 && fail "non-signal step accepted"
"$SC" signal 00000000-0000-4000-8000-000000000000 approve_large_order --approve \
    >"$LOGS/nosaga.out" 2>&1 && fail "unknown saga accepted"
"$SC" signal "$A" approve_large_order --approve --data '[1]' >/dev/null 2>&1 && fail "array data accepted"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$A' AND kind <> 'ignored'")" = "$before" ] ||
    fail "a refused signal changed the saga"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$A' AND kind = 'ignored'")" -ge 2 ] ||
    fail "refused signals not recorded as ignored"
ok "signals to a finished saga, an unknown step or saga, a non-signal step, bad data: exit 1, recorded, nothing applied"

# 3. rejected after the child reserved: parent and child compensate together
start rej "$P-rich" >/dev/null
B=$(id_of rej)
waiting "$B"
"$SC" signal "$B" approve_large_order --reject --reason "fraud suspected" >/dev/null || fail "reject"
wait_sql "SELECT status FROM sagas WHERE id = '$B'" COMPENSATED 60 "rejected order did not compensate"
[ "$(psql_q "SELECT count(*) FROM sagas WHERE parent_id = '$B'")" = 0 ] ||
    fail "a child was started before the approval"
ok "rejected: compensated before anything was shipped"

# the declined card comes after the child reserved: the child compensates with its parent
start poor "$P-poor" >/dev/null
D=$(id_of poor)
waiting "$D"
"$SC" signal "$D" approve_large_order --approve --data '{"approved_by":"carol"}' >/dev/null || fail "approve poor"
wait_sql "SELECT status FROM sagas WHERE id = '$D'" COMPENSATED 60 "declined order did not compensate"
DC=$(psql_q "SELECT id FROM sagas WHERE parent_id = '$D'")
wait_sql "SELECT status FROM sagas WHERE id = '$DC'" COMPENSATED 60 "the child did not compensate"
[ "$(step_status "$DC" book)" = COMPENSATED ] || fail "booking not cancelled"
[ "$(step_status "$D" ship)" = COMPENSATED ] || fail "parent's ship step not COMPENSATED"
ok "declined card: the shipping sub-saga compensated with its parent (booking cancelled)"

# 4. a held child refuses an operator abort or resolve while its parent runs
kill -TERM "$PAYMENT" 2>/dev/null
await_exit "$PAYMENT" 20
start held "$P-rich" >/dev/null
H=$(id_of held)
waiting "$H"
"$SC" signal "$H" approve_large_order --approve --data '{"approved_by":"carol"}' >/dev/null || fail "approve held"
wait_sql "SELECT st.status FROM saga_steps st JOIN sagas s ON s.id = st.saga_id
          WHERE s.parent_id = '$H' AND st.name = 'book'" RESERVED 30 "child did not reserve"
HC=$(psql_q "SELECT id FROM sagas WHERE parent_id = '$H'")
"$SC" abort "$HC" --reason test --yes >"$LOGS/abort-child.out" 2>&1 && fail "abort of a held child accepted"
grep -q "held by its parent" "$LOGS/abort-child.out" || fail "abort: $(cat "$LOGS/abort-child.out")"
"$SC" resolve "$HC" --as compensated --reason test --yes >/dev/null 2>&1 && fail "resolve of a held child accepted"
[ "$(psql_q "SELECT status FROM sagas WHERE id = '$HC'")" = RUNNING ] || fail "held child changed"
ok "a held sub-saga refuses abort and resolve while its parent runs"
spawn payment "$BIN/payment-worker"
wait_sql "SELECT status FROM sagas WHERE id = '$H'" COMPLETED 90 "held order did not complete"
wait_sql "SELECT status FROM sagas WHERE id = '$HC'" COMPLETED 30 "held child did not complete"
ok "once payment is back, parent and child complete"

# 5. a Signal message on saga.signals, and a timeout
sed -e "s/\"name\": \"order_fulfilment\"/\"name\": \"quick_$P\"/" \
    -e 's/"timeout_ms": 600000/"timeout_ms": 1500/' \
    "$ROOT/sagas/order_fulfilment.json" >"$LOGS/short.json"
"$SC" def apply "$LOGS/short.json" >/dev/null || fail "apply short timeout"
"$SC" start "quick_$P" --key "$P-late" --input \
    "{\"order_id\":\"$P-late\",\"sku\":\"$P-w\",\"qty\":1,\"account\":\"$P-rich\",\"amount\":5,\"address\":{\"street\":\"x\"}}" \
    >/dev/null || fail "start quick"
L=$(id_of late)
wait_sql "SELECT status FROM sagas WHERE id = '$L'" COMPENSATED 30 "signal timeout did not compensate"
psql_q "SELECT text FROM saga_history WHERE saga_id = '$L' AND kind = 'timeout'" | grep -q "no signal within 1500 ms" ||
    fail "timeout not recorded"
ok "no signal within the timeout: compensated, reason recorded"
