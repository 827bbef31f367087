-- Holds are listed by lot when the bids service reconciles after a crash.
CREATE INDEX holds_lot ON holds (lot_id, state);
