-- 002_sagactl: indexes for the operator's queries (sagactl).
--
-- `sagactl list --stuck` walks stuck sagas newest first; stuck sagas are few,
-- so a partial index keeps that walk proportional to them, not to the table.
-- `sagactl tail --def NAME` and `show` read saga_history by saga, which
-- 001's (saga_id, id) index already serves; `stuck` and `stats` use 001's
-- partial indexes on active and finished sagas.

CREATE INDEX sagas_stuck_created_idx ON sagas (created_at DESC, id DESC) WHERE stuck;
