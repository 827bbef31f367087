/*
 * users daemon, private header: accounts and sessions (Users) and money on
 * the platform (Wallet). Files are split by mechanism: accounts.c
 * (register, profiles), sessions.c (login, tokens, logout), password.c
 * (argon2id), login_throttle.c (failed logins counted in Redis), wallet.c
 * (handlers), ledger.c (balance changes and ledger rows), wallet_history.c
 * (a user's ledger, newest first), wallet_batch.c
 * and wallet_batch_ops.c (many wallet calls in one transaction; their
 * idempotency keys are libs/idem's), participation.c (event consumer and
 * history) with participation_fold.c (a batch of bid events folded per
 * bidder and lot), bootstrap.c (first admin), validate.c.
 */
#ifndef GAVEL_USERS_H
#define GAVEL_USERS_H

#include "check/check.h"
#include "core/core.h"
#include "db/db.h"
#include "events/events.h"
#include "idem/idem.h"
#include "limit/limit.h"
#include "rpc/rpc.h"
#include "gavel/common/v1/common.pb-c.h"
#include "gavel/events/v1/events.pb-c.h"
#include "gavel/users/v1/users.pb-c.h"

/* Process-wide state, set up before serving and read-only afterwards. */
typedef struct {
    db_pool *db;                /* the skeleton's (rpc_service.db) */
    ev_relay *relay;            /* the skeleton's (rpc_service.outbox) */
    rpc_jwt_key *signer;        /* GAVEL_JWT_PRIVATE_KEY */
    const char *private_key_path;
    const char *admin_file;
    const char *currency;       /* platform default, e.g. RUB */
    const char *currencies;     /* accepted, comma-separated */
    int64_t access_ttl_s;
    int64_t refresh_ttl_s;
    int64_t argon_m_kib;
    int64_t argon_t;
    lim_login_rules login;      /* the failed-login throttle (libs/limit) */
} users_state;

extern users_state users;
extern const cfg_entry users_config[];
extern const mx_entry users_metrics[];
extern const rpc_consumer users_consumers[];
extern const db_stmt users_stmts[];
extern const db_migration users_migrations[]; /* generated from migrations/ */
extern const rpc_method users_methods[];
extern const rpc_method wallet_methods[];

#define USERS_TOPIC "gavel.users"
#define WALLET_TOPIC "gavel.wallet"

/* ---- lifecycle.c ---- */
int users_post_init(void);
void users_pre_exit(void);
bool users_is_healthy(void);

/* ---- password.c ---- */
/** Hashes with argon2id into out (encoded form). Returns 0 or -1. */
int password_hash(const char *pw, char *out, size_t outlen);
/** True when pw matches the encoded hash (constant work when hash is NULL). */
bool password_verify(const char *encoded, const char *pw);
/** NULL when pw meets the policy, else a message for the user. */
const char *password_policy(const char *pw);

/* ---- login_throttle.c ---- */

enum { LOGIN_BAD_CREDENTIALS, LOGIN_THROTTLED_ACCOUNT, LOGIN_THROTTLED_ADDRESS, LOGIN_REASONS };

/* The daemon's series, registered from users_metrics (lifecycle.c) before
 * post_init: gavel_users_login_failures_total by reason. */
typedef struct {
    mx_metric *login_failures[LOGIN_REASONS];
} users_metric_set;
extern users_metric_set users_mx;

/* One login attempt as the throttle sees it; lives on the handler's stack. */
typedef struct {
    const char *addr;           /* rpc_client_addr; borrowed from the call */
    lim_login lim;              /* keys and counts (libs/limit) */
} login_attempt;

/**
 * Starts an attempt for email from the call's client address and checks
 * both counts before any hashing. Returns GRPC_STATUS_OK, or (with
 * rpc_fail) RESOURCE_EXHAUSTED giving the wait in seconds, or UNAVAILABLE
 * when Redis cannot answer.
 */
