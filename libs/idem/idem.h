/*
 * idem: idempotency keys, the one implementation every Gavel service that
 * changes state under a client's key uses (users' Wallet, auctions'
 * CreateLot, payments next).
 *
 * A key belongs to its caller, the verified subject of the call's token,
 * and to a scope (a method, or one key space several methods share): the
 * row is (scope, caller, key), so callers never replay, conflict with or
 * learn of each other's keys. A request is known by its hash: the SHA-256
 * of its normalised encoding, so a retry that spells a field differently
 * but means the same ("me" and an explicit id) hashes alike.
 *
 * The key is claimed by inserting its row in the call's own transaction,
 * before the change:
 *   - a new key: the call goes on, and stores its answer in the row before
 *     COMMIT; a call that fails rolls back and frees the key for a retry;
 *   - the same key, the same request: the stored first answer, byte for
 *     byte;
 *   - the same key, another request: a conflict (the service answers
 *     FAILED_PRECONDITION in its own words, shown the first answer);
 *   - the same key while its first call is still open: the claim waits on
 *     the row lock, then finds the committed answer (or, if that call
 *     rolled back, the key free).
 *
 * The table (idem_keys) is the library's, created by idem_migrations in
 * each service database that uses it, and its statements are the
 * library's own (db_own_exec, db_pipe_send_own), run on the service's
 * connections inside the service's transactions.
 *
 * Threads: everything runs on the thread that holds the call and the
 * connection; nothing is shared.
 */
#ifndef GAVEL_IDEM_H
#define GAVEL_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "db/db.h"
#include "rpc/rpc.h"

/** The table of keys; apply with db_migrate(pool, "idem", idem_migrations)
 *  before any call uses a key (and before a service migration that moves
 *  its older keys into it). */
extern const db_migration idem_migrations[];

/* ---- the request hash (idem_hash.c) ---- */

#define IDEM_HASH_HEX 65 /* 64 lower-case hex digits and a NUL */

/** The request hash of a request already normalised to bytes: the hex
 *  SHA-256 of bytes[0..n). */
void idem_hash(const void *bytes, size_t n, char hex[IDEM_HASH_HEX]);
/** The request hash of a normalised message: idem_hash of its protobuf
 *  encoding. Allocates nothing for messages up to 1 KiB. */
void idem_request_hash(const ProtobufCMessage *req, char hex[IDEM_HASH_HEX]);

/* ---- one call's key (idem_key.c) ---- */

/* What a call found under its key. */
typedef enum { IDEM_NEW, IDEM_REPLAY, IDEM_CONFLICT } idem_state;

/* One call's key, as idem_claim and idem_store take it; lives on the
 * handler's stack, its strings borrowed for the call. */
typedef struct {
    const char *scope;                           /* key space, e.g. "ReserveFunds" */
    const char *key;                             /* checked: check_idempotency_key */
    char hash[IDEM_HASH_HEX];                    /* of the normalised request */
    const ProtobufCMessageDescriptor *resp_desc; /* what the stored answer is */
} idem_key;

/** Whose keys the call uses: its verified subject (a user id as text, or
 *  a service name). Borrowed from the call. A call without a verified
 *  caller never reaches a key (methods that take keys are not public):
 *  panics. */
const char *idem_caller(const rpc_call *c);

/**
 * Claims k for the caller of c inside the transaction open on conn; may
 * wait for another transaction holding the same key. Sets *state; on
 * IDEM_REPLAY and IDEM_CONFLICT *stored is the first answer, unpacked into
 * the call's arena (NULL on IDEM_NEW). Returns 0, or DB_E_* (DB_E_RETRY
 * when a key was found claimed but unanswered, which only a broken race
 * can show: the transaction should run again).
 */
int idem_claim(rpc_call *c, db_conn *conn, const idem_key *k, idem_state *state,
               ProtobufCMessage **stored);
