/*
 * New lots against every saved search and segment, in one pass over the
 * in-memory index (match_index.c), inside the consumer's transaction.
 *
 * Invariants: the index is the database's as of match_version (a counter
 * the subscriptions table's triggers move in every transaction that
 * writes or deletes a search or segment), checked on every lot event, so
 * every instance rebuilds after any change, wherever it was made. A user
 * hears about a lot once: lot_matches holds one row per (lot, user),
 * claimed in the same transaction as the inbox rows, so neither a
 * redelivered event nor the lot's next state (scheduled, then live) tells
 * anyone twice. The seller is never told about their own lot.
 * Threads: the index belongs to the consumer thread; the mutex only
 * covers start-up loading it from another thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl/dsl_catalog.h"
#include "notif.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static match_index *index_now;     /* guarded by lock */
static int64_t index_version = -1; /* the match_version it was built at */

/* Builds a new index from every search and segment that wants NEW_MATCH. */
static int build(db_conn *conn, match_index **out)
{
    int rc = 0;
    PGresult *r = db_exec(conn, "match_subs", 0, NULL, &rc);
    if (r == NULL)
        return rc;
    match_index *ix = match_index_new();
    for (int i = 0; i < PQntuples(r); i++) {
        char err[256];
        int64_t id = db_get_i64(r, i, 0), user = db_get_i64(r, i, 1);
        bool is_segment = strcmp(db_get_str(r, i, 2), "segment") == 0;
        int bad = is_segment
                  ? match_index_add_segment(ix, id, user, db_get_str(r, i, 3), err, sizeof err)
                  : match_index_add_search(ix, id, user, db_get_str(r, i, 4),
                                           db_get_str(r, i, 5), err, sizeof err);
        if (bad != MATCH_OK) /* stored before it was checked: it matches nothing */
            log_warn("subscription %lld is skipped by matching: %s", (long long)id, err);
    }
    PQclear(r);
    *out = ix;
    return 0;
}

/* Makes index_now current; called with lock held. */
static int refresh(db_conn *conn)
{
    int rc = 0;
    PGresult *r = db_exec(conn, "match_version", 0, NULL, &rc);
    if (r == NULL)
        return rc;
    int64_t version = PQntuples(r) > 0 ? db_get_i64(r, 0, 0) : 0;
    PQclear(r);
    if (version == index_version && index_now != NULL)
        return 0;
    match_index *ix = NULL;
    int64_t t0 = mono_us();
    if ((rc = build(conn, &ix)) != 0)
        return rc;
    match_index_free(index_now);
    index_now = ix;
    index_version = version;
    log_info("match index: %zu searches and segments at version %lld, built in %lld ms",
             match_index_size(ix), (long long)version, (long long)((mono_us() - t0) / 1000));
    return 0;
}

int notif_match_load(db_conn *conn)
{
    pthread_mutex_lock(&lock);
    int rc = refresh(conn);
    pthread_mutex_unlock(&lock);
    return rc;
}

void notif_match_close(void)
{
    pthread_mutex_lock(&lock);
    index_now = (match_index_free(index_now), NULL);
    index_version = -1;
    pthread_mutex_unlock(&lock);
}

/* The lot as dsl_eval reads it: one datum per row of the catalog. */
static void lot_row(const Gavel__Events__V1__LotUpserted *e, dsl_datum *row, int nrows)
{
    for (int i = 0; i < nrows; i++)
        row[i] = (dsl_datum){ .is_null = true };
    const dsl_schema *s = &match_search_schema;
#define NUM(name, v) row[dsl_field_index(s, name)] = (dsl_datum){ .num = (v) }
#define TXT(name, v) row[dsl_field_index(s, name)] = (dsl_datum){ .text = (v) }
#define OPT(name, v) row[dsl_field_index(s, name)] = (dsl_datum){ .num = (v), .is_null = (v) == 0 }
    NUM("id", e->lot_id);
    NUM("seller_id", e->seller_id);
    TXT("title", e->title);
    TXT("description", e->description);
    TXT("make", e->make);
    TXT("model", e->model);
    NUM("year", e->year);
    NUM("mileage_km", e->mileage_km);
    TXT("vin", e->vin);
    TXT("region", e->region);
    NUM("city_id", e->city_id);
    OPT("category_id", e->category_id);
    TXT("state", e->state);
    OPT("session_id", e->session_id);
    OPT("start_time", e->starts_at_us);
    OPT("end_time", e->ends_at_us);
    NUM("created_time", e->created_at_us);
    NUM("updated_time", e->updated_at_us);
#undef NUM
#undef TXT
#undef OPT
    int sp = dsl_field_index(s, "start_price"), bn = dsl_field_index(s, "buy_now_price");
    if (e->start_price != NULL)
        row[sp] = (dsl_datum){ .num = e->start_price->units };
    if (e->buy_now_price != NULL)
        row[bn] = (dsl_datum){ .num = e->buy_now_price->units };
}

