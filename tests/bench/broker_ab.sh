#!/bin/sh
# broker_ab.sh ROUNDS NAME=JVM_FLAGS|PROPS ... - broker settings compared,
# interleaved, with this checkout's sagad and workers: for each round and
# each named setting, the broker is restarted with it (SAGA_KAFKA_JVM and
# SAGA_KAFKA_PROPS of tests/stack/stack.sh), sagad and both workers start,
# warm up (BROKER_AB_WARM_S, default 30 s at 200/s: a restarted broker's
# JIT needs that long), then BROKER_AB_SINGLE single sagas and
# BROKER_AB_S seconds at each of BROKER_AB_RATES are measured, with the
# broker's CPU seconds per 1,000 sagas over the rated runs. Example:
#   sh tests/bench/broker_ab.sh 2 'g1=-Xms256m -Xmx512m -XX:+UseG1GC|' \
#       'threads=-Xms256m -Xmx512m -XX:+UseG1GC|num.network.threads=1 num.io.threads=2'
# The stack is private (build/bench/brokerstack, PostgreSQL :55472, Kafka
# :59132), durable, wiped at the start and stopped at the end. Output: one
# line per round and setting, then the medians per setting.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: broker_ab.sh ROUNDS NAME=JVM_FLAGS|PROPS ..." >&2; exit 2; }
ROUNDS=$1
shift
SETTINGS=$(printf '%s\n' "$@")
RATES=${BROKER_AB_RATES:-300}
STEP_S=${BROKER_AB_S:-10}
SINGLE_N=${BROKER_AB_SINGLE:-40}
B=$ROOT/build/bin
LG=$ROOT/build/tools/loadgen
OUT=$ROOT/build/bench/brokerab
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.cpu

. "$ROOT/tests/bench/abstack.sh"
abstack_up "$ROOT/build/bench/brokerstack" 55472 59132 ba

load() { "$LG" --sku-prefix ba --account-prefix ba --skus 100 --prefix "$@" 2>>"$OUT/loadgen.err"; }
cpu_of() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

round() { # NAME JVM PROPS N
    stack down >>"$OUT/stack.log" 2>&1
    SAGA_KAFKA_JVM=$2 SAGA_KAFKA_PROPS=$3 stack up >>"$OUT/stack.log" 2>&1 || exit 1
    "$B/sagad" --http.listen=127.0.0.1:59150 >>"$OUT/sagad.log" 2>&1 &
    s=$!
    "$B/inventory-worker" >>"$OUT/inventory.log" 2>&1 &
    i=$!
    "$B/payment-worker" >>"$OUT/payment.log" 2>&1 &
    p=$!
    PIDS="$s $i $p"
    load "w$1$4" --single 10 --gap-ms 20 >/dev/null
    load "x$1$4" --rate 200 --duration "${BROKER_AB_WARM_S:-30}" >/dev/null
    load "s$1$4" --single "$SINGLE_N" --gap-ms 20 >"$OUT/$1-$4-single.json"
    line="$1 round $4: single p50/p99 $(jq -r '"\(.latency_ms.p50)/\(.latency_ms.p99)"' "$OUT/$1-$4-single.json") ms"
    kpid=$(cat "$SAGA_STACK_DIR/kafka.pid")
    for r in $RATES; do
        c0=$(cpu_of "$kpid")
        load "r$r$1$4" --rate "$r" --duration "$STEP_S" >"$OUT/$1-$4-$r.json"
        c1=$(cpu_of "$kpid")
        done_n=$(jq '.completed + .compensated' "$OUT/$1-$4-$r.json")
        cpu=$(awk -v a="$c0" -v b="$c1" -v n="$done_n" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { printf "%.2f", (n > 0 ? (b - a) / hz * 1000 / n : 0) }')
        echo "$cpu" >"$OUT/$1-$4-$r.cpu"
        line="$line; $r/s: $(jq -r '"\(.throughput_in_window) done/s, p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms"' "$OUT/$1-$4-$r.json"), broker $cpu CPU s/1000"
    done
    kill -TERM $PIDS 2>/dev/null
    for x in $PIDS; do wait "$x" 2>/dev/null; done
    PIDS=""
    echo "$line"
}

n=1
while [ "$n" -le "$ROUNDS" ]; do
    echo "$SETTINGS" | while IFS= read -r st; do
        [ -n "$st" ] || continue
        name=${st%%=*}
        rest=${st#*=}
        round "$name" "${rest%%|*}" "${rest#*|}" "$n"
    done
    n=$((n + 1))
done

median() { jq -s 'sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end'; }
echo "$SETTINGS" | while IFS= read -r st; do
    [ -n "$st" ] || continue
    name=${st%%=*}
    line="$name, median of $ROUNDS rounds: single p50 $(cat "$OUT/$name"-*-single.json | jq .latency_ms.p50 | median) p99 $(cat "$OUT/$name"-*-single.json | jq .latency_ms.p99 | median) ms"
    for r in $RATES; do
        f() { cat "$OUT/$name"-*-"$r".json | jq "$1" | median; }
        line="$line; $r/s: p50 $(f .latency_ms.p50) p99 $(f .latency_ms.p99) ms, broker $(cat "$OUT/$name"-*-"$r".cpu | median) CPU s/1000"
    done
    echo "$line"
done
