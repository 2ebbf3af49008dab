#!/bin/sh
# run.sh [SEED] - the chaos suite (`make chaos [SEED=N]`): proves that no
# saga is lost and no effect is applied twice whatever breaks.
#
# N sagas of both example specs (order_checkout, order_checkout_parallel)
# are started at a steady rate, half through sagactl (PostgreSQL) and half
# through the saga.start topic (Kafka), while two sagad processes, the
# inventory and payment workers and a shipping participant
# (tests/chaos/shipping_worker.c) serve them. The workers run with fault
# flags (reject, retry, drop reply, crash after commit) the whole time, and
# a seeded schedule injects, at random moments: kill -9 of a sagad, kill -9
# of a worker, a Kafka broker restart, a PostgreSQL restart (fast shutdown),
# a participant answering slower than the step timeout, and bursts of poison
# messages on saga.replies, saga.start and the command topics.
#
# Afterwards, with every process running normally again and time to drain:
# every saga is terminal; every COMPLETED saga has each step's reserve and
# confirm applied exactly once in the participants' tables, every
# COMPENSATED saga left no live reservation, hold or shipment; the running
# totals per SKU and account equal what the COMPLETED sagas account for;
# the three participants' `check` pass; the outbox is empty; and the
# dead-letter topic received exactly the poison that was injected (each
# message known by its topic, partition and offset), every copy with a
# reason. The figures are printed at the end; the exit status is 0 only if
# every assertion held.
#
# The seed decides the schedule (which faults, when, where), the sagas'
# inputs and the workers' fault draws, so `make chaos SEED=N` replays a run
# (what the operating system and Kafka's timing do with it may differ).
#
# CHAOS_PROFILE=short is the run inside `make test`
# (tests/integration/chaos_short.sh): fewer sagas, one fault of each kind,
# the same assertions. The stack restarted here is the one described by
# SAGA_STACK_DIR / SAGA_PG_PORT / SAGA_KAFKA_PORT (tests/stack/stack.sh);
# it is brought back up on exit, even on failure, since other tests follow.
# Processes run in the default consumer groups and database, so nothing else
# may use the stack during a run.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SEED=${1:-${SEED:-}}
[ -n "$SEED" ] || SEED=$(od -An -N3 -tu4 /dev/urandom | tr -d ' ')
case "$SEED" in *[!0-9]* | '') echo "chaos: SEED must be a whole number, not \"$SEED\"" >&2; exit 2 ;; esac
PROFILE=${CHAOS_PROFILE:-full}
case "$PROFILE" in
full)
    SAGAS=600 LOAD_SECS=300 GAP_MIN=6 GAP_MAX=20 REPEAT=3 DRAIN_SECS=600
    RATES="--fault.reject.rate=0.03 --fault.retry.rate=0.05 --fault.drop.reply.rate=0.03 --fault.crash.after.commit.rate=0.004"
    ;;
short)
    SAGAS=80 LOAD_SECS=50 GAP_MIN=1 GAP_MAX=4 REPEAT=1 DRAIN_SECS=180
    RATES="--fault.reject.rate=0.05 --fault.retry.rate=0.05 --fault.drop.reply.rate=0.04 --fault.crash.after.commit.rate=0.01"
    ;;
*) echo "chaos: CHAOS_PROFILE is full or short, not \"$PROFILE\"" >&2; exit 2 ;;
esac
SLOW_SECS=12   # how long a participant answers slower than the step timeout
SLOW_MS=7000   # > timeout_ms (5000) of every step of both specs

BIN=${SAGA_BIN:-$ROOT/build/bin}
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac
TOOLS=$(dirname "$BIN")/tools
K=$TOOLS/chaos_kafka
for b in "$BIN/sagad" "$BIN/sagactl" "$BIN/inventory-worker" "$BIN/payment-worker" \
    "$TOOLS/shipping_worker" "$K"; do
    [ -x "$b" ] || { echo "chaos: $b is missing (make all)" >&2; exit 2; }
done
STACK_DIR=${SAGA_STACK_DIR:-$ROOT/.stack}
P=ch$SEED-$$                       # prefix of every key, SKU and account of this run
RUN=$ROOT/build/chaos/$P
rm -rf "$RUN"
mkdir -p "$RUN"
SUPERVISORS=""
T0=$(date +%s)

