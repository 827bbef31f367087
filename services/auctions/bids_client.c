/*
 * Calls into the bids service with this daemon's service identity:
 * OpenLot with a lot's rules, CloseLot (authoritative, idempotent). Both
 * are safe to repeat, which is what lets the scheduler call them while it
 * holds a lot's row lock and retry after a crash. Every call goes to the
 * instance recorded on the lot (lots.bids_instance, chosen once by
 * bids_choose_instance at the first ScheduleLot), never a recomputed one.
 */
#include <stdlib.h>

#include "auctions.h"

const rpc_client_method bids_open_lot = {
    "/gavel.bids.v1.Bids/OpenLot", &gavel__bids__v1__bids__descriptor,
    &gavel__bids__v1__open_lot_request__descriptor, &gavel__bids__v1__open_lot_response__descriptor
};
const rpc_client_method bids_close_lot = {
    "/gavel.bids.v1.Bids/CloseLot", &gavel__bids__v1__bids__descriptor,
    &gavel__bids__v1__close_lot_request__descriptor,
    &gavel__bids__v1__close_lot_response__descriptor
};

int bids_choose_instance(rpc_call *c, int64_t lot_id, char *name, size_t namelen)
{
    int rc = rpc_owner_pick(lot_id, name, namelen);
    if (rc == RPC_OWNER_E_NONE)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "no bids instance accepts new lots (gavel:bids:accepting is empty); "
                        "nothing changed, retry when one does");
    if (rc < 0)
        return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                        "the bids instance registry (Redis) cannot be read; nothing changed, "
                        "retry");
    return GRPC_STATUS_OK;
}

/* Calls the bids instance recorded for the lot (owner "" = legacy rule). */
static grpc_status_code call_bids(int64_t lot_id, const char *owner,
                                  const rpc_client_method *method, const ProtobufCMessage *req,
                                  ProtobufCMessage **resp, char *err, size_t errlen)
{
    char addr[256];
    int rc = rpc_owner_addr(auctions.bids_owner, lot_id, owner, addr, sizeof addr);
    if (rc < 0) {
        snprintf(err, errlen, "bids instance \"%s\" of lot %lld %s", owner, (long long)lot_id,
                 rc == RPC_OWNER_E_UNKNOWN ? "is not registered" : "cannot be resolved (Redis)");
        return GRPC_STATUS_UNAVAILABLE;
    }
    char *token = rpc_service_token();
    if (token == NULL) {
        snprintf(err, errlen, "no service token (GAVEL_SERVICE_KEY)");
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    rpc_call_opts o = { .token = token, .deadline_ms = (int)auctions.bids_deadline_ms,
                        .idempotent = true };
    rpc_channel *ch = rpc_channel_get(addr);
    grpc_status_code st = rpc_unary(ch, method, req, resp, &o, err, errlen);
    free(token);
    return st;
}

static Gavel__Common__V1__Money *band_money(arena *a, const char *cur, int64_t units)
{
    return check_money_new(a, cur, units);
}

grpc_status_code bids_open(arena *a, const Gavel__Auctions__V1__Lot *lot, const char *currency,
                           char *err, size_t errlen)
{
    Gavel__Bids__V1__OpenLotRequest q = GAVEL__BIDS__V1__OPEN_LOT_REQUEST__INIT;
    q.lot_id = lot->id;
    q.seller_id = lot->seller_id;
    q.currency = (char *)currency;
    q.start_price = lot->start_price;
    q.reserve_price = lot->reserve_price;
    q.buy_now_price = lot->buy_now_price;
    q.starts_at_us = lot->starts_at_us;
    q.ends_at_us = lot->ends_at_us;
    q.soft_close_window_seconds = lot->soft_close_window_seconds;
    q.max_extensions = lot->max_extensions;
    q.venue = lot->venue; /* ends_at_us is 0 then: no end but the hammer */
    q.bids_instance = lot->bids_instance;
    const int64_t *from, *step;
    size_t n = lot->n_increments;
    if (n == 0)
        n = lot_default_bands(&from, &step);
    q.increments = arena_calloc(a, n, sizeof *q.increments);
    q.n_increments = n;
    for (size_t i = 0; i < n; i++) {
        Gavel__Bids__V1__IncrementBand *b = arena_alloc(a, sizeof *b);
        gavel__bids__v1__increment_band__init(b);
        if (lot->n_increments > 0) {
            b->from_amount = lot->increments[i]->from_amount;
            b->increment = lot->increments[i]->increment;
        } else {
            b->from_amount = band_money(a, currency, from[i]);
            b->increment = band_money(a, currency, step[i]);
        }
        q.increments[i] = b;
    }
    ProtobufCMessage *resp = NULL;
    grpc_status_code st =
        call_bids(lot->id, lot->bids_instance, &bids_open_lot, &q.base, &resp, err, errlen);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st;
}

static grpc_status_code close_call(const Gavel__Auctions__V1__Lot *lot, bool cancel, bool hammer,
                                   Gavel__Bids__V1__CloseLotResponse **out, char *err,
                                   size_t errlen)
{
    Gavel__Bids__V1__CloseLotRequest q = GAVEL__BIDS__V1__CLOSE_LOT_REQUEST__INIT;
    q.lot_id = lot->id;
    q.cancel = cancel;
    q.hammer = hammer;
    ProtobufCMessage *resp = NULL;
    grpc_status_code st =
        call_bids(lot->id, lot->bids_instance, &bids_close_lot, &q.base, &resp, err, errlen);
    *out = (Gavel__Bids__V1__CloseLotResponse *)resp;
    return st;
}

grpc_status_code bids_close(const Gavel__Auctions__V1__Lot *lot, bool cancel,
                            Gavel__Bids__V1__CloseLotResponse **out, char *err, size_t errlen)
{
    return close_call(lot, cancel, false, out, err, errlen);
}

grpc_status_code bids_hammer(const Gavel__Auctions__V1__Lot *lot,
                             Gavel__Bids__V1__CloseLotResponse **out, char *err, size_t errlen)
{
    return close_call(lot, false, true, out, err, errlen);
}

int bids_cancel_lot(rpc_call *c, const Gavel__Auctions__V1__Lot *lot)
{
    int64_t lot_id = lot->id;
    char err[256];
    Gavel__Bids__V1__CloseLotResponse *resp = NULL;
    grpc_status_code st = bids_close(lot, true, &resp, err, sizeof err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    if (st == GRPC_STATUS_OK || st == GRPC_STATUS_NOT_FOUND) /* never opened there */
        return GRPC_STATUS_OK;
    log_warn("CancelLot %lld: bids CloseLot failed (%d): %s", (long long)lot_id, (int)st, err);
    return rpc_fail(c, GRPC_STATUS_UNAVAILABLE,
                    "the bids service could not close lot %lld (%s); nothing changed, retry",
                    (long long)lot_id, err);
}
