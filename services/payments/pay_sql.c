/*
 * The payments daemon's prepared statements, one table. Money columns are
 * bigint minor units; times are microseconds since the epoch.
 */
#include "payments.h"

const db_stmt pay_stmts[] = {
    /* ---- settlements ---- */
    /* $1 lot, $2 event id, $3 seller, $4 winner, $5 hold, $6 currency, $7 hammer,
     * $8 sold, $9 closed at, $10 now. A sold lot's fees are quoted by its
     * first step (settle_fees.c); an unsold one has none to quote. */
    { "settlement_insert",
      "INSERT INTO settlements (lot_id, event_id, seller_id, winner_id, hold_id, currency, "
      "hammer, is_sold, fees_quoted, due_at_us, closed_at_us, created_at_us, updated_at_us) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NOT $8::boolean, $10, $9, $10, $10) "
      "ON CONFLICT (lot_id) DO NOTHING RETURNING lot_id" },
    /* $1 lot, $2 buyer fee, $3 seller fee, $4 buyer fee rule, $5 seller fee
     * rule, $6 now. Fixes the fees once: when they were fixed before (a
     * retry, another worker), the UPDATE matches nothing and the row's
     * stored fees come back instead. One row either way. */
    { "settlement_fees_fix",
      "WITH u AS (UPDATE settlements SET buyer_fee = $2, seller_fee = $3, "
      "buyer_fee_rule = $4, seller_fee_rule = $5, fees_quoted = true, updated_at_us = $6 "
      "WHERE lot_id = $1 AND NOT fees_quoted RETURNING buyer_fee, seller_fee) "
      "SELECT buyer_fee, seller_fee FROM u UNION ALL "
      "SELECT buyer_fee, seller_fee FROM settlements WHERE lot_id = $1 AND fees_quoted" },
    /* $1 now, $2 lease end, $3 at most */
    { "settlement_lease",
      "UPDATE settlements AS s SET due_at_us = $2, attempts = s.attempts + 1, "
      "updated_at_us = $1 FROM (SELECT lot_id FROM settlements WHERE step IN ('pending', "
      "'captured') AND due_at_us <= $1 ORDER BY due_at_us LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "AS d WHERE s.lot_id = d.lot_id RETURNING s.lot_id, s.seller_id, s.winner_id, "
      "s.hold_id, s.currency, s.hammer, s.buyer_fee, s.seller_fee, s.is_sold, s.step, "
      "s.payment_id, s.attempts, s.closed_at_us, s.fees_quoted" },
    { "settlement_winner", "SELECT winner_id FROM settlements WHERE lot_id = $1" },
    { "settlement_lock", "SELECT step FROM settlements WHERE lot_id = $1 FOR UPDATE" },
    /* $1 lot, $2 step, $3 payment, $4 payout reference, $5 now */
    { "settlement_step",
      "UPDATE settlements SET step = $2, payment_id = $3, payout_reference = $4, "
      "last_error = '', updated_at_us = $5 WHERE lot_id = $1" },
    /* $1 lot, $2 step it was at, $3 step now, $4 error, $5 due, $6 now */
    { "settlement_retry",
      "UPDATE settlements SET step = $3, last_error = left($4, 1000), due_at_us = $5, "
      "updated_at_us = $6 WHERE lot_id = $1 AND step = $2" },

    /* ---- payments ---- */
    /* $1 lot, $2 payer, $3 payee, $4 currency, $5 price, $6 fees, $7 key, $8 hold, $9 now */
    { "payment_insert_settlement",
      "INSERT INTO payments (lot_id, payer_id, payee_id, currency, amount, captured, fees, "
      "state, provider, idempotency_key, key_owner, wallet_hold_id, created_at_us, "
      "updated_at_us, authorized_at_us, captured_at_us) VALUES ($1, $2, $3, $4, $5, $5, $6, "
      "3, 'wallet', $7, 'settlement', $8, $9, $9, $9, $9) RETURNING " PAY_COLS },
    { "payment_get", "SELECT " PAY_COLS " FROM payments WHERE id = $1" },
    /* NO KEY: a refund's row (refund.c) is written beside the lock holder's
     * transaction, and its foreign key takes KEY SHARE on the payment */
    { "payment_lock", "SELECT " PAY_COLS " FROM payments WHERE id = $1 FOR NO KEY UPDATE" },
    { "payment_lock_skip",
      "SELECT " PAY_COLS " FROM payments WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED" },
    /* $1 lot, $2 payer, $3 payee, $4 state, $5 from, $6 to, $7 after id (0: none),
     * $8 limit, $9 only this user's (0: anyone's) */
    { "payment_list",
      "SELECT " PAY_COLS " FROM payments WHERE ($1::bigint = 0 OR lot_id = $1) "
      "AND ($2::bigint = 0 OR payer_id = $2) AND ($3::bigint = 0 OR payee_id = $3) "
      "AND ($4::smallint = 0 OR state = $4) AND ($5::bigint = 0 OR created_at_us >= $5) "
      "AND ($6::bigint = 0 OR created_at_us < $6) AND ($7::bigint = 0 OR id < $7) "
      "AND ($9::bigint = 0 OR payer_id = $9 OR payee_id = $9) ORDER BY id DESC "
      "LIMIT $8::integer" },
    /* A card payment written once with the provider's answer: $1 lot, $2 payer,
     * $3 currency, $4 amount, $5 key, $6 key owner, $7 now, $8 provider,
     * $9 state, $10 reference, $11 failure, $12 authorized at, $13 expires at */
    { "payment_insert_card",
      "INSERT INTO payments (lot_id, payer_id, currency, amount, state, provider, "
      "idempotency_key, key_owner, created_at_us, updated_at_us, provider_reference, "
      "failure_reason, authorized_at_us, authorization_expires_at_us) VALUES ($1, $2, $3, $4, "
      "$9, $8, $5, $6, $7, $7, $10, $11, $12, $13) RETURNING " PAY_COLS },
    /* $1 id, $2 captured, $3 now */
    { "payment_captured",
      "UPDATE payments SET state = 3, captured = $2, captured_at_us = $3, updated_at_us = $3 "
      "WHERE id = $1 RETURNING " PAY_COLS },
    /* $1 id, $2 state, $3 reason, $4 now */
    { "payment_state",
      "UPDATE payments SET state = $2, failure_reason = $3, updated_at_us = $4 WHERE id = $1 "
      "RETURNING " PAY_COLS },
    /* $1 id, $2 amount, $3 now */
    { "payment_refunded",
      "UPDATE payments SET refunded = refunded + $2, state = CASE WHEN refunded + $2 = "
      "captured THEN 5 ELSE 4 END, updated_at_us = $3 WHERE id = $1 RETURNING " PAY_COLS },
    /* refunds in steps (refund.c); $1 payment, $2 amount, $3 reason, $4 key, $5 now */
    { "refund_begin",
      "INSERT INTO refunds (payment_id, amount, reason, step, op_key, created_at_us, "
      "updated_at_us) VALUES ($1, $2, $3, 'pending', $4, $5, $5) RETURNING id" },
    { "refund_by_key", "SELECT id, amount, step FROM refunds WHERE op_key = $1" },
    { "refund_get", "SELECT amount, step, op_key, reason FROM refunds WHERE id = $1" },
    { "refund_open_sum",
      "SELECT COALESCE(sum(amount), 0)::bigint FROM refunds WHERE payment_id = $1 "
      "AND step IN ('pending', 'withdrawn', 'failed')" },
    /* $1 id, $2 step it is at, $3 step now, $4 provider reference, $5 now */
    { "refund_step",
      "UPDATE refunds SET step = $3, provider_reference = $4, updated_at_us = $5 "
      "WHERE id = $1 AND step = $2 RETURNING id" },
    { "refund_forget", "DELETE FROM refunds WHERE id = $1 AND step = 'pending'" },
    /* $1 unchanged before, $2 limit */
    { "refund_due",
      "SELECT id, payment_id FROM refunds WHERE step IN ('pending', 'withdrawn') "
      "AND updated_at_us < $1 ORDER BY id LIMIT $2::integer" },
    /* $1 unchanged before, $2 limit, $3 after this id: card payments to reconcile */
    { "reconcile_due",
      "SELECT id, payer_id, currency, amount, provider_reference FROM payments "
      "WHERE state = 2 AND provider <> 'wallet' AND provider_reference <> '' "
      "AND updated_at_us < $1 AND id > $3 ORDER BY id LIMIT $2::integer" },
    /* refunds and payouts the provider answered, not confirmed by it yet
     * (reconcile_transfers.c): $1 unchanged before, $2 limit, $3 after this id */
    { "reconcile_refunds_due",
      "SELECT r.id, r.payment_id, r.amount, p.currency, r.provider_reference, p.payer_id "
      "FROM refunds r JOIN payments p ON p.id = r.payment_id WHERE r.step = 'done' "
      "AND r.provider_reference <> '' AND r.confirmed_at_us = 0 AND r.updated_at_us < $1 "
      "AND r.id > $3 ORDER BY r.id LIMIT $2::integer" },
    { "reconcile_payouts_due",
      "SELECT lot_id, seller_id, currency, hammer - seller_fee, payout_reference, payment_id "
      "FROM settlements WHERE step = 'done' AND payout_reference <> '' "
      "AND payout_confirmed_at_us = 0 AND updated_at_us < $1 AND lot_id > $3 "
      "ORDER BY lot_id LIMIT $2::integer" },
    /* $1 id, $2 now */
    { "refund_confirm",
      "UPDATE refunds SET confirmed_at_us = $2 WHERE id = $1 AND step = 'done' "
      "AND confirmed_at_us = 0" },
    { "settlement_payout_confirm",
      "UPDATE settlements SET payout_confirmed_at_us = $2 WHERE lot_id = $1 AND step = 'done' "
      "AND payout_confirmed_at_us = 0" },
    { "refund_lock",
      "SELECT step, amount, provider_reference FROM refunds WHERE id = $1 FOR UPDATE" },
    /* $1 id, $2 now: a done refund the provider failed afterwards */
    { "refund_reverse",
      "UPDATE refunds SET step = 'reversed', updated_at_us = $2 WHERE id = $1 AND step = 'done' "
      "RETURNING id" },
    /* $1 id, $2 amount no longer refunded, $3 now */
    { "payment_refund_reversed",
      "UPDATE payments SET refunded = refunded - $2, state = CASE WHEN refunded = $2 THEN 3 "
      "ELSE 4 END, updated_at_us = $3 WHERE id = $1 AND state IN (4, 5) AND refunded >= $2 "
      "RETURNING " PAY_COLS },
    { "settlement_lock_payout",
      "SELECT step, payout_reference FROM settlements WHERE lot_id = $1 FOR UPDATE" },
    /* $1 lot, $2 why, $3 now: a done payout the provider failed or returned */
    { "settlement_payout_returned",
      "UPDATE settlements SET step = 'returned', last_error = left($2, 1000), "
      "updated_at_us = $3 WHERE lot_id = $1 AND step = 'done' RETURNING lot_id" },
    { "payment_by_reference",
      "SELECT " PAY_COLS " FROM payments WHERE provider_reference = $1 AND provider <> 'wallet' "
      "FOR UPDATE" },

    /* ---- webhooks ---- */
    /* $1 event id, $2 type, $3 payment, $4 reference, $5 body, $6 now */
    { "webhook_insert",
      "INSERT INTO provider_webhooks (event_id, event_type, payment_id, reference, body, "
      "received_at_us) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING "
      "RETURNING event_id" },
    { "webhook_get", "SELECT event_type, payment_id FROM provider_webhooks WHERE event_id = $1" },

    /* ---- ledger ---- */
    /* $1 kind, $2 ref, $3 lot, $4 payment, $5 now */
    { "ledger_txn_insert",
      "INSERT INTO ledger_txns (kind, ref, lot_id, payment_id, created_at_us) VALUES ($1, $2, "
      "$3, $4, $5) ON CONFLICT (ref) DO NOTHING RETURNING id" },
    /* $1 txn, $2 account, $3 owner, $4 currency, $5 amount */
    { "ledger_entry_insert",
      "INSERT INTO ledger_entries (txn_id, account, owner_id, currency, amount) VALUES ($1, $2, "
      "$3, $4, $5)" },
    { "ledger_check_currencies",
      "SELECT currency, sum(amount)::text FROM ledger_entries GROUP BY currency "
      "HAVING sum(amount) <> 0" },
    { "ledger_check_txns",
      "SELECT count(*) FROM (SELECT 1 FROM ledger_entries GROUP BY txn_id, currency "
      "HAVING sum(amount) <> 0) AS bad" },
    { 0 },
};
