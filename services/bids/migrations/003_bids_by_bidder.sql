-- A bidder's bids across lots are listed newest first.
CREATE INDEX bids_bidder_recent ON bids (bidder_id, placed_at_us DESC, bid_id DESC);
