/*
 * The bidding rules of one lot, as pure state transitions: no I/O, no
 * locks, no clock of its own (callers pass server time). A lot belongs to
 * exactly one bids worker thread; everything here runs on that thread.
 *
 * Amounts are int64 minor units in the lot's currency. The engine decides;
 * the worker persists what it decided (group commit) and answers callers
 * only after that commit.
 *
 * Proxy bidding (autobids) follows the rules eBay documents:
 *   - a proxy bids for its owner only as much as needed to lead: the price
 *     is the second-highest commitment plus one increment, capped at the
 *     leader's maximum;
 *   - between equal maxima, the one set earlier wins (set_seq order);
 *   - a manual bid equal to an earlier proxy maximum loses to that proxy;
 *   - when the reserve is not met and a maximum reaches it, the price
 *     jumps to the reserve;
 *   - a proxy never bids against its own owner;
 *   - proxy against proxy resolves in one step: at most the loser's last
 *     bid (at its maximum) and the winner's bid are recorded, no ping-pong.
 *
 * And as auction sites do, the leader never outbids themself: a manual bid
 * by the lot's leader is refused (it would only raise the price they pay);
 * they raise their maximum instead, which bids nothing until someone else
 * does. Buying now stays open to them: it ends the auction.
 */
#ifndef GAVEL_BIDS_LOT_H
#define GAVEL_BIDS_LOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOT_MAX_BANDS 16
#define LOT_HASH_LEN 32
#define LOT_MAX_SEQ ((1 << 20) - 1) /* a lot takes at most this many bids */
#define LOT_MAX_PADDLE 99999        /* floor paddles run 1..LOT_MAX_PADDLE */
/* An online bid's media time on a venue lot lies within this much before
 * and after the server's now. */
#define LOT_MEDIA_PAST_US (600LL * 1000000)
#define LOT_MEDIA_AHEAD_US (5LL * 1000000)

typedef enum { LOT_PENDING = 1, LOT_LIVE = 2, LOT_CLOSED = 3 } lot_status;

/* Mirrors gavel.bids.v1.CloseOutcome values. */
typedef enum {
    LOT_OUTCOME_NONE = 0,
    LOT_OUTCOME_WINNER = 1,
    LOT_OUTCOME_NO_BIDS = 2,
    LOT_OUTCOME_RESERVE_NOT_MET = 3,
    LOT_OUTCOME_EXTENDED = 4,
    LOT_OUTCOME_CANCELLED = 5,
} lot_outcome;

/* Refusals: negative, with a message from the engine for the caller. */
enum {
    LOT_OK = 0,
    LOT_E_NOT_LIVE = -1,    /* PENDING: not started yet (FAILED_PRECONDITION) */
    LOT_E_CLOSED = -2,      /* CLOSED, or past its end (FAILED_PRECONDITION) */
    LOT_E_TOO_LOW = -3,     /* below next minimum (INVALID_ARGUMENT) */
    LOT_E_SELLER = -4,      /* the seller may not bid (PERMISSION_DENIED) */
    LOT_E_INVALID = -5,     /* bad amount or rules (INVALID_ARGUMENT) */
    LOT_E_NO_AUTOBID = -6,  /* cancel without an active autobid (NOT_FOUND) */
    LOT_E_LEADING = -7,     /* a manual bid by the leader (FAILED_PRECONDITION) */
    LOT_E_NOT_VENUE = -8,   /* a venue-only command on an online lot (FAILED_PRECONDITION) */
};

typedef struct {
    int64_t from;      /* band applies while price >= from; first band from 0 */
    int64_t increment; /* > 0 */
} lot_band;

typedef struct {
    int64_t lot_id;
    int64_t seller_id;
    char currency[4];
    int64_t start_price;    /* > 0 */
    int64_t reserve_price;  /* 0: no reserve */
    int64_t buy_now_price;  /* 0: no buy-now */
    lot_band bands[LOT_MAX_BANDS];
    int nbands;
    int64_t starts_at_us, ends_at_us;
    int32_t soft_close_s;   /* 0: no soft close */
    int32_t max_extensions;
    /* A venue lot (simulcast): ends_at_us is 0 and soft close off; it stays
     * LIVE until the hammer (lot_hammer) or a cancel, and takes floor bids. */
    bool venue;
} lot_rules;

/* Mirrors gavel.bids.v1.AutoBidStatus values. */
typedef enum {
    LOT_AUTOBID_ACTIVE = 1,
    LOT_AUTOBID_EXHAUSTED = 2,  /* another bidder leads above this maximum */
    LOT_AUTOBID_CANCELLED = 3,
    LOT_AUTOBID_FINISHED = 4,   /* the lot closed while it was active */
} lot_autobid_status;

/*
 * One entry per bidder who ever set an autobid on the lot; setting again
 * replaces the entry in place. A maximum at or above the buy-now price is
 * kept as given, but its proxy bids stop one unit below buy-now.
 */
