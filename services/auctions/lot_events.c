/*
 * Events of a lot, written to the outbox inside the transaction that made
 * the change (topic gavel.auctions, keyed by lot id so per-lot order
 * holds): lot.state_changed, lot.upserted (the search index's whole
 * picture of a lot, never the reserve amount), auction.ending_soon and
 * auction.closed (what payments settles).
 */
#include "auctions.h"

static const char *lot_key(char buf[24], int64_t id)
{
    return db_i64(buf, id);
}

int lot_publish_upsert(db_conn *conn, const Gavel__Auctions__V1__Lot *lot)
{
    Gavel__Events__V1__LotUpserted ev = GAVEL__EVENTS__V1__LOT_UPSERTED__INIT;
    ev.lot_id = lot->id;
    ev.seller_id = lot->seller_id;
    ev.state = (char *)lot_state_text(lot->state);
    ev.title = lot->title;
    ev.description = lot->description;
    ev.make = lot->make;
    ev.model = lot->model;
    ev.year = lot->year;
    ev.mileage_km = lot->mileage_km;
    ev.vin = lot->vin;
    ev.region = lot->region;
    ev.city_id = lot->city_id;
    ev.category_id = lot->category_id;
    ev.n_photo_urls = lot->n_photo_urls;
    ev.photo_urls = lot->photo_urls;
    ev.start_price = lot->start_price;
    ev.buy_now_price = lot->buy_now_price;
    ev.has_reserve = lot->has_reserve;
    ev.session_id = lot->session_id;
    ev.starts_at_us = lot->starts_at_us;
    ev.ends_at_us = lot->ends_at_us;
    ev.damage_count = lot->condition != NULL ? (int32_t)lot->condition->n_damages : 0;
    ev.created_at_us = lot->created_at_us;
    ev.updated_at_us = lot->updated_at_us;
    char key[24];
    return ev_outbox_add(conn, AUCTIONS_TOPIC, "lot.upserted", lot_key(key, lot->id), &ev.base,
                         NULL);
}

int lot_publish_closed(db_conn *conn, const Gavel__Auctions__V1__Lot *lot)
{
    Gavel__Events__V1__AuctionClosed ev = GAVEL__EVENTS__V1__AUCTION_CLOSED__INIT;
    const Gavel__Auctions__V1__LotResult *res = lot->result;
    ev.lot_id = lot->id;
    ev.seller_id = lot->seller_id;
    if (res != NULL) {
        ev.winner_id = res->winner_id;
        ev.price = res->final_price;
        ev.reserve_met = res->reserve_met;
        ev.closed_at_us = res->closed_at_us;
        ev.winning_hold_id = res->winning_hold_id;
        ev.floor_paddle = res->winning_floor_paddle;
    }
    char key[24];
    return ev_outbox_add(conn, AUCTIONS_TOPIC, "auction.closed", lot_key(key, lot->id), &ev.base,
                         NULL);
}

int lot_publish_ending_soon(db_conn *conn, int64_t lot_id, int64_t ends_at_us)
{
    Gavel__Events__V1__AuctionEndingSoon ev = GAVEL__EVENTS__V1__AUCTION_ENDING_SOON__INIT;
    ev.lot_id = lot_id;
    ev.ends_at_us = ends_at_us;
    char key[24];
    return ev_outbox_add(conn, AUCTIONS_TOPIC, "auction.ending_soon", lot_key(key, lot_id),
                         &ev.base, NULL);
}

static int publish_state_change(db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                                Gavel__Auctions__V1__LotState from, const lot_actor *who,
                                const char *reason)
{
    Gavel__Events__V1__LotStateChanged ev = GAVEL__EVENTS__V1__LOT_STATE_CHANGED__INIT;
    const char *from_text = lot_state_text(from);
    ev.lot_id = lot->id;
    ev.seller_id = lot->seller_id;
    ev.from_state = (char *)(from_text != NULL ? from_text : "");
    ev.to_state = (char *)lot_state_text(lot->state);
    ev.actor_id = who->id;
    ev.reason = (char *)reason;
    char key[24];
    return ev_outbox_add(conn, AUCTIONS_TOPIC, "lot.state_changed", lot_key(key, lot->id),
                         &ev.base, NULL);
}

int lot_record_transition(db_conn *conn, const Gavel__Auctions__V1__Lot *lot,
                          Gavel__Auctions__V1__LotState from, const lot_actor *who,
                          const char *reason)
{
    char id[24], actor[24], at[24];
    const char *from_text = lot_state_text(from);
    const char *params[] = { db_i64(id, lot->id), from_text, lot_state_text(lot->state),
                             db_i64(actor, who->id), who->role, reason != NULL ? reason : "",
                             db_i64(at, lot->updated_at_us) };
    int rc = 0;
    PGresult *r = db_exec(conn, "transition_add", 7, params, &rc);
    if (r == NULL)
        return rc;
    PQclear(r);
    rc = publish_state_change(conn, lot, from, who, reason != NULL ? reason : "");
    if (rc == 0 && lot->state != GAVEL__AUCTIONS__V1__LOT_STATE__LOT_STATE_DRAFT)
        rc = lot_publish_upsert(conn, lot);
    return rc;
}
