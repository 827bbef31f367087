/*
 * Every SQL statement of the notifications daemon, prepared once per
 * connection. Fan-out and delivery bookkeeping are set-based: one
 * statement writes a notification for all its recipients with their
 * deliveries, one leases a round of deliveries with everything the
 * senders need, one records the round's outcomes.
 */
#include "notif.h"

/* A subscription as sub_from_row (subscriptions.c) reads it. */
#define SUB_COLUMNS                                                                       \
    "id, user_id, target, coalesce(lot_id, 0), coalesce(seller_id, 0), "                 \
    "coalesce(segment, ''), coalesce(search_name, ''), coalesce(search_query, ''), "      \
    "coalesce(search_filter, ''), array_to_json(kinds)::text, created_at_us"

/* A notification (n) in Russian: it has Russian texts only when its user's
 * language was 'ru' when it was written. Every channel and the inbox then
 * use them. */
#define LOCALISED "(n.title_ru <> '')"

#define CHANNEL_EMAIL_ADDR "coalesce(nullif(p.email, ''), a.email, '')"

const db_stmt notif_stmts[] = {
    /* ---- what the events tell about users and lots ---- */
    { "account_upsert",
      "INSERT INTO accounts (user_id, email) VALUES ($1, $2) "
      "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email" },
    { "account_exists", "SELECT 1 FROM accounts WHERE user_id = $1" },
    { "lot_upsert",
      "INSERT INTO lots (lot_id, seller_id, title, updated_at_us) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (lot_id) DO UPDATE SET seller_id = EXCLUDED.seller_id, "
      "title = EXCLUDED.title, updated_at_us = EXCLUDED.updated_at_us "
      "WHERE lots.updated_at_us <= EXCLUDED.updated_at_us" },
    { "lot_seller",
      "INSERT INTO lots (lot_id, seller_id) VALUES ($1, $2) "
      "ON CONFLICT (lot_id) DO UPDATE SET seller_id = EXCLUDED.seller_id "
      "WHERE lots.seller_id = 0" },
    { "lot_get", "SELECT seller_id, title FROM lots WHERE lot_id = $1" },
    { "bidder_add",
      "INSERT INTO lot_bidders (lot_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING" },
    /* Who hears about a lot for one kind: its bidders (when $3), the
     * followers of the lot and (when $4 > 0) of its seller, whose
     * subscriptions ask for the kind. A bidder is told directly
     * (subscription 0) even when they also follow. */
    { "lot_audience",
      "SELECT DISTINCT ON (user_id) user_id, sub FROM ("
      " SELECT user_id, 0::bigint AS sub FROM lot_bidders WHERE lot_id = $1 AND $3::boolean"
      " UNION ALL SELECT user_id, id FROM subscriptions WHERE lot_id = $1"
      "  AND (kinds = '{}' OR $2::smallint = ANY (kinds))"
      " UNION ALL SELECT user_id, id FROM subscriptions WHERE $4::bigint > 0"
      "  AND seller_id = $4 AND (kinds = '{}' OR $2::smallint = ANY (kinds))"
      ") a ORDER BY user_id, sub" },

    /* The bids of a consumer batch (bid_events.c), in one round trip:
     * records the bidders ($1 lots, $2 users; floor bids are not
     * there), and returns for each lot of $3 its seller and title (0 and
     * '' when unknown) with its followers for kind $2, one row per user,
     * or one row with a NULL user when none. */
    { "bids_audience",
      "WITH b AS (INSERT INTO lot_bidders (lot_id, user_id)"
      " SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING)"
      " SELECT l.lot_id, coalesce(x.seller_id, 0), coalesce(x.title, ''), a.user_id, a.sub"
      " FROM unnest($3::bigint[]) AS l(lot_id) LEFT JOIN lots x ON x.lot_id = l.lot_id"
      " LEFT JOIN LATERAL (SELECT DISTINCT ON (user_id) user_id, id AS sub FROM subscriptions"
      "  WHERE lot_id = l.lot_id AND (kinds = '{}' OR $4::smallint = ANY (kinds))"
      "  ORDER BY user_id, id) a ON true" },

    /* ---- fan-out (fanout.c): every notification of a consumer batch in
     * one statement. $1..$3 one row per recipient: the notification's
     * 1-based ordinal in $4..$15, the user, the subscription (0: told
     * directly). $4..$15 one row per notification: kind, English title
     * and body, lot, link, event id, time, default channels (a smallint[]
     * literal), coalesce key, digest due time (NEW_MATCH email: a digest
     * delivery due then, when > 0), Russian title and body (kept only for
     * users whose language is 'ru'). $16: the live channels.
     * Inbox rows first, then one delivery per chosen live channel and,
     * for the webhook channel, per active webhook of the user that takes
     * the kind. A kind the user never set goes to their webhooks too (the
     * webhook's kinds decide); one they set does only when it names the
     * webhook channel. Push needs tokens, Telegram a chat id. Email only
     * with an address, or for a user whose user.registered has not
     * arrived yet (another topic, so it may come after this event): the
     * sender reads the address when it sends and retries until it is
     * known. A new inbox row finds its notification by (event, kind):
     * an event makes at most one notification of each kind. ---- */
    { "fanout",
      "WITH m AS (SELECT * FROM unnest($4::smallint[], $5::text[], $6::text[], $7::bigint[],"
      " $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::bigint[],"
      " $14::text[], $15::text[]) WITH ORDINALITY AS m(kind, title, body, lot, link, event_id,"
      " at, defaults, ckey, digest_due, title_ru, body_ru, i)),"
      " n AS (INSERT INTO notifications (user_id, kind, title, body, lot_id, link, "
      " event_id, subscription_id, created_at_us, title_ru, body_ru)"
      " SELECT r.u, m.kind, m.title, m.body, m.lot, m.link, m.event_id, r.s, m.at,"
      " CASE WHEN lp.language = 'ru' THEN m.title_ru ELSE '' END,"
      " CASE WHEN lp.language = 'ru' THEN m.body_ru ELSE '' END"
      " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS r(i, u, s, o)"
      " JOIN m ON m.i = r.i"
      " LEFT JOIN preferences lp ON lp.user_id = r.u ORDER BY r.o"
      " ON CONFLICT (event_id, user_id) DO NOTHING RETURNING id, user_id, kind, event_id),"
      " d AS (INSERT INTO deliveries (notification_id, user_id, channel, due_at_us, coalesce_key,"
      " target_id, digest)"
      " SELECT n.id, n.user_id, ch, CASE WHEN dg THEN m.digest_due ELSE m.at END, m.ckey,"
      " coalesce(w.id, 0), dg FROM n JOIN m ON m.event_id = n.event_id AND m.kind = n.kind"
      " LEFT JOIN preference_kinds pk ON pk.user_id = n.user_id AND pk.kind = n.kind"
      " LEFT JOIN preferences p ON p.user_id = n.user_id"
      " LEFT JOIN accounts a ON a.user_id = n.user_id"
      " CROSS JOIN LATERAL unnest(coalesce(pk.channels, m.defaults::smallint[] || 5::smallint))"
      "  AS ch"
      " CROSS JOIN LATERAL (SELECT ch = 2 AND n.kind = 10 AND m.digest_due > 0) AS g(dg)"
      " LEFT JOIN webhooks w ON ch = 5 AND w.user_id = n.user_id AND w.is_active"
      "  AND (w.kinds = '{}' OR n.kind = ANY (w.kinds))"
      " WHERE ch = ANY ($16::smallint[])"
      " AND (ch <> 2 OR a.user_id IS NULL OR " CHANNEL_EMAIL_ADDR " <> '')"
      " AND (ch <> 3 OR cardinality(p.push_tokens) > 0)"
      " AND (ch <> 4 OR p.telegram_chat_id <> '')"
      " AND (ch <> 5 OR w.id IS NOT NULL)"
      " RETURNING 1)"
      " SELECT (SELECT count(*) FROM n), (SELECT count(*) FROM d)" },

    /* ---- delivery workers ---- */
    /* Leases up to $2 due deliveries for $3 µs and returns what the
     * senders need, with whether a newer pending delivery of the same
     * coalesce key replaces it, when that key was last sent, whether it
     * is a digest and, for email, push and Telegram in the user's quiet
     * hours (its kind not urgent), when they end. Every channel takes
     * the Russian texts when the notification has them (then the
     * language is 1, NOTIF_LANG_RU). The
     * subqueries repeat coalesce_key <> '' so deliveries_coalesce (a
     * partial index) serves them: without it each row scanned the table. */
    { "deliver_lease",
      "WITH due AS (SELECT id FROM deliveries WHERE state = 'pending' AND due_at_us <= $1"
      " ORDER BY due_at_us LIMIT $2 FOR UPDATE SKIP LOCKED),"
      " l AS (UPDATE deliveries d SET due_at_us = $1 + $3, attempts = d.attempts + 1"
      " FROM due WHERE d.id = due.id"
      " RETURNING d.id, d.notification_id, d.user_id, d.channel, d.attempts, d.coalesce_key,"
      " d.target_id, d.digest)"
      " SELECT l.id, l.notification_id, l.user_id, l.channel, l.attempts, n.kind,"
      " CASE WHEN " LOCALISED " THEN n.title_ru ELSE n.title END,"
      " CASE WHEN " LOCALISED " THEN n.body_ru ELSE n.body END, n.lot_id, n.link, n.event_id, n.created_at_us, " CHANNEL_EMAIL_ADDR ","
      " l.coalesce_key <> '' AND EXISTS (SELECT 1 FROM deliveries x WHERE"
      "  x.user_id = l.user_id AND x.coalesce_key = l.coalesce_key AND x.coalesce_key <> ''"
      "  AND x.channel = l.channel AND x.target_id = l.target_id AND x.id > l.id"
      "  AND x.state IN ('pending', 'sent')),"
      " CASE WHEN l.coalesce_key = '' THEN 0 ELSE (SELECT coalesce(max(x.sent_at_us), 0)"
      "  FROM deliveries x WHERE x.user_id = l.user_id AND x.coalesce_key = l.coalesce_key"
      "  AND x.coalesce_key <> '' AND x.channel = l.channel AND x.target_id = l.target_id"
      "  AND x.state = 'sent') END,"
      " (SELECT count(*) FROM notifications u WHERE u.user_id = l.user_id"
      "  AND u.read_at_us = 0),"
      " l.target_id, coalesce(p.telegram_chat_id, ''),"
      " coalesce(array_to_json(p.push_tokens)::text, '[]'), coalesce(w.url, ''),"
      " coalesce(encode(w.secret_enc, 'hex'), ''), coalesce(w.is_active, false), l.digest,"
      " CASE WHEN l.channel IN (2, 3, 4) AND p.quiet_start <> p.quiet_end"
      "  AND NOT (n.kind = ANY (p.quiet_urgent))"
      "  THEN quiet_until($1, p.quiet_start, p.quiet_end, p.quiet_tz) ELSE 0 END,"
      " CASE WHEN " LOCALISED " THEN 1 ELSE 0 END"
      " FROM l JOIN notifications n ON n.id = l.notification_id"
      " LEFT JOIN preferences p ON p.user_id = l.user_id"
      " LEFT JOIN webhooks w ON l.channel = 5 AND w.id = l.target_id"
      " LEFT JOIN accounts a ON a.user_id = l.user_id ORDER BY l.id" },
    /* A webhook's health after one attempt ($2: now, 0 after a success;
     * $3: how long failing turns it off). Returns whether it is still on. */
    { "webhook_health",
      "UPDATE webhooks SET failing_since_us = CASE WHEN $2::bigint = 0 THEN 0"
      " WHEN failing_since_us = 0 THEN $2 ELSE failing_since_us END,"
      " is_active = is_active AND NOT ($2::bigint > 0 AND failing_since_us > 0"
      "  AND $2 - failing_since_us >= $3::bigint)"
      " WHERE id = $1 RETURNING is_active" },
    { "deliver_done",
      "UPDATE deliveries d SET state = r.state, due_at_us = r.due, last_error = r.err,"
      " sent_at_us = r.sent, attempts = d.attempts + r.adj"
      " FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],"
      " $6::int[]) AS r(id, state, due, err, sent, adj) WHERE d.id = r.id"
      " AND d.state = 'pending'" },
    /* An email recorded sent the moment the server took it (see deliver.c). */
    { "deliver_sent_one",
      "UPDATE deliveries SET state = 'sent', sent_at_us = $2, due_at_us = $2, last_error = ''"
      " WHERE id = $1 AND state = 'pending'" },
    /* Digests (digest.c): one user's at a time, under a session lock
     * that a crashed worker's connection gives back. */
    { "digest_lock",
      "SELECT pg_try_advisory_lock(hashtext('gavel_digest'), ($1::bigint % 2147483647)::int)" },
    { "digest_unlock",
      "SELECT pg_advisory_unlock(hashtext('gavel_digest'), ($1::bigint % 2147483647)::int)" },
    { "digest_rows",
      "SELECT d.id, CASE WHEN " LOCALISED " THEN n.title_ru ELSE n.title END,"
      " CASE WHEN " LOCALISED " THEN n.body_ru ELSE n.body END, n.link FROM deliveries d"
      " JOIN notifications n ON n.id = d.notification_id"
      " WHERE d.user_id = $1 AND d.digest AND d.state = 'pending' ORDER BY d.id LIMIT $2" },
    { "digest_sent",
      "UPDATE deliveries SET state = 'sent', sent_at_us = $2, due_at_us = $2, last_error = ''"
      " WHERE id = ANY ($1::bigint[]) AND state = 'pending'" },
    { "deliver_next_due",
      "SELECT coalesce(min(due_at_us), 0) FROM deliveries WHERE state = 'pending'" },

    /* ---- subscriptions ---- */
    { "sub_count",
      "SELECT count(*), coalesce(bool_or(target_key = $2), false) FROM subscriptions "
      "WHERE user_id = $1" },
    { "sub_upsert",
      "INSERT INTO subscriptions (user_id, target, target_key, lot_id, seller_id, segment, "
      "search_name, search_query, search_filter, kinds, created_at_us) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::smallint[], $11) "
      "ON CONFLICT (user_id, target_key) DO UPDATE SET kinds = EXCLUDED.kinds, "
      "search_query = EXCLUDED.search_query, search_filter = EXCLUDED.search_filter "
      "RETURNING id, created_at_us" },
    { "sub_get",
      "SELECT " SUB_COLUMNS " FROM subscriptions WHERE user_id = $1 AND target_key = $2" },
    { "sub_delete",
      "DELETE FROM subscriptions WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2) "
      "RETURNING id" },
    { "sub_list",
      "SELECT " SUB_COLUMNS " FROM subscriptions WHERE user_id = $1 AND id < $2 "
      "ORDER BY id DESC LIMIT $3" },

    /* ---- matching (match.c): the index's rows and version, the claim of
     * (lot, user) that makes a match told once ---- */
    { "match_version", "SELECT version FROM match_version" },
    { "match_subs",
      "SELECT id, user_id, target, coalesce(segment, ''), coalesce(search_query, ''), "
      "coalesce(search_filter, '') FROM subscriptions WHERE target IN ('search', 'segment') "
      "AND (kinds = '{}' OR 10 = ANY (kinds))" },
    { "match_claim",
      "INSERT INTO lot_matches (lot_id, user_id, subscription_id, matched_at_us) "
      "SELECT $1, u, s, $4 FROM unnest($2::bigint[], $3::bigint[]) AS r(u, s) "
      "ON CONFLICT (lot_id, user_id) DO NOTHING RETURNING user_id, subscription_id" },

    /* ---- preferences: NULL parameters keep what is stored ---- */
    { "prefs_get",
      "SELECT coalesce(p.email, ''), coalesce(p.telegram_chat_id, ''),"
      " coalesce(array_to_json(p.push_tokens)::text, '[]'), coalesce(p.quiet_start, 0),"
      " coalesce(p.quiet_end, 0), coalesce(p.quiet_tz, ''),"
      " coalesce(array_to_json(p.quiet_urgent)::text, '[]'), coalesce(p.updated_at_us, 0),"
      " (SELECT coalesce(json_agg(json_build_array(k.kind, k.channels) ORDER BY k.kind), '[]')"
      "  FROM preference_kinds k WHERE k.user_id = $1)::text, coalesce(p.language, '')"
      " FROM (SELECT $1::bigint AS id) me LEFT JOIN preferences p ON p.user_id = me.id" },
    { "prefs_upsert",
      "INSERT INTO preferences (user_id, email, telegram_chat_id, push_tokens, quiet_start, "
      "quiet_end, quiet_tz, quiet_urgent, updated_at_us, language) VALUES ($1, coalesce($2, ''), "
      "coalesce($3, ''), coalesce($4::text[], '{}'), coalesce($5::int, 0), "
      "coalesce($6::int, 0), coalesce($7, ''), coalesce($8::smallint[], '{}'), $9, "
      "coalesce($10, '')) "
      "ON CONFLICT (user_id) DO UPDATE SET email = coalesce($2, preferences.email), "
      "telegram_chat_id = coalesce($3, preferences.telegram_chat_id), "
      "push_tokens = coalesce($4::text[], preferences.push_tokens), "
      "quiet_start = coalesce($5::int, preferences.quiet_start), "
      "quiet_end = coalesce($6::int, preferences.quiet_end), "
      "quiet_tz = coalesce($7, preferences.quiet_tz), "
      "quiet_urgent = coalesce($8::smallint[], preferences.quiet_urgent), "
      "language = coalesce($10, preferences.language), updated_at_us = $9" },
    { "prefs_kinds_clear", "DELETE FROM preference_kinds WHERE user_id = $1" },
    { "prefs_kinds_set",
      "INSERT INTO preference_kinds (user_id, kind, channels) "
      "SELECT $1, k, c::smallint[] FROM unnest($2::smallint[], $3::text[]) AS t(k, c)" },

    /* ---- webhooks (webhooks.c) ---- */
#define WEBHOOK_COLUMNS "id, user_id, url, array_to_json(kinds)::text, description, " \
    "secret_hint, is_active, created_at_us"
    /* Serialises one user's registrations (count, then write). */
    { "webhook_lock",
      "SELECT pg_advisory_xact_lock(hashtext('gavel_webhooks'), ($1::bigint % 2147483647)::int)" },
    { "webhook_count",
      "SELECT count(*), coalesce(bool_or(url = $2), false) FROM webhooks WHERE user_id = $1" },
    /* Registering a url again replaces its secret and kinds and turns it
     * back on. */
    { "webhook_upsert",
      "INSERT INTO webhooks (user_id, url, kinds, description, secret_enc, secret_hint,"
      " created_at_us, updated_at_us) VALUES ($1, $2, $3::smallint[], $4, $5::bytea, $6, $7, $7)"
      " ON CONFLICT (user_id, url) DO UPDATE SET kinds = EXCLUDED.kinds,"
      " description = EXCLUDED.description, secret_enc = EXCLUDED.secret_enc,"
      " secret_hint = EXCLUDED.secret_hint, is_active = true, failing_since_us = 0,"
      " updated_at_us = EXCLUDED.updated_at_us RETURNING " WEBHOOK_COLUMNS },
    { "webhook_list",
      "SELECT " WEBHOOK_COLUMNS " FROM webhooks WHERE user_id = $1 ORDER BY id" },
    { "webhook_delete",
      "DELETE FROM webhooks WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2) RETURNING id" },

    /* ---- inbox ---- */
    { "inbox_list",
      "SELECT n.id, n.kind, CASE WHEN " LOCALISED " THEN n.title_ru ELSE n.title END, "
      "CASE WHEN " LOCALISED " THEN n.body_ru ELSE n.body END, n.lot_id, n.link, n.event_id, "
      "n.subscription_id, n.created_at_us, n.read_at_us, coalesce((SELECT "
      "string_agg(d.channel::text, ',' ORDER BY d.channel) FROM deliveries d "
      "WHERE d.notification_id = n.id AND d.state = 'sent'), '') "
      "FROM notifications n WHERE n.user_id = $1 AND n.id < $2 "
      "AND (NOT $3::boolean OR n.read_at_us = 0) ORDER BY n.id DESC LIMIT $4" },
    { "inbox_unread",
      "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at_us = 0" },
    { "inbox_mark",
      "WITH m AS (UPDATE notifications SET read_at_us = $4 WHERE user_id = $1 "
      "AND read_at_us = 0 AND (id = ANY ($2::bigint[]) OR id <= $3) RETURNING 1) "
      "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM notifications "
      "WHERE user_id = $1 AND read_at_us = 0) - (SELECT count(*) FROM m)" },
    { 0 },
};
