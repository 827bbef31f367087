-- Wallet.Withdraw: money leaving the platform from a user's available
-- balance, recorded as user:<id>:available -a, platform:withdrawals +a.
ALTER TABLE ledger_tx DROP CONSTRAINT ledger_tx_kind_check;
ALTER TABLE ledger_tx ADD CONSTRAINT ledger_tx_kind_check
    CHECK (kind IN ('deposit', 'withdraw', 'reserve', 'release', 'capture'));
