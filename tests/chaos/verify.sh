#!/bin/sh
# verify.sh RUN-DIR - judges a finished chaos run (tests/chaos/run.sh calls
# it last) and prints its figures; exit 0 only if every assertion held,
# those of run.sh ($RUN-DIR/failures) included.
#
# Apart from run.sh so that a run can be judged again from what it left:
# the run's parameters ($RUN-DIR/params), its logs and the stack's tables.
# That is also how each assertion is shown to fail on what it checks: break
# a row of a finished run (a second confirmed reservation, a CONFIRM in a
# compensated saga's barrier, a saga set back to RUNNING) and run this
# again. Needs SAGA_PG_DSN and SAGA_KAFKA_BROKERS of the run's stack, and
# every process of the run stopped.
#
# The assertions: every started saga is stored and terminal, the last one
# within BOUND_SECS of the end of the load and of the last fault; per saga,
# the participants' rows and barriers agree with its status (COMPLETED:
# each reserve and confirm taken exactly once; COMPENSATED: nothing left
# reserved, confirmed or booked, every reserve that took effect undone);
# per SKU and account, units sold and money captured equal what COMPLETED
# sagas account for; the three participants' own `check` pass; the outbox
# is empty; the dead-letter topic received exactly the injected poison,
# each with a reason; no process exited on its own (only our kills, the
# workers' injected crashes, crash points that were armed, a stop after a
# fenced static membership), and no sanitizer reported anything.
set -u
RUN=${1:?usage: verify.sh RUN-DIR}
[ -f "$RUN/params" ] || { echo "chaos: $RUN/params is missing: not a finished run" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
. "$RUN/params"
TOOLS=$(dirname "$BIN")/tools
K=$TOOLS/chaos_kafka
F="idempotency_key LIKE '$P-%'"

say() { echo "chaos: $*"; }
check() {
    say "FAIL: $*"
    echo "$*" >>"$RUN/failures"
}
q() { psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX -c "$1" 2>>"$RUN/psql.err" || echo "?"; }
# run.sh's own failures are kept apart, so that judging a run again starts
# from them alone.
[ -f "$RUN/failures.run" ] || cp "$RUN/failures" "$RUN/failures.run" 2>/dev/null ||
    : >"$RUN/failures.run"
cp "$RUN/failures.run" "$RUN/failures"

# --- lost, and terminal in time ------------------------------------------------------
STORED=$(q "SELECT count(*) FROM sagas WHERE $F")
LOST=$((SAGAS - STORED))
[ "$LOST" = 0 ] || check "$LOST sagas lost (started $SAGAS, stored $STORED)"
NONTERM=$(q "SELECT count(*) FROM sagas WHERE $F AND status NOT IN ('COMPLETED', 'COMPENSATED')")
[ "$NONTERM" = 0 ] || check "$NONTERM sagas not terminal"
T_LAST=$((T_FAULTS > T_LOADED ? T_FAULTS : T_LOADED))
AFTER=$(q "SELECT greatest(0, ceil(extract(epoch FROM max(finished_at)) - $T_LAST))::int
  FROM sagas WHERE $F")
case "$NONTERM$AFTER" in
0[0-9]*) [ "$AFTER" -le "$BOUND_SECS" ] ||
    check "the last saga ended $AFTER s after the load and the last fault (bound $BOUND_SECS s)" ;;
*) AFTER="-" ;;
esac

# --- applied twice, half applied -------------------------------------------------------
# Per saga: what each step left in the participant's table.
PER_SAGA="
  SELECT s.id, s.status, s.def_name,
         (SELECT count(*) FROM inventory.reservations r WHERE r.idempotency_key = s.id || '/reserve_inventory') AS rn,
         (SELECT count(*) FROM inventory.reservations r WHERE r.idempotency_key = s.id || '/reserve_inventory' AND r.status = 'confirmed') AS rc,
         (SELECT count(*) FROM inventory.reservations r WHERE r.idempotency_key = s.id || '/reserve_inventory' AND r.status = 'reserved') AS rl,
         (SELECT count(*) FROM payment.holds h WHERE h.idempotency_key = s.id || '/reserve_payment') AS hn,
         (SELECT count(*) FROM payment.holds h WHERE h.idempotency_key = s.id || '/reserve_payment' AND h.status = 'captured') AS hc,
         (SELECT count(*) FROM payment.holds h WHERE h.idempotency_key = s.id || '/reserve_payment' AND h.status = 'held') AS hl,
         (SELECT count(*) FROM shipping.shipments x WHERE x.idempotency_key = s.id || '/ship') AS xn,
         (SELECT count(*) FROM shipping.shipments x WHERE x.idempotency_key = s.id || '/ship' AND x.status = 'booked') AS xb
  FROM sagas s WHERE s.$F"