say() { echo "chaos: $*"; }
elapsed() { echo $(($(date +%s) - T0)); }
# 3>&-: a broker or postmaster started here must not inherit the start
# pipe, or the Kafka starter would never see its end.
stack() { sh "$ROOT/tests/stack/stack.sh" "$@" >>"$RUN/stack.log" 2>&1 3>&-; }
psql_q() { psql "$SAGA_PG_DSN" -v ON_ERROR_STOP=1 -qtAX -c "$1"; }

FAILED=0
check() { # check DESCRIPTION: records a failed assertion (the run goes on to print figures)
    say "FAIL: $*"
    FAILED=1
}

# wait_until SECONDS CMD...: polls CMD until it succeeds; 1 on timeout.
wait_until() {
    end=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
    return 0
}

# --- processes ------------------------------------------------------------------
# supervise NAME CMD...: keeps CMD running, restarting it one second after it
# exits (what a process manager does), until $RUN/stop exists. Extra
# arguments are read from $RUN/NAME.args at each start: that is how a fault
# changes how a process runs. Exits are logged to $RUN/exits.
supervise() {
    name=$1
    shift
    (
        while [ ! -f "$RUN/stop" ]; do
            extra=$(cat "$RUN/$name.args" 2>/dev/null)
            # shellcheck disable=SC2086
            "$@" $extra >>"$RUN/$name.log" 2>&1 &
            echo $! >"$RUN/$name.pid"
            wait $!
            rc=$?
            echo "$(date +%s) $name $rc" >>"$RUN/exits"
            [ -f "$RUN/stop" ] && break
            sleep 1 # the restart delay of a process manager, not a wait for a condition
        done
    ) 2>>"$RUN/supervise.err" &
    SUPERVISORS="$SUPERVISORS $!"
}

pid_of() { cat "$RUN/$1.pid" 2>/dev/null; }

