-- Suggest without scanning the documents: one partial index per
-- suggestion kind over visible lots, holding the folded key (the range
-- Suggest asks, in byte order) and what it returns, so a prefix is
-- counted by an index-only scan. The model alone ("cam" for "Toyota
-- Camry") is the model key past its make: an expression over two columns
-- the index also holds. They replace the plain key indexes (a reindex may
-- have renamed those: dropped by definition, whatever their names).
DO $$
DECLARE i record;
BEGIN
    FOR i IN SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             WHERE t.relname = 'docs' AND x.indpred IS NULL AND x.indnatts = 1
               AND pg_get_indexdef(x.indexrelid) ~ '\((make|model|title|region)_key text_pattern_ops\)$'
    LOOP
        EXECUTE format('DROP INDEX %I', i.relname);
    END LOOP;
END $$;

CREATE INDEX docs_suggest_make ON docs (make_key text_pattern_ops, make)
    WHERE state IN ('scheduled', 'live', 'closed') AND make <> '';
CREATE INDEX docs_suggest_model ON docs (model_key text_pattern_ops, make, model)
    WHERE state IN ('scheduled', 'live', 'closed') AND model <> '';
CREATE INDEX docs_suggest_model_alone
    ON docs ((substr(model_key, length(make_key) + 2)) text_pattern_ops, model_key, make_key,
             make, model)
    WHERE state IN ('scheduled', 'live', 'closed') AND model <> '';
CREATE INDEX docs_suggest_title ON docs (title_key text_pattern_ops, title)
    WHERE state IN ('scheduled', 'live', 'closed') AND title <> '';
CREATE INDEX docs_suggest_region ON docs (region_key text_pattern_ops, region)
    WHERE state IN ('scheduled', 'live', 'closed') AND region <> '';
