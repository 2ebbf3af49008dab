-- 001_payment: the payment participant's accounts, its holds and its
-- idempotency barrier, all in schema "payment".
--
-- Amounts are integers in the currency's minor unit (cents): no rounding.
-- accounts keeps running totals so that RESERVE/CONFIRM/COMPENSATE are
-- single-row updates; seeded is the total ever credited, so that
-- balance + held + captured = seeded is checkable at any time
-- (`payment-worker check`). holds has one row per reserving step
-- (idempotency key) and remembers whether it was captured or released.

CREATE SCHEMA IF NOT EXISTS payment;

CREATE TABLE payment.accounts (
    id         text        PRIMARY KEY,
    balance    bigint      NOT NULL CHECK (balance >= 0),
    held       bigint      NOT NULL DEFAULT 0 CHECK (held >= 0),
    captured   bigint      NOT NULL DEFAULT 0 CHECK (captured >= 0),
    blocked    boolean     NOT NULL DEFAULT false,
    seeded     bigint      NOT NULL CHECK (seeded >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payment.holds (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text        NOT NULL UNIQUE,
    saga_id         text        NOT NULL,
    step            text        NOT NULL,
    account_id      text        NOT NULL REFERENCES payment.accounts (id),
    amount          bigint      NOT NULL CHECK (amount > 0),
    status          text        NOT NULL DEFAULT 'held'
                                CHECK (status IN ('held', 'captured', 'released')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    captured_at     timestamptz,
    released_at     timestamptz
);

CREATE INDEX holds_account_idx ON payment.holds (account_id, status);

-- The participant barrier (docs/participants.md): one row per answered
-- (step, action), written in the same transaction as the effect it records.
-- outcome is NULL only inside the transaction that claimed the row.
CREATE TABLE payment.barrier (
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

CREATE INDEX barrier_created_idx ON payment.barrier (created_at);
