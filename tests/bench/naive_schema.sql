DROP TABLE IF EXISTS naive_bids, naive_lots;
CREATE TABLE naive_lots (lot_id bigint PRIMARY KEY, price bigint NOT NULL, seq bigint NOT NULL,
                         leader_id bigint NOT NULL DEFAULT 0);
CREATE TABLE naive_bids (lot_id bigint NOT NULL, seq bigint NOT NULL, bidder_id bigint NOT NULL,
                         amount bigint NOT NULL, placed_at timestamptz NOT NULL,
                         PRIMARY KEY (lot_id, seq));
INSERT INTO naive_lots SELECT g, 100000, 0 FROM generate_series(1, 10000) g;
