-- 001_barrier: the participant barrier (docs/participants.md), created by
-- the worker library for every participant in the participant's schema.
--
-- :"schema" is the participant's schema, quoted (the library substitutes
-- it; psql -v schema=NAME -f does the same by hand). One row per answered
-- (step, action), written in the same transaction as the effect it
-- records; outcome is NULL only inside the transaction that claimed the
-- row. IF NOT EXISTS: participants migrated before the library owned this
-- table created it in their own first migration, with this same layout.

CREATE SCHEMA IF NOT EXISTS :"schema";

CREATE TABLE IF NOT EXISTS :"schema".barrier (
    idempotency_key text        NOT NULL,
    action          text        NOT NULL CHECK (action IN ('RESERVE', 'CONFIRM', 'COMPENSATE')),
    outcome         text        CHECK (outcome IN ('OK', 'REJECTED')),
    reason          text        NOT NULL DEFAULT '',
    result          jsonb,
    saga_id         text        NOT NULL,
    step            text        NOT NULL,
    attempt         integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idempotency_key, action)
);

-- Pruning old rows (once no redelivery can reach them) goes by age.
CREATE INDEX IF NOT EXISTS barrier_created_idx ON :"schema".barrier (created_at);