/* Claims (lot, user) for the hits; keeps in *h only those newly claimed. */
static int claim(db_conn *conn, int64_t lot_id, match_hits *h)
{
    db_array users, subs;
    db_array_init(&users);
    db_array_init(&subs);
    for (size_t i = 0; i < h->n; i++) {
        db_array_i64(&users, h->v[i].user_id);
        db_array_i64(&subs, h->v[i].subscription_id);
    }
    char lot[24], at[24];
    const char *p[] = { db_i64(lot, lot_id), db_array_str(&users), db_array_str(&subs),
                        db_i64(at, now_us()) };
    int rc = 0;
    PGresult *r = db_exec(conn, "match_claim", 4, p, &rc);
    db_array_free(&users);
    db_array_free(&subs);
    if (r == NULL)
        return rc;
    h->n = 0;
    for (int i = 0; i < PQntuples(r); i++)
        h->v[h->n++] = (match_hit){ .user_id = db_get_i64(r, i, 0),
                                    .subscription_id = db_get_i64(r, i, 1) };
    PQclear(r);
    return 0;
}

static int tell_matches(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                        const Gavel__Events__V1__LotUpserted *e, const match_hits *h)
{
    int64_t *users = xcalloc(h->n, sizeof *users), *subs = xcalloc(h->n, sizeof *subs);
    for (size_t i = 0; i < h->n; i++) {
        users[i] = h->v[i].user_id;
        subs[i] = h->v[i].subscription_id;
    }
    char car[256];
    snprintf(car, sizeof car, "%s %s %d", e->make, e->model, (int)e->year);
    notif_texts *t = xmalloc(sizeof *t);
    notif_text_args a = { .lot = e->title, .text = car, .money = e->start_price,
                          .region = e->region, .state = e->state };
    notif_texts_fill(t, NOTIF_T_MATCH_TITLE, NOTIF_T_MATCH_BODY, &a);
    notif_fanout f = { .event_id = env->id, .kind = GAVEL__NOTIFICATIONS__V1__EVENT_KIND__EVENT_KIND_NEW_MATCH,
                       .lot_id = e->lot_id, .texts = t, .at_us = now_us(),
                       .users = users, .subscriptions = subs, .n = h->n };
    int rc = notif_fanout_write(conn, &f);
    free(t);
    free(users);
    free(subs);
    return rc;
}

int notif_match_lot(db_conn *conn, const Gavel__Events__V1__Envelope *env,
                    const Gavel__Events__V1__LotUpserted *e)
{
    if (strcmp(e->state, "scheduled") != 0 && strcmp(e->state, "live") != 0)
        return 0;
    enum { NROWS = DSL_MAX_FIELDS };
    dsl_datum row[NROWS];
    lot_row(e, row, NROWS);
    match_hits h = { 0 };
    pthread_mutex_lock(&lock);
    int rc = refresh(conn);
    if (rc == 0) {
        int64_t t0 = mono_us();
        match_index_run(index_now, row, now_us(), false, &h);
        mx_observe(notif_mx.match_seconds, (double)(mono_us() - t0) / 1e6);
    }
    pthread_mutex_unlock(&lock);
    match_hits_by_user(&h);
    size_t k = 0;
    for (size_t i = 0; i < h.n; i++)
        if (h.v[i].user_id != e->seller_id)
            h.v[k++] = h.v[i];
    h.n = k;
    if (rc == 0 && h.n > 0)
        rc = claim(conn, e->lot_id, &h);
    if (rc == 0 && h.n > 0) {
        mx_add(notif_mx.matched, (double)h.n);
        rc = tell_matches(conn, env, e, &h);
    }
    match_hits_free(&h);
    return rc;
}
