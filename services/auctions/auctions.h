/*
 * auctions daemon, private header. The pieces:
 *
 *   lifecycle.c    configuration, start-up and shut-down
 *   lot_row.c      the lots table <-> gavel.auctions.v1.Lot, visibility
 *   lot_check.c    field checks of a Lot (drafts may be incomplete; a
 *                  submitted lot must be complete)
 *   lot_store.c    statement parameters of a lot, reading back written rows
 *   lot_sql.c      every prepared statement
 *   lots.c         CreateLot, GetLot, GetLotHistory, the method table
 *   lot_update.c   UpdateLot (field masks, optimistic concurrency)
 *   transitions.c  SubmitLot, ModerateLot, ScheduleLot, CancelLot: the
 *                  lifecycle, every transition recorded and published
 *   lot_events.c   outbox events of a lot (state changes, upserts, closes)
 *   categories.c   CreateCategory, ListCategories
 *   scheduler.c    opens and closes lots in the bids service on time,
 *                  under row leases so replicas never double up
 *   closing.c      records a close the bids service answered (scheduler
 *                  and HammerLot): result, history, auction.closed
 *   hammer.c       HammerLot: the clerk closes a live venue lot
 *   bids_client.c  OpenLot and CloseLot calls
 *   users_client.c GetProfile: CreateLot's check of the seller staff name
 *   catalog.c      ListLots, through libs/dsl
 *                  over libs/dsl/dsl_catalog.c (the fields of lots it may
 *                  name, shared with notifications' saved searches)
 *   pricing.c      QuoteServices and the price-rule admin RPCs
 */
#ifndef GAVEL_AUCTIONS_H
#define GAVEL_AUCTIONS_H

#include <pthread.h>

#include "cache/cache.h"
#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "dsl/dsl.h"
#include "dsl/dsl_catalog.h"
#include "events/events.h"
#include "idem/idem.h"
#include "rpc/rpc.h"
#include "gavel/auctions/v1/auctions.pb-c.h"
#include "gavel/bids/v1/bids.pb-c.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"

#define AUCTIONS_TOPIC "gavel.auctions"

/* ---- process state (lifecycle.c) ---- */
typedef struct {
    db_pool *db;                   /* the skeleton's (rpc_service.db) */
    ev_relay *relay;               /* the skeleton's (rpc_service.outbox) */
    const char *bids_addr;
    const char *bids_addrs;        /* several instances, "" for one */
    rpc_owner *bids_owner;         /* which instance serves a lot (legacy list inside) */
    const char *users_addr;        /* GetProfile (CreateLot's seller check) */
    const char *currency;          /* platform default, e.g. RUB */
    const char *currencies;        /* accepted, comma-separated */
    int64_t min_lead_ms;           /* ScheduleLot: earliest start from now */
    int64_t min_duration_ms;       /* ScheduleLot: shortest auction */
    int64_t default_duration_ms;   /* ScheduleLot with ends_at_us 0 */
    int64_t ending_soon_ms;        /* auction.ending_soon this long before the end */
    int64_t tick_ms;               /* scheduler's longest sleep */
    int64_t bids_deadline_ms;      /* OpenLot/CloseLot deadline */
} auctions_state;

/* The daemon's series, registered from auctions_metrics (lifecycle.c)
 * before post_init; the scheduler updates them. */
typedef struct {
    mx_metric *lots_opened, *lots_closed, *close_extended, *open_refused, *open_lag;
} auctions_metric_set;

extern auctions_state auctions;
extern auctions_metric_set auctions_mx;
extern const mx_entry auctions_metrics[];
extern const cfg_entry auctions_config[];
/* The methods auctions calls (bids_client.c, users_client.c). */
extern const rpc_client_method bids_open_lot, bids_close_lot, users_get_profile;
extern const db_migration auctions_migrations[]; /* generated from migrations/ */
extern const db_stmt auctions_stmts[];           /* lot_sql.c */
extern const rpc_method lots_methods[];          /* lots.c, transitions.c, categories.c */
extern const rpc_method catalog_methods[];       /* catalog.c */
extern const rpc_method pricing_methods[];       /* pricing.c */
extern const rpc_consumer auctions_consumers[];  /* bids_closed.c */

int auctions_config_check(char *err, size_t errlen);
int auctions_post_init(void);
void auctions_pre_exit(void);
bool auctions_is_healthy(void);

/* ---- lot_row.c ---- */

