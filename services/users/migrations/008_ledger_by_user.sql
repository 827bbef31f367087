-- A user's wallet history (Wallet.ListLedger) reads their transactions
-- newest first and each one's entries.
CREATE INDEX ledger_tx_user ON ledger_tx (user_id, id);
CREATE INDEX ledger_entries_tx ON ledger_entries (tx_id);
