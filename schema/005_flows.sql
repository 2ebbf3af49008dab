-- 008_flows: scheduled starts, saga deadlines and tags (issue 13).
--
-- A SCHEDULED saga waits with wake_at = start_at, so the timer wheel that
-- already serves retries and deadlines starts it, and a restart loses
-- nothing. The saga's deadline is kept as the duration asked for (for the
-- reason "deadline of 30s passed") and the moment it passes; it folds into
-- wake_at like every other time. Tags are a flat object of strings; both
-- tags and input get a jsonb_path_ops GIN index, which answers containment
-- (tags @> '{"order":"o-1"}', input @> '{"sku":"WIDGET"}') from the index
-- whatever the key, so `sagactl list --tag / --where` stays fast among
-- millions of sagas without an index per business key. Every column has a
-- constant default or none, so adding them rewrites no row.

ALTER TABLE sagas
    ADD COLUMN start_at         timestamptz,          -- SCHEDULED: when it starts
    ADD COLUMN deadline_ms      bigint      NOT NULL DEFAULT 0, -- 0 = no deadline
    ADD COLUMN deadline_at      timestamptz,          -- armed when it runs
    ADD COLUMN deadline_expired boolean     NOT NULL DEFAULT false,
    ADD COLUMN tags             jsonb       NOT NULL DEFAULT '{}';

CREATE INDEX sagas_tags_idx ON sagas USING gin (tags jsonb_path_ops);
CREATE INDEX sagas_input_idx ON sagas USING gin (input jsonb_path_ops);
