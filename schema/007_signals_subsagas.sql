-- Signal steps and sub-sagas (issue 13, features 2 and 4).
--
-- A sub-saga is an ordinary saga with a parent: parent_id and parent_step
-- name the parent's step it runs for (both NULL for a top-level saga). The
-- child's id is derived from them (engine/engine_family.c), so the parent's
-- orders find it without a lookup; this index serves `sagactl list
-- --parent` and `show`'s link from parent to child. A signal's data is the
-- step's result (saga_steps.result) and its arrival a history row, so
-- signals need no table of their own.
ALTER TABLE sagas
    ADD COLUMN parent_id uuid,
    ADD COLUMN parent_step text;

CREATE INDEX sagas_parent_idx ON sagas (parent_id) WHERE parent_id IS NOT NULL;
