/*
 * A batch's bid.placed events folded into one row per lot: the newest by
 * the lot's bid seq, which is what applying them one by one would leave
 * (bid_apply keeps a document's state only when the seq grows). Rows
 * are written by one set-based statement per run of bids (apply.c); a
 * lot appears once per statement, as ON CONFLICT needs. Pure: no
 * database, no allocation.
 *
 * Each row also counts its events for the metrics: `newer` those that
 * raised the seq as they came (applied, one by one, when the row's
 * statement changes the document), `older` those that did not (ignored
 * one by one whatever the document held).
 */
#include "search.h"

void search_fold_clear(search_fold *f)
{
    f->n = 0;
    f->sent = 0;
}

bool search_fold_full(const search_fold *f)
{
    return f->n == SEARCH_FOLD_ROWS;
}

bool search_fold_pending(const search_fold *f)
{
    return f->n > f->sent;
}

void search_fold_bid(search_fold *f, int64_t lot_id, int64_t seq, int64_t amount,
                     int64_t ends_at_us)
{
    size_t i = f->sent;
    while (i < f->n && f->rows[i].lot_id != lot_id)
        i++;
    search_fold_row *r = &f->rows[i];
    if (i == f->n) {
        f->n++;
        *r = (search_fold_row){ .lot_id = lot_id, .seq = seq, .amount = amount,
                                .ends_at_us = ends_at_us, .newer = 1 };
    } else if (seq > r->seq) {
        r->seq = seq;
        r->amount = amount;
        r->ends_at_us = ends_at_us;
        r->newer++;
    } else {
        r->older++;
    }
}

void search_fold_tally(const search_fold *f, size_t from, size_t to, const int64_t *changed,
                       size_t nchanged, search_tally *t)
{
    for (size_t i = from; i < to && i < f->n; i++) {
        const search_fold_row *r = &f->rows[i];
        size_t k = 0;
        while (k < nchanged && changed[k] != r->lot_id)
            k++;
        if (k < nchanged) {
            t->applied += r->newer;
            t->ignored += r->older;
        } else {
            t->ignored += r->newer + r->older;
        }
    }
}
