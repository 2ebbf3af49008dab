-- 009_saga_writer: which process wrote a saga last, so that a process may
-- remember what it wrote.
--
-- sagad remembers the sagas it has just written (engine/rowcache.h) and,
-- for those, skips reading them on its next turn. What makes that safe is
-- this column: every write of a saga by the engine sets writer to the
-- writing process's random id (NULL for processes that remember nothing:
-- sagactl, saga_start(), saga_signal()), and the write of a turn that used
-- a remembered saga applies only if writer is still its own id, checked
-- under the saga's row lock (engine/store_write.c). sagad's loop is one
-- thread and updates its memory with every write it commits, so "I wrote
-- it last" means "what I remember is what is stored"; any other write in
-- between (sagactl, another sagad, a circuit breaker waking sagas) has
-- changed writer, fails the whole write, and the turn is redone from what
-- is stored. Every statement that changes a sagas row sets writer.
ALTER TABLE sagas ADD COLUMN writer bigint;

-- Raised by that write when fewer remembered sagas were still its own than
-- it remembered: serialization_failure, which callers treat as "retry"
-- (common/pg.c).
CREATE FUNCTION saga_unchanged(matched bigint, expected bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF matched <> expected THEN
        RAISE EXCEPTION 'a saga changed since it was read (% of % sagas as remembered)',
            matched, expected USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$;
