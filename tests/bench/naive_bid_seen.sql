-- The naive design driven the way gavel-bench's bidders bid: each client
-- offers the price its last answer showed plus one to three increments of
-- 100, and the transaction validates that amount under the row lock,
-- recording the bid only when it still beats price + 100 (a refusal
-- commits nothing). pgbench keeps :seen per client between transactions;
-- start it with -D seen=<start price>. One lot (lot 1).
\set extra random(1, 3)
\set bidder random(1, 64)
BEGIN;
SELECT price, seq FROM naive_lots WHERE lot_id = 1 FOR UPDATE;
INSERT INTO naive_bids (lot_id, seq, bidder_id, amount, placed_at)
    SELECT lot_id, seq + 1, :bidder, :seen + 100 * :extra, now() FROM naive_lots
    WHERE lot_id = 1 AND :seen + 100 * :extra >= price + 100;
UPDATE naive_lots SET price = :seen + 100 * :extra, seq = seq + 1, leader_id = :bidder
    WHERE lot_id = 1 AND :seen + 100 * :extra >= price + 100;
SELECT price AS seen FROM naive_lots WHERE lot_id = 1 \gset
COMMIT;
