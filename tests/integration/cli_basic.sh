#!/bin/sh
# cli_basic.sh - sagactl against PostgreSQL alone (no sagad, no Kafka):
# help and exit codes, connection errors without passwords, definitions,
# start, list (filters, keyset pages, JSON), show with id prefixes and
# suggestions, operator refusals, abort/resolve of sagas nothing else is
# touching, stats and prune. Runs in a database of its own, dropped at exit.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"

DB=saga_cli_basic_$$
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"

# expect_rc CODE DESCRIPTION CMD...: runs CMD, output in $TMP/out, $TMP/err.
expect_rc() {
    want=$1
    what=$2
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err"
    rc=$?
    [ "$rc" -eq "$want" ] || {
        cat "$TMP/out" "$TMP/err" >&2
        fail "$what: exit $rc, wanted $want"
    }
    ok "$what (exit $rc)"
}
has() { grep -q -- "$2" "$TMP/$1" || { cat "$TMP/$1" >&2; fail "$1 lacks: $2"; }; }

# --- help, usage, connection ------------------------------------------------
expect_rc 0 "sagactl --help" "$S" --help
has out "commands:"
has out "def apply"
expect_rc 0 "list --help" "$S" list --help
has out "--status S\[,S\]"
has out "exit status"
expect_rc 0 "def --help lists the subcommands" "$S" def --help
has out "def validate"
expect_rc 0 "help show" "$S" help show
has out "usage: sagactl show ID"
expect_rc 2 "no command" "$S"
expect_rc 2 "unknown command suggests" "$S" lsit
has err 'did you mean "list"'
expect_rc 2 "unknown option suggests" "$S" list --stauts RUNNING
has err "did you mean --status"
expect_rc 2 "missing argument" "$S" show
expect_rc 2 "abort without --reason" "$S" abort 1234
expect_rc 2 "resolve --as RUNNING" "$S" resolve 1234 --as running --reason x
expect_rc 2 "bad duration" "$S" list --older-than 5
has err 'hint: .*unit'
expect_rc 2 "bad --status lists the valid ones" "$S" list --status RUNING
has err "did you mean RUNNING"
has err "COMPENSATED"
expect_rc 3 "closed port" "$S" --dsn "host=127.0.0.1 port=1 user=saga password=s3cret-pw dbname=x" list
has err "cannot connect"
grep -q "s3cret-pw" "$TMP/err" && fail "password printed: $(cat "$TMP/err")"
expect_rc 3 "closed port, URI DSN" "$S" --dsn "postgresql://saga:s3cret-pw@127.0.0.1:1/x" stats
grep -q "s3cret-pw" "$TMP/err" && fail "password printed: $(cat "$TMP/err")"
ok "passwords never printed"

# --- schema and definitions ---------------------------------------------------
expect_rc 0 "migrate" "$S" migrate
has out "applied"
expect_rc 0 "migrate again" "$S" migrate
has out "up to date"

SPEC=$TMP/basic.json
cat >"$SPEC" <<EOF
{
  "name": "cli_basic",
  "version": 1,
  "input": {"order_id": {"type": "string"}, "qty": {"type": "integer"}},
  "defaults": {"timeout_ms": 1000, "stuck_after_ms": 600000},
  "steps": [
    {"name": "first", "participant": "inventory", "topic": "cli-basic-$$.commands",
     "reserve": {"command": "reserve_stock", "payload": {"qty": "\${input.qty}"}},
     "compensate": {"command": "release_stock"}},
    {"name": "second", "participant": "payment", "topic": "cli-basic-$$.commands",
     "after": ["first"],
     "reserve": {"command": "hold_funds"}, "compensate": {"command": "release_funds"}}
  ]
}
EOF
sed 's/"timeout_ms": 1000/"timeout_ms": 2000/' "$SPEC" >"$TMP/changed.json"
printf '{"name": "cli_basic", "version": 1,\n "steps": [{"nam": "x"}]}\n' >"$TMP/bad.json"

