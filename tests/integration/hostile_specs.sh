#!/bin/sh
# hostile_specs.sh - saga spec files built to hurt a parser: nesting
# 100 000 deep, arrays of 400 000 items and 20 000 steps, strings of
# 500 kB, files over the 1 MiB limit, NUL bytes (raw and escaped), invalid
# and overlong UTF-8, unpaired surrogates, numbers out of range (1e400,
# 2^64, negative or huge timeouts), duplicate keys, 5 000 errors in one
# file, empty files and non-object roots; and one valid spec at the limits
# (64 steps, each after every earlier one).
#
# Each invalid file must be refused by `sagactl def validate` and
# `def apply` with exit status 1 and `FILE:LINE:COL: PATH: message` lines
# that name the problem, within 5 s and 256 MiB; nothing may be stored.
# The valid one must validate and apply within the same bounds.
# Runs in a database of its own, dropped at exit.
. "$(dirname "$0")/lib.sh"

DB=saga_hostile_specs_$$
ADMIN_DSN=$SAGA_PG_DSN
psql_q "CREATE DATABASE $DB" || fail "cannot create database $DB"
trap 'cleanup; psql "$ADMIN_DSN" -qtAX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT INT TERM
export SAGA_PG_DSN="$SAGA_PG_DSN dbname=$DB"
S=$BIN/sagactl
D=$LOGS/specs
rm -rf "$D" && mkdir -p "$D"
"$S" migrate >/dev/null || fail "migrate"

