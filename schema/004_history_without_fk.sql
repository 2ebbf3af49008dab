-- 004_history_without_fk: saga_history loses its foreign key to sagas.
--
-- A saga writes about a dozen history rows, each inserted by sagad's
-- hottest statement, and each paid a foreign-key check: a lookup of its saga
-- and a KEY SHARE lock on a row the same transaction already holds FOR
-- UPDATE. The key guarded nothing the code does not: history is written only
-- by the transaction that holds its saga's row lock (or created it), and
-- `sagactl prune`, the only thing that deletes sagas, now deletes their
-- history in the same statement (it relied on ON DELETE CASCADE before).
ALTER TABLE saga_history DROP CONSTRAINT saga_history_saga_id_fkey;
