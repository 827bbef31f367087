/*
 * The lot lifecycle driven by people: SubmitLot, ModerateLot, ScheduleLot
 * and CancelLot. Each runs one transaction: lock the lot, check who may
 * act and that the current state allows the step (else
 * FAILED_PRECONDITION naming the state), write the new state, record the
 * transition with actor and time, publish it through the outbox. The
 * scheduler's own steps (LIVE, CLOSED) live in scheduler.c.
 */
#include <string.h>

#include "auctions.h"

#define STATE_BIT(s) (1u << GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_##s)

typedef struct step step;
struct step {
    rpc_call *c;
    int64_t lot_id;
    const char *op;            /* "SubmitLot", for messages */
    unsigned from;             /* STATE_BIT set the step starts from */
    const char *from_text;     /* "DRAFT or REJECTED" */
    const char *reason;        /* recorded in the history */
    /* Extra checks and the write: returns 0 with *out the new row, or
     * DB_E_* / DB_E_ABORT after setting status. */
    int (*apply)(step *s, db_conn *conn, Gavel__Auctions__V1__Lot *cur,
                 Gavel__Auctions__V1__Lot **out);
    const void *req;
    int status;
    Gavel__Auctions__V1__Lot *out;
};

static int step_refuse(step *s, int status)
{
    s->status = status;
    return DB_E_ABORT;
}

static int step_body(db_conn *conn, void *arg)
{
    step *s = arg;
    Gavel__Auctions__V1__Lot *cur;
    int rc = lot_load(s->c, conn, s->lot_id, true, &cur);
    if (rc != 0)
        return step_refuse(s, rc);
    const rpc_principal *p = rpc_caller(s->c);
    if (p->role == RPC_ROLE_SELLER && cur->seller_id != p->user_id)
        return step_refuse(s, rpc_fail(s->c, GRPC_STATUS_NOT_FOUND, "lot %lld not found",
                                       (long long)cur->id));
    if ((s->from & (1u << cur->state)) == 0)
        return step_refuse(s, rpc_fail(s->c, GRPC_STATUS_FAILED_PRECONDITION,
                                       "lot %lld is %s; %s needs %s", (long long)cur->id,
                                       lot_state_upper(cur->state), s->op, s->from_text));
    if ((rc = s->apply(s, conn, cur, &s->out)) < 0)
        return rc;
    lot_actor who = lot_actor_of(s->c);
    return lot_record_transition(conn, s->out, cur->state, &who, s->reason);
}

/* Runs the step and answers with the lot. */
static int step_run(step *s, const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **out)
{
    int rc = db_tx(auctions.db, DB_READ_COMMITTED, step_body, s);
    if (rc == DB_E_ABORT)
        return s->status;
    if (rc < 0)
        return check_fail_db(s->c, rc);
    ev_relay_kick(auctions.relay);
    scheduler_kick();
    /* Every lifecycle response is { Lot lot = 1; }. */
    ProtobufCMessage *resp = rpc_new(s->c, resp_desc);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(resp_desc, 1);
    memcpy((char *)resp + f->offset, &s->out, sizeof s->out);
    *out = resp;
    return GRPC_STATUS_OK;
}

static int set_state(step *s, db_conn *conn, const Gavel__Auctions__V1__Lot *cur,
                     Gavel__Auctions__V1__LotState to, const char *rejection,
                     Gavel__Auctions__V1__Lot **out)
{
    char id[24], now[24];
    const char *p[] = { db_i64(id, cur->id), lot_state_text(to), rejection,
                        db_i64(now, now_us()) };
    return lot_exec_one(rpc_arena(s->c), conn, "lot_set_state", 4, p, out);
}

/* ---- SubmitLot ---- */

static int apply_submit(step *s, db_conn *conn, Gavel__Auctions__V1__Lot *cur,
                        Gavel__Auctions__V1__Lot **out)
{
    int rc = lot_check_complete(s->c, cur);
    if (rc != 0)
        return step_refuse(s, rc);
    return set_state(s, conn, cur, GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_IN_REVIEW, "", out);
}

int auctions_submit_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__SubmitLotRequest *req = (const void *)in;
    step s = { .c = c, .lot_id = req->lot_id, .op = "SubmitLot",
               .from = STATE_BIT(DRAFT) | STATE_BIT(REJECTED),
               .from_text = "DRAFT or REJECTED", .reason = "", .apply = apply_submit };
    return step_run(&s, &gavel__auctions__v1__submit_lot_response__descriptor, out);
}

/* ---- ModerateLot ---- */

