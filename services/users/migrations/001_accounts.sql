-- People and their sessions. Emails are unique case-insensitively; the
-- refresh token itself is never stored, only its SHA-256.
CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('bidder', 'seller', 'moderator', 'admin')),
    display_name  text NOT NULL,
    company       text NOT NULL DEFAULT '',
    phone         text NOT NULL DEFAULT '',
    region        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- One row per refresh token ever issued. A family is every token descended
-- from one login; presenting a token that was already used revokes the
-- family, including the access tokens it issued (access_jti).
CREATE TABLE refresh_tokens (
    token_hash  text PRIMARY KEY,    -- hex SHA-256 of the token
    family_id   text NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (id),
    access_jti  text NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
