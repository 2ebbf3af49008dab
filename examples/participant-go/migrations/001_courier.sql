-- 001_courier: the courier participant's slots and bookings, in schema
-- "courier". The barrier table (courier.barrier) is created by the
-- library's own migration, the same one the C library applies.
--
-- slots keeps a running count per delivery slot so RESERVE is one
-- conditional update; bookings holds one row per reserving step
-- (idempotency key): booked -> confirmed | cancelled.

CREATE SCHEMA IF NOT EXISTS courier;

CREATE TABLE courier.slots (
    slot       text        PRIMARY KEY,
    capacity   integer     NOT NULL CHECK (capacity >= 0),
    booked     integer     NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE courier.bookings (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text        NOT NULL UNIQUE,
    saga_id         text        NOT NULL,
    order_id        text        NOT NULL,
    slot            text        NOT NULL REFERENCES courier.slots (slot),
    status          text        NOT NULL DEFAULT 'booked'
                                CHECK (status IN ('booked', 'confirmed', 'cancelled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz
);
