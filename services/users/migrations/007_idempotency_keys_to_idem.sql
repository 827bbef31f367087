-- Idempotency keys move to the table of libs/idem (idem_keys, created by
-- its migration 1, which the daemon applies before these), which keeps
-- every service's keys the same way. Each row keeps what it was: the
-- method becomes the key's scope, and the caller (or, for rows stored
-- before migration 6, the caller no token subject can be), key, request
-- hash, answer and time stay as they are, so a retry across the upgrade
-- still gets its stored answer byte for byte.
INSERT INTO idem_keys (scope, caller, key, request_hash, response, created_at)
    SELECT method, caller, key, request_hash, response, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