/*
 * The select list every lot query uses (table alias `l`), in the order
 * lot_from_row reads it: LOT_NCOLS columns. Arrays come as JSON and the
 * condition report as hex, so no reader parses PostgreSQL array syntax.
 */
#define LOT_COLUMNS                                                                        \
    "l.id, l.seller_id, l.state, l.title, l.description, l.make, l.model, l.year, "        \
    "l.mileage_km, l.vin, l.region, l.city_id, l.category_id, "                            \
    "array_to_json(l.photo_urls), encode(l.condition, 'hex'), l.currency, "                \
    "l.start_price, l.reserve_price, l.buy_now_price, "                                    \
    "array_to_json(l.increment_from), array_to_json(l.increment_step), "                   \
    "l.soft_close_window_seconds, l.max_extensions, l.rejection_reason, l.session_id, "    \
    "l.starts_at_us, l.ends_at_us, l.winner_id, l.final_price, l.reserve_met, "            \
    "l.winning_bid_id, l.winning_hold_id, l.bid_count, l.closed_at_us, "                   \
    "l.created_at_us, l.updated_at_us, l.venue, l.winning_floor_paddle, "                \
    "coalesce(l.bids_instance, '')"
#define LOT_NCOLS 39

/** "draft" … "cancelled" for a state; NULL for UNSPECIFIED/unknown. */
const char *lot_state_text(Gavel__Auctions__V1__LotState s);
/** The state for its text; UNSPECIFIED when unknown. */
Gavel__Auctions__V1__LotState lot_state_parse(const char *text);
/** "DRAFT" … for messages. */
const char *lot_state_upper(Gavel__Auctions__V1__LotState s);

/**
 * A Lot from row `row` of r, columns col0 .. col0+LOT_NCOLS-1 as in
 * LOT_COLUMNS, allocated in arena a (r may be cleared afterwards). The
 * reserve price is left unset unless show_reserve; has_reserve is always
 * set.
 */
Gavel__Auctions__V1__Lot *lot_from_row(arena *a, const PGresult *r, int row, int col0,
                                       bool show_reserve);

/** May this caller see a lot in `state` owned by seller_id? (GetLot rules) */
bool lot_visible(const rpc_principal *p, Gavel__Auctions__V1__LotState state,
                 int64_t seller_id);
/** May this caller see the reserve amount? (owner, moderator, admin, service) */
bool lot_sees_reserve(const rpc_principal *p, int64_t seller_id);
/** True for moderator, admin and service: they see every lot in every state. */
bool lot_sees_all(const rpc_principal *p);

/**
 * Loads lot `id` into *out (arena of the call) if the caller may see it,
 * else fails the call with NOT_FOUND. With for_update the row stays locked
 * until the caller's transaction ends. Returns GRPC_STATUS_OK or the
 * failure (database errors through check_fail_db).
 */
int lot_load(rpc_call *c, db_conn *conn, int64_t id, bool for_update,
             Gavel__Auctions__V1__Lot **out);

/* ---- lot_check.c ---- */

/* Who acts on a lot, for checks and the history. */
typedef struct {
    int64_t id;          /* user id; 0 for a service */
    const char *role;    /* "seller", "moderator", "admin", "service" */
} lot_actor;

/** The caller as an actor (borrowed strings). */
lot_actor lot_actor_of(const rpc_call *c);

/**
 * Checks every field of lot that is set (drafts may be incomplete) and
 * normalises it in place (VIN upper-cased, currencies filled with the
 * platform's); on success *currency is the lot's one currency (borrowed).
 * Fails the call with INVALID_ARGUMENT naming the field otherwise.
 */
int lot_check_fields(rpc_call *c, Gavel__Auctions__V1__Lot *lot, const char **currency);

/** FAILED_PRECONDITION naming the first field a submitted lot lacks. */
int lot_check_complete(rpc_call *c, const Gavel__Auctions__V1__Lot *lot);

/** The platform increment table, used when a lot names none. */
size_t lot_default_bands(const int64_t **from, const int64_t **step);

/* ---- lot_store.c ---- */

/**
 * Text parameters $2..$21 of lot_insert/lot_update (LOT_FIELDS_SET order)
 * into params[0..19], allocated in the call's arena.
 */
#define LOT_FIELD_PARAMS 20
void lot_params(rpc_call *c, const Gavel__Auctions__V1__Lot *lot, const char *currency,
                const char **params);

/**
 * Runs a lot statement that returns LOT_COLUMNS and reads its one row into
 * *out (arena a, reserve shown). Returns 0, DB_E_* or DB_E_ABORT when no
 * row came back.
 */