static int apply_moderate(step *s, db_conn *conn, Gavel__Auctions__V1__Lot *cur,
                          Gavel__Auctions__V1__Lot **out)
{
    const Gavel__Auctions__V1__ModerateLotRequest *req = s->req;
    bool approve = req->decision == GAVEL__AUCTIONS__V1__MODERATION_DECISION__MODERATION_DECISION_APPROVE;
    return set_state(s, conn, cur,
                     approve ? GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_APPROVED
                             : GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_REJECTED,
                     approve ? "" : req->reason, out);
}

int auctions_moderate_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__ModerateLotRequest *req = (const void *)in;
    int rc;
    if (req->decision == GAVEL__AUCTIONS__V1__MODERATION_DECISION__MODERATION_DECISION_APPROVE) {
        if ((rc = check_prose(c, "reason", req->reason, 0, 1000)) != 0)
            return rc;
    } else if (req->decision ==
               GAVEL__AUCTIONS__V1__MODERATION_DECISION__MODERATION_DECISION_REJECT) {
        if ((rc = check_prose(c, "reason", req->reason, 1, 1000)) != 0)
            return rc;
    } else {
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "decision must be APPROVE or REJECT");
    }
    step s = { .c = c, .lot_id = req->lot_id, .op = "ModerateLot", .from = STATE_BIT(IN_REVIEW),
               .from_text = "IN_REVIEW", .reason = req->reason, .apply = apply_moderate,
               .req = req };
    return step_run(&s, &gavel__auctions__v1__moderate_lot_response__descriptor, out);
}

/* ---- ScheduleLot ---- */

#define YEAR_US (366LL * 24 * 3600 * 1000000)
#define MAX_DURATION_US (30LL * 24 * 3600 * 1000000)

static int check_times(rpc_call *c, const Gavel__Auctions__V1__ScheduleLotRequest *req,
                       const Gavel__Auctions__V1__Lot *cur, int64_t now, int64_t *ends)
{
    int64_t lead = auctions.min_lead_ms * 1000, min_len = auctions.min_duration_ms * 1000;
    if (req->starts_at_us < now + lead || req->starts_at_us > now + YEAR_US)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "starts_at_us must be %lld ms to one year after server time %lld",
                        (long long)auctions.min_lead_ms, (long long)now);
    if (req->venue) { /* no fixed end: the clerk's hammer closes it */
        if (req->ends_at_us != 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "ends_at_us must be 0 for a venue lot (the hammer ends it)");
        if (cur->soft_close_window_seconds != 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.soft_close_window_seconds must be 0 for a venue lot");
        /* The room sells a venue lot: an online bid at the buy-now price
         * would end it in the bids service while the clerk still runs it. */
        if (cur->buy_now_price != NULL && cur->buy_now_price->units > 0)
            return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                            "lot.buy_now_price must be unset for a venue lot (the hammer "
                            "sells it); remove it or schedule a timed lot");
        *ends = 0;
        return GRPC_STATUS_OK;
    }
    *ends = req->ends_at_us != 0 ? req->ends_at_us
                                 : req->starts_at_us + auctions.default_duration_ms * 1000;
    if (*ends < req->starts_at_us + min_len || *ends > req->starts_at_us + MAX_DURATION_US)
        return rpc_fail(c, GRPC_STATUS_INVALID_ARGUMENT,
                        "ends_at_us must be %lld ms to 30 days after starts_at_us",
                        (long long)auctions.min_duration_ms);
    return GRPC_STATUS_OK;
}

