-- gavel_payments: card payments, the settlement of closed auctions, the
-- provider's webhooks and a double-entry ledger of every money movement.
-- The outbox (event_outbox) and the consumer's dedupe table
-- (event_processed) are the events library's; idempotency keys of the
-- RPCs are the idem library's (idem_keys).

-- One card payment (a deposit intent: Authorize, then Capture) or the
-- wallet charge of one settled lot (provider 'wallet'). Amounts are minor
-- units of `currency`; state is a gavel.payments.v1.PaymentState number.
CREATE TABLE payments (
    id                   bigserial PRIMARY KEY,
    lot_id               bigint NOT NULL DEFAULT 0 CHECK (lot_id >= 0),
    payer_id             bigint NOT NULL CHECK (payer_id > 0),
    payee_id             bigint NOT NULL DEFAULT 0 CHECK (payee_id >= 0),
    currency             text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount               bigint NOT NULL CHECK (amount > 0),
    captured             bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    refunded             bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= captured),
    fees                 bigint NOT NULL DEFAULT 0 CHECK (fees >= 0),
    state                smallint NOT NULL CHECK (state BETWEEN 1 AND 8),
    provider             text NOT NULL,
    provider_reference   text NOT NULL DEFAULT '',
    idempotency_key      text NOT NULL,
    key_owner            text NOT NULL,
    wallet_hold_id       bigint NOT NULL DEFAULT 0,
    failure_reason       text NOT NULL DEFAULT '',
    created_at_us        bigint NOT NULL,
    updated_at_us        bigint NOT NULL,
    authorized_at_us     bigint NOT NULL DEFAULT 0,
    captured_at_us       bigint NOT NULL DEFAULT 0,
    authorization_expires_at_us bigint NOT NULL DEFAULT 0,
    UNIQUE (key_owner, idempotency_key)
);
CREATE INDEX payments_by_payer ON payments (payer_id, id DESC);
CREATE INDEX payments_by_payee ON payments (payee_id, id DESC) WHERE payee_id > 0;
CREATE INDEX payments_by_lot ON payments (lot_id) WHERE lot_id > 0;
CREATE INDEX payments_by_reference ON payments (provider_reference) WHERE provider_reference <> '';

-- Refunds of a captured payment, one per Refund call.
CREATE TABLE refunds (
    id                 bigserial PRIMARY KEY,
    payment_id         bigint NOT NULL REFERENCES payments (id),
    amount             bigint NOT NULL CHECK (amount > 0),
    reason             text NOT NULL,
    provider_reference text NOT NULL DEFAULT '',
    created_at_us      bigint NOT NULL
);

-- ---- the ledger ------------------------------------------------------------
-- An account is (kind, owner): buyer and seller accounts belong to a user,
-- the platform's fees, the provider's clearing account and the payouts
-- account to nobody (owner 0). Every movement is one ledger_txns row with
-- two or more entries whose amounts sum to zero per currency; a positive
-- amount is money arriving in the account. Rows are never updated or
-- deleted.
CREATE TABLE ledger_txns (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,           -- 'settlement', 'payout', 'deposit', 'refund'
    ref           text NOT NULL UNIQUE,    -- what it records, e.g. 'settle:42'; once only
    lot_id        bigint NOT NULL DEFAULT 0,
    payment_id    bigint NOT NULL DEFAULT 0,
    created_at_us bigint NOT NULL
);

CREATE TABLE ledger_entries (
    id       bigserial PRIMARY KEY,
    txn_id   bigint NOT NULL REFERENCES ledger_txns (id),
    account  text NOT NULL CHECK (account IN ('buyer', 'seller', 'platform_fees',
                                              'provider_clearing', 'payouts')),
    owner_id bigint NOT NULL DEFAULT 0 CHECK (owner_id >= 0),
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount   bigint NOT NULL CHECK (amount <> 0),
    CHECK ((account IN ('buyer', 'seller')) = (owner_id > 0))
);
CREATE INDEX ledger_entries_by_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account, owner_id, currency);

-- Checked at COMMIT, once per transaction that wrote entries: a txn whose
-- entries do not sum to zero per currency, or that has fewer than two,
-- aborts the whole database transaction.
CREATE FUNCTION ledger_txn_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM ledger_entries WHERE txn_id = NEW.txn_id;
    IF n < 2 THEN
        RAISE EXCEPTION 'ledger txn % has % entries; at least 2 needed', NEW.txn_id, n
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT currency, sum(amount) AS total INTO bad FROM ledger_entries
        WHERE txn_id = NEW.txn_id GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger txn % is unbalanced: % % off', NEW.txn_id, bad.total, bad.currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_txn_balanced();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_txns_append_only BEFORE UPDATE OR DELETE ON ledger_txns
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- ---- settlement --------------------------------------------------------------
-- One row per closed lot, written by the auction.closed consumer; the
-- settlement workers walk it through its steps:
--   sold:   pending -> captured (wallet captured, ledger written) -> done (paid out)
--   unsold: pending -> done (holds released)
-- A step's remote calls carry keys derived from the lot id, so a worker
-- that died mid-step repeats them and gets the first answers.
CREATE TABLE settlements (
    lot_id          bigint PRIMARY KEY CHECK (lot_id > 0),
    event_id        text NOT NULL,
    seller_id       bigint NOT NULL,
    winner_id       bigint NOT NULL DEFAULT 0,
    hold_id         bigint NOT NULL DEFAULT 0,
    currency        text NOT NULL DEFAULT '',
    hammer          bigint NOT NULL DEFAULT 0 CHECK (hammer >= 0),
    buyer_fee       bigint NOT NULL DEFAULT 0 CHECK (buyer_fee >= 0),
    seller_fee      bigint NOT NULL DEFAULT 0 CHECK (seller_fee >= 0),
    is_sold         boolean NOT NULL,
    step            text NOT NULL DEFAULT 'pending'
                    CHECK (step IN ('pending', 'captured', 'done', 'failed')),
    payment_id      bigint NOT NULL DEFAULT 0,
    payout_reference text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    due_at_us       bigint NOT NULL,
    closed_at_us    bigint NOT NULL,
    created_at_us   bigint NOT NULL,
    updated_at_us   bigint NOT NULL
);
CREATE INDEX settlements_due ON settlements (due_at_us) WHERE step IN ('pending', 'captured');

-- ---- provider webhooks -----------------------------------------------------------
-- Every verified delivery, once per provider event id.
CREATE TABLE provider_webhooks (
    event_id     text PRIMARY KEY,
    event_type   text NOT NULL,
    payment_id   bigint NOT NULL DEFAULT 0,
    reference    text NOT NULL DEFAULT '',
    body         text NOT NULL,
    received_at_us bigint NOT NULL
);
