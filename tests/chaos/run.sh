#!/bin/sh
# run.sh [SEED] - the chaos suite (`make chaos [PROFILE=short|full|long]
# [SEED=N]`): proves that no saga is lost and no effect is applied twice
# whatever breaks, and that every saga ends within a stated bound once the
# faults stop.
#
# Sagas of both example specs (order_checkout, order_checkout_parallel)
# are started at a steady rate, half through sagactl (PostgreSQL) and half
# through the saga.start topic (Kafka), while two sagad processes, the
# inventory and payment workers and a shipping participant
# (tests/chaos/shipping_worker.c) serve them, each under a supervisor that
# restarts it a second after it exits. The workers run with fault flags
# (reject, retry, drop reply, crash after commit) the whole time, and a
# seeded schedule injects, at random moments:
#   kill_sagad     kill -9 of one sagad
#   churn_sagads   kill -9 of both sagad, three times in a row, as soon as
#                  both are back
#   kill_worker    kill -9 of a participant
#   restart_kafka  the broker stopped and started
#   restart_pg     PostgreSQL fast shutdown and start
#   slow_worker    a participant answering slower than the step timeout
#   drop_replies   a participant committing every effect and answering none
#   crash_point    a process armed with a named crash point
#                  (SAGA_FAILPOINTS=<point>=crash@N, engine/common/failpoint.h)
#                  that exits there
#   poison         bursts of poison on saga.replies, saga.start and a
#                  command topic
#
# Afterwards, with every process running normally again: every saga ends
# (COMPLETED or COMPENSATED), the last within BOUND_SECS of the end of the
# load and the last fault; the outbox drains; every consumer catches up.
# Then tests/chaos/verify.sh checks the run (nothing lost, nothing applied
# twice, barriers, the participants' own `check`, dead letters = injected
# poison, exits) and prints its figures; the exit status is its verdict.
#
# Profiles (CHAOS_PROFILE, or PROFILE from make):
#   short  80 sagas over 50 s, six kinds (not churn_sagads, drop_replies,
#          crash_point) once each: the run inside
#          `make test` (tests/integration/chaos_short.sh), about a minute
#   full   600 sagas over 5 minutes, every kind three times (the default)
#   long   10,000 sagas over 15 minutes, every kind twelve times (108
#          faults), about 15 minutes in all
# In each, the faults are spread over the load, the last one near its end.
# CHAOS_STATIC=1 runs every process as a static group member
# (group.instance.id), as sagad and the workers are in production with
# HTTP on; by default they are dynamic members, as with HTTP off. (With
# CHAOS_STATIC=1, a broker restart longer than the session timeout fences
# a sagad's consumer for good: docs/reliability.md, what the tests found.)
#
# The seed decides the schedule (which faults, when, where), the sagas'
# inputs and the workers' fault draws, so `make chaos SEED=N` replays a run
# (what the operating system and Kafka's timing do with it may differ).
# The stack restarted here is the one described by SAGA_STACK_DIR /
# SAGA_PG_PORT / SAGA_KAFKA_PORT (tests/stack/stack.sh); it is brought back
# up on exit, even on failure, since other tests follow. Processes run in
# the default consumer groups and database, so nothing else may use the
# stack during a run.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SEED=${1:-${SEED:-}}
[ -n "$SEED" ] || SEED=$(od -An -N3 -tu4 /dev/urandom | tr -d ' ')
case "$SEED" in *[!0-9]* | '') echo "chaos: SEED must be a whole number, not \"$SEED\"" >&2; exit 2 ;; esac
PROFILE=${CHAOS_PROFILE:-full}
ALL_KINDS="kill_sagad churn_sagads kill_worker restart_kafka restart_pg slow_worker \
drop_replies crash_point poison"
case "$PROFILE" in
short)
    SAGAS=80 LOAD_SECS=50 REPEAT=1 DRAIN_SECS=180
    KINDS="kill_sagad kill_worker restart_kafka restart_pg slow_worker poison"
    RATES="--fault.reject.rate=0.05 --fault.retry.rate=0.05 --fault.drop.reply.rate=0.04 --fault.crash.after.commit.rate=0.01"
    ;;
