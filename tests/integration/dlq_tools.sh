#!/bin/sh
# dlq_tools.sh - `sagactl dlq list|replay` on the real stack.
#
# An inventory worker with a 300-byte message limit dead-letters the RESERVE
# of a saga whose SKU is long (a real Command, made by sagad) and a garbage
# message produced by hand. `dlq list` shows both with reason, origin and,
# for the Command, a decoded view. After the worker is restarted with the
# default limit (the cause fixed), `dlq replay ID` re-publishes the RESERVE
# once: the copy carries dlq.replay-of, reaches the command topic exactly
# once (counted with kcat), the worker reserves and the saga completes; a
# second replay is refused, and it is the replay record that refuses it
# (deleted, a dry run would replay again). `--all-matching` replays the
# garbage letter, which the worker dead-letters again as a new letter naming
# its origin.
#
# Isolation: a database of its own and topics of its own (dlq-<pid>.*).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed to check JSON output"
command -v kcat >/dev/null || fail "kcat is needed to produce and count messages"

P=$$
own_database saga_dlq_$P
S=$BIN/sagactl
TMP=$LOGS/tmp
rm -rf "$TMP" && mkdir -p "$TMP"
T=dlq-$P
DLQ="--dlq-topic $T.dlq"

letters_are() { [ "$("$S" dlq list $DLQ --json | jq length)" -eq "$1" ]; }
status_is() { [ "$(psql_q "SELECT status FROM sagas WHERE id = '$1'")" = "$2" ]; }
# Messages on the command topic that are replays.
replays_on_topic() {
    kcat -b "$SAGA_KAFKA_BROKERS" -C -t "$T.inv" -e -q -f '%h\n' 2>/dev/null | grep -c 'dlq.replay-of='
}

