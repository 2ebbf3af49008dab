-- 002_lean_hot_path: less work per command on the hot path.
--
-- Profiling a worker at load showed PostgreSQL spending a fifth of each
-- command on two things that protect nothing the handlers do not already
-- guarantee: the foreign key from reservations to stock (a reservation is
-- only ever inserted from the stock row the same statement just updated,
-- and stock rows are never deleted) and the (sku, status) index (used by
-- nothing but `check`, which reads every row anyway, and which made every
-- CONFIRM/COMPENSATE a non-HOT update). stock rows are updated by every
-- command: leaving room in their pages keeps those updates HOT.

ALTER TABLE inventory.reservations DROP CONSTRAINT reservations_sku_fkey;
DROP INDEX inventory.reservations_sku_idx;
ALTER TABLE inventory.stock SET (fillfactor = 70);