# Applied twice: more than one row for a step (the totals below catch the rest).
TWICE=$(q "SELECT coalesce(sum((rn > 1)::int + (hn > 1)::int + (xn > 1)::int), 0) FROM ($PER_SAGA) t")
# Wrong: a COMPLETED saga without exactly one confirmed reservation, one
# captured hold (and for the parallel spec one booked shipment); a
# COMPENSATED saga with anything still reserved, confirmed or booked.
WRONG=$(q "SELECT count(*) FROM ($PER_SAGA) t WHERE
  (status = 'COMPLETED' AND (rc <> 1 OR hc <> 1 OR (def_name = 'order_checkout_parallel' AND xb <> 1)))
  OR (status = 'COMPENSATED' AND (rc + rl + hc + hl + xb) > 0)")
# Totals: units sold and money captured are what the COMPLETED sagas
# account for, and nothing stays reserved or held.
SKU_OFF=$(q "SELECT string_agg(st.sku || ' sold ' || st.sold || ' expected ' || e.units || ' reserved ' || st.reserved, '; ')
  FROM inventory.stock st CROSS JOIN LATERAL (SELECT coalesce(sum((s.input->>'qty')::bigint), 0) AS units
    FROM sagas s WHERE s.$F AND s.status = 'COMPLETED' AND s.input->>'sku' = st.sku) e
  WHERE starts_with(st.sku, '$P-') AND (st.sold <> e.units OR st.reserved <> 0)")
ACC_OFF=$(q "SELECT string_agg(a.id || ' captured ' || a.captured || ' expected ' || e.money || ' held ' || a.held, '; ')
  FROM payment.accounts a CROSS JOIN LATERAL (SELECT coalesce(sum((s.input->>'amount')::bigint), 0) AS money
    FROM sagas s WHERE s.$F AND s.status = 'COMPLETED' AND s.input->>'account' = a.id) e
  WHERE starts_with(a.id, '$P-') AND (a.captured <> e.money OR a.held <> 0)")
EXCESS=$(q "SELECT (SELECT count(*) FROM inventory.stock st WHERE starts_with(st.sku, '$P-') AND st.sold >
    (SELECT coalesce(sum((s.input->>'qty')::bigint), 0) FROM sagas s WHERE s.$F AND s.status = 'COMPLETED' AND s.input->>'sku' = st.sku))
  + (SELECT count(*) FROM payment.accounts a WHERE starts_with(a.id, '$P-') AND a.captured >
    (SELECT coalesce(sum((s.input->>'amount')::bigint), 0) FROM sagas s WHERE s.$F AND s.status = 'COMPLETED' AND s.input->>'account' = a.id))")
case "$TWICE$EXCESS" in *[!0-9]*) TWICE="?" ;; *) TWICE=$((TWICE + EXCESS)) ;; esac
[ "$TWICE" = 0 ] || check "$TWICE effects applied twice"
[ "$WRONG" = 0 ] || check "$WRONG sagas whose participants' tables disagree with their status"
[ -z "$SKU_OFF" ] || check "stock totals: $SKU_OFF"
[ -z "$ACC_OFF" ] || check "account totals: $ACC_OFF"

# Barriers: per step, the answers the participant recorded agree with the
# saga's end. COMPLETED: RESERVE and CONFIRM answered OK (the shipping step
# has no confirm), no COMPENSATE taking effect; COMPENSATED: no CONFIRM
# taken, and every RESERVE that took effect compensated. No row is left
# claimed without an answer.
barrier() { # SCHEMA STEP: per saga, that step's barrier answers (OK only)
    echo "(SELECT string_agg(b.action, ',' ORDER BY b.action) FROM $1.barrier b
      WHERE b.idempotency_key = s.id || '/$2' AND b.outcome = 'OK')"
}
PER_BARRIER="
  SELECT s.status, s.def_name,
         coalesce($(barrier inventory reserve_inventory), '') AS bi,
         coalesce($(barrier payment reserve_payment), '') AS bp,
         coalesce($(barrier shipping ship), '') AS bs
  FROM sagas s WHERE s.$F"
