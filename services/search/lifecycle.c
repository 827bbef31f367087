/*
 * Start-up and shut-down of the search daemon's own parts: its settings,
 * its series and its event consumer. The skeleton opens and migrates the
 * database and starts the consumer after post_init, which checks that the
 * database folds case the way the index needs.
 */
#include <stdio.h>
#include <string.h>

#include "search.h"

search_state search = { .apply_lock = PTHREAD_MUTEX_INITIALIZER };
search_metric_set search_mx;

const cfg_entry search_config[] = {
    { "GAVEL_SEARCH_TYPO_SIMILARITY", "45", CFG_INT, &search.trgm_threshold_pct, 10, 100,
      "trigram word similarity (percent) a word needs to match a query word with a typo" },
    { "GAVEL_SEARCH_REINDEX_PAGE", "200", CFG_INT, &search.reindex_page, 10, 200,
      "lots per ListLots page while a reindex copies the catalog" },
    { "GAVEL_AUCTIONS_ADDR", "127.0.0.1:50052", CFG_STR, &search.auctions_addr, 0, 0,
      "the auctions service (Reindex reads the catalog from it)" },
    { 0 },
};

const mx_entry search_metrics[] = {
    { "gavel_search_events_applied_total", mx_counter,
      "Events that changed a document of the index.", NULL, &search_mx.applied },
    { "gavel_search_events_ignored_total", mx_counter,
      "Events older than the document's version (out of order or repeated).", NULL,
      &search_mx.ignored },
    { "gavel_search_index_lag_seconds", mx_histogram,
      "From an event's occurred_at to its change being in the index.", NULL, &search_mx.lag },
    { "gavel_search_query_seconds", mx_histogram,
      "One Search call: page, total and facets.", NULL, &search_mx.query_seconds },
    { "gavel_search_reindexed_documents_total", mx_counter,
      "Documents a reindex copied from the auctions service.", NULL, &search_mx.reindexed },
    { 0 },
};

static const char *const consumed_topics[] = { "gavel.auctions", "gavel.bids", NULL };

static search_batch apply_batch; /* the consumer's thread only */

const rpc_consumer search_consumers[] = {
    { .group = "search", .topics = consumed_topics, .handler = search_event_apply,
      .is_piped = true, .stmts = search_apply_stmts, .batch_end = search_batch_end,
      .arg = &apply_batch },
    { 0 },
};

/* Full text, trigrams and suggestions fold Cyrillic case through the
 * database's character class: a gavel_search created with LC_CTYPE C
 * would find «Веста» only when written so. */
static int check_case_folding(void)
{
    db_conn *conn = db_pool_get(search.db, 10000);
    if (conn == NULL)
        return -1;
    int rc = 0;
    PGresult *r = PQexec(db_pg(conn), "SELECT lower('ВЕСТА Ё') = 'веста ё'");
    if (db_classify(r, db_pg(conn)) != 0 || PQntuples(r) != 1) {
        log_error("cannot check the database's case folding: %s", PQerrorMessage(db_pg(conn)));
        rc = -1;
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        log_error("database gavel_search does not fold Cyrillic case (LC_CTYPE %s); "
                  "create it with TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C.UTF-8' "
                  "(docs/search.md)", "C");
        rc = -1;
    }
    PQclear(r);
    db_pool_put(search.db, conn);
    return rc;
}

int search_post_init(void)
{
    if (check_case_folding() < 0)
        return -1;
    return reindex_forget_orphans() < 0 ? -1 : 0;
}

void search_pre_exit(void)
{
    reindex_stop();
}

bool search_is_healthy(void)
{
    return search.db != NULL;
}
