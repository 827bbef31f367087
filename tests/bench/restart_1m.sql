-- One million stored bids for the restart measurement: 1,000 live lots
-- (ids from :first) with 1,000 bids each and, as the engine stores them,
-- one idempotency key per bid. The rows have the shapes the engine writes
-- (the hashes are placeholders: the rebuild does not replay the log).
\set now_us `date +%s%6N`
INSERT INTO lots (lot_id, seller_id, currency, start_price, bands, starts_at_us,
                  rules_ends_at_us, soft_close_s, max_extensions, status, price, leader_id,
                  seq, head_hash, ends_at_us)
SELECT :first + l, 1, 'RUB', 100000, '0:100', :now_us - 1000000, :now_us + 3600000000, 0, 0,
       2, 100000 + 100 * 999, 1 + 1000 % 64, 1000, sha256(int8send(1000)),
       :now_us + 3600000000
FROM generate_series(0, 999) l;
INSERT INTO bids (lot_id, seq, bid_id, bidder_id, amount, placed_at_us, is_autobid,
                  prev_hash, hash)
SELECT :first + l, s, 9000000000000000 + l * 1000 + s, 1 + s % 64, 100000 + 100 * (s - 1),
       :now_us, false, sha256(int8send(s - 1)), sha256(int8send(s))
FROM generate_series(0, 999) l, generate_series(1, 1000) s;
INSERT INTO requests (lot_id, bidder_id, key, method, request_hash, response)
SELECT :first + l, 1 + s % 64, 'bench-restart-' || l || '-' || s, 'PlaceBid', repeat('0', 64),
       '\x00'
FROM generate_series(0, 999) l, generate_series(1, 1000) s;
ANALYZE lots;
ANALYZE bids;
ANALYZE requests;
