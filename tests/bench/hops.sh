#!/bin/sh
# hops.sh PREFIX [DSN] - where the sagas of one load generator run spent
# their time, hop by hop: the median over the sagas whose idempotency key
# starts with PREFIX of every duration sagad's "hop" history rows hold
# (engine/common/hops.h; one saga's are `sagactl show ID --timing`), per
# step and action, in milliseconds. Prints a Markdown table; the last
# columns are the median hop total and the median created -> finished.
# HOPS_ABOVE=0.99 looks only at the sagas at or above that quantile of
# created -> finished: what the slow ones waited for.
set -eu
[ $# -ge 1 ] || { echo "usage: hops.sh PREFIX [DSN]" >&2; exit 2; }
DSN=${2:-${SAGA_PG_DSN:?set SAGA_PG_DSN or pass a DSN}}
psql "$DSN" -X -q -A -F ' | ' -v prefix="$1" -v above="${HOPS_ABOVE:-0}" <<'SQL'
\pset footer off
\pset tuples_only on
WITH a AS (
  SELECT id, finished_at - created_at AS span FROM sagas
  WHERE idempotency_key LIKE :'prefix' || '%' AND status = 'COMPLETED'),
s AS (
  SELECT * FROM a WHERE span >= (SELECT percentile_cont(:above::float8) WITHIN GROUP (ORDER BY span) FROM a)),
kv AS (
  SELECT h.saga_id, h.id AS row, coalesce(h.step, 'start') || coalesce(' ' || h.action, '') AS hop,
         split_part(w, '=', 1) AS k, split_part(w, '=', 2)::bigint AS us
  FROM saga_history h JOIN s ON s.id = h.saga_id, regexp_split_to_table(h.text, ' ') w
  WHERE h.kind = 'hop'),
per AS (
  SELECT hop, k, percentile_cont(0.5) WITHIN GROUP (ORDER BY us) / 1000 AS ms, min(row) AS first
  FROM kv GROUP BY hop, k),
tot AS (
  SELECT hop, percentile_cont(0.5) WITHIN GROUP (ORDER BY t) / 1000 AS ms
  FROM (SELECT saga_id, hop, sum(us) AS t FROM kv GROUP BY saga_id, row, hop) x GROUP BY hop),
keys(k, o) AS (VALUES ('turn.decode', 1), ('turn.decide', 2), ('turn.commit', 3),
  ('turn.publish', 4), ('cmd.transit', 5), ('cmd.wait', 6), ('worker.fill', 7),
  ('worker.apply', 8), ('worker.reply', 9), ('reply.transit', 10), ('reply.wait', 11))
SELECT '| hop | ' || string_agg(k, ' | ' ORDER BY o) || ' | hop total |' FROM keys
UNION ALL SELECT '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
UNION ALL SELECT * FROM (
  SELECT '| ' || h.hop || ' | ' || string_agg(round(p.ms::numeric, 2)::text, ' | ' ORDER BY keys.o)
         || ' | ' || round(max(t.ms)::numeric, 2) || ' |'
  FROM (SELECT DISTINCT hop FROM per WHERE hop <> 'start') h CROSS JOIN keys
  JOIN per p ON p.hop = h.hop AND p.k = keys.k JOIN tot t ON t.hop = h.hop
  GROUP BY h.hop ORDER BY min(p.first)) r
UNION ALL SELECT 'StartSaga (Kafka create time, ms resolution): transit '
         || round(max(ms) FILTER (WHERE k = 'start.transit')::numeric, 2) || ' ms, wait '
         || round(max(ms) FILTER (WHERE k = 'start.wait')::numeric, 2) || ' ms'
  FROM per WHERE hop = 'start'
UNION ALL SELECT 'sagas: ' || count(*) || ', median created -> finished: '
         || round((extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY span)) * 1000)::numeric, 2)
         || ' ms' FROM s;
SQL
