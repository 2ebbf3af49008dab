-- 002_lean_hot_path: less work per command on the hot path.
--
-- Profiling a worker at load showed PostgreSQL spending a fifth of each
-- command on two things that protect nothing the handlers do not already
-- guarantee: the foreign key from holds to accounts (a hold is only ever
-- inserted from the account row the same statement just updated, and
-- accounts are never deleted) and the (account_id, status) index (used by
-- nothing but `check`, which reads every row anyway, and which made every
-- CONFIRM/COMPENSATE a non-HOT update). accounts rows are updated by every
-- command: leaving room in their pages keeps those updates HOT.

ALTER TABLE payment.holds DROP CONSTRAINT holds_account_id_fkey;
DROP INDEX payment.holds_account_idx;
ALTER TABLE payment.accounts SET (fillfactor = 70);