int lot_exec_one(arena *a, db_conn *conn, const char *stmt, int n, const char *const *params,
                 Gavel__Auctions__V1__Lot **out);

/**
 * Records a transition in the lot's history and publishes it
 * (lot.state_changed, plus lot.upserted for the search index), inside the
 * caller's transaction. from is UNSPECIFIED for creation. Returns 0 or
 * DB_E_*.
 */
int lot_record_transition(db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                          Gavel__Auctions__V1__LotState from, const lot_actor *who,
                          const char *reason);

/* ---- handlers (lot_update.c, transitions.c, categories.c) ---- */
int auctions_update_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_submit_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_moderate_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_schedule_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_cancel_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_hammer_lot(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_create_category(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int auctions_list_categories(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- lot_events.c ---- */

/** lot.upserted with the lot's searchable content. Returns 0 or DB_E_*. */
int lot_publish_upsert(db_conn *conn, const Gavel__Auctions__V1__Lot *lot);
/** auction.closed from a closed lot's result. Returns 0 or DB_E_*. */
int lot_publish_closed(db_conn *conn, const Gavel__Auctions__V1__Lot *lot);
/** auction.ending_soon. Returns 0 or DB_E_*. */
int lot_publish_ending_soon(db_conn *conn, int64_t lot_id, int64_t ends_at_us);

/* ---- closing.c ---- */

/**
 * Records the close the bids service answered (resp, not EXTENDED) for
 * lot, inside the caller's transaction: the result columns, the history
 * (actor who, reason "closed by <by>: sold" and so on) and, unless
 * cancelled, auction.closed. *out is the closed row (arena a). Returns 0
 * or DB_E_*.
 */
int lot_write_close(arena *a, db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                    const Gavel__Bids__V1__CloseLotResponse *resp, const lot_actor *who,
                    const char *by, Gavel__Auctions__V1__Lot **out);

/* ---- scheduler.c ---- */

/** Starts the scheduler thread. Returns 0 or -1 (logged). */
int scheduler_start(void);
/** Wakes the scheduler now (a lot was scheduled or cancelled). */
void scheduler_kick(void);
/** Stops it, waiting for the round in progress. */
void scheduler_stop(void);

/* ---- bids_client.c ---- */

/** Bids.OpenLot with the lot's rules (the platform bands when it names
 *  none); request parts allocated in a. Returns the gRPC status, with the
 *  server's message in err. */
grpc_status_code bids_open(arena *a, const Gavel__Auctions__V1__Lot *lot, const char *currency,
                           char *err, size_t errlen);
/** Bids.CloseLot on the lot's recorded instance (lot->bids_instance; ""
 *  = the legacy rule). On OK *out is a new message (caller frees with
 *  protobuf_c_message_free_unpacked(…, NULL)), else NULL. */
grpc_status_code bids_close(const Gavel__Auctions__V1__Lot *lot, bool cancel,
                            Gavel__Bids__V1__CloseLotResponse **out, char *err, size_t errlen);
/** Bids.CloseLot with hammer (venue lots), as bids_close. */
grpc_status_code bids_hammer(const Gavel__Auctions__V1__Lot *lot,
                             Gavel__Bids__V1__CloseLotResponse **out, char *err, size_t errlen);
/** Closes a lot in the bids service with cancel set (CancelLot); a lot the
 *  bids service never saw is fine. Returns GRPC_STATUS_OK or UNAVAILABLE
 *  recorded on c. */
int bids_cancel_lot(rpc_call *c, const Gavel__Auctions__V1__Lot *lot);
/** Chooses the bids instance of lot_id at its first schedule into name
 *  (namelen >= RPC_OWNER_NAME_MAX; "" = no registry yet, legacy rule).
 *  Returns GRPC_STATUS_OK or UNAVAILABLE recorded on c. */
int bids_choose_instance(rpc_call *c, int64_t lot_id, char *name, size_t namelen);

/* ---- users_client.c ---- */

/**
 * Asks the users service (GetProfile, service identity) whether user
 * seller_id exists and has the seller role, within what is left of c's
 * deadline (at most 3 s). Returns GRPC_STATUS_OK, or the failure recorded
 * on c: INVALID_ARGUMENT naming lot.seller_id when there is no such user
 * or it is not a seller, UNAVAILABLE when the users service did not answer.
 */
int users_check_seller(rpc_call *c, int64_t seller_id);

#endif
