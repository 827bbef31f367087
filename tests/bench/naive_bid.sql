-- The naive design a team writes first: each bid is one PostgreSQL
-- transaction that locks the lot row, validates, inserts the bid and
-- updates the lot (synchronous_commit on). pgbench runs it at the same
-- concurrency as the engine benchmark.
\set lot random(1, :nlots)
\set bidder random(1, 64)
BEGIN;
SELECT price, seq FROM naive_lots WHERE lot_id = :lot FOR UPDATE;
INSERT INTO naive_bids (lot_id, seq, bidder_id, amount, placed_at)
    SELECT lot_id, seq + 1, :bidder, price + 100, now() FROM naive_lots WHERE lot_id = :lot;
UPDATE naive_lots SET price = price + 100, seq = seq + 1, leader_id = :bidder
    WHERE lot_id = :lot;
COMMIT;
