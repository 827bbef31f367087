-- The catalog (ListLots, dsl.c).
--
-- "like" is case-insensitive in every script: the cluster runs in the C
-- locale, whose lower() folds ASCII only, so both sides go through ICU's
-- root locale under this collation.
CREATE COLLATION IF NOT EXISTS gavel_ci (provider = icu, locale = 'und');

-- Orders by start and end time sort a lot without times last (the DSL's
-- coalesce(col, max)); these indexes serve those orders and their cursors.
CREATE INDEX lots_starts_order ON lots ((coalesce(starts_at_us, 9223372036854775807)), id);
CREATE INDEX lots_ends_order ON lots ((coalesce(ends_at_us, 9223372036854775807)), id);
