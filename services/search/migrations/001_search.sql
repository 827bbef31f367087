-- The search index: one denormalised document per lot, built only from
-- events (lot.upserted carries a lot's whole picture; bid.placed,
-- lot.extended, lot.closed and auction.closed its bidding state) or by a
-- reindex from the auctions service. Two versions keep an older or
-- repeated event from overwriting newer state: `version` (the lot's
-- updated_at_us) orders the content, `bid_seq` (the bids service's
-- per-lot sequence) orders the price fields. A row exists as soon as any
-- event names the lot; it is searchable only in state scheduled, live or
-- closed ('' = no lot.upserted seen yet).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE docs (
    lot_id          bigint PRIMARY KEY,
    version         bigint NOT NULL DEFAULT 0,
    state           text NOT NULL DEFAULT '',
    seller_id       bigint NOT NULL DEFAULT 0,
    title           text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    make            text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    year            integer NOT NULL DEFAULT 0,
    mileage_km      integer NOT NULL DEFAULT 0,
    vin             text NOT NULL DEFAULT '',
    region          text NOT NULL DEFAULT '',
    city_id         bigint NOT NULL DEFAULT 0,
    category_id     bigint,
    cover_photo_url text NOT NULL DEFAULT '',
    damage_count    integer NOT NULL DEFAULT 0,
    session_id      bigint,
    currency        text NOT NULL DEFAULT '',
    start_price     bigint,
    buy_now_price   bigint,
    has_reserve     boolean NOT NULL DEFAULT false,
    starts_at_us    bigint,
    ends_at_us      bigint,               -- the later of the scheduled end and extensions
    sched_ends_us   bigint,               -- the end lot.upserted last gave
    ext_ends_us     bigint NOT NULL DEFAULT 0, -- the latest end bids announced
    scheduled_at_us bigint NOT NULL DEFAULT 0, -- when it first became searchable
    created_at_us   bigint NOT NULL DEFAULT 0,
    updated_at_us   bigint NOT NULL DEFAULT 0,
    -- bidding state
    bid_seq         bigint NOT NULL DEFAULT 0,
    current_price   bigint,               -- leading bid; NULL without bids
    price           bigint NOT NULL DEFAULT 0, -- current_price, else start_price
    bid_count       bigint NOT NULL DEFAULT 0,
    reserve_met     boolean NOT NULL DEFAULT false,
    rank_score      double precision NOT NULL DEFAULT 0,
    -- derived text: case-folded (the database's UTF-8 character class)
    tsv_ru          tsvector NOT NULL DEFAULT ''::tsvector,
    tsv_en          tsvector NOT NULL DEFAULT ''::tsvector,
    trgm_text       text NOT NULL DEFAULT '',  -- title make model vin, folded, unaccented
    make_key        text NOT NULL DEFAULT '',
    model_key       text NOT NULL DEFAULT '',
    title_key       text NOT NULL DEFAULT '',
    region_key      text NOT NULL DEFAULT '',
    indexed_at_us   bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
-- Bids update a row far more often than anything else, and touch no
-- indexed column: with room left on each page those updates are HOT and
-- never write to the (GIN) indexes. So no index may cover price,
-- bid_count, rank_score or the other bid columns.

CREATE INDEX docs_tsv_ru ON docs USING gin (tsv_ru);
CREATE INDEX docs_tsv_en ON docs USING gin (tsv_en);
CREATE INDEX docs_trgm ON docs USING gin (trgm_text gin_trgm_ops);
CREATE INDEX docs_ends ON docs (ends_at_us, lot_id) WHERE state IN ('scheduled', 'live', 'closed');
CREATE INDEX docs_newest ON docs (scheduled_at_us, lot_id) WHERE state IN ('scheduled', 'live', 'closed');
CREATE INDEX docs_make_key ON docs (make_key text_pattern_ops);
CREATE INDEX docs_model_key ON docs (model_key text_pattern_ops);
CREATE INDEX docs_title_key ON docs (title_key text_pattern_ops);
CREATE INDEX docs_region_key ON docs (region_key text_pattern_ops);

-- One row: the newest event reflected in the index (indexed_through_us).
CREATE TABLE index_state (
    id               integer PRIMARY KEY CHECK (id = 1),
    last_event_at_us bigint NOT NULL DEFAULT 0,
    last_applied_us  bigint NOT NULL DEFAULT 0
);
INSERT INTO index_state (id) VALUES (1);

-- Rebuilds from the auctions service (Reindex).
CREATE TABLE reindex_jobs (
    id              bigserial PRIMARY KEY,
    status          smallint NOT NULL,        -- gavel.search.v1.ReindexStatus
    reason          text NOT NULL DEFAULT '',
    requested_by    bigint NOT NULL DEFAULT 0,
    documents_done  bigint NOT NULL DEFAULT 0,
    documents_total bigint NOT NULL DEFAULT 0,
    started_at_us   bigint NOT NULL,
    finished_at_us  bigint NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT ''
);
