/*
 * idem_batch: the keys of many calls decided in one transaction (the
 * users wallet batches), in three statements whatever their number: claim
 * all (one INSERT of unnest arrays), read the answers stored under those
 * claimed before (one SELECT, only if any), finish (one statement storing
 * the new answers and deleting the claims nobody took). The first and the
 * last go into the service's pipelines, so they cost no round trip of
 * their own.
 *
 * Invariants: keys are claimed in byte order, as every batch claims them,
 * so two batches never wait on each other's keys in a cycle; a key claimed
 * by this attempt is finished by it (answered, or deleted) before COMMIT,
 * so no committed row lacks an answer. A claimed row is finished by its
 * ctid: this transaction inserted it and no other can touch it, so the
 * address holds, and a TID scan does not depend on statistics (a plan
 * made while the table was small scanned every key of the scope on each
 * batch once it had grown).
 */
#include <stdlib.h>
#include <string.h>

#include "idem/idem_int.h"

#define NO_ITEM ((size_t)-1)

/* A distinct key of the batch. */
typedef struct {
    const char *key;
    const char *claim_hash;     /* one of its items'; finish overwrites it */
    /* per attempt */
    bool is_claimed;            /* inserted by this attempt */
    char row[24];               /* then the row's ctid, "(page,item)" */
    const char *stored_hash;    /* answered before the batch: its request */
    ProtobufCMessage *stored;
    size_t taker;               /* the item that answers it now, or NO_ITEM */
    ProtobufCMessage *answer;   /* the taker's answer, once given */
} slot;

typedef struct {
    const char *key;
    size_t slot;
    char hash[IDEM_HASH_HEX];
} item;

struct idem_batch {
    rpc_call *c;
    const char *scope;
    const ProtobufCMessageDescriptor *resp_desc;
    item *items;                /* [n], in request order */
    size_t n;
    slot *slots;                /* distinct keys in byte order, once sorted */
    size_t nslots;
    bool is_sorted;
    size_t nclaimed;            /* this attempt */
};

static const db_stmt st_claim_many = {
    "idem_claim_many",
    "INSERT INTO idem_keys (scope, caller, key, request_hash) "
    "SELECT $1, $2, k.key, k.hash FROM unnest($3::text[], $4::text[]) WITH ORDINALITY "
    "AS k(key, hash, n) ORDER BY k.n ON CONFLICT DO NOTHING RETURNING key, ctid::text",
};

static const db_stmt st_lookup_many = {
    "idem_lookup_many",
    "SELECT key, request_hash, response FROM idem_keys "
    "WHERE scope = $1 AND caller = $2 AND key = ANY($3::text[])",
};

static const db_stmt st_finish_many = {
    "idem_finish_many",
    "WITH dropped AS (DELETE FROM idem_keys WHERE ctid = ANY($1::tid[])) "
    "UPDATE idem_keys i SET request_hash = v.hash, response = decode(v.resp, 'hex') "
    "FROM unnest($2::tid[], $3::text[], $4::text[]) AS v(at, hash, resp) "
    "WHERE i.ctid = ANY($2::tid[]) AND i.ctid = v.at",
};

idem_batch *idem_batch_new(rpc_call *c, const char *scope,
                           const ProtobufCMessageDescriptor *resp_desc, size_t n)
{
    idem_batch *b = rpc_alloc(c, sizeof *b);
    *b = (idem_batch){ .c = c, .scope = scope, .resp_desc = resp_desc, .n = n };
    b->items = rpc_alloc(c, sizeof *b->items * (n + 1));
    b->slots = rpc_alloc(c, sizeof *b->slots * (n + 1));
    return b;
}

void idem_batch_set(idem_batch *b, size_t i, const char *key, const ProtobufCMessage *req)
{
    b->items[i].key = key;
    idem_request_hash(req, b->items[i].hash);
}

static int item_key_cmp(const void *x, const void *y)
{
    return strcmp((*(item *const *)x)->key, (*(item *const *)y)->key);
}

/* Gathers the items' distinct keys in byte order. */
static void sort_keys(idem_batch *b)
{
    item **by_key = xmalloc(sizeof *by_key * (b->n + 1));
    for (size_t i = 0; i < b->n; i++)
        by_key[i] = &b->items[i];
    qsort(by_key, b->n, sizeof *by_key, item_key_cmp);
    b->nslots = 0;
    for (size_t i = 0; i < b->n; i++) {
        item *it = by_key[i];
        if (b->nslots == 0 || strcmp(b->slots[b->nslots - 1].key, it->key) != 0)
            b->slots[b->nslots++] = (slot){ .key = it->key, .claim_hash = it->hash };
        it->slot = b->nslots - 1;
    }
    free(by_key);
    b->is_sorted = true;
}

void idem_batch_attempt(idem_batch *b)
{
    if (!b->is_sorted)
        sort_keys(b);
    for (size_t i = 0; i < b->nslots; i++) {
        slot *s = &b->slots[i];
        s->is_claimed = false;
        s->row[0] = '\0';
        s->stored_hash = NULL;
        s->stored = NULL;
        s->taker = NO_ITEM;
        s->answer = NULL;
    }
    b->nclaimed = 0;
}

int idem_batch_prepare(db_conn *conn)
{
    int rc = db_own_prepare(conn, &st_claim_many);
    return rc < 0 ? rc : db_own_prepare(conn, &st_finish_many);
}