expect_rc 0 "def validate" "$S" def validate "$SPEC"
has out "ok (cli_basic@1, 2 steps)"
expect_rc 1 "def validate of a bad file" "$S" def validate "$SPEC" "$TMP/bad.json"
has err "bad.json:[0-9]*:[0-9]*: "
expect_rc 1 "def validate --json exit status" "$S" def validate --json "$TMP/bad.json"
[ "$(jq -r '.files[0].valid' "$TMP/out")" = false ] || fail "validate --json: valid should be false"
[ "$(jq -r '.files[0].diagnostics | length > 0' "$TMP/out")" = true ] || fail "no diagnostics in JSON"
expect_rc 1 "def apply refuses an invalid file" "$S" def apply "$TMP/bad.json"
expect_rc 0 "def apply" "$S" def apply "$SPEC"
has out "cli_basic@1: created"
expect_rc 0 "def apply again" "$S" def apply "$SPEC"
has out "unchanged"
expect_rc 1 "def apply of a different spec under the same version" "$S" def apply "$TMP/changed.json"
has err "timeout_ms"
has err "hint: "
expect_rc 0 "def list --json" "$S" def list --json
[ "$(jq -r '.definitions[0].name + "@" + (.definitions[0].latest|tostring)' "$TMP/out")" = cli_basic@1 ] ||
    fail "def list --json: $(cat "$TMP/out")"
expect_rc 0 "def show" "$S" def show cli_basic@1
has out "first  *inventory"
expect_rc 0 "def show --json" "$S" def show cli_basic --json
[ "$(jq -r '.spec.steps[1].name' "$TMP/out")" = second ] || fail "def show --json"
expect_rc 1 "def show of an unknown name" "$S" def show nope

# --- start ----------------------------------------------------------------------
expect_rc 1 "start with an invalid input names the field" "$S" start cli_basic --input '{"order_id": "o", "qty": "x"}'
has err "input.qty"
expect_rc 1 "start of an unknown definition" "$S" start nope --input '{}'
expect_rc 0 "start --json with a key" "$S" start cli_basic --input '{"order_id": "k", "qty": 1}' --key k-1 --json
KEYED=$(jq -r .id "$TMP/out")
expect_rc 0 "start with the same key" "$S" start cli_basic --input '{"order_id": "k", "qty": 1}' --key k-1
[ "$(cat "$TMP/out")" = "$KEYED" ] || fail "same key, different saga"
i=0
while [ $i -lt 24 ]; do
    "$S" start cli_basic --input "{\"order_id\": \"o-$i\", \"qty\": $i}" >>"$TMP/ids" || fail "start $i"
    i=$((i + 1))
done
ok "started 25 sagas"
expect_rc 5 "start --wait times out without sagad" "$S" start cli_basic --input '{"order_id": "w", "qty": 1}' --wait --timeout 300ms
WAITED=$(head -n 1 "$TMP/out")

# --- list -----------------------------------------------------------------------
expect_rc 0 "list" "$S" list
has out "ID  *DEFINITION  *STATUS"
has out "cli_basic@1  *RUNNING"
grep -q "$(printf '\033')" "$TMP/out" && fail "colour codes when not on a terminal"
expect_rc 0 "list --color=always" "$S" list --color=always
grep -q "$(printf '\033')" "$TMP/out" || fail "no colour with --color=always"
expect_rc 0 "list with NO_COLOR" env NO_COLOR=1 "$S" list --color=always
grep -q "$(printf '\033')" "$TMP/out" && fail "colour despite NO_COLOR"
ok "colour only when asked and never with NO_COLOR"

expect_rc 0 "list page 1" "$S" list --limit 10 --json
jq -r '.sagas[].id' "$TMP/out" >"$TMP/pages"
C=$(jq -r .next_cursor "$TMP/out")
expect_rc 0 "list page 2" "$S" list --limit 10 --json --after "$C"
jq -r '.sagas[].id' "$TMP/out" >>"$TMP/pages"
C=$(jq -r .next_cursor "$TMP/out")
expect_rc 0 "list page 3" "$S" list --limit 10 --json --after "$C"
jq -r '.sagas[].id' "$TMP/out" >>"$TMP/pages"
[ "$(jq -r .next_cursor "$TMP/out")" = null ] || fail "last page has a next cursor"
[ "$(sort -u "$TMP/pages" | wc -l)" -eq 26 ] || fail "pages cover $(sort -u "$TMP/pages" | wc -l) sagas, not 26"
[ "$(head -n 1 "$TMP/pages")" = "$WAITED" ] || fail "newest first: $(head -n 1 "$TMP/pages") is not $WAITED"
ok "3 keyset pages: 26 distinct sagas, newest first"
expect_rc 0 "list --jsonl" "$S" list --jsonl --limit 7
[ "$(wc -l <"$TMP/out")" -eq 7 ] || fail "--jsonl: not 7 lines"
[ "$(jq -s 'map(select(.status == "RUNNING" and .name == "cli_basic")) | length' "$TMP/out")" -eq 7 ] ||
    fail "--jsonl fields"
