-- 001_core: the coordinator's tables.
--
-- sagas holds one row per saga instance and saga_steps one row per step: the
-- decision core's state, spread over columns so that operators can query it
-- (sagactl list/stuck) without decoding blobs. saga_history is append-only
-- and written in the same transaction as the transition it describes.
-- saga_outbox holds commands decided but not yet published to Kafka
-- (transactional outbox); a row is deleted once Kafka has acknowledged it.
-- The sagad process that decided a command publishes it itself right after
-- its commit; relay_after is when any relay may take the row over (at once
-- for rows written by sagactl, after a grace period for sagad's own rows,
-- so a crash between commit and publish is covered without double sends).

CREATE TABLE saga_definitions (
    name       text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    canonical  text        NOT NULL,          -- canonical JSON of the spec
    sha256     text        NOT NULL,          -- hex SHA-256 of canonical
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

CREATE TABLE sagas (
    id              uuid        PRIMARY KEY,
    def_name        text        NOT NULL,
    def_version     integer     NOT NULL,
    status          text        NOT NULL,     -- RUNNING, CONFIRMING, COMPENSATING, COMPLETED, COMPENSATED
    input           jsonb       NOT NULL,
    idempotency_key text        UNIQUE,       -- NULL: the start request gave none
    traceparent     text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    progress_at     timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    wake_at         timestamptz,              -- next deadline, retry or stuck check
    stuck           boolean     NOT NULL DEFAULT false,
    stuck_reason    text,
    aborted         boolean     NOT NULL DEFAULT false,
    resolved        boolean     NOT NULL DEFAULT false,
    FOREIGN KEY (def_name, def_version) REFERENCES saga_definitions (name, version)
);

-- Timers find due sagas through this index only (no full scans).
CREATE INDEX sagas_wake_idx ON sagas (wake_at) WHERE wake_at IS NOT NULL;
-- sagactl list: newest first, keyset-paginated, optionally by status or definition.
CREATE INDEX sagas_created_idx ON sagas (created_at DESC, id DESC);
CREATE INDEX sagas_status_created_idx ON sagas (status, created_at DESC, id DESC);
CREATE INDEX sagas_def_created_idx ON sagas (def_name, created_at DESC, id DESC);
-- sagactl stuck / stats over non-terminal sagas.
CREATE INDEX sagas_active_progress_idx ON sagas (progress_at)
    WHERE status IN ('RUNNING', 'CONFIRMING', 'COMPENSATING');
CREATE INDEX sagas_finished_idx ON sagas (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE saga_steps (
    saga_id             uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    idx                 smallint    NOT NULL, -- position in the spec's steps[]
    name                text        NOT NULL,
    status              text        NOT NULL, -- PENDING, RESERVING, RESERVED, REJECTED, FAILED, CONFIRMING, CONFIRMED, COMPENSATING, COMPENSATED
    action              text,                 -- command in flight or backing off
    attempt             integer     NOT NULL DEFAULT 0,
    failures            integer     NOT NULL DEFAULT 0,
    deadline_at         timestamptz,
    retry_at            timestamptz,
    reserve_attempts    integer     NOT NULL DEFAULT 0,
    confirm_attempts    integer     NOT NULL DEFAULT 0,
    compensate_attempts integer     NOT NULL DEFAULT 0,
    reserve_outcome     text,
    confirm_outcome     text,
    compensate_outcome  text,
    last_error          text,
    result              jsonb,                -- RESERVE reply payload
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (saga_id, idx)
);

CREATE TABLE saga_history (
    id      bigserial   PRIMARY KEY,
    saga_id uuid        NOT NULL REFERENCES sagas (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind    text        NOT NULL, -- created, transition, step, command, reply, ignored, timeout, backoff, stuck, unstuck, operator, ...
    step    text,
    action  text,
    attempt integer,
    outcome text,
    text    text,
    actor   text                  -- operator actions: OS user or --actor
);
CREATE INDEX saga_history_saga_idx ON saga_history (saga_id, id);

CREATE TABLE saga_outbox (
    id          bigserial   PRIMARY KEY,
    topic       text        NOT NULL,
    key         text        NOT NULL,  -- saga id
    payload     bytea       NOT NULL,  -- encoded protobuf Command
    traceparent text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    relay_after timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saga_outbox_relay_idx ON saga_outbox (relay_after, id);