typedef struct {
    int64_t bidder_id;
    int64_t max;            /* the owner's maximum */
    int64_t set_seq;        /* order of setting (ties: lower wins) */
    int64_t set_at_us;
    bool active;            /* false once exhausted, cancelled or the lot closed */
    lot_autobid_status status; /* why it is (in)active; active == (status == ACTIVE) */
} lot_autobid;

/* One accepted bid: the unit of the lot's log and the caller's receipt. */
typedef struct {
    int64_t lot_id;
    int64_t seq;            /* 1, 2, 3 … per lot, no gaps */
    int64_t bid_id;         /* lot_id * 2^20 + seq: unique, and the same after a rebuild */
    int64_t bidder_id;
    int64_t amount;
    int64_t placed_at_us;
    bool is_autobid;
    int32_t floor_paddle;   /* venue lots: the room's paddle (bidder_id is the clerk); 0 online */
    int64_t media_time_us;  /* venue lots: the frame the online bidder saw; 0 when not sent */
    uint8_t prev_hash[LOT_HASH_LEN];
    uint8_t hash[LOT_HASH_LEN];
} lot_bid;

typedef struct {
    lot_rules r;
    lot_status status;
    int64_t price;          /* current price; 0 without bids */
    int64_t leader_id;      /* 0 without bids */
    int32_t leader_floor_paddle; /* venue lots: the leading bid's paddle, 0 online */
    int64_t fair_warning_at_us;  /* venue lots: the clerk's last call; 0 after a bid */
    int64_t seq;            /* seq of the last bid */
    int64_t bid_count;
    uint8_t head_hash[LOT_HASH_LEN];
    int64_t ends_at_us;     /* after extensions */
    int32_t extensions_used;
    lot_outcome outcome;    /* once CLOSED */
    int64_t closed_at_us;
    lot_autobid *autobids;  /* owned; at most one active per bidder */
    size_t nautobids, capautobids;
    int64_t next_set_seq;
} lot;

/* What one command did: the bids to persist in order, and side effects. */
#define LOT_MAX_EFFECT_BIDS 4
typedef struct {
    lot_bid bids[LOT_MAX_EFFECT_BIDS];
    size_t nbids;
    /*
     * Every bidder who led at some point of the command (before it, or
     * after one of its bids) and does not lead at its end, each once, in
     * the order they lost the lead. It includes the caller when an autobid
     * outbid them at once, so every hold taken for a bid that no longer
     * leads can be released from this list alone.
     */
    int64_t outbid_ids[LOT_MAX_EFFECT_BIDS];
    size_t noutbid;
    bool extended;
    int64_t old_ends_at_us, new_ends_at_us;
    bool closed;            /* buy-now closed the lot */
    bool caller_leads;      /* after the command */
    /* Some entry of l->autobids changed (set, raised, exhausted, finished):
     * persist the lot's autobids with the bids. */
    bool autobids_changed;
} lot_effect;

/**
 * Checks rules for consistency (bands sorted from 0, positive increments,
 * reserve/buy-now ≥ start, buy-now > reserve when both, ends after
 * starts, 0 ≤ soft_close_s ≤ 3600, 0 ≤ max_extensions ≤ 1000, currency
 * three upper-case letters). Returns LOT_OK or LOT_E_INVALID with why.
 */
int lot_rules_check(const lot_rules *r, char *why, size_t whylen);

/** Initialises l from r (copied) as PENDING or LIVE depending on now. */
void lot_init(lot *l, const lot_rules *r, int64_t now_us);
/** Frees what l owns (autobids); the lot itself is the caller's. */
void lot_release(lot *l);

/** Moves PENDING to LIVE once now ≥ starts_at. Call before every command. */
void lot_tick(lot *l, int64_t now_us);

/** Increment that applies at price p (band lookup). */
int64_t lot_increment(const lot *l, int64_t p);
/** Smallest amount a new manual bid may have now. */
int64_t lot_next_min(const lot *l);
/** Writes why a bid of amount is below the minimum of a lot with this
 *  bid count, start price, price and increment (the engine's words);
 *  returns LOT_E_TOO_LOW. */
int lot_why_too_low(int64_t bid_count, int64_t start_price, int64_t price, int64_t increment,
                    int64_t amount, char *why, size_t whylen);
/** Writes why the leader of lot lot_id at price (in currency) may not bid
 *  by hand, and what to do instead (the engine's words); returns
 *  LOT_E_LEADING. */
int lot_why_leading(int64_t lot_id, int64_t price, const char currency[4], char *why,
                    size_t whylen);
/** True when there is no reserve or the price reached it. */
bool lot_reserve_met(const lot *l);

/**
 * A manual bid by bidder for amount at now. On LOT_OK, eff holds the
 * caller's bid first, then any bids competing autobids placed in response
 * (so the caller may no longer lead), the outbid leaders, and whether soft
 * close extended the lot or buy-now closed it. A bid at or above the
 * buy-now price is taken at the buy-now price and closes the lot, whoever
 * places it. Any other bid by the lot's leader is LOT_E_LEADING, whatever
 * its amount (checked before the minimum). Refusals change nothing. Bid
 * hashes chain as described in proto/gavel/bids/v1.
 */
