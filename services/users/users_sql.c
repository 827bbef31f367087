/*
 * Every SQL statement of the users daemon, prepared once per connection.
 * Balance changes are single conditional UPDATEs: the WHERE clause is the
 * invariant (available never below zero), so concurrent calls need no
 * application lock and no serializable isolation.
 */
#include "users.h"

const db_stmt users_stmts[] = {
    /* accounts */
    { "user_insert",
      "INSERT INTO users (email, password_hash, role, display_name, company, phone, region) "
      "VALUES (lower($1), $2, $3, $4, $5, $6, $7) RETURNING id" },
    { "user_by_id",
      "SELECT id, email, role, display_name, company, phone, region, "
      "(extract(epoch FROM created_at) * 1000000)::bigint, "
      "(extract(epoch FROM updated_at) * 1000000)::bigint FROM users WHERE id = $1" },
    { "user_by_email",
      "SELECT id, password_hash, role, email FROM users WHERE lower(email) = lower($1)" },
    { "user_update",
      "UPDATE users SET display_name = coalesce($2, display_name), "
      "company = coalesce($3, company), phone = coalesce($4, phone), "
      "region = coalesce($5, region), role = coalesce($6, role), updated_at = now() "
      "WHERE id = $1 RETURNING id" },
    { "user_exists", "SELECT 1 FROM users WHERE id = $1" },

    /* sessions */
    { "refresh_insert",
      "INSERT INTO refresh_tokens (token_hash, family_id, user_id, access_jti, expires_at) "
      "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::bigint))" },
    { "refresh_lookup",
      "SELECT r.family_id, r.user_id, r.used_at IS NOT NULL, r.revoked_at IS NOT NULL, "
      "r.expires_at < now(), u.role FROM refresh_tokens r JOIN users u ON u.id = r.user_id "
      "WHERE r.token_hash = $1 FOR UPDATE OF r" },
    { "refresh_mark_used", "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1" },
    { "family_revoke",
      "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL" },
    { "family_access_jtis",
      "SELECT access_jti FROM refresh_tokens WHERE family_id = $1 "
      "AND issued_at > now() - make_interval(secs => $2::bigint)" },

    /* wallet */
    { "wallet_deposit",
      "INSERT INTO wallets (user_id, currency, total) VALUES ($1, $2, $3) "
      "ON CONFLICT (user_id, currency) DO UPDATE SET total = wallets.total + EXCLUDED.total, "
      "updated_at = now() RETURNING total, reserved" },
    /* Only the available part: held money never leaves by a withdrawal. */
    { "wallet_withdraw",
      "UPDATE wallets SET total = total - $3, updated_at = now() "
      "WHERE user_id = $1 AND currency = $2 AND total - reserved >= $3 "
      "RETURNING total, reserved" },
    { "wallet_reserve",
      "UPDATE wallets SET reserved = reserved + $3, updated_at = now() "
      "WHERE user_id = $1 AND currency = $2 AND total - reserved >= $3 "
      "RETURNING total, reserved" },
    { "wallet_release",
      "UPDATE wallets SET reserved = reserved - $3, updated_at = now() "
      "WHERE user_id = $1 AND currency = $2 AND reserved >= $3 RETURNING total, reserved" },
    { "wallet_capture",
      "UPDATE wallets SET reserved = reserved - $3, total = total - $4, updated_at = now() "
      "WHERE user_id = $1 AND currency = $2 AND reserved >= $3 AND total >= $4 "
      "RETURNING total, reserved" },
    { "wallet_get", "SELECT total, reserved FROM wallets WHERE user_id = $1 AND currency = $2" },
    { "hold_insert",
      "INSERT INTO holds (user_id, currency, lot_id, amount) VALUES ($1, $2, $3, $4) "
      "RETURNING id" },
    { "hold_lock",
      "SELECT user_id, currency, lot_id, amount, state, captured, "
      "(extract(epoch FROM created_at) * 1000000)::bigint FROM holds WHERE id = $1 FOR UPDATE" },
    { "hold_get",
      "SELECT user_id, currency, lot_id, amount, state, captured, "
      "(extract(epoch FROM created_at) * 1000000)::bigint FROM holds WHERE id = $1" },
    { "holds_by_lots",
      "SELECT id, user_id, currency, lot_id, amount, state, "
      "(extract(epoch FROM created_at) * 1000000)::bigint FROM holds "
      "WHERE lot_id = ANY($1::bigint[]) AND state = $2 ORDER BY id LIMIT 10000" },
    /* One user's holds; $3 NULL = on any lot. */
    { "holds_by_user",
      "SELECT id, user_id, currency, lot_id, amount, state, "
      "(extract(epoch FROM created_at) * 1000000)::bigint FROM holds "
      "WHERE user_id = $1 AND state = $2 AND ($3::bigint[] IS NULL OR lot_id = ANY($3::bigint[])) "
      "ORDER BY id LIMIT 10000" },
    /* A user's ledger transactions, newest first: each one's change to the
     * user's available and held accounts. $2 = 0: from the newest. */
    { "ledger_by_user",
      "SELECT t.id, t.kind, COALESCE(t.hold_id, 0), COALESCE(h.lot_id, 0), t.reference, "
      "(extract(epoch FROM t.created_at) * 1000000)::bigint, e.currency, "
      "COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'user:' || t.user_id || ':available'), 0), "
      "COALESCE(SUM(e.amount) FILTER (WHERE e.account = 'user:' || t.user_id || ':held'), 0) "
      "FROM ledger_tx t JOIN ledger_entries e ON e.tx_id = t.id "
      "LEFT JOIN holds h ON h.id = t.hold_id "
      "WHERE t.user_id = $1 AND ($2::bigint = 0 OR t.id < $2::bigint) "
      "GROUP BY t.id, h.lot_id, e.currency ORDER BY t.id DESC LIMIT $3" },
    { "hold_close",
      "UPDATE holds SET state = $2, captured = $3, closed_at = now() WHERE id = $1" },
    { "ledger_post",
      "WITH t AS (INSERT INTO ledger_tx (kind, user_id, hold_id, reference) "
      "VALUES ($1, $2, $3, $4) RETURNING id) "
      "INSERT INTO ledger_entries (tx_id, account, currency, amount) "
      "SELECT t.id, e.account, $5, e.amount FROM t, "
      "unnest($6::text[], $7::bigint[]) AS e(account, amount) RETURNING tx_id" },

    /* wallet batches (wallet_batch*.c): a constant number of statements
     * for any number of items; arrays are parallel, in item order. The
     * idempotency keys' statements, single and batch, are libs/idem's. */
    { "wallets_lock_many",
      "SELECT w.user_id, w.currency, w.total, w.reserved FROM wallets w "
      "WHERE w.user_id = ANY($1::bigint[]) AND (w.user_id, w.currency) IN "
      "(SELECT * FROM unnest($1::bigint[], $2::bpchar[])) "
      "ORDER BY w.user_id, w.currency FOR UPDATE" },
    { "holds_lock_many",
      "SELECT id, user_id, currency, lot_id, amount, state FROM holds "
      "WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE" },
    { "hold_ids_next",
      "SELECT nextval(pg_get_serial_sequence('holds', 'id')) FROM generate_series(1, $1::int)" },
    { "reserve_write_many",
      "WITH w AS (UPDATE wallets SET reserved = v.reserved, updated_at = now() "
      "FROM unnest($1::bigint[], $2::bpchar[], $3::bigint[]) AS v(user_id, currency, reserved) "
      "WHERE wallets.user_id = ANY($1::bigint[]) AND wallets.user_id = v.user_id "
      "AND wallets.currency = v.currency), "
      "i AS (SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::bpchar[], $7::bigint[], "
      "$8::bigint[]) WITH ORDINALITY AS i(hold_id, user_id, currency, lot_id, amount, n)), "
      "h AS (INSERT INTO holds (id, user_id, currency, lot_id, amount) OVERRIDING SYSTEM VALUE "
      "SELECT hold_id, user_id, currency, lot_id, amount FROM i ORDER BY n), "
      "t AS (INSERT INTO ledger_tx (kind, user_id, hold_id) "
      "SELECT 'reserve', user_id, hold_id FROM i ORDER BY n RETURNING id, hold_id) "
      "INSERT INTO ledger_entries (tx_id, account, currency, amount) "
      "SELECT t.id, e.account, i.currency, e.amount FROM t JOIN i ON i.hold_id = t.hold_id "
      "CROSS JOIN LATERAL (VALUES (1, 'user:' || i.user_id || ':available', -i.amount), "
      "(2, 'user:' || i.user_id || ':held', i.amount)) AS e(k, account, amount) "
      "ORDER BY i.n, e.k" },
    { "release_write_many",
      "WITH w AS (UPDATE wallets SET reserved = v.reserved, updated_at = now() "
      "FROM unnest($1::bigint[], $2::bpchar[], $3::bigint[]) AS v(user_id, currency, reserved) "
      "WHERE wallets.user_id = ANY($1::bigint[]) AND wallets.user_id = v.user_id "
      "AND wallets.currency = v.currency), "
      "i AS (SELECT * FROM unnest($4::bigint[], $5::bigint[], $6::bpchar[], $7::bigint[]) "
      "WITH ORDINALITY AS i(hold_id, user_id, currency, amount, n)), "
      "h AS (UPDATE holds SET state = 'released', captured = 0, closed_at = now() "
      "FROM i WHERE holds.id = ANY($4::bigint[]) AND holds.id = i.hold_id), "
      "t AS (INSERT INTO ledger_tx (kind, user_id, hold_id) "
      "SELECT 'release', user_id, hold_id FROM i ORDER BY n RETURNING id, hold_id) "
      "INSERT INTO ledger_entries (tx_id, account, currency, amount) "
      "SELECT t.id, e.account, i.currency, e.amount FROM t JOIN i ON i.hold_id = t.hold_id "
      "CROSS JOIN LATERAL (VALUES (1, 'user:' || i.user_id || ':held', -i.amount), "
      "(2, 'user:' || i.user_id || ':available', i.amount)) AS e(k, account, amount) "
      "ORDER BY i.n, e.k" },

    /* participation: a consumer batch folded per (bidder, lot), see
     * participation_fold.c; each statement also filters with = ANY on its
     * key so a connection's cached plan keeps using the index */
    { "part_outbid_many",
      "UPDATE participation p SET is_leading = false, "
      "last_event_at_us = greatest(p.last_event_at_us, x.at) "
      "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(lot_id, user_id, at) "
      "WHERE p.lot_id = ANY($1::bigint[]) AND p.lot_id = x.lot_id AND p.user_id = x.user_id" },
    { "part_bid_many",
      "INSERT INTO participation (user_id, lot_id, currency, bid_count, highest_bid, "
      "is_leading, first_bid_at_us, last_event_at_us) "
      "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::bigint[], "
      "$6::bool[], $7::bigint[], $8::bigint[]) "
      "ON CONFLICT (user_id, lot_id) DO UPDATE SET "
      "bid_count = participation.bid_count + EXCLUDED.bid_count, "
      "highest_bid = greatest(participation.highest_bid, EXCLUDED.highest_bid), "
      "is_leading = EXCLUDED.is_leading AND participation.outcome = 'open', "
      "last_event_at_us = greatest(participation.last_event_at_us, EXCLUDED.last_event_at_us)" },
    { "part_others_trail_many",
      "UPDATE participation p SET is_leading = false "
      "FROM unnest($1::bigint[], $2::bigint[]) AS x(lot_id, leader_id) "
      "WHERE p.lot_id = ANY($1::bigint[]) AND p.is_leading AND p.lot_id = x.lot_id "
      "AND p.user_id <> x.leader_id" },
    { "lot_outcome_insert",
      "INSERT INTO lot_outcomes (lot_id, winner_id, final_price, closed_at_us) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (lot_id) DO NOTHING" },
    { "part_apply_outcome",
      "UPDATE participation p SET outcome = CASE WHEN p.user_id = o.winner_id THEN 'won' "
      "ELSE 'lost' END, is_leading = p.user_id = o.winner_id, final_price = o.final_price, "
      "last_event_at_us = greatest(p.last_event_at_us, o.closed_at_us) "
      "FROM lot_outcomes o WHERE o.lot_id = ANY($1::bigint[]) AND p.lot_id = ANY($1::bigint[]) "
      "AND p.lot_id = o.lot_id" },
    { "part_list",
      "SELECT lot_id, currency, bid_count, highest_bid, is_leading, outcome, final_price, "
      "first_bid_at_us, last_event_at_us FROM participation WHERE user_id = $1 "
      "AND (last_event_at_us, lot_id) < ($2, $3) "
      "ORDER BY last_event_at_us DESC, lot_id DESC LIMIT $4" },
    { 0 },
};
