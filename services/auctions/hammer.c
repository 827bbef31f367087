/*
 * HammerLot: the clerk's hammer on a live venue lot. One transaction, as
 * the scheduler's close: lock the lot, close it in the bids service
 * (CloseLot with hammer, idempotent) while the row stays locked, record
 * the result, the history and auction.closed (closing.c), commit. A retry
 * after the lot closed answers the closed lot; a crash before COMMIT
 * leaves it LIVE here, and the retry's CloseLot gets the recorded outcome
 * from the bids service.
 */
#include "auctions.h"

typedef struct {
    rpc_call *c;
    int64_t lot_id;
    int status;                    /* the refusal, with DB_E_ABORT */
    Gavel__Auctions__V1__Lot *out;
} hammer_job;

static int refuse(hammer_job *j, int status)
{
    j->status = status;
    return DB_E_ABORT;
}

static int hammer_body(db_conn *conn, void *arg)
{
    hammer_job *j = arg;
    Gavel__Auctions__V1__Lot *cur;
    int rc = lot_load(j->c, conn, j->lot_id, true, &cur);
    if (rc != 0)
        return refuse(j, rc);
    if (!cur->venue)
        return refuse(j, rpc_fail(j->c, GRPC_STATUS_FAILED_PRECONDITION,
                                  "lot %lld is not a venue lot: it ends at its time",
                                  (long long)cur->id));
    if (cur->state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CLOSED) {
        j->out = cur; /* hammered already: the same answer again */
        return 0;
    }
    if (cur->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE)
        return refuse(j, rpc_fail(j->c, GRPC_STATUS_FAILED_PRECONDITION,
                                  "lot %lld is %s; HammerLot needs LIVE", (long long)cur->id,
                                  lot_state_upper(cur->state)));
    char err[256];
    Gavel__Bids__V1__CloseLotResponse *resp = NULL;
    grpc_status_code st = bids_hammer(cur, &resp, err, sizeof err);
    if (st != GRPC_STATUS_OK) {
        log_warn("HammerLot %lld: bids CloseLot failed (%d): %s", (long long)cur->id, (int)st,
                 err);
        return refuse(j, rpc_fail(j->c, GRPC_STATUS_UNAVAILABLE,
                                  "the bids service could not close lot %lld (%s); nothing "
                                  "changed, retry", (long long)cur->id, err));
    }
    if (resp->outcome == GAVEL__BIDS__V1__CLOSE_OUTCOME__CLOSE_OUTCOME_EXTENDED) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return refuse(j, rpc_fail(j->c, GRPC_STATUS_FAILED_PRECONDITION,
                                  "lot %lld is not live in the bids service yet; retry",
                                  (long long)cur->id));
    }
    lot_actor who = lot_actor_of(j->c);
    rc = lot_write_close(rpc_arena(j->c), conn, cur, resp, &who, "the hammer", &j->out);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int auctions_hammer_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__HammerLotRequest *req = (const void *)in;
    if (req->lot_id <= 0)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "lot_id must be a positive id");
    hammer_job j = { .c = c, .lot_id = req->lot_id };
    int rc = db_tx(auctions.db, DB_READ_COMMITTED, hammer_body, &j);
    if (rc == DB_E_ABORT)
        return j.status;
    if (rc < 0)
        return check_fail_db(c, rc);
    ev_relay_kick(auctions.relay);
    Gavel__Auctions__V1__HammerLotResponse *r =
        (void *)rpc_new(c, &gavel__auctions__v1__hammer_lot_response__descriptor);
    r->lot = j.out;
    *out = &r->base;
    return GRPC_STATUS_OK;
}
