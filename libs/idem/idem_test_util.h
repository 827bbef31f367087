/*
 * idem_test_util.h: helpers of the idem tests, never for library code.
 * Include after <cmocka.h>.
 *
 * Tests read a libpq conninfo from GAVEL_TEST_PG_DSN and skip without one
 * (libs/db/db_test_util.h).
 * Each works in a schema of its own (idemtest_<us>_<pid>_<n>), migrated
 * with idem_migrations and dropped at the end, so runs never see each
 * other's keys. Calls are detached calls (rpc_call_new_detached) of a
 * caller with the subject the test names; requests and answers are
 * gavel.common.v1.Money, a message as good as any.
 */
#ifndef GAVEL_IDEM_TEST_UTIL_H
#define GAVEL_IDEM_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "db/db_test_util.h"
#include "idem/idem.h"
#include "gavel/common/v1/common.pb-c.h"

typedef struct {
    char *schema;
    PGconn *pg;       /* for inspection, search_path set to the schema */
    db_pool *pool;    /* connections in the schema */
} idt_db;

static inline void idt_db_open(idt_db *d, int pool_size)
{
    static int n;
    const char *base = test_dsn();
    d->schema = xasprintf("idemtest_%lld_%d_%d", (long long)now_us(), (int)getpid(), ++n);
    d->pg = test_pg();
    char *sql = xasprintf("CREATE SCHEMA %s; SET search_path = %s", d->schema, d->schema);
    test_sql(d->pg, sql);
    free(sql);
    bool is_uri = strncmp(base, "postgres://", 11) == 0 || strncmp(base, "postgresql://", 13) == 0;
    char *dsn = is_uri ? xasprintf("%s%soptions=-csearch_path%%3D%s", base,
                                   strchr(base, '?') != NULL ? "&" : "?", d->schema)
                       : xasprintf("%s options='-csearch_path=%s'", base, d->schema);
    char err[256];
    d->pool = db_pool_new(dsn, pool_size, NULL, err, sizeof err);
    free(dsn);
    if (d->pool == NULL)
        fail_msg("db_pool_new: %s", err);
    assert_int_equal(db_migrate(d->pool, "idem", idem_migrations), 0);
}

static inline void idt_db_close(idt_db *d)
{
    char *sql = xasprintf("DROP SCHEMA %s CASCADE", d->schema);
    db_pool_free(d->pool);
    test_sql(d->pg, sql);
    free(sql);
    PQfinish(d->pg);
    free(d->schema);
}

/* A detached call of caller `subject` (a service identity). */
static inline rpc_call *idt_call(const char *subject)
{
    rpc_principal p = { .role = RPC_ROLE_SERVICE };
    snprintf(p.subject, sizeof p.subject, "%s", subject);
    return rpc_call_new_detached(&p);
}

/* Money of units in c's arena: a request or an answer. */
static inline ProtobufCMessage *idt_money(rpc_call *c, int64_t units)
{
    Gavel__Common__V1__Money *m =
        (void *)rpc_new(c, &gavel__common__v1__money__descriptor);
    m->currency = rpc_strdup(c, "RUB");
    m->units = units;
    return &m->base;
}

static inline int64_t idt_units(const ProtobufCMessage *m)
{
    assert_non_null(m);
    assert_ptr_equal(m->descriptor, &gavel__common__v1__money__descriptor);
    return ((const Gavel__Common__V1__Money *)m)->units;
}

/* One single call under a key, as a service makes it: claim, and when the
 * key is new, answer and store, then commit (or fail, rolling back). */
typedef struct {
    const char *subject, *scope, *key;
    int64_t request;      /* the request's units */
    int64_t answer;       /* its answer's units, when the key is new */
    bool fails;           /* the call fails after claiming: rolls back */
    /* results */
    int rc;               /* of db_tx */
    idem_state state;
    int64_t shown;        /* units of the first answer it was shown, or -1 */
} idt_single;

