-- Partner webhooks and the push, Telegram and webhook senders.
--
-- A webhook's secret is the partner's HMAC key. It is stored only
-- encrypted: secret_enc is AES-256-GCM under the key in
-- GAVEL_WEBHOOK_KEY_FILE (12-byte random nonce, then the ciphertext, then
-- the 16-byte tag), so a copy of the database alone cannot sign. The
-- secret is never returned; secret_hint keeps its last 4 characters.
CREATE TABLE webhooks (
    id               bigserial PRIMARY KEY,
    user_id          bigint NOT NULL,
    url              text NOT NULL,
    kinds            smallint[] NOT NULL DEFAULT '{}',
    description      text NOT NULL DEFAULT '',
    secret_enc       bytea NOT NULL,
    secret_hint      text NOT NULL,
    is_active        boolean NOT NULL DEFAULT true,
    -- First failure of the current run of failures; 0 after a success.
    -- A run longer than GAVEL_WEBHOOK_DISABLE_AFTER_MS turns it off.
    failing_since_us bigint NOT NULL DEFAULT 0,
    created_at_us    bigint NOT NULL,
    updated_at_us    bigint NOT NULL,
    UNIQUE (user_id, url)
);

-- A delivery now goes to one target of its channel: a webhook's id for
-- the webhook channel, 0 for the others (one per notification).
ALTER TABLE deliveries ADD COLUMN target_id bigint NOT NULL DEFAULT 0;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_notification_id_channel_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_notification_channel_target
    UNIQUE (notification_id, channel, target_id);

-- skipped: the channel had nowhere to send (no Telegram chat, no push
-- tokens, the webhook was removed or turned off) — not a failure.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'sent', 'dead', 'coalesced', 'skipped'));
