/*
 * card_tx: the transaction of one changing card call (card_tx.c), shared
 * by Authorize, Capture, Void and Refund.
 */
#ifndef GAVEL_PAYMENTS_CARD_TX_H
#define GAVEL_PAYMENTS_CARD_TX_H

#include "idem/idem.h"
#include "payments.h"

/* One call's open transaction and key; on the handler's stack. */
typedef struct {
    db_conn *conn;   /* NULL once committed or aborted */
    idem_key key;
} card_tx;

/**
 * Checks key, opens the transaction and claims the key for req (already
 * normalised) in scope. Returns OK with the transaction open and *replay
 * NULL for a new key; OK with the transaction closed and *replay the
 * first answer (call's arena) for a replay; or the failure, recorded on c
 * (FAILED_PRECONDITION for a key used with another request).
 */
int card_begin(rpc_call *c, card_tx *t, const char *scope, const char *key,
               const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
               ProtobufCMessage **replay);
/** Stores resp under the key and commits. OK, or the failure recorded. */
int card_commit(rpc_call *c, card_tx *t, const ProtobufCMessage *resp);
/** Rolls back; safe when already closed. */
void card_abort(card_tx *t);
/** Rolls back and records the database failure rc on c. */
int card_fail_db(rpc_call *c, card_tx *t, int rc);
/**
 * card_begin, then locks the card payment id (payment_lock) for the call
 * on a card payment: OK with *pm (call's arena) set and the transaction
 * open; OK with *replay set (closed); or the failure, recorded: NOT_FOUND
 * for a payment missing or another's (a bidder), PERMISSION_DENIED for a
 * bidder on a lot payment, FAILED_PRECONDITION for a settlement's
 * payment, UNAVAILABLE while the provider's pause lasts.
 */
int card_begin_on_payment(rpc_call *c, card_tx *t, const char *scope, const char *key,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
                          int64_t id, Gavel__Payments__V1__Payment **pm,
                          ProtobufCMessage **replay);
/** Rolls back and refuses pm in its state: FAILED_PRECONDITION "payment N
 *  is STATE: it cannot be <what>". */
int card_refuse_state(rpc_call *c, card_tx *t, const Gavel__Payments__V1__Payment *pm,
                      const char *what);

#endif