int login_throttle_check(rpc_call *c, const char *email, login_attempt *a);
/** Moves the account count to the email as the database stores it, and
 *  checks again when that is another key (a database that lower-cases
 *  more than ASCII). Returns as login_throttle_check. */
int login_throttle_recheck(rpc_call *c, login_attempt *a, const char *stored_email);
/** Counts a failed attempt (wrong password or unknown email), logs and
 *  meters it. A Redis failure is logged, never returned. */
void login_throttle_failed(login_attempt *a);
/** After a successful login: clears the account's count (the address
 *  keeps its own). */
void login_throttle_succeeded(const login_attempt *a);

/* ---- validate.c ---- */
int check_email(rpc_call *c, const char *email);
/** A wallet amount (check_money): 1 to CHECK_MONEY_MAX units in one of
 *  GAVEL_CURRENCIES, GAVEL_CURRENCY when empty. Fills *cur with the
 *  currency that applies. */
int wallet_check_amount(rpc_call *c, const char *field, const Gavel__Common__V1__Money *m,
                        const char **cur);
/** "bidder" etc. for the proto enum; NULL for UNSPECIFIED/SERVICE/unknown. */
const char *role_to_text(Gavel__Users__V1__Role r);
Gavel__Users__V1__Role role_from_text(const char *s);

/* ---- accounts.c ---- */
/** Loads user id into a new Profile owned by the call; NOT_FOUND if absent. */
int profile_load(rpc_call *c, db_conn *conn, int64_t id, Gavel__Users__V1__Profile **out);
/** Creates a user (bootstrap and Register). Returns 0, DB_E_UNIQUE or DB_E_*. */
int account_insert(db_conn *conn, const char *email, const char *pw_hash, const char *role,
                   const char *display_name, const char *company, const char *phone,
                   const char *region, int64_t *id);

