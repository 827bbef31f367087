/*
 * A SearchRequest checked and turned into SQL text over "docs d": the
 * visibility, the text match and the DSL filters (libs/dsl over
 * dsl_search_schema) as one WHERE, a score, and the sort as two key
 * expressions plus the lot id, all in one direction so keyset paging is
 * a row comparison. Caller text only ever travels as parameters.
 *
 * Text match: the query's words in the Russian or the English stemmed
 * index; when that finds nothing (query.c asks first), a fuzzy plan
 * matches words close enough by trigram word similarity (typos), which is
 * far more expensive and so never runs beside a stemmed match. Score: text
 * relevance in both configurations (or the similarity, fuzzy), times
 * 1 + ln(1 + rank_score); without text, rank_score alone. Scores become
 * integers (millionths) so a page boundary compares exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

#define QUERY_MAX 500

int search_plan_param(search_plan *p, const char *value)
{
    if (p->nparams >= SEARCH_MAX_PARAMS)
        panic("search: too many parameters");
    p->params[p->nparams++] = value;
    return p->nparams;
}

void search_plan_free(search_plan *p)
{
    free(p->where);
    free(p->score);
    free(p->k1);
    free(p->k2);
    dsl_query_free(p->filter);
    memset(p, 0, sizeof *p);
}

/* Text over QUERY_MAX bytes, invalid UTF-8 or control characters. */
static const char *query_problem(const char *q)
{
    size_t n = strlen(q);
    if (n > QUERY_MAX)
        return "query is longer than 500 bytes";
    const unsigned char *s = (const unsigned char *)q;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return "query is not valid UTF-8";
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return "query is not valid UTF-8";
        if (c < 0x20 && c != '\t')
            return "query has a control character";
        i += len;
    }
    return NULL;
}

static bool has_words(const char *q)
{
    for (; *q != '\0'; q++)
        if (*q != ' ' && *q != '\t')
            return true;
    return false;
}

static int set_sort(rpc_call *c, search_plan *p, int sort)
{
    if (sort == GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_UNSPECIFIED)
        sort = p->has_text ? GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_RANK
                           : GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_ENDING_SOON;
    const char *k1, *k2 = "0::bigint";
    bool desc = false;
    switch (sort) {
    case GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_ENDING_SOON:
        /* live by end, then scheduled by start, then closed, latest first */
        k1 = "CASE d.state WHEN 'live' THEN 0 WHEN 'scheduled' THEN 1 ELSE 2 END::bigint";
        k2 = "CASE d.state WHEN 'live' THEN coalesce(d.ends_at_us, 0) "
             "WHEN 'scheduled' THEN coalesce(d.starts_at_us, 0) "
             "ELSE -coalesce(d.ends_at_us, 0) END";
        break;
    case GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_PRICE_ASC:
        k1 = "d.price";
        break;
    case GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_PRICE_DESC:
        k1 = "d.price";
        desc = true;
        break;
    case GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_RANK:
        k1 = "(1000000 * (SCORE))::bigint";
        desc = true;
        break;
    case GAVEL__SEARCH__V1__SORT_ORDER__SORT_ORDER_NEWEST:
        k1 = "d.scheduled_at_us";
        desc = true;
        break;
    default:
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "sort %d is not a SortOrder", sort);
    }
    p->k1_is_score = strcmp(k1, "(1000000 * (SCORE))::bigint") == 0;
    if (p->k1_is_score)
        p->k1 = xasprintf("(1000000 * (%s))::bigint", p->score);
    else
        p->k1 = xstrdup(k1);
    p->k2 = xstrdup(k2);
    p->is_desc = desc;
    return GRPC_STATUS_OK;
}

int search_plan_build(rpc_call *c, const Gavel__Search__V1__SearchRequest *req, bool fuzzy,
                      search_plan *p)
{
    memset(p, 0, sizeof *p);
    const char *why = query_problem(req->query);
    if (why != NULL)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
    char err[256];
    if (dsl_parse(&dsl_search_schema, req->filter_json, strlen(req->filter_json), now_us(),
                  &p->filter, err, sizeof err) < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "filter_json: %s", err);
    char *text = xstrdup("true");
    p->has_text = has_words(req->query);
    if (p->has_text) {
        int q = search_plan_param(p, req->query);
        free(text);
        p->is_fuzzy = fuzzy;
        if (fuzzy) {
            text = xasprintf("lower(unaccent($%d)) <%% d.trgm_text", q);
            p->score = xasprintf("word_similarity(lower(unaccent($%d)), d.trgm_text) * "
                                 "(1 + ln(1 + d.rank_score))", q);
        } else {
            text = xasprintf("(d.tsv_ru @@ plainto_tsquery('russian', $%d) OR "
                             "d.tsv_en @@ plainto_tsquery('english', $%d))", q, q);
            p->score = xasprintf("(ts_rank(d.tsv_ru, plainto_tsquery('russian', $%d)) + "
                                 "ts_rank(d.tsv_en, plainto_tsquery('english', $%d))) * "
                                 "(1 + ln(1 + d.rank_score))", q, q);
        }
    } else {
        p->score = xstrdup("d.rank_score");
    }
    dsl_where w;
    dsl_build_where(p->filter, p->nparams + 1, &w);
    if (p->nparams + w.nparams > SEARCH_MAX_PARAMS) {
        int room = SEARCH_MAX_PARAMS - p->nparams, n = w.nparams;
        free(text);
        search_plan_free(p);
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "filter_json: %d values, at most %d in one search", n, room);
    }
    for (int i = 0; i < w.nparams; i++)
        search_plan_param(p, w.params[i]);
    p->where = xasprintf(SEARCH_VISIBLE " AND %s AND (%s)", text, w.sql);
    free(text);
    int rc = set_sort(c, p, (int)req->sort);
    if (rc != GRPC_STATUS_OK)
        search_plan_free(p);
    return rc;
}
