-- The notifications daemon's own picture of the platform, built only from
-- events: who a user is (user.registered), what a lot is and who sells it
-- (lot.upserted, lot.state_changed, auction.closed) and who bid on it
-- (bid.placed). Requests write subscriptions and preferences; the event
-- consumer writes notifications and their deliveries in the transaction
-- that records the event, so a crash never drops nor doubles one.
CREATE TABLE accounts (
    user_id bigint PRIMARY KEY,
    email   text NOT NULL DEFAULT ''
);

CREATE TABLE lots (
    lot_id        bigint PRIMARY KEY,
    seller_id     bigint NOT NULL DEFAULT 0,
    title         text NOT NULL DEFAULT '',
    updated_at_us bigint NOT NULL DEFAULT 0
);

CREATE TABLE lot_bidders (
    lot_id  bigint NOT NULL,
    user_id bigint NOT NULL,
    PRIMARY KEY (lot_id, user_id)
);

-- One row per (user, target). target_key makes "subscribing twice to the
-- same target" find the row: "lot:42", "seller:7", "segment:premium",
-- "search:<name>".
CREATE TABLE subscriptions (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL,
    target        text NOT NULL CHECK (target IN ('lot', 'seller', 'search', 'segment')),
    target_key    text NOT NULL,
    lot_id        bigint,
    seller_id     bigint,
    segment       text,
    search_name   text,
    search_query  text,
    search_filter text,
    kinds         smallint[] NOT NULL DEFAULT '{}',
    created_at_us bigint NOT NULL,
    UNIQUE (user_id, target_key)
);
CREATE INDEX subscriptions_by_user ON subscriptions (user_id, id DESC);
CREATE INDEX subscriptions_by_lot ON subscriptions (lot_id) WHERE lot_id IS NOT NULL;
CREATE INDEX subscriptions_by_seller ON subscriptions (seller_id) WHERE seller_id IS NOT NULL;

CREATE TABLE preferences (
    user_id          bigint PRIMARY KEY,
    email            text NOT NULL DEFAULT '',
    telegram_chat_id text NOT NULL DEFAULT '',
    push_tokens      text[] NOT NULL DEFAULT '{}',
    quiet_start      integer NOT NULL DEFAULT 0,
    quiet_end        integer NOT NULL DEFAULT 0,
    quiet_tz         text NOT NULL DEFAULT '',
    quiet_urgent     smallint[] NOT NULL DEFAULT '{}',
    updated_at_us    bigint NOT NULL
);

-- Channels chosen for one kind; a kind without a row takes the default.
CREATE TABLE preference_kinds (
    user_id  bigint NOT NULL,
    kind     smallint NOT NULL,
    channels smallint[] NOT NULL,
    PRIMARY KEY (user_id, kind)
);

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL,
    kind            smallint NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    lot_id          bigint NOT NULL DEFAULT 0,
    link            text NOT NULL DEFAULT '',
    event_id        text NOT NULL,
    subscription_id bigint NOT NULL DEFAULT 0,
    created_at_us   bigint NOT NULL,
    read_at_us      bigint NOT NULL DEFAULT 0,
    UNIQUE (event_id, user_id)
);
CREATE INDEX notifications_inbox ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread ON notifications (user_id, id) WHERE read_at_us = 0;

-- One row per (notification, channel): pending until a worker sends it
-- (sent), gives up (dead), or a newer one with the same coalesce key
-- replaces it (coalesced). A worker leases a row by moving due_at_us past
-- the time it needs; a row whose worker died comes due again.
CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL,
    channel         smallint NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'dead', 'coalesced')),
    attempts        integer NOT NULL DEFAULT 0,
    due_at_us       bigint NOT NULL,
    coalesce_key    text NOT NULL DEFAULT '',
    last_error      text NOT NULL DEFAULT '',
    sent_at_us      bigint NOT NULL DEFAULT 0,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (due_at_us) WHERE state = 'pending';
CREATE INDEX deliveries_coalesce ON deliveries (user_id, coalesce_key, channel, id)
    WHERE coalesce_key <> '';