expect_rc 2 "list --after garbage" "$S" list --after nonsense
expect_rc 0 "list --older-than 1h" "$S" list --older-than 1h --json
[ "$(jq .count "$TMP/out")" -eq 0 ] || fail "--older-than 1h found sagas"
expect_rc 0 "list --since 1h --def cli_basic@1 --status active" "$S" list --since 1h --def cli_basic@1 --status active --json --limit 100
[ "$(jq .count "$TMP/out")" -eq 26 ] || fail "filters: $(jq .count "$TMP/out") sagas, not 26"
expect_rc 0 "list --status COMPLETED,COMPENSATED" "$S" list --status COMPLETED,COMPENSATED --json
[ "$(jq .count "$TMP/out")" -eq 0 ] || fail "terminal sagas before any finished"
expect_rc 0 "list --stuck" "$S" list --stuck
has out "no sagas match"

# --- show -----------------------------------------------------------------------
ID=$(sed -n 3p "$TMP/ids")
expect_rc 0 "show by 8-character prefix" "$S" show "$(echo "$ID" | cut -c1-8)"
has out "saga        $ID"
has out "definition  cli_basic@1"
has out "first  *inventory  *PENDING"
has out "created .*saga created from cli_basic@1"
expect_rc 0 "show --json" "$S" show "$ID" --json
[ "$(jq -r '.status + " " + .name + " " + (.steps | length | tostring) + " " + .timeline[0].kind' "$TMP/out")" = "RUNNING cli_basic 2 created" ] ||
    fail "show --json fields"
[ "$(jq -r .input.order_id "$TMP/out")" = o-2 ] || fail "show --json input"
MISS=$(echo "$ID" | cut -c1-7)$(echo "$ID" | cut -c8 | tr '0-9a-f' '1-9a-f0')
if ! grep -q "^$MISS" "$TMP/ids"; then
    expect_rc 1 "show of an unknown prefix suggests the closest" "$S" show "$MISS"
    has err "no saga \"$MISS\""
    has err "hint: closest: $(echo "$ID" | cut -c1-7)"
fi
expect_rc 1 "show of a non-hex id" "$S" show "xyz"
has err "not a hex digit"
DUP=$(cut -c1 "$TMP/ids" | sort | uniq -d | head -n 1)
expect_rc 1 "show of an ambiguous prefix" "$S" show "$DUP"
has err "ambiguous"
has err "hint: it matches $DUP"

# --- operator actions without sagad ----------------------------------------------
expect_rc 1 "retry with nothing pending is refused" "$S" retry "$ID"
has err "nothing to retry"
expect_rc 0 "abort --dry-run" "$S" abort "$ID" --reason "test" --dry-run
has out "would abort"
[ "$(psql_q "SELECT status FROM sagas WHERE id = '$ID'")" = RUNNING ] || fail "dry run changed the saga"
expect_rc 0 "abort a RUNNING saga" "$S" abort "$ID" --reason "customer cancelled" --actor tester --json
[ "$(jq -r '.status_before + " " + .status_after' "$TMP/out")" = "RUNNING COMPENSATED" ] || fail "abort: $(cat "$TMP/out")"
expect_rc 1 "abort again is refused" "$S" abort "$ID" --reason again
has err "only a RUNNING saga"
expect_rc 0 "show the audit trail" "$S" show "$ID" --json
[ "$(jq -r '.aborted, .operator_actions[0].actor, .operator_actions[0].action' "$TMP/out" | tr '\n' '|')" = "true|tester|abort: customer cancelled|" ] ||
    fail "audit: $(jq -c .operator_actions "$TMP/out")"