cat >"$TMP/big.json" <<EOF
{
  "name": "big", "version": 1,
  "input": {"sku": {"type": "string"}},
  "defaults": {"timeout_ms": 60000, "retry": {"max_attempts": 3}},
  "steps": [
    {"name": "stock", "participant": "inventory", "topic": "$T.inv",
     "reserve": {"command": "reserve_stock", "payload": {"sku": "\${input.sku}", "qty": 1}},
     "confirm": {"command": "commit_stock",
                 "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}},
     "compensate": {"command": "release_stock",
                    "payload": {"reservation_id": "\${steps.stock.reserve.result.reservation_id}"}}}
  ]
}
EOF
"$S" migrate >/dev/null || fail "migrate"
"$S" def apply "$TMP/big.json" >/dev/null || fail "def apply"
SKU=sku-$P-$(printf '%0400d' 0)
"$BIN/inventory-worker" seed --sku "$SKU" --qty 10 >/dev/null || fail "seed inventory"

export SAGA_TOPICS_REPLIES="$T.replies" SAGA_TOPICS_SIGNALS="$T.signals"
spawn sagad "$BIN/sagad" --http.listen=off --sagad.group="$T.sagad" --log.format=text \
    --topics.replies="$T.replies" --topics.signals="$T.signals" --topics.start="$T.start" --topics.dlq="$T.dlq"
spawn small "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --dlq-topic "$T.dlq" \
    --worker.max.message.bytes 300 --log.format text
SMALL=$SPAWNED

# --- two poison messages ---------------------------------------------------------------
ID=$("$S" start big --input "{\"sku\": \"$SKU\"}") || fail "start"
wait_for 60 "the oversized RESERVE is dead-lettered" letters_are 1
printf 'not a command' | kcat -b "$SAGA_KAFKA_BROKERS" -P -t "$T.inv" -k garbage-key -H origin=test ||
    fail "kcat produce"
wait_for 30 "the garbage message is dead-lettered" letters_are 2
ok "a worker dead-lettered an oversized Command and a garbage message"

# --- list ---------------------------------------------------------------------------------
"$S" dlq list $DLQ --json >"$TMP/list.json" || fail "dlq list --json"
jq -e --arg id "$ID" --arg t "$T.inv" '.[] | select(.decoded.type == "Command")
    | .decoded.saga_id == $id and .decoded.action == "RESERVE" and .decoded.step == "stock"
      and .topic == $t and .partition >= 0 and .offset >= 0 and (.reason | test("exceeds the limit of 300"))
      and .key == $id and .replayed == null' "$TMP/list.json" >/dev/null ||
    fail "dlq list: the Command letter: $(jq -c '.[0]' "$TMP/list.json")"
jq -e '.[] | select(.key == "garbage-key") | .decoded == null and .value == "not a command"
    and (.reason | test("not a saga.Command")) and .headers.origin == "test"' "$TMP/list.json" >/dev/null ||
    fail "dlq list: the garbage letter: $(jq -c '.[1]' "$TMP/list.json")"
CMD_LETTER=$(jq -r '.[] | select(.decoded.type == "Command") | .id' "$TMP/list.json")
GARBAGE=$(jq -r '.[] | select(.key == "garbage-key") | .id' "$TMP/list.json")
"$S" dlq list $DLQ >"$TMP/list.txt" || fail "dlq list"
grep -q "^$CMD_LETTER .*$T.inv \[[0-9]*\] @[0-9]* .*exceeds the limit.*Command RESERVE stock saga" "$TMP/list.txt" ||
    fail "dlq list table: $(cat "$TMP/list.txt")"
[ "$("$S" dlq list $DLQ --topic "$T.other" --json | jq length)" -eq 0 ] || fail "--topic filter"
[ "$("$S" dlq list $DLQ --reason "not a saga" --since 1h --json | jq length)" -eq 1 ] || fail "--reason/--since filter"
ok "dlq list: reason, origin, decoded Command; filters by topic, reason and time"

# --- replay by ID, after fixing the cause -------------------------------------------------------
kill -TERM "$SMALL"
await_exit "$SMALL" 20
spawn inv "$BIN/inventory-worker" --topic "$T.inv" --group "$T.inv" --dlq-topic "$T.dlq" --log.format text
"$S" dlq replay "$CMD_LETTER" $DLQ --dry-run >"$TMP/out" || fail "replay --dry-run"
grep -q "would replay $CMD_LETTER to $T.inv" "$TMP/out" || fail "dry run: $(cat "$TMP/out")"
[ "$(psql_q "SELECT count(*) FROM saga_dlq_replays")" = 0 ] || fail "a dry run recorded a replay"
"$S" dlq replay "$CMD_LETTER" $DLQ --actor tester >"$TMP/out" || fail "replay: $(cat "$TMP/out")"
grep -q "replayed $CMD_LETTER to $T.inv" "$TMP/out" || fail "replay: $(cat "$TMP/out")"
wait_for 60 "the replayed RESERVE completes the saga" status_is "$ID" COMPLETED
[ "$(psql_q "SELECT actor || ' ' || target_topic || ' ' || (target_offset IS NOT NULL) FROM saga_dlq_replays")" = \
    "tester $T.inv true" ] || fail "replay record: $(psql_q "SELECT * FROM saga_dlq_replays")"
[ "$(psql_q "SELECT count(*) FROM saga_history WHERE saga_id = '$ID' AND kind = 'operator'
    AND actor = 'tester' AND text LIKE 'replayed dead letter %'")" = 1 ] || fail "no audit row in the saga's history"
ok "replay re-published the RESERVE (recorded, audited) and the saga completed"

"$S" dlq replay "$CMD_LETTER" $DLQ --actor tester >"$TMP/out" 2>&1 && fail "a second replay was accepted"
grep -q "skipped $CMD_LETTER: already replayed by tester" "$TMP/out" || fail "second replay: $(cat "$TMP/out")"
[ "$(replays_on_topic)" = 1 ] || fail "$(replays_on_topic) replayed copies on $T.inv, wanted 1"
"$S" dlq list $DLQ >"$TMP/list.txt"
grep -q "^$CMD_LETTER .*by tester" "$TMP/list.txt" || fail "list does not show the replay: $(cat "$TMP/list.txt")"
ok "a second replay is refused (exit 1); one copy on the topic; list shows who replayed it"

# The record is what refuses: without it the letter would be replayed again.
psql_q "DELETE FROM saga_dlq_replays" >/dev/null
"$S" dlq replay "$CMD_LETTER" $DLQ --dry-run >"$TMP/out" || fail "dry run without the record"
grep -q "would replay $CMD_LETTER" "$TMP/out" || fail "without its record the letter is not replayable: $(cat "$TMP/out")"
ok "the check fails open without the replay record (it is what refuses)"

# --- replay --all-matching ----------------------------------------------------------------------
"$S" dlq replay --all-matching --reason "not a saga.Command" $DLQ --actor tester --json >"$TMP/out" ||
    fail "replay --all-matching: $(cat "$TMP/out")"
jq -e --arg g "$GARBAGE" '.replayed == 1 and .letters[0].id == $g and .letters[0].status == "replayed"' \
    "$TMP/out" >/dev/null || fail "replay --all-matching: $(cat "$TMP/out")"
wait_for 30 "the replayed garbage is dead-lettered again" letters_are 3
"$S" dlq list $DLQ --json >"$TMP/list.json"
jq -e --arg g "$GARBAGE" --arg d "$T.dlq" '.[] | select(.headers["dlq.replay-of"] == ($d + ":" + $g))
    | .key == "garbage-key" and .headers.origin == "test"' "$TMP/list.json" >/dev/null ||
    fail "the re-dead-lettered copy: $(jq -c '.[2]' "$TMP/list.json")"
"$S" dlq replay --all-matching --reason "not a saga.Command" $DLQ --dry-run --json >"$TMP/out"
jq -e --arg g "$GARBAGE" '.letters[] | select(.id == $g) | .status == "already_replayed"' "$TMP/out" >/dev/null ||
    fail "--all-matching does not skip the replayed letter: $(cat "$TMP/out")"
ok "--all-matching replayed the garbage once; its new letter names where it came from"

"$S" dlq replay 9:99999 $DLQ >/dev/null 2>&1 && fail "replay of an unknown letter succeeded"
"$S" dlq replay "$CMD_LETTER" --all-matching $DLQ >/dev/null 2>&1
[ $? -eq 2 ] || fail "ID with --all-matching is not a usage error"
ok "unknown letter refused; ID and --all-matching together is a usage error"
