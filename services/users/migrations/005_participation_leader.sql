-- Each bid event clears the other bidders' lead on its lot. Through the
-- lot index that visited every bidder's row (64 on a busy lot, 0.05 ms a
-- call); only rows that lead are in this one, about one per lot.
-- IF NOT EXISTS: on a large table an operator may build it CONCURRENTLY
-- first (docs/operations.md).
CREATE INDEX IF NOT EXISTS participation_leader ON participation (lot_id) WHERE is_leading;
