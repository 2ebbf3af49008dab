#!/bin/sh
# report.sh OUT RUN - turns the probes' JSON (OUT/parts/*.json, written by
# run.sh) into OUT/results.json, OUT/results.md and the chart OUT/latency.png.
#
# Kept apart from run.sh so a report can be rebuilt from the parts of an
# earlier run without measuring again. Medians are taken over the trials of
# each fixed rate; CPU per 1,000 sagas pools every fixed-rate run of a
# configuration (CPU seconds over sagas finished).
set -eu
OUT=$1
RUN=$2
P=$OUT/parts

# One object per configuration, from the files named <tag>-<phase>-...json.
config_json() { # TAG
    tag=$1
    ladder=$(for f in $(ls "$P/$tag-ladder-"*.json 2>/dev/null | sort -t- -k4 -n); do
        jq -c '{rate, throughput: .throughput_overall, throughput_in_window,
                completed, compensated, unfinished, backlog_at_send_end,
                latency_q1_p50_ms, latency_q4_p50_ms, latency_ms,
                sustained: (.unfinished == 0 and .compensated == 0 and
                            .latency_q4_p50_ms <= 2 * .latency_q1_p50_ms + 100 and
                            .latency_ms.p99 <= 1000)}' "$f"
    done | jq -s 'sort_by(.rate)')
    fixed=$(cat "$P/$tag-fixed-"*.json 2>/dev/null | jq -s '
        def median: sort | if length == 0 then null
                           elif length % 2 == 1 then .[length / 2 | floor]
                           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        group_by(.rate) | map({
            rate: .[0].rate, trials: length,
            throughput: (map(.throughput_overall) | median),
            p50: (map(.latency_ms.p50) | median), p95: (map(.latency_ms.p95) | median),
            p99: (map(.latency_ms.p99) | median), max: (map(.latency_ms.max) | median),
            compensated: (map(.compensated) | add), unfinished: (map(.unfinished) | add),
            sustained: all(.unfinished == 0 and .compensated == 0 and
                           .latency_q4_p50_ms <= 2 * .latency_q1_p50_ms + 100 and
                           .latency_ms.p99 <= 1000),
            trial_p99: map(.latency_ms.p99)})')
    procs=$(cat "$P/$tag-fixed-"*.json "$P/$tag-ladder-"*.json 2>/dev/null | jq -s '
        map((.completed + .compensated) as $n | .procs | to_entries |
            map({name: (.key | sub("[0-9]+$"; "")), cpu: .value.cpu_s, peak: .value.rss_peak_kb}) |
            group_by(.name) | map({name: .[0].name, cpu: (map(.cpu) | add),
                                   peak: (map(.peak) | max), n: $n}))
        | flatten | group_by(.name) | map({(.[0].name): {
            cpu_s_per_1000: (if (map(.n) | add) > 0 then (map(.cpu) | add) * 1000 / (map(.n) | add)
                             else null end),
            rss_peak_kb: (map(.peak) | max)}}) | add')
    drain=$(cat "$P/$tag-drain.json" 2>/dev/null | jq -c 'del(.series)' || echo null)
    half=$(cat "$P/$tag-half-"*.json 2>/dev/null | jq -s '
        def median: sort | if length == 0 then null
                           elif length % 2 == 1 then .[length / 2 | floor]
                           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        if length == 0 then null else {
            rate: .[0].rate, trials: length,
            throughput: (map(.throughput_overall) | median),
            p50: (map(.latency_ms.p50) | median), p99: (map(.latency_ms.p99) | median)} end')
    maxrate=$(cat "$P/$tag-max-rate.txt" 2>/dev/null || echo 0)
    jq -n --argjson ladder "$ladder" --argjson fixed "$fixed" --argjson procs "${procs:-null}" \
        --argjson drain "${drain:-null}" --argjson maxrate "$maxrate" \
        --argjson half "${half:-null}" '
        {max_sustained_rate: $maxrate,
         max_sustained_throughput: ([$ladder[] | select(.sustained) | .throughput] | max),
         saturation_throughput: ([$ladder[] | .throughput] | max),
         ladder: $ladder, half: $half, fixed: $fixed, per_process: $procs, drain: $drain}'
}

S1=$(config_json s1)
S2=$(config_json s2)
SOAK=null
if [ -f "$P/soak.json" ]; then
    SOAK=$(jq -c '.send_s as $stop | [.series[] | select(.t <= $stop)] as $w |
        {rate, count, completed, compensated, unfinished, latency_ms, procs, send_s,
         backlog_at_send_end,
         sustained: (.unfinished == 0 and .compensated == 0 and
                     .latency_q4_p50_ms <= 2 * .latency_q1_p50_ms + 100 and
                     .latency_ms.p99 <= 1000),
         rss_series: [$w[] | {t, rss_kb: .sagad1_rss_kb}],
         rss_first_minute_kb: ([$w[] | select(.t >= 30 and .t < 90) | .sagad1_rss_kb] | max),
         rss_last_minute_kb: ([$w[] | .sagad1_rss_kb] | .[-60:] | max)}' "$P/soak.json")
fi

# The largest rate at which the wall clock ran off the monotonic one in any
# open-loop run (loadgen's clock_slew_ppm): a host correcting its clock
# shows up here instead of as latency.
SLEW=$(cat "$P"/s[12]-*.json "$P"/soak.json 2>/dev/null |
    jq -s '[.[] | .clock_slew_ppm // 0 | fabs] | max // 0')

jq -n --arg run "$RUN" --argjson slew "${SLEW:-0}" \
    --slurpfile machine "$P/machine.json" --slurpfile fin "$P/end.json" \
    --slurpfile floor "$P/floor.json" \
    --slurpfile ceil "$P/ceiling.json" --slurpfile ceil1 "$P/ceiling_unbatched.json" \
    --slurpfile ceil8 "$P/ceiling_unbatched8.json" --slurpfile single "$P/single.json" \
    --argjson s1 "$S1" --argjson s2 "$S2" --argjson soak "$SOAK" '
    {run: $run, machine: ($machine[0] + $fin[0] + {clock_slew_ppm_max: $slew}),
     kafka_floor: $floor[0],
     ceiling: {batched: $ceil[0], unbatched_2_conns: $ceil1[0], unbatched_8_conns: $ceil8[0]},
     single_saga: $single[0],
     one_sagad: ($s1 + {ratio_to_ceiling: (if $s1.max_sustained_throughput then
                          $s1.max_sustained_throughput / $ceil[0].orders_per_s else 0 end)}),
     two_sagad: ($s2 + {ratio_to_ceiling: (if $s2.max_sustained_throughput then
                          $s2.max_sustained_throughput / $ceil[0].orders_per_s else 0 end)}),
     soak: $soak}' >"$OUT/results.json"

# --- chart: latency percentiles against offered rate --------------------------------
for tag in one_sagad two_sagad; do
    jq -r ".$tag.ladder[] | \"\(.rate) \(.latency_ms.p50) \(.latency_ms.p95) \(.latency_ms.p99)\"" \
        "$OUT/results.json" >"$OUT/$tag-ladder.dat"
    jq -r ".$tag.fixed[] | \"\(.rate) \(.p50) \(.p95) \(.p99)\"" \
        "$OUT/results.json" >"$OUT/$tag-fixed.dat"
done
if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10" noenhanced
set output "$OUT/latency.png"
set title "order_checkout start-to-terminal latency vs offered rate (open loop, $(jq -r '.machine.cores' "$OUT/results.json") cores, one box)"
set xlabel "offered rate (sagas/s)"
set ylabel "latency (ms, log scale)"
set logscale y
set grid
set key top left
plot "$OUT/one_sagad-ladder.dat" using 1:2 with linespoints lc rgb "#1f77b4" pt 7 title "1 sagad p50", \
     "$OUT/one_sagad-ladder.dat" using 1:3 with linespoints lc rgb "#1f77b4" dt 2 pt 6 title "1 sagad p95", \
     "$OUT/one_sagad-ladder.dat" using 1:4 with linespoints lc rgb "#1f77b4" dt 3 pt 4 title "1 sagad p99", \
     "$OUT/two_sagad-ladder.dat" using 1:2 with linespoints lc rgb "#d62728" pt 7 title "2 sagad p50", \
     "$OUT/two_sagad-ladder.dat" using 1:3 with linespoints lc rgb "#d62728" dt 2 pt 6 title "2 sagad p95", \
     "$OUT/two_sagad-ladder.dat" using 1:4 with linespoints lc rgb "#d62728" dt 3 pt 4 title "2 sagad p99", \
     "$OUT/one_sagad-fixed.dat" using 1:4 with points lc rgb "#1f77b4" pt 9 ps 1.5 title "1 sagad p99, median of trials", \
     "$OUT/two_sagad-fixed.dat" using 1:4 with points lc rgb "#d62728" pt 9 ps 1.5 title "2 sagad p99, median of trials"
EOF
fi

# --- markdown ---------------------------------------------------------------------
jq -r '
def f1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
def f0: if . == null then "-" else (. | round | tostring) end;
def mb: if . == null then "-" else (. / 1024 | round | tostring) + " MB" end;
def yn: if . then "yes" else "**no**" end;
def share($c): if . == null then null else . / $c * 100 end;
. as $r |
"Run `\(.run)`, \(.machine.date), \(.machine.command), commit \(.machine.commit).",
"",
"**Machine:** \(.machine.cores) cores (\(.machine.cpu)), \(.machine.memory_gb) GB RAM, \(.machine.os), kernel \(.machine.kernel); PostgreSQL \(.machine.postgresql) (fsync on, synchronous_commit on; disk: \(.machine.disk_fsync)), Kafka \(.machine.kafka), librdkafka \(.machine.librdkafka). Load average at start \(.machine.load_at_start), at end \(.machine.load_at_end). Wall clock against the monotonic one: at most \(.machine.clock_slew_ppm_max | f0) ppm in any run\(if (.machine.clock_slew_ppm_max // 0) > 100 then " (**the clock was being corrected; loadgen converts each send time at its moment, but check the figures**)" else "" end). Everything (PostgreSQL, Kafka, sagad, workers, load generator) on this one box.",
"",
"| figure | 1 sagad | 2 sagad | target |",
"|---|---|---|---|",
"| max sustained throughput (completed sagas/s) | \(.one_sagad.max_sustained_throughput | f0) (offered \(.one_sagad.max_sustained_rate)/s) | \(.two_sagad.max_sustained_throughput | f0) (offered \(.two_sagad.max_sustained_rate)/s) | >= 880 |",
"| throughput at saturation (completed/s, highest seen) | \(.one_sagad.saturation_throughput | f0) | \(.two_sagad.saturation_throughput | f0) | |",
"| ratio to the direct-work ceiling (\(.ceiling.batched.orders_per_s | f0) orders/s) | \(.one_sagad.ratio_to_ceiling * 100 | f0) % of ceiling (at saturation \(.one_sagad.saturation_throughput | share($r.ceiling.batched.orders_per_s) | f0) %) | \(.two_sagad.ratio_to_ceiling * 100 | f0) % (at saturation \(.two_sagad.saturation_throughput | share($r.ceiling.batched.orders_per_s) | f0) %) | >= 53 % |",
( .one_sagad.fixed as $a | .two_sagad.fixed as $b |
  ($a | map(.rate)) as $rates | $rates[] as $rate |
  ($a[] | select(.rate == $rate)) as $x | ([$b[] | select(.rate == $rate)][0]) as $y |
  "| latency at \($rate)/s p50 / p95 / p99 / max (ms) | \($x.p50 | f1) / \($x.p95 | f1) / \($x.p99 | f1) / \($x.max | f1)\(if $x.sustained then "" else " (not sustained)" end) | \(if $y then "\($y.p50 | f1) / \($y.p95 | f1) / \($y.p99 | f1) / \($y.max | f1)\(if $y.sustained then "" else " (not sustained)" end)" else "-" end) | \(if $rate == 100 then "p99 <= 25" else "" end) |"),
( .single_saga.latency_ms.p50 as $idle |
  [.one_sagad.half, .two_sagad.half] as [$x, $y] |
  def cell($h): if $h == null then "-" else "\($h.rate)/s: p50 \($h.p50 | f1) ms (\($h.p50 / $idle | . * 100 | round / 100) x idle), p99 \($h.p99 | f1) ms" end;
  "| latency at half of the max sustained rate (median of trials) | \(cell($x)) | \(cell($y)) | p50 <= 1.5 x idle |"),
"| single saga on an idle system p50 / p99 (ms; observed by polling) | \(.single_saga.latency_ms.p50 | f1) / \(.single_saga.latency_ms.p99 | f1) (\(.single_saga.observed_latency_ms.p50 | f1) / \(.single_saga.observed_latency_ms.p99 | f1)) | | p50 <= 10, p99 <= 20 |",
"| drain \(.one_sagad.drain.count) in-flight sagas after a restart (s) | \(.one_sagad.drain.drain_s | f1) (\(.one_sagad.drain.compensated) compensated) | \(.two_sagad.drain.drain_s | f1) (\(.two_sagad.drain.compensated) compensated) | |",
"| CPU s per 1,000 sagas: sagad / inventory / payment | \(.one_sagad.per_process.sagad.cpu_s_per_1000 | f1 ) / \(.one_sagad.per_process.inventory.cpu_s_per_1000 | f1) / \(.one_sagad.per_process.payment.cpu_s_per_1000 | f1) | \(.two_sagad.per_process.sagad.cpu_s_per_1000 | f1) / \(.two_sagad.per_process.inventory.cpu_s_per_1000 | f1) / \(.two_sagad.per_process.payment.cpu_s_per_1000 | f1) | |",
"| peak RSS: sagad / inventory / payment | \(.one_sagad.per_process.sagad.rss_peak_kb | mb) / \(.one_sagad.per_process.inventory.rss_peak_kb | mb) / \(.one_sagad.per_process.payment.rss_peak_kb | mb) | \(.two_sagad.per_process.sagad.rss_peak_kb | mb) (each) / \(.two_sagad.per_process.inventory.rss_peak_kb | mb) / \(.two_sagad.per_process.payment.rss_peak_kb | mb) | flat |",
"| Kafka produce->consume floor p50 / p99 (ms) | \(.kafka_floor.rtt_ms.p50 | f1) / \(.kafka_floor.rtt_ms.p99 | f1) | | |",
(if .soak then "| soak: \(.soak.rate)/s for \(.soak.send_s | f0) s, sagad RSS first / last minute of sending | \(.soak.rss_first_minute_kb | mb) / \(.soak.rss_last_minute_kb | mb); \(if .soak.sustained then "sustained, p99 \(.soak.latency_ms.p99 | f0) ms" else "**not sustained**: backlog \(.soak.backlog_at_send_end) at the end of sending, \(.soak.compensated) of \(.soak.count) timed out and were compensated" end) | | flat |" else empty end),
"",
"Ceiling detail: \(.ceiling.batched.orders_per_s | f0) orders/s with 2 connections and 128 commands per transaction (the workers shape); \(.ceiling.unbatched_2_conns.orders_per_s | f0) with one transaction per command on 2 connections, \(.ceiling.unbatched_8_conns.orders_per_s | f0) on 8. The Kafka floor is one produce -> consume round trip with sagad'"'"'s and the workers'"'"' client settings (linger 0, Nagle off, acks=all, idempotent).",
"",
"Ladder (one run per rate, 1 sagad): " + ([.one_sagad.ladder[] | "\(.rate)/s -> \(.throughput | f0)/s p99 \(.latency_ms.p99 | f0) ms\(if .sustained then "" else " (diverged)" end)"] | join("; ")) + ".",
"",
"Ladder (2 sagad): " + ([.two_sagad.ladder[] | "\(.rate)/s -> \(.throughput | f0)/s p99 \(.latency_ms.p99 | f0) ms\(if .sustained then "" else " (diverged)" end)"] | join("; ")) + "."
' "$OUT/results.json" >"$OUT/results.md"