BARRIER_OFF=$(q "SELECT count(*) FROM ($PER_BARRIER) t WHERE
  (status = 'COMPLETED' AND (bi <> 'CONFIRM,RESERVE' OR bp <> 'CONFIRM,RESERVE'
                             OR (def_name = 'order_checkout_parallel' AND bs <> 'RESERVE')))
  OR (status = 'COMPENSATED' AND (bi LIKE '%CONFIRM%' OR bp LIKE '%CONFIRM%'
                                  OR bi = 'RESERVE' OR bp = 'RESERVE' OR bs = 'RESERVE'))")
unanswered() { # SCHEMA
    echo "(SELECT count(*) FROM $1.barrier b WHERE b.outcome IS NULL
      AND b.saga_id IN (SELECT id::text FROM sagas WHERE $F))"
}
UNANSWERED=$(q "SELECT $(unanswered inventory) + $(unanswered payment) + $(unanswered shipping)")
[ "$BARRIER_OFF" = 0 ] || check "$BARRIER_OFF sagas whose participants' barriers disagree with their status"
[ "$UNANSWERED" = 0 ] || check "$UNANSWERED barrier rows claimed and never answered"

for w in inventory payment; do
    "$BIN/$w-worker" check --prefix "$P-" >"$RUN/check-$w" 2>&1 ||
        check "$w-worker check (see $RUN/check-$w)"
done
"$TOOLS/shipping_worker" check --prefix "$P-" >"$RUN/check-shipping" 2>&1 ||
    check "shipping_worker check (see $RUN/check-shipping)"
[ "$(q "SELECT count(*) FROM saga_outbox")" = 0 ] || check "the outbox is not empty"

# --- dead letters ----------------------------------------------------------------------
# Exactly the injected poison, each with a reason. A copy may be made twice
# (a process killed between dead-lettering and committing its offset):
# duplicates are counted, not failed.
touch "$RUN/injected"
if "$K" dlq saga.dlq "$RUN/dlq.base" >"$RUN/dlq.new" 2>"$RUN/dlq.err"; then
    cut -d' ' -f1-3 "$RUN/injected" | sort -u >"$RUN/injected.keys"
    cut -f1 "$RUN/dlq.new" | sort -u >"$RUN/dlq.keys"
    MISSING=$(comm -23 "$RUN/injected.keys" "$RUN/dlq.keys" | wc -l)
    UNEXPECTED=$(comm -13 "$RUN/injected.keys" "$RUN/dlq.keys" | wc -l)
    NO_REASON=$(awk -F'\t' '$2 == "-" || $2 == ""' "$RUN/dlq.new" | wc -l)
    DLQ_N=$(wc -l <"$RUN/dlq.new")
    DLQ_DUP=$((DLQ_N - $(wc -l <"$RUN/dlq.keys")))
    [ "$MISSING" = 0 ] || check "$MISSING injected poison messages not dead-lettered (see $RUN/injected, $RUN/dlq.new)"
    [ "$UNEXPECTED" = 0 ] || check "$UNEXPECTED dead letters that were not injected (see $RUN/dlq.new)"
    [ "$NO_REASON" = 0 ] || check "$NO_REASON dead letters without a reason"
else
    check "cannot read saga.dlq (see $RUN/dlq.err)"
    DLQ_N="?" DLQ_DUP="?"
fi

# --- exits ----------------------------------------------------------------------------------
# No process may have died on its own: the only exits allowed are a clean
# stop (0), our kills (137, or 143 for a SIGTERM that beat the signal
# handlers of a process just restarted), the workers' injected crashes (3)
# and, as many times as one was armed for that process, a crash point (86);
# and status 1 as many times as the process logged that its static group
# membership was fenced (a fatal Kafka error: it stops so that its
# supervisor starts a fresh client).
touch "$RUN/armed" "$RUN/exits"
for name in sagad1 sagad2 inventory payment shipping; do
    grep -c 'fatal error.*fenced' "$RUN/$name.log" 2>/dev/null |
        awk -v n="$name" '{ for (i = 0; i < $1; i++) print n }'
