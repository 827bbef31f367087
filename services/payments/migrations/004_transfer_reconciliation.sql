-- The reconciliation (reconcile_transfers.c) reads back every refund and
-- payout the provider answered, once unchanged for the reconciliation age,
-- until the provider confirms it. A refund or payout the provider fails
-- after the fact is reversed here:
--   refunds.step 'reversed': the provider failed a refund recorded done;
--     the money went back to the payer's wallet, the ledger txn
--     "refund-reversed:<id>" undoes "refund:<id>", the payment's refunded
--     amount is lowered again;
--   settlements.step 'returned': the provider failed or returned a payout
--     recorded done; the seller was not paid, the ledger txn
--     "payout-returned:<lot>" undoes "payout:<lot>"; an operator pays the
--     seller again (the settlement's last_error says why).
-- *_confirmed_at_us is when the provider confirmed the record (0: not yet).
ALTER TABLE refunds DROP CONSTRAINT refunds_step_check;
ALTER TABLE refunds
    ADD CONSTRAINT refunds_step_check
        CHECK (step IN ('pending', 'withdrawn', 'done', 'failed', 'reversed')),
    ADD COLUMN confirmed_at_us bigint NOT NULL DEFAULT 0;
CREATE INDEX refunds_unconfirmed ON refunds (id)
    WHERE step = 'done' AND provider_reference <> '' AND confirmed_at_us = 0;

ALTER TABLE settlements DROP CONSTRAINT settlements_step_check;
ALTER TABLE settlements
    ADD CONSTRAINT settlements_step_check
        CHECK (step IN ('pending', 'captured', 'done', 'failed', 'returned')),
    ADD COLUMN payout_confirmed_at_us bigint NOT NULL DEFAULT 0;
CREATE INDEX settlements_payout_unconfirmed ON settlements (lot_id)
    WHERE step = 'done' AND payout_reference <> '' AND payout_confirmed_at_us = 0;