# SIGTERM once (a second one means "stop at once" to sagad and the
# workers), SIGKILL whatever is left after 30 s.
stop_all() {
    touch "$RUN/stop"
    end=$(($(date +%s) + 30))
    signalled=" "
    while :; do
        alive=0
        for s in $SUPERVISORS; do kill -0 "$s" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        for f in "$RUN"/*.pid; do
            [ -f "$f" ] || continue
            p=$(cat "$f")
            if [ "$(date +%s)" -ge "$end" ]; then
                kill -KILL "$p" 2>/dev/null
            else
                case "$signalled" in
                *" $p "*) ;;
                *) kill -TERM "$p" 2>/dev/null && signalled="$signalled$p " ;;
                esac
            fi
        done
        sleep 0.2
    done
    wait 2>/dev/null
}

on_exit() {
    [ -n "${STARTER:-}" ] && kill "$STARTER" 2>/dev/null
    [ -n "${KSTART:-}" ] && kill "$KSTART" 2>/dev/null
    stop_all
    # Whatever happened, leave the stack up for the tests that follow.
    stack up || echo "chaos: could not bring the stack back up, see $RUN/stack.log" >&2
}
trap on_exit EXIT
trap 'exit 1' INT TERM

# --- setup -------------------------------------------------------------------------
stack up || { cat "$RUN/stack.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$STACK_DIR/env"
export SAGA_PG_DSN SAGA_KAFKA_BROKERS
say "seed $SEED, profile $PROFILE, $SAGAS sagas (replay: make chaos SEED=$SEED); logs in $RUN"

"$BIN/sagactl" migrate >/dev/null || { say "sagactl migrate failed"; exit 1; }
"$BIN/sagactl" def apply "$ROOT/sagas/order_checkout.json" \
    "$ROOT/sagas/order_checkout_parallel.json" >/dev/null || { say "def apply failed"; exit 1; }
# Plenty of stock and money, except one SKU and one account that run short:
# business refusals (compensations) are part of a realistic load.
"$BIN/inventory-worker" seed --sku "$P-a" --qty 1000000 --sku "$P-b" --qty 1000000 \
    --sku "$P-low" --qty 15 >/dev/null || { say "inventory seed failed"; exit 1; }
"$BIN/payment-worker" seed --account "$P-rich" --balance 1000000000 --account "$P-rich2" \
    --balance 1000000000 --account "$P-poor" --balance 2500 >/dev/null ||
    { say "payment seed failed"; exit 1; }
"$TOOLS/shipping_worker" migrate >/dev/null || { say "shipping migrate failed"; exit 1; }

# A killed worker's partitions stay with its dead consumer until the group
# session expires: 6 s like sagad's, instead of librdkafka's 45 s default.
WORKER_FLAGS="--kafka.session.timeout.ms=6000 --kafka.heartbeat.interval.ms=1500 \
--http.listen=off --fault.seed=$SEED $RATES"
supervise sagad1 "$BIN/sagad" --http.listen=off
supervise sagad2 "$BIN/sagad" --http.listen=off
# shellcheck disable=SC2086
supervise inventory "$BIN/inventory-worker" run $WORKER_FLAGS
# shellcheck disable=SC2086
supervise payment "$BIN/payment-worker" run $WORKER_FLAGS
# shellcheck disable=SC2086
supervise shipping "$TOOLS/shipping_worker" run $WORKER_FLAGS

# Quiet: every consumer group has consumed everything (workers first: their
# replies land on saga.replies before their offsets are committed).
quiet() {
    [ "$("$K" lag saga.inventory saga.inventory.commands)" = 0 ] &&
        [ "$("$K" lag saga.payment saga.payment.commands)" = 0 ] &&
        [ "$("$K" lag saga.shipping saga.shipping.commands)" = 0 ] &&
        [ "$("$K" lag sagad saga.replies saga.start)" = 0 ]
}
# Whatever earlier runs left in the topics is consumed (and, if poison,
# dead-lettered) before the dead-letter baseline is taken.
wait_until 120 quiet || { say "the consumers did not catch up before the run"; exit 1; }
"$K" end saga.dlq >"$RUN/dlq.base" || { say "cannot read saga.dlq offsets"; exit 1; }
say "all processes up and consumers caught up after $(elapsed) s"

# --- the load ------------------------------------------------------------------------
# plan: one line per saga, from the seed: KEY DEF PATH SKU QTY ACCOUNT AMOUNT.
awk -v n="$SAGAS" -v s="$SEED" -v p="$P" 'BEGIN {
    srand(s)
    for (i = 1; i <= n; i++) {
        def = (i % 2) ? "order_checkout" : "order_checkout_parallel"
        path = (rand() < 0.5) ? "sagactl" : "kafka"
        r = rand(); sku = (r < 0.45) ? p "-a" : (r < 0.9) ? p "-b" : p "-low"
        r = rand(); acc = (r < 0.45) ? p "-rich" : (r < 0.9) ? p "-rich2" : p "-poor"
        printf "%s-%d %s %s %s %d %s %d\n", p, i, def, path, sku, 1 + int(rand() * 3), acc,
            100 * (1 + int(rand() * 10))
    }
}' >"$RUN/plan"

input_of() { # KEY DEF SKU QTY ACCOUNT AMOUNT
    addr=""
    [ "$2" = order_checkout_parallel ] && addr=", \"address\": {\"city\": \"Lyon\", \"line\": \"$1\"}"
    printf '{"order_id": "%s", "sku": "%s", "qty": %s, "account": "%s", "amount": %s%s}' \
        "$1" "$3" "$4" "$5" "$6" "$addr"
}

# A client of sagactl retries with the same idempotency key until the start
# is stored (PostgreSQL may be restarting); the key makes that safe.
start_with_sagactl() { # KEY DEF INPUT
    end=$(($(date +%s) + 300))
    until "$BIN/sagactl" start "$2" --key "$1" --input "$3" >/dev/null 2>>"$RUN/sagactl.err"; do
        [ "$(date +%s)" -ge "$end" ] && { echo "$1" >>"$RUN/start-failed"; return; }
        sleep 0.5 # client retry backoff while the database is away
    done
}

mkfifo "$RUN/start.fifo"
"$K" start <"$RUN/start.fifo" >"$RUN/kafka-started" 2>"$RUN/kafka-start.err" &
KSTART=$!
exec 3>"$RUN/start.fifo"
PACE=$(awk -v t="$LOAD_SECS" -v n="$SAGAS" 'BEGIN { printf "%.3f", t / n }')
(
    while read -r key def path sku qty acc amount; do
        input=$(input_of "$key" "$def" "$sku" "$qty" "$acc" "$amount")
        if [ "$path" = sagactl ]; then
            start_with_sagactl "$key" "$def" "$input" &
        else
            printf '%s\t%s\t%s\n' "$key" "$def" "$input" >&3
        fi
        sleep "$PACE" # the load's steady rate, not a wait for a condition
    done <"$RUN/plan"
    wait
) &
STARTER=$!

# --- the fault schedule ------------------------------------------------------------------
# Each kind REPEAT times, shuffled, with a pause of GAP_MIN..GAP_MAX s
# before each; all from the seed.
awk -v s="$SEED" -v r="$REPEAT" -v lo="$GAP_MIN" -v hi="$GAP_MAX" 'BEGIN {
    srand(s + 1)
    split("kill_sagad kill_worker restart_kafka restart_pg slow_worker poison", kinds, " ")
    n = 0
    for (k = 1; k <= r; k++) for (i = 1; i <= 6; i++) list[++n] = kinds[i]
    for (i = n; i > 1; i--) { j = 1 + int(rand() * i); t = list[i]; list[i] = list[j]; list[j] = t }
    split("sagad1 sagad2", sagads, " "); split("inventory payment shipping", workers, " ")
    for (i = 1; i <= n; i++) {
        target = (list[i] == "kill_sagad") ? sagads[1 + int(rand() * 2)] : workers[1 + int(rand() * 3)]
        printf "%.1f %s %s\n", lo + rand() * (hi - lo), list[i], target
    }
}' >"$RUN/schedule"

POISON_N=0
poison() { # TOPIC KIND [ARGS]: injects one poison message, recording where it landed
    t=$1
    k=$2
    shift 2
    if "$K" poison "$t" "$k" --seed "$SEED$POISON_N" "$@" >>"$RUN/injected" 2>>"$RUN/poison.err"; then
        POISON_N=$((POISON_N + 1))
    else
        check "could not inject $k on $t"
    fi
}

poison_burst() { # WORKER: poison on saga.replies, saga.start and WORKER's command topic
    for k in garbage empty truncated not_uuid unknown_saga negative_attempt bad_action \
        bad_outcome bad_utf8 bad_json payload_array huge_payload; do
        poison saga.replies "$k"
    done
    some=$(psql_q "SELECT id FROM sagas WHERE idempotency_key LIKE '$P-%' LIMIT 1" 2>/dev/null)
    [ -n "$some" ] && poison saga.replies unknown_step --saga "$some"
    for k in garbage empty truncated unknown_def sql_name negative_version input_array \
        input_bad_json input_wrong_types input_missing bad_utf8 long_key huge_input; do
        poison saga.start "$k"
    done
    for k in garbage empty truncated empty_saga_id bad_action negative_attempt bad_utf8 \
        bad_json payload_array long_key; do
        poison "saga.$1.commands" "$k"
    done
}

fault() { # KIND TARGET
    case "$1" in
    kill_sagad | kill_worker) kill -9 "$(pid_of "$2")" 2>/dev/null ;;
    restart_kafka) stack restart-kafka || { stack up || check "kafka did not come back"; } ;;
    restart_pg) stack restart-pg || { stack up || check "postgres did not come back"; } ;;
    slow_worker)
        echo "--fault.delay=${SLOW_MS}ms" >"$RUN/$2.args"
        kill -TERM "$(pid_of "$2")" 2>/dev/null
        sleep "$SLOW_SECS" # how long the fault lasts: part of the schedule
        rm -f "$RUN/$2.args"
        kill -TERM "$(pid_of "$2")" 2>/dev/null
        ;;
    poison) poison_burst "$2" ;;
    esac
}

: >"$RUN/faults"
while read -r gap kind target; do
    sleep "$gap" # the schedule: when the next fault strikes, not a wait for a condition
    say "+$(elapsed)s $kind $target"
    fault "$kind" "$target"
    echo "$kind" >>"$RUN/faults"
done <"$RUN/schedule"

wait "$STARTER"
STARTER=""
exec 3>&-
wait "$KSTART" || check "chaos_kafka start failed (see $RUN/kafka-start.err)"
KSTART=""
[ -s "$RUN/start-failed" ] && check "$(wc -l <"$RUN/start-failed") sagactl starts never succeeded"
say "+$(elapsed)s load and faults done: draining"

# --- drain ----------------------------------------------------------------------------------
T_DRAIN=$(date +%s)
F="idempotency_key LIKE '$P-%'"
terminal() {
    [ "$(psql_q "SELECT count(*) FROM sagas WHERE $F AND status IN ('COMPLETED', 'COMPENSATED')")" = "$SAGAS" ]
}
outbox_empty() { [ "$(psql_q "SELECT count(*) FROM saga_outbox")" = 0 ]; }
wait_until "$DRAIN_SECS" terminal || check "not every saga is terminal after $DRAIN_SECS s of drain"
wait_until 60 outbox_empty || check "the outbox did not drain"
wait_until 60 quiet || check "the consumers did not catch up after the run"
DRAIN=$(($(date +%s) - T_DRAIN))

# --- assertions -------------------------------------------------------------------------------
q() { psql_q "$1" 2>>"$RUN/psql.err" || echo "?"; }
STORED=$(q "SELECT count(*) FROM sagas WHERE $F")
LOST=$((SAGAS - STORED))
[ "$LOST" = 0 ] || check "$LOST sagas lost (started $SAGAS, stored $STORED)"
NONTERM=$(q "SELECT count(*) FROM sagas WHERE $F AND status NOT IN ('COMPLETED', 'COMPENSATED')")
[ "$NONTERM" = 0 ] || check "$NONTERM sagas not terminal"

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
# Applied twice: more than one row for a step, or a completed saga whose
# step was confirmed more than once (the totals below catch the rest).
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
"$BIN/inventory-worker" check --prefix "$P-" >"$RUN/check-inventory" 2>&1 || check "inventory-worker check (see $RUN/check-inventory)"
"$BIN/payment-worker" check --prefix "$P-" >"$RUN/check-payment" 2>&1 || check "payment-worker check (see $RUN/check-payment)"
"$TOOLS/shipping_worker" check --prefix "$P-" >"$RUN/check-shipping" 2>&1 || check "shipping_worker check (see $RUN/check-shipping)"
outbox_empty || check "the outbox is not empty"

# Dead letters: exactly the injected poison, each with a reason. A copy may
# be made twice (a process killed between dead-lettering and committing its
# offset): duplicates are counted, not failed.
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

stop_all
# No process may have died on its own: the only exits allowed are a clean
# stop (0), our kills (137, or 143 for a SIGTERM that beat the signal
# handlers of a process just restarted) and the workers' injected crashes
# (3); and no sanitizer may have reported anything (ASan builds).
awk '$3 != 0 && $3 != 137 && $3 != 143 && !($3 == 3 && $2 !~ /^sagad/)' "$RUN/exits" \
    >"$RUN/exits.bad" 2>/dev/null
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
by_status=$(q "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM
  (SELECT status, count(*) n FROM sagas WHERE $F GROUP BY status) t")
by_def=$(awk '{ c[$2]++ } END { for (d in c) { printf "%s%s=%d", sep, d, c[d]; sep = ", " } }' "$RUN/plan")
by_path=$(awk '{ c[$3]++ } END { printf "sagactl=%d, saga.start=%d", c["sagactl"], c["kafka"] }' "$RUN/plan")
faults=$(sort "$RUN/faults" | uniq -c | awk '{ printf "%s%s=%d", sep, $2, $1; sep = ", " }')
crashes=$(awk '$3 == 3' "$RUN/exits" 2>/dev/null | wc -l)
durations=$(q "SELECT format('median %s s, p99 %s s, max %s s', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY d)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY d)::numeric, 1), round(max(d)::numeric, 1))
  FROM (SELECT extract(epoch FROM finished_at - created_at) d FROM sagas WHERE $F AND finished_at IS NOT NULL) t")
echo
say "seed $SEED ($PROFILE) - replay with: make chaos SEED=$SEED"
say "sagas: $SAGAS ($by_def; $by_path) -> $by_status"
say "faults injected: $faults"
say "worker fault flags: $(worker_faults) (worker exits after an injected crash: $crashes)"
say "poison injected: $(wc -l <"$RUN/injected") messages; dead letters received: $DLQ_N ($DLQ_DUP duplicate copies)"
say "saga duration, start to terminal: $durations"
say "sagas lost: $LOST (must be 0)"
say "effects applied twice: $TWICE (must be 0); sagas whose effects disagree with their status: $WRONG"
say "time to drain: $DRAIN s after the last start and the last fault (total run $(elapsed) s)"
if [ "$FAILED" = 0 ]; then
    say "PASS"
else
    say "FAILED - logs in $RUN"
fi
exit "$FAILED"