done >"$RUN/fenced"
awk 'FILENAME == ARGV[1] { armed[$1]++; next }
     FILENAME == ARGV[2] { fenced[$1]++; next }
     $3 == 86 && fired[$2]++ < armed[$2] { next }
     $3 == 1 && stopped[$2]++ < fenced[$2] { next }
     $3 != 0 && $3 != 137 && $3 != 143 && !($3 == 3 && $2 !~ /^sagad/)' \
    "$RUN/armed" "$RUN/fenced" "$RUN/exits" >"$RUN/exits.bad"
[ -s "$RUN/exits.bad" ] && check "processes exited on their own: $(awk '{ printf "%s%s status %s", sep, $2, $3; sep = ", " }' "$RUN/exits.bad")"
grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$RUN"/*.log >"$RUN/sanitizer" 2>/dev/null &&
    check "sanitizer reports in $(tr '\n' ' ' <"$RUN/sanitizer")"

# --- figures ------------------------------------------------------------------------------------
worker_faults() { # distinct injected faults by kind, from the workers' logs
    cat "$RUN/inventory.log" "$RUN/payment.log" "$RUN/shipping.log" 2>/dev/null |
        grep '"injected fault' |
        jq -r '[(.msg | sub(" \\(exit.*"; "")), .saga_id, .step, .action, .attempt] | @tsv' 2>/dev/null |
        sort -u | cut -f1 | sed 's/injected fault: //' | sort | uniq -c |
        awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%s=%d", sep, $0, n; sep = ", " }'
}
count() { # STATUS
    q "SELECT count(*) FROM sagas WHERE $F AND status = '$1'"
}
by_def=$(awk '{ c[$2]++ } END { for (d in c) { printf "%s%s=%d", sep, d, c[d]; sep = ", " } }' "$RUN/plan")
by_path=$(awk '{ c[$3]++ } END { printf "sagactl=%d, saga.start=%d", c["sagactl"], c["kafka"] }' "$RUN/plan")
faults=$(sort "$RUN/faults" | uniq -c | awk '{ printf "%s%s=%d", sep, $2, $1; sep = ", " }')
n_faults=$(wc -l <"$RUN/faults")
crashes=$(awk '$3 == 3' "$RUN/exits" | wc -l)
fired=$(awk '$3 == 86' "$RUN/exits" | wc -l)
armed=$(wc -l <"$RUN/armed")
durations=$(q "SELECT format('median %s s, p99 %s s, max %s s', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1), round(max(d)::numeric, 1))
  FROM (SELECT extract(epoch FROM finished_at - created_at) d FROM sagas WHERE $F AND finished_at IS NOT NULL) t")
attempts=$(q "SELECT max(greatest(st.reserve_attempts, st.confirm_attempts, st.compensate_attempts))
  FROM saga_steps st JOIN sagas s ON s.id = st.saga_id WHERE s.$F")
completed=$(count COMPLETED)
compensated=$(count COMPENSATED)
echo
say "seed $SEED ($PROFILE, static members: ${STATIC:-0}) at $COMMIT - replay with: CHAOS_STATIC=${STATIC:-0} make chaos PROFILE=$PROFILE SEED=$SEED"
say "sagas: $SAGAS ($by_def; $by_path) -> COMPLETED $completed, COMPENSATED $compensated"
say "faults injected: $n_faults ($faults); crash points armed $armed, reached $fired"
say "worker fault flags: $(worker_faults) (worker exits after an injected crash: $crashes)"
say "poison injected: $(wc -l <"$RUN/injected") messages; dead letters received: $DLQ_N ($DLQ_DUP duplicate copies)"
say "saga duration, start to terminal: $durations; most sends of one action: $attempts"
say "sagas lost: $LOST (must be 0); not terminal: $NONTERM (must be 0)"
say "effects applied twice: $TWICE (must be 0); sagas whose effects disagree with their status: $WRONG; whose barriers do: $BARRIER_OFF"
say "load $((T_LOADED - T_LOAD)) s, last fault over at +$((T_FAULTS - T0)) s; every saga terminal $AFTER s after both (bound $BOUND_SECS s); run $((T_LOADED - T0)) s before the drain"
say "row: | $SEED | $SAGAS | $n_faults: $faults | $completed / $compensated | $AFTER s | $attempts | $COMMIT |"
if [ -s "$RUN/failures" ]; then
    say "FAILED ($(wc -l <"$RUN/failures") failed) - logs in $RUN"
    exit 1
fi
say "PASS"
