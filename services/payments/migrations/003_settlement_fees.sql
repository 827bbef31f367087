-- The fees of a sold lot come from the auctions service (QuoteServices of
-- buyer_premium and seller_commission for the lot), asked by the first
-- settlement step, not when the close is recorded: the consumer never
-- calls out inside its transaction. fees_quoted says buyer_fee and
-- seller_fee are fixed; they are written once (WHERE NOT fees_quoted), so
-- a retried step never changes them. The *_fee_rule columns keep the
-- price rule each fee came from (0: the base rate), for an operator.
-- Rows before this had their fees fixed from settings at the close.
ALTER TABLE settlements
    ADD COLUMN fees_quoted boolean NOT NULL DEFAULT true,
    ADD COLUMN buyer_fee_rule bigint NOT NULL DEFAULT 0,
    ADD COLUMN seller_fee_rule bigint NOT NULL DEFAULT 0;
ALTER TABLE settlements ALTER COLUMN fees_quoted SET DEFAULT false;