static slot *slot_find(idem_batch *b, const char *key)
{
    size_t lo = 0, hi = b->nslots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(b->slots[mid].key, key);
        if (d == 0)
            return &b->slots[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void idem_batch_send_claim(idem_batch *b, db_conn *conn)
{
    db_array keys, hashes;
    db_array_init(&keys);
    db_array_init(&hashes);
    for (size_t i = 0; i < b->nslots; i++) {
        db_array_text(&keys, b->slots[i].key);
        db_array_text(&hashes, b->slots[i].claim_hash);
    }
    const char *p[] = { b->scope, idem_caller(b->c), db_array_str(&keys),
                        db_array_str(&hashes) };
    db_pipe_send_own(conn, &st_claim_many, 4, p);
    db_array_free(&keys);
    db_array_free(&hashes);
}

size_t idem_batch_read_claim(idem_batch *b, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        slot *s = slot_find(b, db_get_str(r, i, 0));
        if (s == NULL || s->is_claimed)
            panic("idem_claim_many returned a key the batch did not claim");
        s->is_claimed = true;
        snprintf(s->row, sizeof s->row, "%s", db_get_str(r, i, 1));
    }
    b->nclaimed = (size_t)PQntuples(r);
    return b->nslots - b->nclaimed;
}

/* One row of the lookup (binary result r, borrowed) into its slot. */
static int read_stored(idem_batch *b, const PGresult *r, int row)
{
    slot *s = slot_find(b, PQgetvalue(r, row, 0));
    if (s == NULL || s->is_claimed || PQgetisnull(r, row, 2))
        return DB_E_RETRY;
    s->stored = idem__answer(b->c, b->resp_desc, r, row, 2);
    s->stored_hash = rpc_strdup(b->c, PQgetvalue(r, row, 1));
    if (s->stored != NULL)
        return 0;
    log_error("idem: the answer stored under a %s key is not a %s", b->scope,
              b->resp_desc->name);
    return DB_E_SQL;
}

/* The keys this attempt could not claim were committed before the claim
 * returned (it waits for their writers), so a missing answer means a
 * broken race: start again. */
int idem_batch_load(idem_batch *b, db_conn *conn)
{
    db_array keys;
    db_array_init(&keys);
    for (size_t i = 0; i < b->nslots; i++)
        if (!b->slots[i].is_claimed)
            db_array_text(&keys, b->slots[i].key);
    const char *p[] = { b->scope, idem_caller(b->c), db_array_str(&keys) };
    int rc = 0;
    PGresult *r = db_own_exec(conn, &st_lookup_many, 3, p, NULL, NULL, 1, &rc);
    db_array_free(&keys);
    if (r == NULL)
        return rc;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = read_stored(b, r, i);
    PQclear(r);
    for (size_t i = 0; i < b->nslots && rc == 0; i++)
        if (!b->slots[i].is_claimed && b->slots[i].stored == NULL)
            rc = DB_E_RETRY;
    return rc;
}

idem_state idem_batch_check(const idem_batch *b, size_t i)
{
    const slot *s = &b->slots[b->items[i].slot];
    const char *hash = s->stored != NULL       ? s->stored_hash
                       : s->taker != NO_ITEM   ? b->items[s->taker].hash
                                               : NULL;
    if (hash == NULL)
        return IDEM_NEW;
    return strcmp(hash, b->items[i].hash) == 0 ? IDEM_REPLAY : IDEM_CONFLICT;
}

void idem_batch_take(idem_batch *b, size_t i)
{
    slot *s = &b->slots[b->items[i].slot];
    if (s->stored != NULL || s->taker != NO_ITEM)
        panic("item %zu took a %s key already answered", i, b->scope);
    s->taker = i;
}

void idem_batch_answer(idem_batch *b, size_t i, ProtobufCMessage *resp)
{
    slot *s = &b->slots[b->items[i].slot];
    if (s->taker != i)
        panic("item %zu answered a %s key it did not take", i, b->scope);
    s->answer = resp;
}

ProtobufCMessage *idem_batch_replay(const idem_batch *b, size_t i)
{
    const slot *s = &b->slots[b->items[i].slot];
    return s->stored != NULL ? s->stored : s->answer;
}

bool idem_batch_has_claims(const idem_batch *b)
{
    return b->nclaimed > 0;
}

void idem_batch_send_finish(const idem_batch *b, db_conn *conn)
{
    db_array dropped, rows, hashes, resps;
    db_array_init(&dropped);
    db_array_init(&rows);
    db_array_init(&hashes);
    db_array_init(&resps);
    for (size_t i = 0; i < b->nslots; i++) {
        const slot *s = &b->slots[i];
        if (!s->is_claimed)
            continue;
        if (s->taker == NO_ITEM) {
            db_array_text(&dropped, s->row);
            continue;
        }
        if (s->answer == NULL)
            panic("a %s key taken without an answer", b->scope);
        size_t n = 0;
        uint8_t *buf = idem__pack(s->answer, &n);
        db_array_text(&rows, s->row);
        db_array_text(&hashes, b->items[s->taker].hash);
        db_array_hex(&resps, buf, n);
        free(buf);
    }
    const char *p[] = { db_array_str(&dropped), db_array_str(&rows), db_array_str(&hashes),
                        db_array_str(&resps) };
    db_pipe_send_own(conn, &st_finish_many, 4, p);
    db_array_free(&dropped);
    db_array_free(&rows);
    db_array_free(&hashes);
    db_array_free(&resps);
}