int lot_place(lot *l, int64_t bidder, int64_t amount, int64_t now_us, lot_effect *eff,
              char *why, size_t whylen);

/**
 * lot_place with the venue parts. floor_paddle > 0 is a floor bid: bidder
 * is the clerk, the lot must be a venue lot (LOT_E_NOT_VENUE), the paddle
 * 1..LOT_MAX_PADDLE, and the leader's refusal does not apply (the room may
 * bid over the room). media_time_us (online bids) is recorded on venue
 * lots only, where a non-zero value must lie within LOT_MEDIA_PAST_US
 * before and LOT_MEDIA_AHEAD_US after now (LOT_E_INVALID); online lots
 * ignore it. Every accepted bid clears the fair warning.
 */
int lot_place_venue(lot *l, int64_t bidder, int64_t amount, int32_t floor_paddle,
                    int64_t media_time_us, int64_t now_us, lot_effect *eff, char *why,
                    size_t whylen);

/** The clerk's fair warning on a live venue lot: sets fair_warning_at_us
 *  to now. LOT_E_NOT_VENUE, LOT_E_NOT_LIVE or LOT_E_CLOSED otherwise. */
int lot_fair_warning(lot *l, int64_t now_us, char *why, size_t whylen);

/**
 * Sets or replaces bidder's autobid with maximum max. If the bidder does
 * not lead, bids for them at once as proxy rules say (eff lists the bids:
 * at most a losing autobid's last bid at its maximum, then the winner's);
 * the new maximum counts as set now, so it loses ties with earlier ones.
 * max must be ≥ next minimum (or ≥ the bidder's own standing price when
 * leading: then no bid is placed, except the jump to an unmet reserve the
 * new maximum reaches, and the tie-break time stays). LOT_E_INVALID when
 * the next minimum already reaches the buy-now price (autobids stay below
 * it). Refusals change nothing.
 */
int lot_set_autobid(lot *l, int64_t bidder, int64_t max, int64_t now_us, lot_effect *eff,
                    char *why, size_t whylen);

/** Deactivates bidder's autobid (status CANCELLED); their standing bid
 *  stays. LOT_E_CLOSED on a closed lot, LOT_E_NO_AUTOBID without an
 *  active one. */
int lot_cancel_autobid(lot *l, int64_t bidder, char *why, size_t whylen);

/** The active autobid of bidder, or NULL (borrowed from l). */
const lot_autobid *lot_autobid_of(const lot *l, int64_t bidder);

/** bidder's autobid whatever its status (exhausted, cancelled, finished),
 *  or NULL if they never set one (borrowed from l, valid until the next
 *  command on l). */
const lot_autobid *lot_autobid_find(const lot *l, int64_t bidder);

/**
 * Restores a persisted autobid during rebuild, after the lot's bids were
 * replayed: copied into l (replacing bidder's entry if any), and later
 * autobids get set_seq above it. Returns LOT_OK, or LOT_E_INVALID for a
 * bidder ≤ 0 or a maximum ≤ 0 (nothing changes).
 */
int lot_restore_autobid(lot *l, const lot_autobid *a);

/**
 * Authoritative close at now: with cancel, closes with no winner; else if
 * now < ends_at_us, returns LOT_OUTCOME_EXTENDED and changes nothing;
 * otherwise closes: WINNER (leader, reserve met), RESERVE_NOT_MET or
 * NO_BIDS. Closing again returns the recorded outcome. Deactivates
 * autobids.
 */
lot_outcome lot_close(lot *l, int64_t now_us, bool cancel);

/**
 * The clerk's hammer: a live venue lot closes now (WINNER with the leader,
 * floor or online, RESERVE_NOT_MET or NO_BIDS); a PENDING venue lot is
 * left as it is (EXTENDED). An online lot ignores the hammer: lot_close
 * without cancel. A venue lot is closed only by this or a cancel:
 * lot_close without cancel answers EXTENDED.
 */
lot_outcome lot_hammer(lot *l, int64_t now_us);

/** Computes a bid's hash from its fields and prev_hash (SHA-256 of 84
 *  bytes; 96 on a venue lot, with floor_paddle and media_time_us). */
void lot_bid_hash(lot_bid *b, const char currency[4], bool venue);

/**
 * Applies a persisted bid during rebuild after a restart: trusts it, sets
 * price, leader, seq, count and head hash. Bids must come in seq order.
 * A bid at the buy-now price closed the lot when it was placed (autobids
 * stay below it), so replaying one closes the lot again: CLOSED, WINNER,
 * closed_at = its placed_at. Extensions are not derived from bids: the
 * caller restores ends_at_us and extensions_used it persisted.
 */
void lot_replay_bid(lot *l, const lot_bid *b);

#endif