R1=$(sed -n 4p "$TMP/ids")
R2=$(sed -n 5p "$TMP/ids")
expect_rc 0 "resolve as completed" "$S" resolve "$R1" --as completed --reason "done by hand"
has out "resolved saga $R1 (RUNNING -> COMPLETED)"
expect_rc 0 "resolve as compensated" "$S" resolve "$R2" --as COMPENSATED --reason "undone by hand"
expect_rc 1 "resolve of a finished saga is refused" "$S" resolve "$R1" --as compensated --reason x
has err "already finished"
expect_rc 0 "show a resolved saga" "$S" show "$R1"
has out "COMPLETED (resolved by an operator)"
has out "operator actions:"

# --- tail sees a row committed after a later one ---------------------------------
# A history id is taken at INSERT, so a transaction that commits late makes
# an older id appear after newer ones; tail must print it all the same.
"$S" tail --all --json --count 2 --timeout 60s >"$TMP/tail" 2>"$TMP/tail.err" &
TAIL=$!
PIDS="$PIDS $TAIL"
wait_for 10 "tail starts" grep -q following "$TMP/tail.err"
mkfifo "$TMP/late.sql"
PGAPPNAME=cli-basic-late-$$ psql "$SAGA_PG_DSN" -qX <"$TMP/late.sql" >"$TMP/late.out" 2>&1 &
PSQL=$!
PIDS="$PIDS $PSQL"
exec 3>"$TMP/late.sql"
echo "BEGIN; INSERT INTO saga_history (saga_id, kind, text) VALUES ('$R1', 'error', 'committed late');" >&3
wait_for 10 "the late transaction holds its row" sh -c \
    "[ \"\$(psql \"$SAGA_PG_DSN\" -qtAX -c \"SELECT state FROM pg_stat_activity WHERE application_name = 'cli-basic-late-$$'\")\" = 'idle in transaction' ]"
psql_q "INSERT INTO saga_history (saga_id, kind, text) VALUES ('$R1', 'error', 'committed first')"
wait_for 10 "tail prints the row committed first" grep -q "committed first" "$TMP/tail"
echo "COMMIT;" >&3
exec 3>&-
wait_for 15 "tail prints the row committed late" grep -q "committed late" "$TMP/tail"
wait_for 10 "tail exits after 2 entries" sh -c "! kill -0 $TAIL"
[ "$(jq -s 'map(.seq) | .[0] > .[1]' "$TMP/tail")" = true ] || fail "tail: $(cat "$TMP/tail")"
ok "tail printed a row whose id is older than one already printed"

# --- stats, stuck, prune ------------------------------------------------------------
expect_rc 0 "stats --json" "$S" stats --json
[ "$(jq -r '[.totals.RUNNING, .totals.COMPLETED, .totals.COMPENSATED, .active] | map(tostring) | join(" ")' "$TMP/out")" = "23 1 2 23" ] ||
    fail "stats: $(jq -c '.totals, .active' "$TMP/out")"
[ "$(jq -r '.durations[] | select(.name == null) | .finished' "$TMP/out")" = 3 ] || fail "stats durations"
expect_rc 0 "stats" "$S" stats
has out "cli_basic  *23  *0  *0  *1  *2  *26"
expect_rc 0 "stuck --threshold 1h" "$S" stuck --threshold 1h
has out "no stuck sagas"
expect_rc 0 "stuck --threshold 0s --json" "$S" stuck --threshold 0s --json
[ "$(jq .count "$TMP/out")" -eq 23 ] || fail "stuck --threshold 0s: $(jq .count "$TMP/out")"
[ "$(jq -r '.groups[0].reason' "$TMP/out")" = "no command pending" ] || fail "stuck groups"
expect_rc 0 "prune --older-than 1h" "$S" prune --older-than 1h
has out "deleted 0 finished sagas"
expect_rc 0 "prune --dry-run" "$S" prune --older-than 0s --dry-run --json
[ "$(jq .deleted "$TMP/out")" -eq 3 ] || fail "prune --dry-run counted $(jq .deleted "$TMP/out")"
expect_rc 0 "prune" "$S" prune --older-than 0s
has out "deleted 3 finished sagas"
[ "$(psql_q "SELECT count(*) FROM sagas")" -eq 23 ] || fail "prune left the wrong sagas"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$ID'")" -eq 0 ] || fail "history not pruned"
expect_rc 1 "show of a pruned saga" "$S" show "$ID"
echo "cli_basic: all checks passed"