# --- the files ------------------------------------------------------------------
STEP='{"name": "a", "participant": "p", "reserve": {"command": "go"}, "compensate": {"command": "undo"}}'
BASE="\"version\": 1, \"steps\": [$STEP]"
rep() { awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", s }'; }
list() { awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s%s", (i ? "," : ""), sprintf(s, i) }'; }
mk() { cat >"$D/$1.json"; }

{ printf '{"name": "deep", %s, "description": ' "$BASE"; rep '[' 100000; rep ']' 100000; printf '}'; } | mk deep
{ printf '{"name": "deep", %s, "input": {"x": {"type": "object", "description": ' "$BASE"
  rep '{"a":' 5000; printf 1; rep '}' 5000; printf '}}}'; } | mk deep_object
{ printf '{"name": "arr", %s, "labels": [' "$BASE"; list 1 400000; printf ']}'; } | mk huge_array
{ printf '{"name": "arr", "version": 1, "steps": ['
  list '{"name": "s%d", "participant": "p", "reserve": {"command": "go"}}' 20000; printf ']}'; } | mk huge_steps
{ printf '{"name": "'; rep n 500000; printf '", %s}' "$BASE"; } | mk long_name
{ printf '{"name": "r", "version": 1, "input": {"x": {"type": "string"}}, "steps": [{"name": "a", "participant": "p", "reserve": {"command": "go", "payload": {"k": "'
  rep '${input.x}' 50000; printf '"}}, "compensate": {"command": "u"}}]}'; } | mk long_template
{ printf '{"name": "big", %s, "description": "' "$BASE"; rep d 2000000; printf '"}'; } | mk over_limit
printf '{"name": "nul\000byte", %s}' "$BASE" | mk nul_raw
printf '{"name": "nul\\u0000x", %s}' "$BASE" | mk nul_escaped
printf '{"name": "caf\351", %s}' "$BASE" | mk latin1
printf '{"name": "a", "description": "\300\257", %s}' "$BASE" | mk overlong_utf8
printf '{"name": "a", "description": "\\ud800", %s}' "$BASE" | mk surrogate
printf '{"name": "n", "version": 99999999999999999999, "steps": [%s]}' "$STEP" | mk int_overflow
printf '{"name": "n", "version": 1e400, "steps": [%s]}' "$STEP" | mk float_overflow
printf '{"name": "n", "version": 1, "defaults": {"timeout_ms": -1, "retry": {"max_attempts": 1000000, "multiplier": 1e300, "jitter": 5}}, "steps": [%s]}' "$STEP" | mk out_of_range
printf '{"name": "a", "name": "b", %s}' "$BASE" | mk duplicate_keys
{ printf '{"name": "e", "version": 1, "steps": ['; list '{"name": "Bad%d"}' 5000; printf ']}'; } | mk many_errors
printf '' | mk empty
printf '[1, 2]' | mk array_root
printf '{"name": "x", %s} trailing' "$BASE" | mk trailing

# What each refusal must say (a substring of its first line).
cat >"$D/expected" <<'EOF'
deep|nesting is deeper than the limit of 32 levels
deep_object|nesting is deeper than the limit of 32 levels
huge_array|labels: unknown key
huge_steps|file is larger than the limit of 1048576 bytes
long_name|longer than the limit of 4096 bytes
long_template|longer than the limit of 4096 bytes
over_limit|file is larger than the limit of 1048576 bytes
nul_raw|NUL byte in a string
nul_escaped|\u0000 is not allowed in strings
latin1|invalid UTF-8
overlong_utf8|invalid UTF-8
surrogate|unpaired surrogate
int_overflow|integer is out of range
float_overflow|number is out of range
out_of_range|defaults.timeout_ms: must be at least 1, got -1
duplicate_keys|name: duplicate key
many_errors|5000 steps, more than the limit of 64
empty|unexpected end of file
array_root|a spec must be a JSON object, got array
trailing|
EOF

# The valid spec at the limits: 64 steps, each after every earlier one.
{
    printf '{"name": "hostile_dense", "version": 1, "steps": ['
    i=0
    while [ $i -lt 64 ]; do
        after=$(awk -v n=$i 'BEGIN { for (j = 0; j < n; j++) printf "%s\"s%d\"", (j ? "," : ""), j }')
        [ $i -gt 0 ] && printf ','
        printf '{"name": "s%d", "participant": "p%d", "after": [%s], "reserve": {"command": "go", "payload": {"n": "${saga.id}"}}, "compensate": {"command": "undo"}}' $i $i "$after"
        i=$((i + 1))
    done
    printf ']}'
} | mk dense_valid

# --- the checks ----------------------------------------------------------------------------
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=""
# bounded NAME CMD...: runs CMD within 5 s and 256 MiB; output in $D/NAME.out/.err.
bounded() {
    bn=$1
    shift
    if [ -n "$TIME" ]; then
        timeout 5 "$TIME" -f '%M' -o "$D/$bn.rss" "$@" >"$D/$bn.out" 2>"$D/$bn.err"
    else
        timeout 5 "$@" >"$D/$bn.out" 2>"$D/$bn.err"
    fi
    rc=$?
    [ "$rc" = 124 ] && fail "$bn: $* took more than 5 s"
    if [ -n "$TIME" ] && [ -s "$D/$bn.rss" ]; then
        kb=$(tail -n 1 "$D/$bn.rss")
        [ "$kb" -le 262144 ] || fail "$bn: used $kb kB"
    fi
    return "$rc"
}

while IFS='|' read -r name want; do
    f=$D/$name.json
    for cmd in validate apply; do
        bounded "$name.$cmd" "$S" def "$cmd" "$f"
        rc=$?
        [ "$rc" = 1 ] || { cat "$D/$name.$cmd.err" >&2; fail "def $cmd $name.json: exit $rc, wanted 1"; }
        first=$(head -n 1 "$D/$name.$cmd.err")
        case "$first" in
        "$f:"[0-9]*:[0-9]*": "*) ;;
        *) fail "def $cmd $name.json: first line is not FILE:LINE:COL: ...: $first" ;;
        esac
        case "$first" in
        *"$want"*) ;;
        *) fail "def $cmd $name.json: \"$first\" does not say \"$want\"" ;;
        esac
        lines=$(grep -vc '^hint: ' "$D/$name.$cmd.err")
        [ "$lines" -le 101 ] || fail "def $cmd $name.json: $lines lines of diagnostics"
        awk 'length($0) > 2048 { exit 1 }' "$D/$name.$cmd.err" ||
            fail "def $cmd $name.json: a diagnostic line longer than 2 kB"
    done
done <"$D/expected"
ok "$(wc -l <"$D/expected") hostile spec files refused with a located, named problem in bounded time and memory"
[ "$(psql_q "SELECT count(*) FROM saga_definitions")" = 0 ] || fail "a refused spec was stored"
ok "nothing stored"

bounded dense.validate "$S" def validate "$D/dense_valid.json" || { cat "$D/dense.validate.err" >&2; fail "the dense valid spec is refused"; }
bounded dense.apply "$S" def apply "$D/dense_valid.json" || { cat "$D/dense.apply.err" >&2; fail "the dense valid spec cannot be applied"; }
[ "$(psql_q "SELECT count(*) FROM saga_definitions WHERE name = 'hostile_dense'")" = 1 ] ||
    fail "the dense valid spec was not stored"
ok "a valid spec at the limits (64 steps, 2016 edges) validates and applies in bounded time"
