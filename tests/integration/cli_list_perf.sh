#!/bin/sh
# cli_list_perf.sh - sagactl's read commands on 100,000 sagas.
#
# Bulk-loads 100k synthetic sagas (2 steps and a history row each, statuses
# mostly finished, a few hundred active and stuck, created over ~28 hours)
# with generate_series into a database of its own, then times each command
# end to end (process start, connect, query, print) as the median of 5 runs.
# Fails if `list` - first page, filtered, or a later keyset page - takes a
# second or more; the figures are printed (docs/cli.md quotes them).
# Then the console (`sagactl serve`) on the same data: each page's server
# time (curl's time to first byte after the request was sent) as the median
# of 5; fails if the list page takes 200 ms or more or a saga's page 100 ms
# or more (docs/console.md quotes the figures at 1,000,000 sagas:
# CLI_PERF_SAGAS=1000000).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"

N=${CLI_PERF_SAGAS:-100000}
DB=saga_cli_perf_$$
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"

"$S" migrate >/dev/null || fail "migrate"
cat >"$TMP/perf.json" <<'EOF'
{"name": "perf", "version": 1, "input": {"i": {"type": "integer"}},
 "steps": [
   {"name": "a", "participant": "inventory", "reserve": {"command": "r"}, "compensate": {"command": "c"}},
   {"name": "b", "participant": "payment", "after": ["a"], "reserve": {"command": "r"}, "compensate": {"command": "c"}}]}
EOF
"$S" def apply "$TMP/perf.json" >/dev/null || fail "def apply"

t0=$(date +%s%N)
psql_q "
INSERT INTO sagas (id, def_name, def_version, status, input, traceparent, created_at,
                   updated_at, progress_at, finished_at, stuck, stuck_reason)
SELECT gen_random_uuid(), 'perf', 1,
       CASE WHEN n % 500 = 0 THEN 'RUNNING' WHEN n % 500 = 1 THEN 'COMPENSATING'
            WHEN n % 10 = 3 THEN 'COMPENSATED' ELSE 'COMPLETED' END,
       jsonb_build_object('i', n), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
       now() - n * interval '1 second', now() - n * interval '1 second' + interval '2 seconds',
       now() - n * interval '1 second' + interval '2 seconds',
       CASE WHEN n % 500 > 1 THEN now() - n * interval '1 second' + interval '2 seconds' END,
       n % 1000 = 1, CASE WHEN n % 1000 = 1 THEN 'awaiting payment COMPENSATE reply, attempt 7' END
FROM generate_series(1, $N) AS n" || fail "insert sagas"
psql_q "
INSERT INTO saga_steps (saga_id, idx, name, status, action, attempt, reserve_attempts,
                        compensate_attempts, reserve_outcome, last_error, deadline_at)
SELECT s.id, k.idx, k.name,
       CASE s.status WHEN 'COMPLETED' THEN 'CONFIRMED' WHEN 'COMPENSATED' THEN 'COMPENSATED'
                     WHEN 'RUNNING' THEN 'RESERVING' ELSE 'COMPENSATING' END,
       CASE s.status WHEN 'RUNNING' THEN 'RESERVE' WHEN 'COMPENSATING' THEN 'COMPENSATE' END,
       1, 1, CASE WHEN s.status LIKE 'COMPENSAT%' THEN 1 ELSE 0 END, 'OK',
       CASE WHEN s.stuck THEN 'no reply within 30000 ms' END,
       CASE WHEN s.status IN ('RUNNING', 'COMPENSATING') THEN now() + interval '30 seconds' END
FROM sagas s, (VALUES (0, 'a'), (1, 'b')) AS k(idx, name)" || fail "insert steps"
psql_q "
INSERT INTO saga_history (saga_id, at, kind, text)
SELECT id, created_at, 'created', 'saga created from perf@1' FROM sagas" || fail "insert history"
psql_q "
INSERT INTO saga_history (saga_id, at, kind, step, action, attempt, outcome, text)
SELECT s.id, s.created_at + k.d * interval '1 millisecond', k.kind, 'b', k.action, k.attempt,
       NULL, k.text
FROM sagas s, (VALUES (5, 'command', 'COMPENSATE', 7, 'sent to saga.payment.commands'),
                      (30005, 'timeout', 'COMPENSATE', 7, 'no reply to COMPENSATE attempt 7'))
     AS k(d, kind, action, attempt, text)
WHERE s.status = 'COMPENSATING'" || fail "insert history"
psql_q "ANALYZE" || fail "analyze"
load_ms=$((($(date +%s%N) - t0) / 1000000))
echo "loaded $N sagas ($((N * 2)) steps, $(psql_q 'SELECT count(*) FROM saga_history') history rows) in ${load_ms} ms"

