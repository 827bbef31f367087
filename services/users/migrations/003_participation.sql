-- A user's auction history, built from bid and auction events (never
-- written by a request). lot_outcomes remembers closed lots so a bid event
-- that arrives after the close still lands with the right outcome.
CREATE TABLE participation (
    user_id         bigint NOT NULL,
    lot_id          bigint NOT NULL,
    currency        char(3) NOT NULL,
    bid_count       integer NOT NULL DEFAULT 0,
    highest_bid     bigint NOT NULL DEFAULT 0,
    is_leading      boolean NOT NULL DEFAULT false,
    outcome         text NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'won', 'lost')),
    final_price     bigint NOT NULL DEFAULT 0,
    first_bid_at_us bigint NOT NULL,
    last_event_at_us bigint NOT NULL,
    PRIMARY KEY (user_id, lot_id)
);
CREATE INDEX participation_recent ON participation (user_id, last_event_at_us DESC, lot_id DESC);
CREATE INDEX participation_lot ON participation (lot_id);

CREATE TABLE lot_outcomes (
    lot_id      bigint PRIMARY KEY,
    winner_id   bigint NOT NULL,
    final_price bigint NOT NULL,
    closed_at_us bigint NOT NULL
);
