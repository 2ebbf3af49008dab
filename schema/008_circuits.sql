-- 008_circuits: a circuit breaker per participant (docs/operations.md).
--
-- Shared by every sagad process, so it lives here, not in memory. Turns
-- only append what they observed (saga_circuit_events) and which sagas a
-- breaker holds (saga_circuit_waits), in their own write, with no lock on
-- a breaker row: a burst of failures never serialises the turns. The relay
-- tick of each sagad locks saga_circuits, counts the events since the
-- breaker last changed, decides (engine/core/circuit.c) and writes the
-- transition, so every process applies one rule to one shared record.
CREATE TABLE saga_circuits (
    participant  text        PRIMARY KEY,
    state        text        NOT NULL DEFAULT 'CLOSED'
                             CHECK (state IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
    since        timestamptz NOT NULL DEFAULT now(), -- entered state
    reason       text        NOT NULL DEFAULT '',    -- why it did
    threshold    integer     NOT NULL,               -- policy last reported
    window_ms    bigint      NOT NULL,
    cooldown_ms  bigint      NOT NULL,
    probe_saga   uuid,                               -- HALF_OPEN: let through
    transitions  bigint      NOT NULL DEFAULT 0
);

-- Failures (ok = false: timeout, RETRY) and answers (ok = true, written
-- only while a breaker is not CLOSED), n of them at once.
CREATE TABLE saga_circuit_events (
    id           bigserial   PRIMARY KEY,
    participant  text        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    ok           boolean     NOT NULL,
    n            integer     NOT NULL,
    threshold    integer     NOT NULL,
    window_ms    bigint      NOT NULL,
    cooldown_ms  bigint      NOT NULL
);
CREATE INDEX saga_circuit_events_idx ON saga_circuit_events (participant, at);

-- Sagas holding a RESERVE for a breaker to let it go.
CREATE TABLE saga_circuit_waits (
    participant  text        NOT NULL,
    saga_id      uuid        NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (participant, saga_id)
);
CREATE INDEX saga_circuit_waits_saga_idx ON saga_circuit_waits (saga_id);