full)
    SAGAS=600 LOAD_SECS=300 REPEAT=3 DRAIN_SECS=600
    KINDS=$ALL_KINDS
    RATES="--fault.reject.rate=0.03 --fault.retry.rate=0.05 --fault.drop.reply.rate=0.03 --fault.crash.after.commit.rate=0.004"
    ;;
long)
    SAGAS=10000 LOAD_SECS=900 REPEAT=12 DRAIN_SECS=600
    KINDS=$ALL_KINDS
    RATES="--fault.reject.rate=0.03 --fault.retry.rate=0.05 --fault.drop.reply.rate=0.02 --fault.crash.after.commit.rate=0.001"
    ;;
*) echo "chaos: CHAOS_PROFILE is short, full or long, not \"$PROFILE\"" >&2; exit 2 ;;
esac
STATIC=${CHAOS_STATIC:-0}
SLOW_SECS=12   # how long a participant answers slower than the step timeout
SLOW_MS=7000   # > timeout_ms (5000) of every step of both specs
DROP_SECS=8    # how long a participant drops every reply
# Every saga must be terminal this long after the load and the last fault
# end. Once every process is back (a restarted consumer within its 6 s
# session), a command whose answer was lost is sent again when its deadline
# passes: attempt n waits 5 s x min(2^(n-1), 4) <= 20 s, then backs off
# <= 5 s + 20 % jitter, about 26 s per lost answer. A saga needs two rounds
# in a row (reserve, then confirm or compensate) and the workers go on
# dropping 2-4 % of replies during the drain: two lost answers per round
# is 4 x 26 s = 104 s, rounded up.
BOUND_SECS=120

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

