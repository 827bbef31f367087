/*
 * The category tree: CreateCategory (admins) and ListCategories (anyone),
 * depth first with siblings by sort_order then name. The database keeps
 * slugs unique across the tree and names unique among siblings; the tree
 * is at most 7 levels deep (depth 0..6).
 */
#include <stdlib.h>
#include <string.h>

#include "auctions.h"

#define MAX_DEPTH 6

static Gavel__Auctions__V1__Category *category_from_row(arena *a, const PGresult *r, int i)
{
    Gavel__Auctions__V1__Category *cat = arena_alloc(a, sizeof *cat);
    gavel__auctions__v1__category__init(cat);
    cat->id = db_get_i64(r, i, 0);
    cat->parent_id = db_get_i64(r, i, 1);
    cat->name = arena_strdup(a, db_get_str(r, i, 2));
    cat->slug = arena_strdup(a, db_get_str(r, i, 3));
    cat->depth = (int32_t)db_get_i64(r, i, 4);
    cat->sort_order = (int32_t)db_get_i64(r, i, 5);
    cat->created_at_us = db_get_i64(r, i, 6);
    return cat;
}

static int check_slug(rpc_call *c, const char *slug)
{
    size_t n = strnlen(slug, 65);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (slug[i] >= 'a' && slug[i] <= 'z') || (slug[i] >= '0' && slug[i] <= '9') ||
             slug[i] == '-';
    return ok ? GRPC_STATUS_OK
              : rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                         "slug must be 1 to 64 characters of a-z, 0-9 and -");
}

int auctions_create_category(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__CreateCategoryRequest *req = (const void *)in;
    int rc;
    if ((rc = check_text(c, "name", req->name, 1, 100)) != 0 || (rc = check_slug(c, req->slug)))
        return rc;
    if (req->parent_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "parent_id must not be negative");
    db_conn *conn = db_pool_get(auctions.db, 5000);
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    int depth = 0;
    char a[24], b[24], d[24], s[24];
    PGresult *r = NULL;
    if (req->parent_id != 0) {
        const char *p[] = { db_i64(a, req->parent_id) };
        if ((r = db_exec(conn, "category_get", 1, p, &rc)) == NULL) {
            rc = check_fail_db(c, rc);
            goto out;
        }
        if (PQntuples(r) == 0) {
            rc = rpc_fail(c, GRPC_STATUS_NOT_FOUND, "parent category %lld not found",
                          (long long)req->parent_id);
            goto out;
        }
        depth = (int)db_get_i64(r, 0, 4) + 1;
        PQclear(r);
        r = NULL;
        if (depth > MAX_DEPTH) {
            rc = rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                          "the tree is at most %d levels below a root", MAX_DEPTH);
            goto out;
        }
    }
    /* The parent's depth is read without a lock: categories are never
     * deleted or moved, so it cannot change. */
    const char *p[] = { db_i64(a, req->parent_id), req->name, req->slug, db_i64(d, depth),
                        db_i64(s, req->sort_order), db_i64(b, now_us()) };
    if ((r = db_exec(conn, "category_insert", 6, p, &rc)) == NULL) {
        rc = rc == DB_E_UNIQUE
                 ? rpc_fail(c, GRPC_STATUS_ALREADY_EXISTS,
                            "a category with slug \"%s\" or this name under the same parent "
                            "exists", req->slug)
                 : check_fail_db(c, rc);
        goto out;
    }
    Gavel__Auctions__V1__CreateCategoryResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__create_category_response__descriptor);
    resp->category = category_from_row(rpc_arena(c), r, 0);
    *out = &resp->base;
    rc = GRPC_STATUS_OK;
out:
    PQclear(r);
    db_pool_put(auctions.db, conn);
    return rc;
}

/* Depth-first order: siblings by sort_order, then name, then id. */
typedef struct {
    Gavel__Auctions__V1__Category **all;
    size_t n;
    Gavel__Auctions__V1__Category **out;
    size_t n_out;
} tree_walk;

static int sibling_cmp(const void *x, const void *y)
{
    const Gavel__Auctions__V1__Category *a = *(void *const *)x, *b = *(void *const *)y;
    if (a->sort_order != b->sort_order)
        return a->sort_order < b->sort_order ? -1 : 1;
    int k = strcmp(a->name, b->name);
    if (k != 0)
        return k;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void walk(tree_walk *w, int64_t parent, bool is_root_level, int64_t root_id)
{
    for (size_t i = 0; i < w->n; i++) {
        Gavel__Auctions__V1__Category *cat = w->all[i];
        bool pick = is_root_level ? (root_id == 0 ? cat->parent_id == 0 : cat->id == root_id)
                                  : cat->parent_id == parent;
        if (!pick)
            continue;
        w->out[w->n_out++] = cat;
        walk(w, cat->id, false, 0);
    }
}

int auctions_list_categories(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__ListCategoriesRequest *req = (const void *)in;
    if (req->root_id < 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "root_id must not be negative");
    db_conn *conn = db_pool_get(auctions.db, 5000);
    if (conn == NULL)
        return check_fail_db(c, DB_E_TIMEOUT);
    char a[24];
    const char *p[] = { db_i64(a, req->root_id) };
    int rc = 0;
    PGresult *r = db_exec(conn, "categories_subtree", 1, p, &rc);
    db_pool_put(auctions.db, conn);
    if (r == NULL)
        return check_fail_db(c, rc);
    int n = PQntuples(r);
    if (req->root_id != 0 && n == 0) {
        PQclear(r);
        return rpc_fail(c, GRPC_STATUS_NOT_FOUND, "category %lld not found",
                        (long long)req->root_id);
    }
    arena *ar = rpc_arena(c);
    tree_walk w = { .n = (size_t)n };
    w.all = arena_calloc(ar, w.n + 1, sizeof *w.all);
    w.out = arena_calloc(ar, w.n + 1, sizeof *w.out);
    for (int i = 0; i < n; i++)
        w.all[i] = category_from_row(ar, r, i);
    PQclear(r);
    qsort(w.all, w.n, sizeof *w.all, sibling_cmp);
    walk(&w, 0, true, req->root_id);
    Gavel__Auctions__V1__ListCategoriesResponse *resp =
        (void *)rpc_new(c, &gavel__auctions__v1__list_categories_response__descriptor);
    resp->categories = w.out;
    resp->n_categories = w.n_out;
    *out = &resp->base;
    return GRPC_STATUS_OK;
}
