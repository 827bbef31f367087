-- gavel_streaming: the live video streams of venue sessions (the
-- simulcast). A stream key is never stored: only its SHA-256 (hex), and
-- only while the key may still publish (NULL once revoked). status is a
-- gavel.streaming.v1.StreamStatus number; times are microseconds since the
-- epoch. Idempotency keys of CreateStream are the idem library's.
CREATE TABLE streams (
    id                  bigserial PRIMARY KEY,
    session_id          bigint NOT NULL CHECK (session_id > 0),
    title               text NOT NULL,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]{16}$'),
    status              smallint NOT NULL CHECK (status BETWEEN 1 AND 4),
    scheduled_start_us  bigint NOT NULL,
    scheduled_end_us    bigint NOT NULL CHECK (scheduled_end_us > scheduled_start_us),
    key_sha256          text UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    key_expires_at_us   bigint NOT NULL,
    live_since_us       bigint NOT NULL DEFAULT 0,
    ended_at_us         bigint NOT NULL DEFAULT 0,
    -- nginx-rtmp's client id of the publisher that made the stream LIVE:
    -- only its publish_done ends it, only its on_update keeps it going;
    -- publisher_seen_us is its last callback. A second publisher with the
    -- same key is refused while the first was seen in the last 15 s.
    publisher           text NOT NULL DEFAULT '',
    publisher_seen_us   bigint NOT NULL DEFAULT 0,
    created_by          bigint NOT NULL,
    created_at_us       bigint NOT NULL,
    updated_at_us       bigint NOT NULL,
    CHECK ((status = 4) = (key_sha256 IS NULL))
);

-- A session has at most one unrevoked stream; concurrent CreateStream
-- calls for one session meet here and exactly one wins.
CREATE UNIQUE INDEX streams_one_per_session ON streams (session_id) WHERE status <> 4;
CREATE INDEX streams_by_session ON streams (session_id, id DESC);
