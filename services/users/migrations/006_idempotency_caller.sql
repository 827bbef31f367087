-- Idempotency keys belong to their caller: a key is (method, caller, key),
-- caller being the verified subject of the call's token (a user id as
-- text, or a service name such as "bids"). Two callers never share a key,
-- so neither replays nor learns of the other's.
-- Rows stored before this migration have no known caller. They are kept
-- (they record answers already given) under a caller no token subject can
-- be, since subjects are at most 63 bytes, so no call matches them again;
-- docs/operations.md says what that means for retries across the upgrade.
-- A constant default adds the column without rewriting the table; the
-- primary key is rebuilt, which takes a lock for the length of the build.
ALTER TABLE idempotency_keys ADD COLUMN caller text NOT NULL
    DEFAULT '(stored before users migration 6 gave keys a caller; longer than any subject)';
ALTER TABLE idempotency_keys ALTER COLUMN caller DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
    ADD PRIMARY KEY (method, caller, key);
