/*
 * Every prepared statement of the auctions daemon, in one table. Lot
 * mutations return LOT_COLUMNS so the answer, the events and the history
 * are built from what was committed, not from the request. updated_at_us
 * strictly increases per lot: it is the optimistic-concurrency token.
 */
#include "auctions.h"
#include "pricing.h"

/* The editable fields, $2..$21, in the order lot_params() fills them. */
#define LOT_FIELDS_SET                                                                      \
    "title = $2, description = $3, make = $4, model = $5, year = $6, mileage_km = $7, "     \
    "vin = $8, region = $9, city_id = $10, category_id = nullif($11::bigint, 0), "          \
    "photo_urls = $12::text[], condition = decode($13, 'hex'), currency = $14, "            \
    "start_price = $15, reserve_price = $16, buy_now_price = $17, "                         \
    "increment_from = $18::bigint[], increment_step = $19::bigint[], "                      \
    "soft_close_window_seconds = $20, max_extensions = $21"
#define TOUCH "updated_at_us = greatest($22::bigint, l.updated_at_us + 1)"

const db_stmt auctions_stmts[] = {
    { "lot_get", "SELECT " LOT_COLUMNS " FROM lots l WHERE l.id = $1" },
    { "lot_get_for_update", "SELECT " LOT_COLUMNS " FROM lots l WHERE l.id = $1 FOR UPDATE" },
    { "lot_insert",
      "INSERT INTO lots AS l (seller_id, state, title, description, make, model, year, "
      "mileage_km, vin, region, city_id, category_id, photo_urls, condition, currency, "
      "start_price, reserve_price, buy_now_price, increment_from, increment_step, "
      "soft_close_window_seconds, max_extensions, created_at_us, updated_at_us) "
      "VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11::bigint, 0), "
      "$12::text[], decode($13, 'hex'), $14, $15, $16, $17, $18::bigint[], $19::bigint[], "
      "$20, $21, $22, $22) RETURNING " LOT_COLUMNS },
    { "lot_update",
      "UPDATE lots AS l SET " LOT_FIELDS_SET ", " TOUCH " WHERE l.id = $1 RETURNING " LOT_COLUMNS },
    { "lot_set_state",
      "UPDATE lots AS l SET state = $2, rejection_reason = $3, "
      "updated_at_us = greatest($4::bigint, l.updated_at_us + 1) "
      "WHERE l.id = $1 RETURNING " LOT_COLUMNS },
    { "lot_schedule",
      "UPDATE lots AS l SET state = 'scheduled', session_id = $2, starts_at_us = $3, "
      "ends_at_us = CASE WHEN $6::boolean THEN NULL ELSE $4::bigint END, venue = $6, "
      "ending_soon_sent = false, updated_at_us = greatest($5::bigint, l.updated_at_us + 1), "
      /* the owner is chosen once, by the first schedule */
      "bids_instance = CASE WHEN l.state = 'approved' THEN nullif($7, '') "
      "ELSE l.bids_instance END "
      "WHERE l.id = $1 RETURNING " LOT_COLUMNS },
    { "lot_extend",
      "UPDATE lots AS l SET ends_at_us = $2, "
      "updated_at_us = greatest($3::bigint, l.updated_at_us + 1) "
      "WHERE l.id = $1 RETURNING " LOT_COLUMNS },
    /* bids_closed.c: a lot the bids service closed before its end. */
    { "lot_end_early",
      "UPDATE lots AS l SET ends_at_us = $2, ending_soon_sent = true, "
      "updated_at_us = greatest($3::bigint, l.updated_at_us + 1) "
      "WHERE l.id = $1 AND l.state = 'live' AND NOT l.venue AND l.ends_at_us > $2 "
      "RETURNING l.id" },
    { "lot_close",
      "UPDATE lots AS l SET state = $2, winner_id = $3, final_price = $4, reserve_met = $5, "
      "winning_bid_id = $6, winning_hold_id = $7, bid_count = $8, closed_at_us = $9, "
      "updated_at_us = greatest($10::bigint, l.updated_at_us + 1), winning_floor_paddle = $11 "
      "WHERE l.id = $1 RETURNING " LOT_COLUMNS },
    { "lot_mark_ending_soon", "UPDATE lots SET ending_soon_sent = true WHERE id = $1" },
    { "transition_add",
      "INSERT INTO lot_transitions (lot_id, n, from_state, to_state, actor_id, actor_role, "
      "reason, at_us) SELECT $1, coalesce(max(n), 0) + 1, $2, $3, $4, $5, $6, $7 "
      "FROM lot_transitions WHERE lot_id = $1" },
    { "transitions_list",
      "SELECT coalesce(from_state, ''), to_state, actor_id, actor_role, reason, at_us "
      "FROM lot_transitions WHERE lot_id = $1 ORDER BY n" },
    { "session_new",
      "INSERT INTO sessions (created_by, created_at_us) VALUES ($1, $2) RETURNING id" },
    { "session_exists", "SELECT 1 FROM sessions WHERE id = $1" },
    { "category_get",
      "SELECT id, coalesce(parent_id, 0), name, slug, depth, sort_order, created_at_us "
      "FROM categories WHERE id = $1" },
    { "category_insert",
      "INSERT INTO categories (parent_id, name, slug, depth, sort_order, created_at_us) "
      "VALUES (nullif($1::bigint, 0), $2, $3, $4, $5, $6) "
      "RETURNING id, coalesce(parent_id, 0), name, slug, depth, sort_order, created_at_us" },
    { "categories_subtree",
      "WITH RECURSIVE t AS (SELECT * FROM categories WHERE ($1::bigint = 0 AND parent_id IS NULL) "
      "OR id = $1 UNION ALL SELECT c.* FROM categories c JOIN t ON c.parent_id = t.id) "
      "SELECT id, coalesce(parent_id, 0), name, slug, depth, sort_order, created_at_us FROM t" },
    /* The scheduler: due lots, locked so another replica skips them. A
     * venue lot has no end (NULL): only HammerLot closes it. */
    { "due_open",
      "SELECT " LOT_COLUMNS " FROM lots l WHERE l.state = 'scheduled' AND l.starts_at_us <= $1 "
      "ORDER BY l.starts_at_us, l.id LIMIT $2 FOR UPDATE SKIP LOCKED" },
    { "due_close",
      "SELECT " LOT_COLUMNS " FROM lots l WHERE l.state = 'live' AND l.ends_at_us <= $1 "
      "AND NOT l.venue "
      "ORDER BY l.ends_at_us, l.id LIMIT $2 FOR UPDATE SKIP LOCKED" },
    { "due_ending_soon",
      "SELECT l.id, l.ends_at_us FROM lots l WHERE l.state = 'live' AND NOT l.ending_soon_sent "
      "AND l.ends_at_us <= $1 ORDER BY l.ends_at_us, l.id LIMIT $2 FOR UPDATE SKIP LOCKED" },
    { "next_due",
      "SELECT least((SELECT min(starts_at_us) FROM lots WHERE state = 'scheduled'), "
      "(SELECT min(ends_at_us) FROM lots WHERE state = 'live'), "
      "(SELECT min(ends_at_us) - $1 FROM lots WHERE state = 'live' AND NOT ending_soon_sent))" },
    PRICING_STMTS,
    { 0 },
};
