-- The shared DSL's "like" compares case- and accent-insensitively through
-- the ICU collation gavel_ci (libs/dsl/dsl_sql.c), as the auctions
-- database does; the search database needs it too.
CREATE COLLATION IF NOT EXISTS gavel_ci (provider = icu, locale = 'und');