static int session_for(step *s, db_conn *conn, int64_t requested, int64_t *session)
{
    char a[24], b[24];
    int rc = 0;
    PGresult *r;
    if (requested != 0) {
        const char *p[] = { db_i64(a, requested) };
        if ((r = db_exec(conn, "session_exists", 1, p, &rc)) == NULL)
            return rc;
        bool found = PQntuples(r) == 1;
        PQclear(r);
        if (!found)
            return step_refuse(s, rpc_fail(s->c, GRPC_STATUS_NOT_FOUND,
                                           "session %lld not found", (long long)requested));
        *session = requested;
        return 0;
    }
    const char *p[] = { db_i64(a, rpc_caller(s->c)->user_id), db_i64(b, now_us()) };
    if ((r = db_exec(conn, "session_new", 2, p, &rc)) == NULL)
        return rc;
    *session = db_get_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

static int apply_schedule(step *s, db_conn *conn, Gavel__Auctions__V1__Lot *cur,
                          Gavel__Auctions__V1__Lot **out)
{
    const Gavel__Auctions__V1__ScheduleLotRequest *req = s->req;
    int64_t now = now_us(), ends = 0, session = 0;
    if (cur->state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED &&
        cur->starts_at_us < now + auctions.min_lead_ms * 1000)
        return step_refuse(s, rpc_fail(s->c, GRPC_STATUS_FAILED_PRECONDITION,
                                       "lot %lld opens within %lld ms; it can no longer move",
                                       (long long)cur->id, (long long)auctions.min_lead_ms));
    int rc = check_times(s->c, req, cur, now, &ends);
    if (rc != 0)
        return step_refuse(s, rc);
    if ((rc = session_for(s, conn, req->session_id, &session)) < 0)
        return rc;
    /* The owner is chosen once, before the lot can open (lot_schedule keeps
     * a rescheduled lot's). */
    char owner[RPC_OWNER_NAME_MAX] = "";
    if (cur->state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_APPROVED &&
        (rc = bids_choose_instance(s->c, cur->id, owner, sizeof owner)) != 0)
        return step_refuse(s, rc);
    char id[24], sid[24], st[24], en[24], nw[24];
    const char *p[] = { db_i64(id, cur->id), db_i64(sid, session), db_i64(st, req->starts_at_us),
                        db_i64(en, ends), db_i64(nw, now), req->venue ? "true" : "false", owner };
    return lot_exec_one(rpc_arena(s->c), conn, "lot_schedule", 7, p, out);
}

int auctions_schedule_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__ScheduleLotRequest *req = (const void *)in;
    step s = { .c = c, .lot_id = req->lot_id, .op = "ScheduleLot",
               .from = STATE_BIT(APPROVED) | STATE_BIT(SCHEDULED),
               .from_text = "APPROVED or SCHEDULED", .reason = "", .apply = apply_schedule,
               .req = req };
    int rc = step_run(&s, &gavel__auctions__v1__schedule_lot_response__descriptor, out);
    /* After the commit: the gateway's fast path. The scheduler writes it
     * again at OpenLot, and a reader that misses it asks GetLot. */
    if (rc == GRPC_STATUS_OK && s.out->bids_instance[0] != '\0' &&
        rpc_owner_record(s.out->id, s.out->bids_instance) < 0)
        log_warn("lot %lld: cannot record its bids instance in Redis", (long long)s.out->id);
    return rc;
}

/* ---- CancelLot ---- */

static int apply_cancel(step *s, db_conn *conn, Gavel__Auctions__V1__Lot *cur,
                        Gavel__Auctions__V1__Lot **out)
{
    const rpc_principal *p = rpc_caller(s->c);
    bool before_schedule = (STATE_BIT(DRAFT) | STATE_BIT(IN_REVIEW) | STATE_BIT(APPROVED) |
                            STATE_BIT(REJECTED)) & (1u << cur->state);
    if (p->role == RPC_ROLE_SELLER && !before_schedule)
        return step_refuse(s, rpc_fail(s->c, GRPC_STATUS_PERMISSION_DENIED,
                                       "lot %lld is %s: a seller may cancel only before it is "
                                       "scheduled; ask an admin",
                                       (long long)cur->id, lot_state_upper(cur->state)));
    /* A lot the bids service may know (LIVE, or due to open) is closed there
     * first, with no winner and every hold released; the row lock keeps the
     * scheduler away meanwhile. */
    bool may_be_open = cur->state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_LIVE ||
                       (cur->state == GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_SCHEDULED &&
                        cur->starts_at_us <= now_us());
    int rc;
    if (may_be_open && (rc = bids_cancel_lot(s->c, cur)) != 0)
        return step_refuse(s, rc);
    return set_state(s, conn, cur, GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_CANCELLED,
                     cur->rejection_reason, out);
}

int auctions_cancel_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out)
{
    const Gavel__Auctions__V1__CancelLotRequest *req = (const void *)in;
    int rc = check_prose(c, "reason", req->reason, 1, 1000);
    if (rc != 0)
        return rc;
    step s = { .c = c, .lot_id = req->lot_id, .op = "CancelLot",
               .from = STATE_BIT(DRAFT) | STATE_BIT(IN_REVIEW) | STATE_BIT(APPROVED) |
                       STATE_BIT(REJECTED) | STATE_BIT(SCHEDULED) | STATE_BIT(LIVE),
               .from_text = "a state before CLOSED", .reason = req->reason,
               .apply = apply_cancel, .req = req };
    return step_run(&s, &gavel__auctions__v1__cancel_lot_response__descriptor, out);
}
