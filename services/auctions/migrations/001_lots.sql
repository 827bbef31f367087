-- The auctions service's data: the category tree, lots with their
-- lifecycle, every transition of a lot, sessions that group lots, and
-- the first answer to each CreateLot idempotency key.
--
-- Times are microseconds since the epoch (bigint), as on the wire; money
-- is in minor units of the lot's currency. An unset price is NULL.
CREATE TABLE categories (
    id            bigserial PRIMARY KEY,
    parent_id     bigint REFERENCES categories (id),
    name          text NOT NULL,
    slug          text NOT NULL UNIQUE,
    depth         integer NOT NULL CHECK (depth BETWEEN 0 AND 6),
    sort_order    integer NOT NULL DEFAULT 0,
    created_at_us bigint NOT NULL
);
-- A name is unique among its siblings, case-insensitively.
CREATE UNIQUE INDEX categories_sibling_name ON categories (coalesce(parent_id, 0), lower(name));

-- A sitting: lots scheduled together (an online session or one venue sale).
CREATE TABLE sessions (
    id            bigserial PRIMARY KEY,
    created_by    bigint NOT NULL,
    created_at_us bigint NOT NULL
);

CREATE TABLE lots (
    id               bigserial PRIMARY KEY,
    seller_id        bigint NOT NULL,
    state            text NOT NULL CHECK (state IN ('draft', 'in_review', 'approved', 'rejected',
                                                    'scheduled', 'live', 'closed', 'cancelled')),
    title            text NOT NULL DEFAULT '',
    description      text NOT NULL DEFAULT '',
    make             text NOT NULL DEFAULT '',
    model            text NOT NULL DEFAULT '',
    year             integer NOT NULL DEFAULT 0,
    mileage_km       integer NOT NULL DEFAULT 0,
    vin              text NOT NULL DEFAULT '',
    region           text NOT NULL DEFAULT '',
    city_id          bigint NOT NULL DEFAULT 0,
    category_id      bigint REFERENCES categories (id),
    photo_urls       text[] NOT NULL DEFAULT '{}',
    condition        bytea,                     -- packed gavel.auctions.v1.ConditionReport
    currency         char(3) NOT NULL,
    start_price      bigint,
    reserve_price    bigint,
    buy_now_price    bigint,
    increment_from   bigint[] NOT NULL DEFAULT '{}', -- band i: from increment_from[i] …
    increment_step   bigint[] NOT NULL DEFAULT '{}', -- … the step is increment_step[i]
    soft_close_window_seconds integer NOT NULL DEFAULT 0,
    max_extensions   integer NOT NULL DEFAULT 0,
    rejection_reason text NOT NULL DEFAULT '',
    session_id       bigint REFERENCES sessions (id),
    starts_at_us     bigint,
    ends_at_us       bigint,
    -- the scheduler's bookkeeping
    ending_soon_sent boolean NOT NULL DEFAULT false,
    -- what the bids service reported at close
    winner_id        bigint,
    final_price      bigint,
    reserve_met      boolean,
    winning_bid_id   bigint,
    winning_hold_id  bigint,
    bid_count        bigint,
    closed_at_us     bigint,
    created_at_us    bigint NOT NULL,
    updated_at_us    bigint NOT NULL
);
CREATE INDEX lots_seller ON lots (seller_id, id);
-- The scheduler's two questions: which lots open, which close.
CREATE INDEX lots_due_open ON lots (starts_at_us) WHERE state = 'scheduled';
CREATE INDEX lots_due_close ON lots (ends_at_us) WHERE state = 'live';
-- The catalog's usual orders.
CREATE INDEX lots_starts ON lots (starts_at_us, id);
CREATE INDEX lots_ends ON lots (ends_at_us, id);
CREATE INDEX lots_created ON lots (created_at_us, id);
CREATE INDEX lots_state ON lots (state, id);
CREATE INDEX lots_category ON lots (category_id, id);
CREATE INDEX lots_city ON lots (city_id, id);
CREATE INDEX lots_make_model ON lots (lower(make), lower(model));

CREATE TABLE lot_transitions (
    lot_id     bigint NOT NULL REFERENCES lots (id),
    n          integer NOT NULL,             -- 1 for creation, then 2, 3, …
    from_state text,                         -- NULL for creation
    to_state   text NOT NULL,
    actor_id   bigint NOT NULL,
    actor_role text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    at_us      bigint NOT NULL,
    PRIMARY KEY (lot_id, n)
);

-- CreateLot idempotency: (caller, key) -> the lot it created and a digest
-- of the request, so the same key with a different lot is refused.
CREATE TABLE create_keys (
    caller_id   bigint NOT NULL,
    key         text NOT NULL,
    digest      bytea NOT NULL,
    lot_id      bigint NOT NULL REFERENCES lots (id),
    at_us       bigint NOT NULL,
    PRIMARY KEY (caller_id, key)
);
