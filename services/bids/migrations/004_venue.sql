-- Venue lots (simulcast): no fixed end, closed by the clerk's hammer; the
-- room's paddle on floor bids and the bidder's media time on online ones
-- are part of the receipt (and of its hash on venue lots).
ALTER TABLE lots ADD COLUMN venue boolean NOT NULL DEFAULT false;
ALTER TABLE lots ADD COLUMN leader_floor_paddle integer NOT NULL DEFAULT 0;
ALTER TABLE lots ADD COLUMN fair_warning_at_us bigint NOT NULL DEFAULT 0;
ALTER TABLE bids ADD COLUMN floor_paddle integer NOT NULL DEFAULT 0;
ALTER TABLE bids ADD COLUMN media_time_us bigint NOT NULL DEFAULT 0;