# check DESCRIPTION: records a failed assertion in $RUN/failures (the run
# goes on; verify.sh adds its own and gives the verdict).
check() {
    say "FAIL: $*"
    echo "$*" >>"$RUN/failures"
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
# arguments are read from $RUN/NAME.args at each start, and environment
# settings for one start only from $RUN/NAME.once (consumed): that is how a
# fault changes how a process runs. Exits are logged to $RUN/exits.
supervise() {
    name=$1
    shift
    (
        while [ ! -f "$RUN/stop" ]; do
            extra=$(cat "$RUN/$name.args" 2>/dev/null)
            once=$(cat "$RUN/$name.once" 2>/dev/null)
            rm -f "$RUN/$name.once"
            # shellcheck disable=SC2086
            env $once "$@" $extra >>"$RUN/$name.log" 2>&1 &
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
trap 'say "interrupted by a signal: stopping everything"; exit 1' INT TERM

# --- setup -------------------------------------------------------------------------
stack up || { cat "$RUN/stack.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$STACK_DIR/env"
export SAGA_PG_DSN SAGA_KAFKA_BROKERS
say "seed $SEED, profile $PROFILE, $SAGAS sagas, static members: $STATIC (replay: make chaos PROFILE=$PROFILE SEED=$SEED); logs in $RUN"

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
# A static member (CHAOS_STATIC=1) gets them back as soon as it is restarted.
WORKER_FLAGS="--kafka.session.timeout.ms=6000 --kafka.heartbeat.interval.ms=1500 \
--http.listen=off --fault.seed=$SEED $RATES"
member() { [ "$STATIC" = 1 ] && echo "--kafka.group.instance.id=chaos-$1"; }
# shellcheck disable=SC2046
supervise sagad1 "$BIN/sagad" --http.listen=off $(member sagad1)
# shellcheck disable=SC2046
supervise sagad2 "$BIN/sagad" --http.listen=off $(member sagad2)
# shellcheck disable=SC2086,SC2046
supervise inventory "$BIN/inventory-worker" run $WORKER_FLAGS $(member inventory)
# shellcheck disable=SC2086,SC2046
supervise payment "$BIN/payment-worker" run $WORKER_FLAGS $(member payment)
# shellcheck disable=SC2086,SC2046
supervise shipping "$TOOLS/shipping_worker" run $WORKER_FLAGS $(member shipping)

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
# Saga i is started in second (i-1) * LOAD_SECS / SAGAS of the load: the
# rate holds whatever starting a saga costs the shell.
T_LOAD=$(date +%s)
(
    i=0
    while read -r key def path sku qty acc amount; do
        due=$((T_LOAD + i * LOAD_SECS / SAGAS))
        i=$((i + 1))
        while [ "$(date +%s)" -lt "$due" ]; do
            sleep 0.05 # the load's steady rate, not a wait for a condition
        done
        input=$(input_of "$key" "$def" "$sku" "$qty" "$acc" "$amount")
        if [ "$path" = sagactl ]; then
            start_with_sagactl "$key" "$def" "$input" &
        else
            printf '%s\t%s\t%s\n' "$key" "$def" "$input" >&3
        fi
    done <"$RUN/plan"
    wait
    date +%s >"$RUN/loaded"
) &
STARTER=$!

# --- the fault schedule ------------------------------------------------------------------
# Each kind REPEAT times, shuffled; the i-th of n faults strikes at a random
# moment of the i-th n-th of the load's first 95 %, or as soon as the one
# before is over, so that the faults last as long as the load whatever they
# take. All from the seed. A line: AT KIND TARGET PARAM (AT: seconds after
# the load began; PARAM: the pause between churn rounds, or the crash point
# and its hit number).
awk -v s="$SEED" -v r="$REPEAT" -v span="$LOAD_SECS" -v kl="$KINDS" 'BEGIN {
    srand(s + 1)
    nk = split(kl, kinds, " ")
    n = 0
    for (k = 1; k <= r; k++) for (i = 1; i <= nk; i++) list[++n] = kinds[i]
    for (i = n; i > 1; i--) { j = 1 + int(rand() * i); t = list[i]; list[i] = list[j]; list[j] = t }
    split("sagad1 sagad2", sagads, " "); split("inventory payment shipping", workers, " ")
    np = split("turn.after_begin turn.before_commit turn.after_commit turn.after_publish " \
               "worker.after_commit worker.after_reply", points, " ")
    for (i = 1; i <= n; i++) {
        k = list[i]; param = "-"
        if (k == "churn_sagads") {
            target = "sagad1+sagad2"; param = sprintf("%.1f", 0.5 + rand() * 2.5)
        } else if (k == "crash_point") {
            pt = points[1 + int(rand() * np)]
            target = (pt ~ /^turn/) ? sagads[1 + int(rand() * 2)] : workers[1 + int(rand() * 3)]
            param = pt "=crash@" (1 + int(rand() * 20))
        } else {
            target = (k == "kill_sagad") ? sagads[1 + int(rand() * 2)] : workers[1 + int(rand() * 3)]
        }
        printf "%d %s %s %s\n", (i - 1 + rand()) * span * 0.95 / n, k, target, param
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

# back NAME OLD-PID: NAME runs again, under another pid than OLD-PID.
back() {
    p=$(pid_of "$1")
    [ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p"
}

# restart NAME: SIGTERM, then wait for the supervisor to start NAME again,
# so that no later fault sends a second SIGTERM ("stop at once", exit 1)
# to a process still stopping.
restart() {
    old=$(pid_of "$1")
    kill -TERM "$old" 2>/dev/null
    wait_until 60 back "$1" "$old" || check "$1 was not back 60 s after a SIGTERM"
}

# degrade NAME ARGS SECONDS: NAME is restarted with ARGS, runs so for
# SECONDS, and is restarted as it was.
degrade() {
    echo "$2" >"$RUN/$1.args"
    restart "$1"
    sleep "$3" # how long the fault lasts: part of the schedule
    rm -f "$RUN/$1.args"
    restart "$1"
}

# churn PAUSE: both sagad killed at once, three times, each time as soon as
# both are back, PAUSE s later: for a while no coordinator lives long.
churn() {
    for round in 1 2 3; do
        old1=$(pid_of sagad1) old2=$(pid_of sagad2)
        kill -9 "$old1" "$old2" 2>/dev/null
        wait_until 30 back sagad1 "$old1" && wait_until 30 back sagad2 "$old2" ||
            check "churn round $round: the sagad did not come back"
        [ "$round" = 3 ] || sleep "$1" # the churn's rhythm: part of the schedule
    done
}

# crash_point NAME POINT=crash@N: NAME is restarted armed with that crash
# point, for that run of the process only; when it gets there it exits 86.
crash_point() {
    echo "SAGA_FAILPOINTS=$2" >"$RUN/$1.once"
    echo "$1 $2" >>"$RUN/armed"
    restart "$1"
}

fault() { # KIND TARGET PARAM
    case "$1" in
    kill_sagad | kill_worker) kill -9 "$(pid_of "$2")" 2>/dev/null ;;
    churn_sagads) churn "$3" ;;
    restart_kafka) stack restart-kafka || { stack up || check "kafka did not come back"; } ;;
    restart_pg) stack restart-pg || { stack up || check "postgres did not come back"; } ;;
    slow_worker) degrade "$2" "--fault.delay=${SLOW_MS}ms" "$SLOW_SECS" ;;
    drop_replies) degrade "$2" "--fault.drop.reply.rate=1" "$DROP_SECS" ;;
    crash_point) crash_point "$2" "$3" ;;
    poison) poison_burst "$2" ;;
    esac
}

