-- Refunds walk recorded steps (refund.c): the row is written before the
-- wallet withdrawal, 'withdrawn' after it, 'done' with the provider's
-- refund, its ledger txn and event; 'failed' when the provider refused it
-- for good after the withdrawal (an operator's). op_key is the key of both
-- remote calls, one refund per caller's key. Rows before this are done.
ALTER TABLE refunds
    ADD COLUMN step text NOT NULL DEFAULT 'done'
        CHECK (step IN ('pending', 'withdrawn', 'done', 'failed')),
    ADD COLUMN op_key text,
    ADD COLUMN updated_at_us bigint NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX refunds_op_key ON refunds (op_key);
CREATE INDEX refunds_open ON refunds (updated_at_us) WHERE step IN ('pending', 'withdrawn');
