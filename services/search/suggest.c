/*
 * Suggest: makes, "Make Model" pairs, titles and regions whose folded form
 * (lower-cased by the database's UTF-8 character class, accents removed
 * by unaccent) starts with the folded prefix, over searchable lots only,
 * by how many lots each would find. Models also match on the model alone
 * ("cam" suggests "Toyota Camry").
 */
#include <string.h>

#include "search.h"

#define PREFIX_MAX 100
#define SIZE_MAX_ 20
#define SIZE_DEFAULT 10

/* $1 the prefix, $2 the size. Each kind is a range over its folded key
 * (from the folded prefix up to it followed by the last code point, in
 * byte order: the text_pattern_ops operators), an index-only scan of a
 * partial index over visible lots (migrations/002_suggest_perf.sql) that
 * counts without visiting the documents. A model alone is the model key
 * past its make ("cam" finds "toyota camry"), a lot that matches both
 * ways counted once. */
#define LO "lower(unaccent($1::text))"
#define IN_RANGE(key) "(" key " ~>=~ " LO " AND " key " ~<~ (" LO " || chr(1114111)))"
#define MODEL_ALONE "substr(d.model_key, length(d.make_key) + 2)"
static const char suggest_sql[] =
    "SELECT text, kind, n FROM ("
    " SELECT min(d.make) AS text, 1 AS kind, count(*) AS n FROM docs d"
    "  WHERE " SEARCH_VISIBLE " AND d.make <> '' AND " IN_RANGE("d.make_key")
    "  GROUP BY d.make_key"
    " UNION ALL SELECT min(m.make || ' ' || m.model), 2, count(*) FROM ("
    "  SELECT d.model_key, d.make, d.model FROM docs d"
    "   WHERE " SEARCH_VISIBLE " AND d.model <> '' AND " IN_RANGE("d.model_key")
    "  UNION ALL SELECT d.model_key, d.make, d.model FROM docs d"
    "   WHERE " SEARCH_VISIBLE " AND d.model <> '' AND " IN_RANGE(MODEL_ALONE)
    "   AND NOT " IN_RANGE("d.model_key") ") m GROUP BY m.model_key"
    " UNION ALL SELECT min(d.title), 3, count(*) FROM docs d"
    "  WHERE " SEARCH_VISIBLE " AND d.title <> '' AND " IN_RANGE("d.title_key")
    "  GROUP BY d.title_key"
    " UNION ALL SELECT min(d.region), 4, count(*) FROM docs d"
    "  WHERE " SEARCH_VISIBLE " AND d.region <> '' AND " IN_RANGE("d.region_key")
    "  GROUP BY d.region_key"
    ") s ORDER BY n DESC, kind, text LIMIT $2::int";

int search_suggest(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Search__V1__SuggestRequest *req = (const void *)in;
    size_t len = strlen(req->prefix);
    if (len == 0 || len > PREFIX_MAX)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "prefix must be 1 to %d bytes",
                        PREFIX_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)req->prefix[i] < 0x20)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "prefix has a control character");
    if (req->size < 0 || req->size > SIZE_MAX_)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "size must be 0 to %d", SIZE_MAX_);
    char size[24];
    const char *p[] = { req->prefix, db_i64(size, req->size == 0 ? SIZE_DEFAULT : req->size) };
    db_conn *conn = db_pool_get(search.db, rpc_time_left_ms(c));
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    PGresult *r = NULL;
    int rc = search_exec(c, conn, "Suggest", suggest_sql, 2, p, &r);
    db_pool_put(search.db, conn);
    if (rc != GRPC_STATUS_OK)
        return rc;
    Gavel__Search__V1__SuggestResponse *resp =
        (void *)rpc_new(c, &gavel__search__v1__suggest_response__descriptor);
    int n = PQntuples(r);
    resp->n_suggestions = (size_t)n;
    resp->suggestions = rpc_alloc(c, (size_t)n * sizeof *resp->suggestions);
    for (int i = 0; i < n; i++) {
        Gavel__Search__V1__Suggestion *s = rpc_alloc(c, sizeof *s);
        gavel__search__v1__suggestion__init(s);
        s->text = rpc_strdup(c, db_get_str(r, i, 0));
        s->kind = (Gavel__Search__V1__SuggestionKind)db_get_i64(r, i, 1);
        s->lot_count = db_get_i64(r, i, 2);
        resp->suggestions[i] = s;
    }
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
