/*
 * The search daemon's prepared statements. A document's content and its
 * bidding state are written by separate statements, each guarded by its
 * own version, so the two streams (gavel.auctions and gavel.bids, which
 * have no order between them) never overwrite each other's newer state.
 * The content statement exists for docs and, during a rebuild, docs_new.
 */
#include <string.h>

#include "search.h"

/* $1 lot, $2 version (updated_at_us), $3 state, $4 seller, $5 title,
 * $6 description, $7 make, $8 model, $9 year, $10 mileage, $11 vin,
 * $12 region, $13 city, $14 category (NULL), $15 cover photo, $16 damage
 * count, $17 session (NULL), $18 currency, $19 start price (NULL), $20 buy
 * now (NULL), $21 has reserve, $22 starts (NULL), $23 ends (NULL),
 * $24 created, $25 now. Text is folded by lower() (the database's UTF-8
 * character class) and unaccent for trigrams and suggestions. */
#define DOC_TEXT_A "$5::text || ' ' || $7::text || ' ' || $8::text"
#define DOC_UPSERT(T)                                                                     \
    "INSERT INTO " T " AS o (lot_id, version, state, seller_id, title, description, make, " \
    "model, year, mileage_km, vin, region, city_id, category_id, cover_photo_url, "       \
    "damage_count, session_id, currency, start_price, buy_now_price, has_reserve, "       \
    "starts_at_us, ends_at_us, sched_ends_us, scheduled_at_us, created_at_us, "           \
    "updated_at_us, price, tsv_ru, tsv_en, trgm_text, make_key, model_key, title_key, "   \
    "region_key, indexed_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "   \
    "$12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23, "                   \
    "CASE WHEN $3 IN ('scheduled', 'live', 'closed') THEN $2::bigint ELSE 0 END, $24, $2, "      \
    "coalesce($19::bigint, 0), "                                                                  \
    "setweight(to_tsvector('russian', " DOC_TEXT_A "), 'A') || "                          \
    "setweight(to_tsvector('russian', $6::text), 'C') || "                                \
    "setweight(to_tsvector('simple', $11::text), 'A'), "                                  \
    "setweight(to_tsvector('english', " DOC_TEXT_A "), 'A') || "                          \
    "setweight(to_tsvector('english', $6::text), 'C') || "                                \
    "setweight(to_tsvector('simple', $11::text), 'A'), "                                  \
    "lower(unaccent(" DOC_TEXT_A " || ' ' || $11::text)), lower(unaccent($7::text)), "    \
    "lower(unaccent($7::text || ' ' || $8::text)), lower(unaccent($5::text)), "           \
    "lower(unaccent($12::text)), $25) "                                                   \
    "ON CONFLICT (lot_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, " \
    "seller_id = EXCLUDED.seller_id, title = EXCLUDED.title, "                            \
    "description = EXCLUDED.description, make = EXCLUDED.make, model = EXCLUDED.model, "  \
    "year = EXCLUDED.year, mileage_km = EXCLUDED.mileage_km, vin = EXCLUDED.vin, "        \
    "region = EXCLUDED.region, city_id = EXCLUDED.city_id, "                              \
    "category_id = EXCLUDED.category_id, cover_photo_url = EXCLUDED.cover_photo_url, "    \
    "damage_count = EXCLUDED.damage_count, session_id = EXCLUDED.session_id, "            \
    "currency = EXCLUDED.currency, start_price = EXCLUDED.start_price, "                  \
    "buy_now_price = EXCLUDED.buy_now_price, has_reserve = EXCLUDED.has_reserve, "        \
    "starts_at_us = EXCLUDED.starts_at_us, sched_ends_us = EXCLUDED.sched_ends_us, "      \
    "ends_at_us = CASE WHEN EXCLUDED.sched_ends_us IS NULL THEN NULL "                    \
    "ELSE greatest(EXCLUDED.sched_ends_us, o.ext_ends_us) END, "                          \
    "scheduled_at_us = CASE WHEN o.scheduled_at_us = 0 THEN EXCLUDED.scheduled_at_us "    \
    "ELSE o.scheduled_at_us END, "                                                        \
    "created_at_us = EXCLUDED.created_at_us, updated_at_us = EXCLUDED.updated_at_us, "    \
    "price = coalesce(o.current_price, EXCLUDED.start_price, 0), tsv_ru = EXCLUDED.tsv_ru, " \
    "tsv_en = EXCLUDED.tsv_en, trgm_text = EXCLUDED.trgm_text, make_key = EXCLUDED.make_key, " \
    "model_key = EXCLUDED.model_key, title_key = EXCLUDED.title_key, "                    \
    "region_key = EXCLUDED.region_key, indexed_at_us = EXCLUDED.indexed_at_us "           \
    "WHERE o.version < EXCLUDED.version"

/* $1 lots, $2 seqs (= bids so far), $3 amounts, $4 ends after each bid
 * (arrays, one element per lot: the newest bid of a batch's run, see
 * apply_fold.c), $5 now. Only the price fields (an extension comes as
 * lot.extended too); a bid older than the one applied changes nothing.
 * No indexed column changes, so the update is HOT (see the migration).
 * rank_score: bids per hour since the start. Rows are locked in lot order,
 * so two writers never wait on each other in a cycle. Returns the lots
 * whose document changed. */
