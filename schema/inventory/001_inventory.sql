-- 001_inventory: the inventory participant's stock, its reservations and
-- its idempotency barrier, all in schema "inventory".
--
-- stock keeps running totals per SKU so that RESERVE/CONFIRM/COMPENSATE are
-- single-row updates; seeded is the total ever put in, so that
-- available + reserved + sold = seeded is checkable at any time
-- (`inventory-worker check`). reservations holds one row per reserving step
-- (idempotency key) and remembers whether it was confirmed or released.

CREATE SCHEMA IF NOT EXISTS inventory;

CREATE TABLE inventory.stock (
    sku        text        PRIMARY KEY,
    available  bigint      NOT NULL CHECK (available >= 0),
    reserved   bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold       bigint      NOT NULL DEFAULT 0 CHECK (sold >= 0),
    seeded     bigint      NOT NULL CHECK (seeded >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inventory.reservations (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text        NOT NULL UNIQUE,
    saga_id         text        NOT NULL,
    step            text        NOT NULL,
    sku             text        NOT NULL REFERENCES inventory.stock (sku),
    qty             bigint      NOT NULL CHECK (qty > 0),
    status          text        NOT NULL DEFAULT 'reserved'
                                CHECK (status IN ('reserved', 'confirmed', 'released')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    released_at     timestamptz
);

CREATE INDEX reservations_sku_idx ON inventory.reservations (sku, status);

-- The participant barrier (docs/participants.md): one row per answered
-- (step, action), written in the same transaction as the effect it records.
-- outcome is NULL only inside the transaction that claimed the row.
CREATE TABLE inventory.barrier (
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
CREATE INDEX barrier_created_idx ON inventory.barrier (created_at);
