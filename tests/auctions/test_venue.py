"""Venue lots in the auctions service, against the real bids and users
daemons: ScheduleLot with venue (no end, no soft close), the scheduler
opens the lot in bids as a venue lot and never closes it on time, and
HammerLot (a clerk: moderator) closes it with the right winner, floor or
online, recording the result as the scheduler does (history,
auction.closed through the outbox). Refusals change nothing."""
import time

import grpc

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb, bids_pb2, users_pb2

from auction_house import now_us, rub
from auctions.test_scheduler import bid, closed_events, funded_bidder, reserved

S = apb.LotState
SEC = 10 ** 6
START_PRICE = 100000000
STEP = 500000


def venue_lot(house, seller, category, start_in_s=0.7, **over):
    lot = house.approved(seller, category.id, **over)
    out = h.call(house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=now_us() + int(start_in_s * SEC), venue=True), seller.md).lot
    assert out.venue and out.state == S.LOT_STATE_SCHEDULED and out.ends_at_us == 0
    return out


def hammer(house, who, lot_id):
    return h.call(house.stub.HammerLot, apb.HammerLotRequest(lot_id=lot_id), who.md).lot


def floor(bids_stub, clerk, lot_id, paddle, units, key=None):
    return h.call(bids_stub.PlaceFloorBid, bids_pb2.PlaceFloorBidRequest(
        lot_id=lot_id, floor_paddle=paddle, amount=rub(units),
        idempotency_key=key or h.idem()), clerk.md)


def test_schedule_venue_refuses_an_end_or_soft_close(house, seller, category, lots_db):
    lot = house.approved(seller, category.id)
    start = now_us() + 5 * SEC
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, house.stub.ScheduleLot,
                   apb.ScheduleLotRequest(lot_id=lot.id, starts_at_us=start,
                                          ends_at_us=start + 60 * SEC, venue=True), seller.md)
    soft = house.approved(seller, category.id, soft_close_window_seconds=30, max_extensions=3)
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, house.stub.ScheduleLot,
                   apb.ScheduleLotRequest(lot_id=soft.id, starts_at_us=start, venue=True),
                   seller.md)
    # The room sells a venue lot: a buy-now price would let an online bid
    # end it behind the clerk's back.
    buy_now = house.approved(seller, category.id, buy_now_price=rub(300000000))
    err = h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, house.stub.ScheduleLot,
                         apb.ScheduleLotRequest(lot_id=buy_now.id, starts_at_us=start,
                                                venue=True), seller.md)
    assert "lot.buy_now_price" in err.details(), err.details()
    for x in (lot, soft, buy_now):
        got = house.get(x.id, house.admin)
        assert got.state == S.LOT_STATE_APPROVED and not got.venue
    assert house.schedule(seller, buy_now.id, start, start + 60 * SEC).buy_now_price.units == \
        300000000
    # A timed lot is not a venue lot, and HammerLot refuses it.
    timed = house.schedule(seller, lot.id, start, start + 60 * SEC)
    assert not timed.venue
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, house.stub.HammerLot,
                   apb.HammerLotRequest(lot_id=timed.id), house.moderator.md)


