#!/bin/sh
# ab.sh OLD_DIR NEW_DIR [ROUNDS] - two builds of sagad and the workers,
# measured interleaved on one stack. Between two `make bench` runs the box
# itself moves the figures more than a change often does; running the old
# and the new build in turn, round after round, on the same stack and the
# same data puts both under the same weather.
#
# OLD_DIR and NEW_DIR are built checkouts (build/bin of each is used), e.g.
#   git worktree add /tmp/old db60eb5 && make -C /tmp/old all
#   sh tests/bench/ab.sh /tmp/old . 4
# Each round starts sagad and both workers of one build, warms them up, then
# measures AB_SINGLE (default 30) single sagas 50 ms apart and AB_STEP_S
# (default 15) seconds at each of AB_RATES (default "300 500") sagas/s, and
# stops them. At the end, unless AB_HOPS=0, the hop breakdown (hops.sh) of
# each build's last round. The stack is private (AB_STACK_DIR,
# default build/bench/abstack; PostgreSQL :55462, Kafka :59122), durable
# (fsync and synchronous_commit on), wiped at the start and stopped at the
# end. AB_OLD_SAGADS / AB_NEW_SAGADS run that many sagad processes
# (default 1), AB_OLD_ARGS / AB_NEW_ARGS add options to each (e.g.
# --kafka.linger.ms=2), so a setting can be compared with one build on
# both sides. A warm-up round of NEW, not reported, runs before the first. The
# load generator is this checkout's. Output: one line per build and round,
# then the median of the rounds per build.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: ab.sh OLD_DIR NEW_DIR [ROUNDS]" >&2; exit 2; }
OLD=$(cd "$1" && pwd) || exit 2
NEW=$(cd "$2" && pwd) || exit 2
ROUNDS=${3:-4}
RATES=${AB_RATES:-300 500}
STEP_S=${AB_STEP_S:-15}
SINGLE_N=${AB_SINGLE:-30}
LG=$ROOT/build/tools/loadgen
OUT=$ROOT/build/bench/ab
for d in "$OLD" "$NEW"; do
    for b in sagad inventory-worker payment-worker; do
        [ -x "$d/build/bin/$b" ] || { echo "ab.sh: $d/build/bin/$b missing: run make there" >&2; exit 1; }
    done
done
[ -x "$LG" ] || { echo "ab.sh: $LG missing: run make build/tools/loadgen" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json

B=$NEW/build/bin
. "$ROOT/tests/bench/abstack.sh"
abstack_up "${AB_STACK_DIR:-$ROOT/build/bench/abstack}" "${AB_PG_PORT:-55462}" \
    "${AB_KAFKA_PORT:-59122}" ab

load() { # PREFIX ARGS...
    p=$1
    shift
    "$LG" --prefix "$p" --sku-prefix ab --account-prefix ab --skus 100 "$@" 2>>"$OUT/loadgen.err"
}

round() { # TAG DIR N
    d=$2
    case $1 in
    old) n_sagad=${AB_OLD_SAGADS:-1} args=${AB_OLD_ARGS:-} ;;
    *) n_sagad=${AB_NEW_SAGADS:-1} args=${AB_NEW_ARGS:-} ;;
    esac
    s=""
    k=0
    while [ $k -lt "$n_sagad" ]; do
        # shellcheck disable=SC2086 # AB_*_ARGS are words on purpose
        "$d/build/bin/sagad" --http.listen=127.0.0.1:$((SAGA_KAFKA_PORT + 20 + k)) $args \
            >>"$OUT/sagad.log" 2>&1 &
        s="$s $!"
        k=$((k + 1))
    done
    "$d/build/bin/inventory-worker" >>"$OUT/inventory.log" 2>&1 &
    i=$!
    "$d/build/bin/payment-worker" >>"$OUT/payment.log" 2>&1 &
    p=$!
    PIDS="$s $i $p"
    load "w$1$3" --single 5 --gap-ms 50 >/dev/null
    load "x$1$3" --rate 100 --duration 3 >/dev/null
    load "s$1$3" --single "$SINGLE_N" --gap-ms 50 >"$OUT/$1-$3-single.json"
    line="$1 round $3: single p50/p99 $(jq -r '"\(.latency_ms.p50)/\(.latency_ms.p99)"' "$OUT/$1-$3-single.json") ms"
    for r in $RATES; do
        load "r$r$1$3" --rate "$r" --duration "$STEP_S" >"$OUT/$1-$3-$r.json"
        line="$line; $r/s: $(jq '"\(.throughput_in_window) done/s, p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) ms"' -r "$OUT/$1-$3-$r.json")"
    done
    kill -TERM $PIDS 2>/dev/null
    for x in $PIDS; do wait "$x" 2>/dev/null; done
    PIDS=""
    echo "$line"
}

# A round nobody measures first: the broker's JIT compiler and both
# databases' caches are cold on a new stack, and whichever build ran first
# paid for warming them (the same build measured twice: single p50 26.9
# then 15.4 ms, 300/s p50 448 then 48 ms).
round warm "$NEW" 0 >/dev/null
n=1
while [ $n -le "$ROUNDS" ]; do
    round old "$OLD" $n
    round new "$NEW" $n
    n=$((n + 1))
done

# The hop breakdown (hops.sh) of the last round's single sagas and of its
# last rate, per build: where the time went, not only how much.
if [ "${AB_HOPS:-1}" = 1 ]; then
    last=${RATES##* }
    for tag in old new; do
        echo "$tag, round $ROUNDS, single sagas:"
        sh "$ROOT/tests/bench/hops.sh" "s$tag$ROUNDS" "$SAGA_PG_DSN"
        echo "$tag, round $ROUNDS, $last/s:"
        sh "$ROOT/tests/bench/hops.sh" "r$last$tag$ROUNDS" "$SAGA_PG_DSN"
    done
fi

median() { jq -s 'sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end'; }
for tag in old new; do
    line="$tag, median of $ROUNDS rounds: single p50 $(cat "$OUT"/$tag-*-single.json | jq .latency_ms.p50 | median) p99 $(cat "$OUT"/$tag-*-single.json | jq .latency_ms.p99 | median) ms"
    for r in $RATES; do
        f() { cat "$OUT"/$tag-*-"$r".json | jq "$1" | median; }
        line="$line; $r/s: $(f .throughput_in_window) done/s, p50 $(f .latency_ms.p50) p99 $(f .latency_ms.p99) ms"
    done
    echo "$line"
done
