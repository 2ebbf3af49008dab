-- 003_outbox_relay_index: the relay index on (relay_after) alone.
--
-- With (relay_after, id) the planner chose a bitmap scan of that whole
-- index for `DELETE FROM saga_outbox WHERE id = ANY(...)` instead of
-- primary-key probes; once a few hundred thousand rows had churned through
-- the outbox that delete cost milliseconds per call (docs/benchmarks.md).
-- The relay orders by id after filtering on relay_after, which a plain
-- relay_after index serves as well.
DROP INDEX saga_outbox_relay_idx;
CREATE INDEX saga_outbox_relay_idx ON saga_outbox (relay_after);
