-- The same reserve ReserveFunds performs, as one plain SQL transaction for
-- pgbench: idempotency claim, conditional wallet UPDATE, hold, balanced
-- ledger entries, outbox row (marked sent so the relay leaves it alone).
\set uid random(:umin, :umax)
BEGIN;
INSERT INTO idem_keys (scope, caller, key, request_hash, response)
    VALUES ('ReserveFunds', 'pgbench', 'pgbench-' || gen_random_uuid(), 'pgbench', '\x00');
UPDATE wallets SET reserved = reserved + 1, updated_at = now()
    WHERE user_id = :uid AND currency = 'RUB' AND total - reserved >= 1;
INSERT INTO holds (user_id, currency, lot_id, amount) VALUES (:uid, 'RUB', 1, 1);
WITH t AS (INSERT INTO ledger_tx (kind, user_id, hold_id, reference)
           VALUES ('reserve', :uid, NULL, '') RETURNING id)
INSERT INTO ledger_entries (tx_id, account, currency, amount)
    SELECT t.id, e.account, 'RUB', e.amount FROM t,
           unnest(ARRAY['user:' || :uid || ':available', 'user:' || :uid || ':held'],
                  ARRAY[-1, 1]::bigint[]) AS e(account, amount);
INSERT INTO event_outbox (topic, key, event_id, payload, sent_at)
    VALUES ('gavel.wallet', :uid::text, 'pgbench-' || gen_random_uuid(), '\x00', now());
COMMIT;