/* Initialisers of an idt_single: a call, or one that fails after its claim. */
#define IDT_CALL(subject_, scope_, key_, request_, answer_)                                  \
    { .subject = (subject_), .scope = (scope_), .key = (key_), .request = (request_),       \
      .answer = (answer_) }
#define IDT_FAILING(subject_, scope_, key_, request_, answer_)                               \
    { .subject = (subject_), .scope = (scope_), .key = (key_), .request = (request_),       \
      .answer = (answer_), .fails = true }

typedef struct {
    idt_single *s;
    rpc_call *c;
    idem_key k;
} idt_single_run;

static inline int idt_single_body(db_conn *conn, void *arg)
{
    idt_single_run *r = arg;
    ProtobufCMessage *stored = NULL;
    int rc = idem_claim(r->c, conn, &r->k, &r->s->state, &stored);
    r->s->shown = stored != NULL ? idt_units(stored) : -1;
    if (rc < 0 || r->s->state != IDEM_NEW)
        return rc;
    if (r->s->fails)
        return DB_E_ABORT;
    return idem_store(r->c, conn, &r->k, idt_money(r->c, r->s->answer));
}

static inline idem_key idt_key(rpc_call *c, const idt_single *s)
{
    idem_key k = { .scope = s->scope, .key = s->key,
                   .resp_desc = &gavel__common__v1__money__descriptor };
    idem_request_hash(idt_money(c, s->request), k.hash);
    return k;
}

static inline void idt_single_call(db_pool *pool, idt_single *s)
{
    idt_single_run r = { .s = s, .c = idt_call(s->subject) };
    r.k = idt_key(r.c, s);
    s->rc = db_tx(pool, DB_READ_COMMITTED, idt_single_body, &r);
    rpc_call_free_detached(r.c);
}

/* A call holding its key: claimed in a transaction left open on conn, so
 * that other calls with the key wait for it. */
typedef struct {
    idt_single s;
    rpc_call *c;
    idem_key k;
    db_conn *conn;
} idt_open_claim;

static inline void idt_claim_open(idt_db *d, idt_open_claim *o, idt_single s)
{
    o->s = s;
    o->c = idt_call(s.subject);
    o->k = idt_key(o->c, &s);
    o->conn = db_pool_get(d->pool, 1000);
    assert_non_null(o->conn);
    assert_int_equal(db_command(o->conn, "BEGIN"), 0);
    ProtobufCMessage *stored = NULL;
    assert_int_equal(idem_claim(o->c, o->conn, &o->k, &o->s.state, &stored), 0);
    assert_int_equal(o->s.state, IDEM_NEW);
}

/* Polls until another session waits on o's locks; fails after 10 s. */
static inline void idt_wait_until_blocked(idt_db *d, const idt_open_claim *o)
{
    char *sql = xasprintf("SELECT count(*) FROM pg_stat_activity "
                          "WHERE %d = ANY(pg_blocking_pids(pid))", PQbackendPID(db_pg(o->conn)));
    int64_t deadline = mono_us() + 10 * 1000000LL;
    while (test_sql_i64(d->pg, sql) == 0) {
        if (mono_us() > deadline)
            fail_msg("nobody waited on the open claim");
        usleep(2000);
    }
    free(sql);
}

/* Ends o's call: it answers and commits, or fails and rolls back. */
static inline void idt_claim_end(idt_db *d, idt_open_claim *o, bool commits)
{
    if (commits) {
        assert_int_equal(idem_store(o->c, o->conn, &o->k, idt_money(o->c, o->s.answer)), 0);
        assert_int_equal(db_command(o->conn, "COMMIT"), 0);
    } else {
        assert_int_equal(db_command(o->conn, "ROLLBACK"), 0);
    }
    db_pool_put(d->pool, o->conn);
    rpc_call_free_detached(o->c);
}

#endif