#define BID_APPLY_MANY(T)                                                                 \
    "INSERT INTO " T " AS o (lot_id, bid_seq, current_price, price, bid_count, ext_ends_us, " \
    "indexed_at_us) SELECT b.lot_id, b.seq, b.amount, b.amount, b.seq, b.ends_us, $5::bigint " \
    "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) "                \
    "AS b(lot_id, seq, amount, ends_us) ORDER BY b.lot_id "                               \
    "ON CONFLICT (lot_id) DO UPDATE SET bid_seq = EXCLUDED.bid_seq, "                     \
    "current_price = EXCLUDED.current_price, price = EXCLUDED.price, "                    \
    "bid_count = EXCLUDED.bid_count, "                                                    \
    "rank_score = EXCLUDED.bid_count::float8 / greatest(($5::bigint - "                   \
    "coalesce(o.starts_at_us, $5::bigint)) / 3600e6, 1.0), "                              \
    "indexed_at_us = EXCLUDED.indexed_at_us "                                             \
    "WHERE o.bid_seq < EXCLUDED.bid_seq RETURNING o.lot_id"

/* $1 lot, $2 new end, $3 now: the latest end wins, in any order. */
#define EXTEND_APPLY(T)                                                                   \
    "INSERT INTO " T " AS o (lot_id, ext_ends_us, indexed_at_us) VALUES ($1, $2, $3) "   \
    "ON CONFLICT (lot_id) DO UPDATE SET ext_ends_us = greatest(o.ext_ends_us, $2), "      \
    "ends_at_us = CASE WHEN o.sched_ends_us IS NULL THEN o.ends_at_us "                   \
    "ELSE greatest(o.sched_ends_us, o.ext_ends_us, $2) END, indexed_at_us = $3 "          \
    "WHERE o.ext_ends_us < $2"

/* $1 lot, $2 reserve met, $3 now: the close outcome (once per lot). */
#define CLOSE_APPLY(T)                                                                    \
    "INSERT INTO " T " AS o (lot_id, reserve_met, indexed_at_us) VALUES ($1, $2, $3) "   \
    "ON CONFLICT (lot_id) DO UPDATE SET reserve_met = $2, indexed_at_us = $3"

const db_stmt search_stmts[] = {
    { "doc_upsert", DOC_UPSERT("docs") },
    { "doc_upsert_new", DOC_UPSERT("docs_new") },
    { "bid_apply_many", BID_APPLY_MANY("docs") },
    { "bid_apply_many_new", BID_APPLY_MANY("docs_new") },
    { "extend_apply", EXTEND_APPLY("docs") },
    { "extend_apply_new", EXTEND_APPLY("docs_new") },
    { "close_apply", CLOSE_APPLY("docs") },
    { "close_apply_new", CLOSE_APPLY("docs_new") },
    { "state_mark",
      "UPDATE index_state SET last_event_at_us = greatest(last_event_at_us, $1), "
      "last_applied_us = $2 WHERE id = 1" },
    { "state_get", "SELECT last_event_at_us, last_applied_us FROM index_state WHERE id = 1" },
    { "doc_count", "SELECT count(*) FROM docs d WHERE " SEARCH_VISIBLE },
    /* ---- reindex jobs ---- */
    { "job_running",
      "SELECT id FROM reindex_jobs WHERE status IN (1, 2, 3) ORDER BY id DESC LIMIT 1" },
    { "job_add",
      "INSERT INTO reindex_jobs (status, reason, requested_by, started_at_us) "
      "VALUES (1, $1, $2, $3) RETURNING id" },
    { "job_get",
      "SELECT id, status, documents_done, documents_total, started_at_us, finished_at_us, "
      "error, requested_by FROM reindex_jobs WHERE id = $1 OR ($1 = 0 AND id = "
      "(SELECT max(id) FROM reindex_jobs))" },
    { "job_progress",
      "UPDATE reindex_jobs SET status = $2, documents_done = $3, documents_total = $4 "
      "WHERE id = $1" },
    { "job_finish",
      "UPDATE reindex_jobs SET status = $2, finished_at_us = $3, error = $4 WHERE id = $1" },
    { "job_orphans",
      "UPDATE reindex_jobs SET status = 5, finished_at_us = $1, "
      "error = 'the daemon stopped during the rebuild' WHERE status IN (1, 2, 3)" },
    /* Bidding state the catalog does not carry, from the serving index. */
    { "bids_carry",
      "UPDATE docs_new n SET bid_seq = o.bid_seq, current_price = o.current_price, "
      "price = coalesce(o.current_price, n.start_price, 0), bid_count = o.bid_count, "
      "reserve_met = o.reserve_met, rank_score = o.rank_score, ext_ends_us = o.ext_ends_us, "
      "ends_at_us = CASE WHEN n.sched_ends_us IS NULL THEN n.ends_at_us "
      "ELSE greatest(n.sched_ends_us, o.ext_ends_us) END "
      "FROM docs o WHERE o.lot_id = n.lot_id "
      "AND ($1::bigint[] IS NULL OR n.lot_id = ANY($1::bigint[])) "
      "AND n.bid_seq < o.bid_seq" },
    { 0 },
};

const char *search_sql_text(const char *name)
{
    for (const db_stmt *s = search_stmts; s->name != NULL; s++)
        if (strcmp(s->name, name) == 0)
            return s->sql;
    return NULL;
}