def test_venue_lot_opens_stays_live_and_the_floor_wins_by_the_hammer(
        house, seller, category, bids_stub, users_stub, wallet, svc_key, tail):
    clerk = house.moderator
    lot = venue_lot(house, seller, category)
    # Not LIVE yet: nothing to hammer.
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, house.stub.HammerLot,
                   apb.HammerLotRequest(lot_id=lot.id), clerk.md)
    live = house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    assert live.venue and live.ends_at_us == 0
    st = h.call(bids_stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot.id), clerk.md).state
    assert st.venue and st.ends_at_us == 0 and st.status == bids_pb2.LOT_STATUS_LIVE

    a = funded_bidder(users_stub, wallet, svc_key)
    req = bids_pb2.PlaceBidRequest(lot_id=lot.id, amount=rub(START_PRICE),
                                   idempotency_key=h.idem(), media_time_us=now_us() - 3 * SEC)
    online = h.call(bids_stub.PlaceBid, req, a.md)
    assert online.bid.media_time_us == req.media_time_us
    f = floor(bids_stub, clerk, lot.id, 215, START_PRICE + STEP)
    assert f.state.leader_floor_paddle == 215
    h.wait_until(lambda: reserved(wallet, a) == 0, 10, what="a's hold released by the floor bid")
    # Several scheduler ticks pass: a venue lot is never closed on time.
    time.sleep(1.0)
    assert house.get(lot.id, house.admin).state == S.LOT_STATE_LIVE

    # A bidder or a seller may not drop the hammer.
    for who in (a, seller):
        h.expect_error(grpc.StatusCode.PERMISSION_DENIED, house.stub.HammerLot,
                       apb.HammerLotRequest(lot_id=lot.id), who.md)
    closed = hammer(house, clerk, lot.id)
    assert closed.state == S.LOT_STATE_CLOSED
    r = closed.result
    assert r.winner_id == clerk.id and r.winning_floor_paddle == 215
    assert r.final_price.units == START_PRICE + STEP and r.winning_hold_id == 0
    assert r.winning_bid_id == f.bid.bid_id and r.bid_count == 2
    # Idempotent: the same closed lot again, nothing recorded twice.
    again = hammer(house, clerk, lot.id)
    assert again.result == r and again.updated_at_us == closed.updated_at_us
    hist = [t for t in house.history(lot.id, house.admin) if t.to_state == S.LOT_STATE_CLOSED]
    assert len(hist) == 1 and hist[0].actor_id == clerk.id
    assert hist[0].reason == "closed by the hammer: sold"
    ev = tail.wait_for(lambda t: closed_events(t, lot.id), what="auction.closed")
    assert len(ev) == 1
    assert (ev[0].winner_id, ev[0].floor_paddle, ev[0].winning_hold_id, ev[0].price.units) == \
        (clerk.id, 215, 0, START_PRICE + STEP)
    bids_log = h.list_lot_bids(bids_stub, lot.id, clerk.md)
    h.verify_chain(bids_log, lot.id, venue=True)
    assert [(x.floor_paddle, x.media_time_us) for x in bids_log] == \
        [(0, req.media_time_us), (215, 0)]


def test_online_winner_by_the_hammer_keeps_the_hold_for_payment(
        house, seller, category, bids_stub, users_stub, wallet, svc_key, tail, admin):
    lot = venue_lot(house, seller, category)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    floor(bids_stub, house.moderator, lot.id, 9, START_PRICE)
    last = bid(bids_stub, a, lot.id, START_PRICE + STEP)
    closed = hammer(house, admin, lot.id)   # admins may hammer too
    r = closed.result
    assert (r.winner_id, r.winning_floor_paddle, r.winning_bid_id) == (a.id, 0, last.bid.bid_id)
    assert r.winning_hold_id > 0
    assert reserved(wallet, a) == START_PRICE + STEP
    ev = tail.wait_for(lambda t: closed_events(t, lot.id), what="auction.closed")
    assert (ev[0].winner_id, ev[0].floor_paddle, ev[0].winning_hold_id) == \
        (a.id, 0, r.winning_hold_id)


def test_hammer_without_bids_closes_unsold_and_unknown_lots_are_not_found(
        house, seller, category):
    lot = venue_lot(house, seller, category)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    r = hammer(house, house.moderator, lot.id).result
    assert (r.winner_id, r.bid_count, r.reserve_met) == (0, 0, False)
    h.expect_error(grpc.StatusCode.NOT_FOUND, house.stub.HammerLot,
                   apb.HammerLotRequest(lot_id=10 ** 12), house.moderator.md)
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, house.stub.HammerLot,
                   apb.HammerLotRequest(lot_id=-1), house.moderator.md)


def test_venue_flag_survives_a_restart_of_auctions(house, seller, category, auctions):
    lot = venue_lot(house, seller, category, start_in_s=30)
    auctions.kill9()
    auctions.start()
    got = house.get(lot.id, house.admin)
    assert got.venue and got.ends_at_us == 0 and got.state == S.LOT_STATE_SCHEDULED
    # Moving it back to a timed lot clears the flag.
    start = now_us() + 60 * SEC
    timed = house.schedule(seller, lot.id, start, start + 60 * SEC)
    assert not timed.venue and timed.ends_at_us == start + 60 * SEC


def test_roles_for_floor_bids(bids_stub, house, seller, category, users_stub):
    lot = venue_lot(house, seller, category)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    b = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, bids_stub.PlaceFloorBid,
                   bids_pb2.PlaceFloorBidRequest(lot_id=lot.id, floor_paddle=3,
                                                 amount=rub(START_PRICE),
                                                 idempotency_key=h.idem()), b.md)
    hammer(house, house.moderator, lot.id)
