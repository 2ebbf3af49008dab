# demo_ops.sh - scenes of make demo for the operator's Kafka-side tools:
# a poison message and the dead-letter tools, and a reconciliation of the
# run's sagas with the participants' own records. Sourced by demo.sh (uses
# its BIN, RUN, say and q); sagad and both workers are running.

say "5c. A poison message: a garbage Command is dead-lettered, then listed and (dry-)replayed"
printf 'not a command (%s)' "$RUN" |
    kcat -b "$SAGA_KAFKA_BROKERS" -P -t saga.inventory.commands -k "$RUN-poison"
end=$(($(date +%s) + 30))
until "$BIN/sagactl" dlq list --since 5m --topic saga.inventory.commands --json 2>/dev/null |
        grep -q "$RUN"; do
    [ "$(date +%s)" -ge "$end" ] && { echo "demo: the poison message was not dead-lettered" >&2; exit 1; }
    sleep 0.2
done
echo "\$ sagactl dlq list --since 5m --topic saga.inventory.commands"
"$BIN/sagactl" dlq list --since 5m --topic saga.inventory.commands
echo "\$ sagactl dlq replay --all-matching --since 5m --topic saga.inventory.commands --dry-run"
"$BIN/sagactl" dlq replay --all-matching --since 5m --topic saga.inventory.commands --dry-run

say "5d. Reconciliation: this run's finished sagas against what the participants recorded"
echo "\$ sagactl reconcile --since 10m"
if "$BIN/sagactl" reconcile --since 10m --timeout 5s >"$LOG/reconcile.txt"; then
    tail -n 1 "$LOG/reconcile.txt"
else
    cat "$LOG/reconcile.txt"
    echo "(sagactl reconcile --repair would re-send what is missing; see docs/operations.md)"
fi
