/*
 * Manual bids in flight on a lot: those that passed their check and are
 * reserving funds, on the shard's thread only.
 *
 * On a hot lot many bids are reserving at once: each that passes its
 * check must beat the highest one in flight by an increment, so the list
 * is ordered by amount, which is also the order the checks passed in.
 * That order is kept at landing: a bid whose funds came back while a
 * lower bid ahead of it is still reserving waits (is parked) until that
 * bid lands or fails. Without this, reservations answered together in one
 * wallet batch would land in whatever order their threads woke, and
 * every lower bid landing after a higher one would be refused as too low
 * after its funds were already held — wasted work and an unfair answer.
 *
 * An entry leaves when its bid lands or is refused, when its handler
 * reports failed funds (CMD_UNCLAIM), when the lot's price passes it (it
 * could only be refused), or after the wallet deadline (its handler gave
 * up without a word). A parked bid therefore waits at most that long.
 */
#include <stdlib.h>
#include <string.h>

#include "bids.h"

struct inflight_bid {
    int64_t amount, bidder, until_us;
    char key[129];
};

static bool same_request(const inflight_bid *f, const cmd *c)
{
    return f->bidder == c->bidder_id && f->amount == c->amount && strcmp(f->key, c->key) == 0;
}

static void remove_at(lot_entry *e, size_t i)
{
    memmove(&e->inflight[i], &e->inflight[i + 1], (e->ninflight - i - 1) * sizeof *e->inflight);
    e->ninflight--;
}

void inflight_prune(lot_entry *e, int64_t now)
{
    int64_t min = lot_next_min(&e->eng);
    bool open = e->eng.status != LOT_CLOSED;
    size_t k = 0;
    for (size_t i = 0; i < e->ninflight; i++) {
        const inflight_bid *f = &e->inflight[i];
        bool buys = e->eng.r.buy_now_price > 0 && f->amount >= e->eng.r.buy_now_price;
        if (open && now <= f->until_us && (f->amount >= min || buys))
            e->inflight[k++] = *f;
    }
    e->ninflight = k;
}

int64_t inflight_top(const lot_entry *e)
{
    return e->ninflight > 0 ? e->inflight[e->ninflight - 1].amount : 0;
}

void inflight_why(int64_t top, int64_t min, char *why, size_t whylen)
{
    snprintf(why, whylen, "amount must be ≥ %lld: a bid of %lld is being placed",
             (long long)min, (long long)top);
}

void inflight_summarize(const lot_entry *e, lot_view *v)
{
    v->top = v->top_min = 0;
    v->inflight_until_us = INT64_MAX;
    v->ninflight = e->ninflight;
    for (size_t i = 0; i < e->ninflight; i++) {
        if (e->inflight[i].until_us < v->inflight_until_us)
            v->inflight_until_us = e->inflight[i].until_us;
        if (i < VIEW_INFLIGHT_MAX)
            v->inflight_bidders[i] = e->inflight[i].bidder;
    }
    if (e->ninflight == 0)
        return;
    /* What inflight_prune would keep while no entry is past its deadline:
     * amounts are ascending, so the highest is kept exactly when any is. */
    const inflight_bid *f = &e->inflight[e->ninflight - 1];
    bool buys = e->eng.r.buy_now_price > 0 && f->amount >= e->eng.r.buy_now_price;
    if (f->amount >= lot_next_min(&e->eng) || buys) {
        v->top = f->amount;
        v->top_min = f->amount + lot_increment(&e->eng, f->amount);
    }
}

bool inflight_has(const lot_entry *e, const cmd *c)
{
    for (size_t i = 0; i < e->ninflight; i++)
        if (same_request(&e->inflight[i], c))
            return true;
    return false;
}

void inflight_add(lot_entry *e, const cmd *c, int64_t until_us)
{
    if (c->amount <= inflight_top(e) || inflight_has(e, c))
        return;
    if (e->ninflight == e->capinflight) {
        e->capinflight = e->capinflight ? 2 * e->capinflight : 8;
        e->inflight = xrealloc(e->inflight, e->capinflight * sizeof *e->inflight);
    }
    inflight_bid *f = &e->inflight[e->ninflight++];
    f->amount = c->amount;
    f->bidder = c->bidder_id;
    f->until_us = until_us;
    snprintf(f->key, sizeof f->key, "%s", c->key);
}

void inflight_remove(lot_entry *e, const cmd *c)
{
    for (size_t i = 0; i < e->ninflight; i++)
        if (same_request(&e->inflight[i], c)) {
            remove_at(e, i);
            return;
        }
}

bool inflight_blocked(const lot_entry *e, const cmd *c)
{
    for (size_t i = 0; i < e->ninflight; i++)
        if (same_request(&e->inflight[i], c))
            return i > 0; /* a lower bid ahead of it is still reserving */
    return false;
}

void inflight_park(shard *sh, lot_entry *e, cmd *c)
{
    if (!e->in_parked_lots) { /* apply_parked visits only these lots */
        if (sh->nparked_lots == sh->capparked_lots) {
            sh->capparked_lots = sh->capparked_lots ? 2 * sh->capparked_lots : 8;
            sh->parked_lots =
                xrealloc(sh->parked_lots, sh->capparked_lots * sizeof *sh->parked_lots);
        }
        sh->parked_lots[sh->nparked_lots++] = e;
        e->in_parked_lots = true;
    }
    c->next = NULL;
    cmd **pp = &e->parked;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = c;
    sh->nparked++;
}

cmd *inflight_unpark(shard *sh, lot_entry *e, int64_t now)
{
    inflight_prune(e, now);
    for (cmd **pp = &e->parked; *pp != NULL; pp = &(*pp)->next) {
        cmd *c = *pp;
        if (inflight_blocked(e, c))
            continue;
        *pp = c->next;
        c->next = NULL;
        sh->nparked--;
        return c;
    }
    return NULL;
}

void inflight_free(lot_entry *e)
{
    for (cmd *c = e->parked, *n; c != NULL; c = n) {
        n = c->next;
        waiter_finish(c->w, GRPC_STATUS_UNAVAILABLE,
                      "bids service stopping; retry with the same idempotency key", NULL, 0);
        waiter_release(c->w);
        free(c);
    }
    e->parked = NULL;
    free(e->inflight);
    e->inflight = NULL;
    e->ninflight = e->capinflight = 0;
}