# median_ms LABEL LIMIT_MS CMD...: runs CMD 5 times, prints the median.
median_ms() {
    label=$1
    limit=$2
    shift 2
    : >"$TMP/times"
    for _ in 1 2 3 4 5; do
        a=$(date +%s%N)
        "$@" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err" >&2; fail "$label failed"; }
        echo $((($(date +%s%N) - a) / 1000000)) >>"$TMP/times"
    done
    m=$(sort -n "$TMP/times" | sed -n 3p)
    printf '%-62s median %4d ms (runs: %s)\n' "$label" "$m" "$(tr '\n' ' ' <"$TMP/times" | sed 's/ $//')"
    if [ "$limit" -gt 0 ] && [ "$m" -ge "$limit" ]; then
        fail "$label took $m ms (limit $limit ms)"
    fi
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%d GiB", $2 / 1048576}' /proc/meminfo), PostgreSQL $(psql_q 'SHOW server_version')"
median_ms "list --limit 50" 1000 "$S" list --limit 50
[ "$(grep -c 'perf@1' "$TMP/out")" -eq 50 ] || fail "list printed $(grep -c 'perf@1' "$TMP/out") rows"
median_ms "list --status COMPENSATED,RUNNING --def perf --since 1d --json" 1000 \
    "$S" list --status COMPENSATED,RUNNING --def perf@1 --since 1d --limit 50 --json
[ "$(jq '[.sagas[] | select(.status == "COMPENSATED" or .status == "RUNNING")] | length' "$TMP/out")" -eq 50 ] ||
    fail "filtered page"
CURSOR=$(jq -r .next_cursor "$TMP/out")
median_ms "  ... its next page (--after CURSOR)" 1000 \
    "$S" list --status COMPENSATED,RUNNING --def perf@1 --since 1d --limit 50 --json --after "$CURSOR"
[ "$(jq .count "$TMP/out")" -eq 50 ] || fail "second page"
median_ms "list --status COMPENSATED --older-than 20h --jsonl" 1000 \
    "$S" list --status COMPENSATED --older-than 20h --limit 50 --jsonl
median_ms "list --stuck" 1000 "$S" list --stuck --limit 50
ID=$(psql_q "SELECT id FROM sagas ORDER BY created_at LIMIT 1")
median_ms "show PREFIX (8 characters)" 1000 "$S" show "$(echo "$ID" | cut -c1-8)"
median_ms "stuck (per-definition thresholds)" 0 "$S" stuck
median_ms "stats --since 1h" 0 "$S" stats --since 1h
median_ms "stats --since 2d (every saga)" 0 "$S" stats --since 2d

# page_ms LABEL LIMIT_MS PATH: the console's server time for PATH, median of 5.
page_ms() {
    : >"$TMP/times"
    for _ in 1 2 3 4 5; do
        curl -sS -o "$TMP/page" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' \
            "$CONSOLE$3" >"$TMP/curl" || fail "console: $3"
        read -r code pre start <"$TMP/curl"
        [ "$code" = 200 ] || fail "console: $3 answered $code"
        awk -v a="$pre" -v b="$start" 'BEGIN {printf "%d\n", (b - a) * 1000 + 0.5}' >>"$TMP/times"
    done
    m=$(sort -n "$TMP/times" | sed -n 3p)
    printf '%-62s median %4d ms (runs: %s)\n' "console $1" "$m" "$(tr '\n' ' ' <"$TMP/times" | sed 's/ $//')"
    if [ "$2" -gt 0 ] && [ "$m" -ge "$2" ]; then
        fail "console $1 took $m ms (limit $2 ms)"
    fi
}
spawn console "$S" serve --listen 127.0.0.1:0
wait_for 10 "the console starts" grep -q '^console:' "$LOGS/console.log"
CONSOLE=$(sed -n 's/^console: \(http[^ ]*\)\/ .*/\1/p' "$LOGS/console.log")
page_ms "/ (first page of 50)" 200 "/"
page_ms "/?status=COMPENSATED,RUNNING&def=perf (filtered)" 200 "/?status=COMPENSATED,RUNNING&def=perf"
page_ms "/sagas/ID (a compensating saga)" 100 "/sagas/$(psql_q "SELECT id FROM sagas WHERE status = 'COMPENSATING' ORDER BY created_at LIMIT 1")"
page_ms "/sagas/ID (a completed saga)" 100 "/sagas/$ID"
page_ms "/stuck" 0 "/stuck"
page_ms "/stats (last hour)" 0 "/stats"
echo "cli_list_perf: list answers in well under a second on $N sagas"
