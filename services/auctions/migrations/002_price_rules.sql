-- Paid-service pricing rules (QuoteServices; see auctions.proto).
--
-- A rule sets some criteria and one adjustment. An empty string, a zero
-- year or a NULL category or price bound is "any". region, make and model
-- keep the admin's spelling for display; their *_key twins are the
-- lower-cased forms the quote matches on. Lower-casing goes through ICU
-- (collation und-x-icu) because the cluster's C locale folds ASCII only,
-- and regions are often Cyrillic ("Москва" must match "МОСКВА").
-- `currency` is the currency of the rule's money (price bounds, fixed
-- price): NULL when it has none, and then the rule applies to quotes in
-- every currency; otherwise only to quotes in that currency.
--
-- `specificity` counts the criteria set (a year range with both ends
-- counts two), the second key of resolution (priority DESC, specificity
-- DESC, id); stored, so the match index below holds rules in that order.
CREATE TABLE price_rules (
    id              bigserial PRIMARY KEY,
    service         text NOT NULL CHECK (service ~ '^[a-z0-9_-]{1,32}$'),
    category_id     bigint REFERENCES categories (id),
    region          text NOT NULL DEFAULT '',
    make            text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '' CHECK (model = '' OR make <> ''),
    year_from       integer NOT NULL DEFAULT 0 CHECK (year_from >= 0),
    year_to         integer NOT NULL DEFAULT 0
                    CHECK (year_to >= 0 AND (year_to = 0 OR year_to >= year_from)),
    currency        char(3),
    min_start_price bigint CHECK (min_start_price >= 0),
    max_start_price bigint CHECK (max_start_price > coalesce(min_start_price, 0)),
    priority        integer NOT NULL CHECK (priority BETWEEN -1000 AND 1000),
    coefficient_permille integer CHECK (coefficient_permille BETWEEN 1 AND 100000),
    fixed_price     bigint CHECK (fixed_price >= 0),
    is_active       boolean NOT NULL,
    note            text NOT NULL DEFAULT '',
    created_by      bigint NOT NULL,
    created_at_us   bigint NOT NULL,
    updated_at_us   bigint NOT NULL,
    make_key        text GENERATED ALWAYS AS (lower(make COLLATE "und-x-icu")) STORED,
    model_key       text GENERATED ALWAYS AS (lower(model COLLATE "und-x-icu")) STORED,
    region_key      text GENERATED ALWAYS AS (lower(region COLLATE "und-x-icu")) STORED,
    specificity     smallint GENERATED ALWAYS AS (
                        (category_id IS NOT NULL)::int + (region <> '')::int +
                        (make <> '')::int + (model <> '')::int + (year_from <> 0)::int +
                        (year_to <> 0)::int + (min_start_price IS NOT NULL)::int +
                        (max_start_price IS NOT NULL)::int) STORED,
    -- exactly one adjustment
    CHECK ((coefficient_permille IS NULL) <> (fixed_price IS NULL)),
    -- money only with its currency
    CHECK ((currency IS NULL) =
           (fixed_price IS NULL AND min_start_price IS NULL AND max_start_price IS NULL))
);

-- The quote's match. For each requested service the candidates are the
-- active rules whose make, model and region keys are each '' or the
-- subject's: at most 2 x 2 x 2 key combinations, each one index descent
-- that already yields rules in winning order (priority DESC, specificity
-- DESC, id), so a descent stops at its first rule that also passes the
-- remaining criteria (category, years, prices, currency) — read from the
-- index itself (INCLUDE), an index-only scan once the table is vacuumed.
-- Rules for other makes, models and regions are never touched, however
-- many there are.
CREATE INDEX price_rules_match ON price_rules
    (service, make_key, model_key, region_key, priority DESC, specificity DESC, id)
    INCLUDE (category_id, year_from, year_to, min_start_price, max_start_price, currency,
             coefficient_permille, fixed_price)
    WHERE is_active;

-- ListPriceRules' order (service, priority DESC, id), for keyset pages.
CREATE INDEX price_rules_list ON price_rules (service, priority DESC, id);

-- The foreign key's check when a category row goes.
CREATE INDEX price_rules_category ON price_rules (category_id) WHERE category_id IS NOT NULL;
