-- Matching new lots against saved searches and segments (match.c).
-- lot_matches: who was told about which lot, one row per (lot, user),
-- written in the transaction that consumes the lot's event, so a
-- redelivered event or the lot's next state (scheduled, then live)
-- never tells a user twice.
CREATE TABLE lot_matches (
    lot_id          bigint NOT NULL,
    user_id         bigint NOT NULL,
    subscription_id bigint NOT NULL,
    matched_at_us   bigint NOT NULL,
    PRIMARY KEY (lot_id, user_id)
);

-- A counter every change of a saved search or segment moves, in the
-- changing transaction: each daemon instance compares it with the one its
-- in-memory index was built at and rebuilds when it moved.
CREATE TABLE match_version (
    is_one  boolean PRIMARY KEY DEFAULT true CHECK (is_one),
    version bigint NOT NULL
);
INSERT INTO match_version (is_one, version) VALUES (true, 1);

CREATE FUNCTION match_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE match_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscriptions_match_written AFTER INSERT OR UPDATE ON subscriptions
    FOR EACH ROW WHEN (NEW.target IN ('search', 'segment'))
    EXECUTE FUNCTION match_version_bump();
CREATE TRIGGER subscriptions_match_deleted AFTER DELETE ON subscriptions
    FOR EACH ROW WHEN (OLD.target IN ('search', 'segment'))
    EXECUTE FUNCTION match_version_bump();
