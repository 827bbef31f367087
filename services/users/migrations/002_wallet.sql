-- Money on the platform. A wallet row per user and currency holds the
-- balance; every change to it is one conditional UPDATE plus balanced
-- ledger entries in the same transaction, so available (total - reserved)
-- can never go below zero and the ledger always sums to zero.
CREATE TABLE wallets (
    user_id    bigint NOT NULL REFERENCES users (id),
    currency   char(3) NOT NULL,
    total      bigint NOT NULL DEFAULT 0 CHECK (total >= 0 AND total <= 100000000000000000),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= total),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, currency)
);

-- Funds set aside for one lot's bid until released or captured.
CREATE TABLE holds (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    currency   char(3) NOT NULL,
    lot_id     bigint NOT NULL CHECK (lot_id > 0),
    amount     bigint NOT NULL CHECK (amount > 0),
    state      text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'released', 'captured')),
    captured   bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);
CREATE INDEX holds_user ON holds (user_id, state);

-- Double entry: a ledger transaction has two or more entries summing to 0.
-- Accounts: user:<id>:available, user:<id>:held, platform:deposits
-- (money that came in from outside), platform:captured (money taken).
CREATE TABLE ledger_tx (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('deposit', 'reserve', 'release', 'capture')),
    user_id    bigint NOT NULL,
    hold_id    bigint,
    reference  text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id    bigint NOT NULL REFERENCES ledger_tx (id),
    account  text NOT NULL,
    currency char(3) NOT NULL,
    amount   bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account);

-- The first answer to each idempotency key, so a retry gets it again.
-- Keyed by method and key; request_hash catches a key reused for another
-- request.
CREATE TABLE idempotency_keys (
    method       text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,      -- hex SHA-256 of the normalized request
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, key)
);
