-- Venue lots (simulcast): sold at a venue sitting with a live stream, no
-- fixed end (ends_at_us NULL while scheduled or live), closed by the
-- clerk's hammer. winning_floor_paddle: the room won with that paddle
-- (winner_id is then the clerk who entered the bid; no wallet hold).
ALTER TABLE lots ADD COLUMN venue boolean NOT NULL DEFAULT false;
ALTER TABLE lots ADD COLUMN winning_floor_paddle integer NOT NULL DEFAULT 0;