/* ---- sessions.c ---- */
int users_login(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int users_refresh(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int users_logout(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- accounts.c handlers ---- */
int users_register(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int users_get_profile(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int users_update_profile(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- participation_fold.c: a batch of bid events, one row per (bidder, lot) ---- */
enum { PART_BATCH_ROWS = 64 };
typedef struct {
    int64_t user_id, lot_id;
    char currency[4];
    int32_t count;              /* bids placed in the batch */
    int64_t highest, first_at_us, last_at_us;
} part_bid_row;
typedef struct {
    int64_t lot_id, leader_id;  /* leader after the batch; 0 when outbid since */
} part_lot_row;
typedef struct {
    int64_t lot_id, user_id, at_us;
} part_outbid_row;
/* Fixed-size, owned by its user; add only while !part_batch_full. */
typedef struct part_batch {
    part_bid_row bids[PART_BATCH_ROWS];
    part_lot_row lots[PART_BATCH_ROWS];
    part_outbid_row outbids[PART_BATCH_ROWS];
    size_t nbids, nlots, noutbids;
} part_batch;
void part_batch_clear(part_batch *b);
bool part_batch_empty(const part_batch *b);
/** True when the next event might not fit: write and clear first. */
bool part_batch_full(const part_batch *b);
/** A bid.placed; currency is copied (3 letters). */
void part_batch_bid(part_batch *b, int64_t user_id, int64_t lot_id, const char *currency,
                    int64_t amount, int64_t at_us);
/** A bid.outbid naming the previous leader user_id. */
void part_batch_outbid(part_batch *b, int64_t lot_id, int64_t user_id, int64_t at_us);
/** The lot's leader after the events folded so far; 0 when none is known. */
int64_t part_batch_leader(const part_batch *b, int64_t lot_id);

/* ---- participation.c ---- */
int users_list_participation(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
/* The participation consumer (ev_consumer_start_piped, naming
 * participation_stmts): the handler folds bid events into the part_batch
 * passed as arg, and participation_batch_end writes them. Lot closes are
 * written at once, after what was folded before them. */
extern const char *const participation_stmts[];
int participation_apply(db_conn *conn, const Gavel__Events__V1__Envelope *env, void *arg);
int participation_batch_end(db_conn *conn, bool ok, void *arg);

/* ---- bootstrap.c ---- */
/** Creates the admin named in GAVEL_BOOTSTRAP_ADMIN_FILE once. Returns 0 or -1. */
int bootstrap_admin(void);

/* ---- wallet.c / ledger.c ---- */

/* One balance change, as ledger.c applies it inside a transaction. */
typedef struct {
    const char *kind;       /* deposit | withdraw | reserve | release | capture */
    int64_t user_id;
    const char *currency;
    int64_t amount;         /* deposit/withdraw/reserve: the amount; capture: captured */
    int64_t hold_id;        /* release/capture: the hold; reserve: set on success */
    int64_t lot_id;
    const char *reference;
    /* results */
    int64_t tx_id;
    int64_t total, reserved;
    int64_t released;       /* release/capture: returned to available */
} ledger_change;

/** Applies one change: conditional UPDATE, hold row, ledger rows, outbox
 *  event. Returns 0, a gRPC status (with rpc_fail) for refusals, or DB_E_*. */
int ledger_apply(rpc_call *c, db_conn *conn, ledger_change *ch);
/**
 * The ledger entries of a change of kind (deposit, withdraw, reserve,
 * release, capture) for user_id, as two PostgreSQL array literals: the
 * accounts and their signed amounts, which sum to zero. amount is the
 * change's (capture: the captured part), held the hold's amount (release,
 * capture; else ignored). Pure. Returns 0, or -1 for an unknown kind or a
 * buffer too small.
 */
int ledger_entries_text(const char *kind, int64_t user_id, int64_t amount, int64_t held,
                        char *accounts, size_t alen, char *amounts, size_t mlen);
/** Fills a Balance owned by the call. */
Gavel__Users__V1__Balance *balance_new(rpc_call *c, int64_t user_id, const char *currency,
                                       int64_t total, int64_t reserved);
/** The WalletChanged event of an applied change that moved `amount`;
 *  a new message owned by the call. */
Gavel__Events__V1__WalletChanged *wallet_event_new(rpc_call *c, const ledger_change *ch,
                                                   int64_t amount);
/** The answers of ReserveFunds / ReleaseFunds for an applied change; new
 *  messages owned by the call. */
ProtobufCMessage *wallet_reserve_answer(rpc_call *c, const ledger_change *ch);
ProtobufCMessage *wallet_release_answer(rpc_call *c, const ledger_change *ch);

/* ---- wallet_history.c ---- */
/* Wallet.ListLedger: the caller's (or, for staff, a user's) ledger, newest first. */
int wallet_list_ledger(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

/* ---- wallet_batch.c / wallet_batch_ops.c ---- */

#define BATCH_MAX_ITEMS 256

typedef struct batch batch;

/* One item of a batch. The first fields are set once by the handler
 * (batch_set_item); the rest are results of the current transaction
 * attempt. */
typedef struct {
    const char *key;
    ledger_change want;          /* the change asked for */
    /* per attempt */
    ledger_change ch;            /* as applied */
    int64_t moved;               /* the event's amount */
    int code;                    /* gRPC status of this item */
    const char *message;         /* owned by the call; NULL when OK */
    ProtobufCMessage *resp;      /* owned by the call; set when code is 0 */
    bool is_new;                 /* applied now: rows, event and key to write */
} batch_item;

/* A wallet row locked by the batch, changed in memory item by item. */
typedef struct {
    int64_t user_id;
    char currency[4];
    int64_t total, reserved;
    bool is_changed;
} batch_wallet;

/* A hold row locked by a release batch. */
typedef struct {
    int64_t id, user_id, lot_id, amount;
    char currency[4];
    char state[12];
} batch_hold;

enum { BATCH_LOCK_STMTS = 2 };

/* What differs between the kinds of batch (reserve, release). */
typedef struct {
    const char *method;                       /* key scope, with the caller: "ReserveFunds" */
    const ProtobufCMessageDescriptor *resp_desc;
    /* Sends into the open pipeline, right after the key claim, the
     * statements (some of lock_stmts, in that order) that lock and load the
     * rows any item could need: which keys are claimed is not known yet.
     * Returns how many it sent. */
    int (*send_lock)(batch *b, db_conn *conn);
    const char *lock_stmts[BATCH_LOCK_STMTS];
    /* Reads their results (res[i] of the i-th sent; borrowed) into b, and
     * locks whatever they name (more round trips) if it must. */
    int (*read_lock)(batch *b, db_conn *conn, PGresult *const *res);
    /* Decides one item against the rows in memory: sets code/message, or
     * applies it to them and fills ch and moved. */
    void (*apply)(batch *b, batch_item *it);
    /* Sends the applied items' writes into the open pipeline, as the
     * prepared statement write_stmt. */
    void (*write)(batch *b, db_conn *conn);
    const char *write_stmt;
    ProtobufCMessage *(*answer)(rpc_call *c, const ledger_change *ch);
} batch_kind;

struct batch {
    rpc_call *c;
    const batch_kind *kind;
    batch_item *items;           /* n, in request order; owned by the call */
    size_t n;
    idem_batch *keys;            /* the items' keys and requests */
    /* per attempt, owned by the call */
    batch_wallet *wallets;       /* sorted by user id, currency */
    size_t nwallets;
    batch_hold *holds;           /* sorted by id */
    size_t nholds;
    int64_t *hold_ids;           /* [n] new ids taken ahead, for applied items in order */
    size_t napplied;
};

/** A new batch of n items for the call (items zeroed, to be filled). */
batch *batch_new(rpc_call *c, const batch_kind *kind, size_t n);
/** Item i: req (normalised: what its key's hash covers) asking for want. */
void batch_set_item(batch *b, size_t i, const char *key, const ProtobufCMessage *req,
                    const ledger_change *want);
/** Fails the call with INVALID_ARGUMENT "items[i].<what the last check
 *  recorded>" and returns that status. */
int batch_fail_item(batch *b, size_t i);
/** Records an item's refusal (printf-style message in the call's arena). */
void batch_refuse(batch *b, batch_item *it, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/**
 * Runs the batch in one transaction, retried whole on conflicts, and
 * kicks the outbox relay after COMMIT. Returns GRPC_STATUS_OK with every
 * item's code/message/resp set, or a failure status (rpc_fail) when the
 * database failed.
 */
int batch_run(batch *b);
/** A BatchItemStatus of the item, owned by the call. */
Gavel__Users__V1__BatchItemStatus *batch_status_new(batch *b, const batch_item *it);
/** Loads and locks, in (user id, currency) order, the wallets named by
 *  the parallel arrays, into b->wallets. Returns 0 or DB_E_*. */
int batch_lock_wallets(batch *b, db_conn *conn, db_array *user_ids, db_array *currencies);
/** The same lock, sent into the open pipeline as wallets_lock_many; its
 *  result goes to batch_read_wallets. */
void batch_send_lock_wallets(db_conn *conn, db_array *user_ids, db_array *currencies);
/** Loads the rows of a wallets_lock_many result (borrowed) into b->wallets. */
void batch_read_wallets(batch *b, const PGresult *r);
/** The wallet locked by the batch, or NULL. */
batch_wallet *batch_wallet_find(batch *b, int64_t user_id, const char *currency);
/** The array parameters every batch write starts with, initialised and
 *  filled: the changed wallets (0 user ids, 1 currencies, 2 reserved) and
 *  the applied items (3 hold ids, 4 user ids, 5 currencies). */
#define BATCH_WRITE_COLUMNS 6
void batch_write_params(batch *b, db_array a[BATCH_WRITE_COLUMNS]);

int wallet_reserve_batch(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);
int wallet_release_batch(rpc_call *c, const ProtobufCMessage *in, ProtobufCMessage **out);

#endif
