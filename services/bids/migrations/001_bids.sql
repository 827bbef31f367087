-- The bids engine's durable state. lots holds each lot's rules and its
-- current state (so a restart loads lots without replaying every bid);
-- bids is the append-only, hash-chained log; requests keeps the first
-- answer to every idempotency key.
CREATE TABLE lots (
    lot_id          bigint PRIMARY KEY,
    seller_id       bigint NOT NULL,
    currency        char(3) NOT NULL,
    start_price     bigint NOT NULL,
    reserve_price   bigint NOT NULL DEFAULT 0,
    buy_now_price   bigint NOT NULL DEFAULT 0,
    bands           text NOT NULL,            -- "from:increment,from:increment"
    starts_at_us    bigint NOT NULL,
    rules_ends_at_us bigint NOT NULL,        -- the end OpenLot asked for; ends_at_us moves
    soft_close_s    integer NOT NULL,
    max_extensions  integer NOT NULL,
    -- state as of the last committed batch
    status          smallint NOT NULL,        -- 1 pending, 2 live, 3 closed
    price           bigint NOT NULL DEFAULT 0,
    leader_id       bigint NOT NULL DEFAULT 0,
    seq             bigint NOT NULL DEFAULT 0,
    head_hash       bytea NOT NULL DEFAULT '',
    ends_at_us      bigint NOT NULL,
    extensions_used integer NOT NULL DEFAULT 0,
    outcome         smallint NOT NULL DEFAULT 0,
    closed_at_us    bigint NOT NULL DEFAULT 0,
    winning_hold_id bigint NOT NULL DEFAULT 0
);

CREATE TABLE bids (
    lot_id       bigint NOT NULL REFERENCES lots (lot_id),
    seq          bigint NOT NULL,
    bid_id       bigint NOT NULL UNIQUE,
    bidder_id    bigint NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    placed_at_us bigint NOT NULL,
    is_autobid   boolean NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    PRIMARY KEY (lot_id, seq)
);
CREATE INDEX bids_bidder ON bids (bidder_id, lot_id, seq);

CREATE TABLE autobids (
    lot_id     bigint NOT NULL REFERENCES lots (lot_id),
    bidder_id  bigint NOT NULL,
    max_amount bigint NOT NULL,
    set_seq    bigint NOT NULL,
    set_at_us  bigint NOT NULL,
    active     boolean NOT NULL,
    PRIMARY KEY (lot_id, bidder_id)
);

-- The wallet hold that covers each bidder's standing commitment on a lot.
CREATE TABLE lot_holds (
    lot_id    bigint NOT NULL,
    bidder_id bigint NOT NULL,
    hold_id   bigint NOT NULL,
    amount    bigint NOT NULL,
    PRIMARY KEY (lot_id, bidder_id)
);

-- Holds to give back (outbid, superseded, refused, lot closed): written in
-- the same transaction as the change that freed them, deleted once the
-- wallet confirmed the release, so a crash never strands a bidder's money.
CREATE TABLE hold_releases (
    hold_id    bigint PRIMARY KEY,
    lot_id     bigint NOT NULL,
    bidder_id  bigint NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- First answer per (bidder, lot, idempotency key), packed protobuf.
CREATE TABLE requests (
    lot_id       bigint NOT NULL,
    bidder_id    bigint NOT NULL,
    key          text NOT NULL,
    method       text NOT NULL,
    request_hash text NOT NULL,
    response     bytea NOT NULL,
    PRIMARY KEY (lot_id, bidder_id, key)
);