/** Stores resp (packed now) as the answer to k, which c claimed in the
 *  same, still open, transaction. Returns 0 or DB_E_*. */
int idem_store(rpc_call *c, db_conn *conn, const idem_key *k, const ProtobufCMessage *resp);

/* ---- many calls' keys in one transaction (idem_batch.c) ---- */

/*
 * A batch of calls, each with its key and request, decided in one
 * transaction with a constant number of statements however many there are:
 * one claims every distinct key (in byte order, so two batches lock keys in
 * the same order), one reads the answers stored under keys claimed before
 * (only when there are any), and one, at the end, stores the new answers
 * and gives back keys claimed for calls that were refused. The claim and
 * the end travel in the service's own pipelines (db_pipe_*), beside its
 * other statements. Inside the batch a key's history is that of the single
 * calls made one after another, in item order: once an item is answered,
 * later items with its key replay (same request) or conflict; a refused
 * item leaves its key free for a later one.
 *
 * Everything lives in the call's arena; items are numbered 0..n-1.
 */
typedef struct idem_batch idem_batch;

/** A new batch of n items' keys in scope for call c (its caller's keys),
 *  whose answers are resp_desc messages; in the call's arena. */
idem_batch *idem_batch_new(rpc_call *c, const char *scope,
                           const ProtobufCMessageDescriptor *resp_desc, size_t n);
/** Item i's key (borrowed for the call) and normalised request (hashed
 *  now). Every item is set before the first idem_batch_attempt. */
void idem_batch_set(idem_batch *b, size_t i, const char *key, const ProtobufCMessage *req);
/** Starts a transaction attempt: forgets all the last one learnt (a
 *  retried transaction begins afresh). Call at the top of each attempt. */
void idem_batch_attempt(idem_batch *b);
/** Prepares, outside any pipeline, the statements idem_batch_send_claim and
 *  idem_batch_send_finish pipe, once per session, so they go as prepared
 *  statements. Returns 0 or DB_E_*. */
int idem_batch_prepare(db_conn *conn);
/** Sends into conn's open pipeline the claim of every distinct key; a key
 *  another transaction holds is waited for. Its result, when the pipeline
 *  is finished, goes to idem_batch_read_claim. */
void idem_batch_send_claim(idem_batch *b, db_conn *conn);
/** Reads the claim's result r (borrowed). Returns how many keys were
 *  claimed earlier: when any, idem_batch_load must run next. */
size_t idem_batch_read_claim(idem_batch *b, const PGresult *r);
/** Reads the answers stored under the keys claimed earlier (one
 *  statement). Returns 0 or DB_E_* (DB_E_RETRY for a broken race). */
int idem_batch_load(idem_batch *b, db_conn *conn);
/** Item i's key at this point of the batch: IDEM_REPLAY or IDEM_CONFLICT
 *  against the stored answer or an earlier item's, else IDEM_NEW (the
 *  caller decides the item, and idem_batch_take when it applied). */
idem_state idem_batch_check(const idem_batch *b, size_t i);
/** Item i (IDEM_NEW, applied) answers its key in this attempt. */
void idem_batch_take(idem_batch *b, size_t i);
/** The answer of item i, which took its key; borrowed (the call's). */
void idem_batch_answer(idem_batch *b, size_t i, ProtobufCMessage *resp);
/** The answer an item that checked IDEM_REPLAY gives: the stored one or
 *  the taking item's (once idem_batch_answer gave it). Borrowed. */
ProtobufCMessage *idem_batch_replay(const idem_batch *b, size_t i);
/** True when this attempt claimed a key, so idem_batch_send_finish has
 *  rows to finish before COMMIT. */
bool idem_batch_has_claims(const idem_batch *b);
/** Sends into conn's open pipeline one statement storing the answers of
 *  the keys taken and deleting the claims of the keys no item took. */
void idem_batch_send_finish(const idem_batch *b, db_conn *conn);

#endif