: >"$RUN/faults"
while read -r at kind target param; do
    while [ "$(date +%s)" -lt $((T_LOAD + at)) ]; do
        sleep 0.2 # the schedule: when the next fault strikes, not a wait for a condition
    done
    say "+$(elapsed)s $kind $target $param"
    fault "$kind" "$target" "$param"
    echo "$kind" >>"$RUN/faults"
done <"$RUN/schedule"
T_FAULTS=$(date +%s)

wait "$STARTER"
STARTER=""
exec 3>&-
wait "$KSTART" || check "chaos_kafka start failed (see $RUN/kafka-start.err)"
KSTART=""
T_LOADED=$(cat "$RUN/loaded")
[ -s "$RUN/start-failed" ] && check "$(wc -l <"$RUN/start-failed") sagactl starts never succeeded"
say "+$(elapsed)s load done after $((T_LOADED - T_LOAD)) s, last fault over at +$((T_FAULTS - T0))s: draining"

# --- drain ----------------------------------------------------------------------------------
F="idempotency_key LIKE '$P-%'"
terminal() {
    [ "$(psql_q "SELECT count(*) FROM sagas WHERE $F AND status IN ('COMPLETED', 'COMPENSATED')")" = "$SAGAS" ]
}
outbox_empty() { [ "$(psql_q "SELECT count(*) FROM saga_outbox")" = 0 ]; }
wait_until "$DRAIN_SECS" terminal || check "not every saga is terminal after $DRAIN_SECS s of drain"
wait_until 60 outbox_empty || check "the outbox did not drain"
wait_until 60 quiet || check "the consumers did not catch up after the run"

stop_all
# What verify.sh needs to judge the run on its own (it can be run again
# on this directory: sh tests/chaos/verify.sh DIR).
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- . ':!docs' 2>/dev/null)" ] &&
    COMMIT="$COMMIT+changes"
for v in SEED PROFILE STATIC SAGAS P BIN T0 T_LOAD T_LOADED T_FAULTS BOUND_SECS COMMIT; do
    eval "echo \"$v=\$$v\""
done >"$RUN/params"
sh "$ROOT/tests/chaos/verify.sh" "$RUN"
exit $?
