"""Venue lots (simulcast) in the bids engine: online bids and the room's
floor bids, entered by a clerk, in one gapless hash-chained sequence; the
receipts' 96-byte hashes (floor_paddle, media_time_us); fair warning; the
clerk's hammer as the only close; refusals that change nothing; kill -9
during venue bidding. Real daemons throughout (tests/conftest.py)."""
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2, users_pb2

S = 1000000  # µs per second


@pytest.fixture(scope="module")
def clerk(market):
    """A moderator: clerks enter floor bids."""
    m = market.new_bidder(funds=0)
    h.call(market.users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=m.id, update_mask=["role"], role=users_pb2.ROLE_MODERATOR), market.admin.md)
    resp = h.login(market.users_stub, m.email, m.password)
    assert resp.profile.role == users_pb2.ROLE_MODERATOR
    return h.Account(m.email, m.password, resp.profile, resp.tokens)


def open_venue(market, **kw):
    req = market.lot_request(**kw)
    req.venue = True
    req.ends_at_us = 0
    st = h.call(market.stub.OpenLot, req, market.svc_md()).state
    assert st.venue and st.ends_at_us == 0 and st.status == bids_pb2.LOT_STATUS_LIVE
    return req.lot_id


def floor_req(lot_id, paddle, units, key=None, currency="RUB"):
    return bids_pb2.PlaceFloorBidRequest(lot_id=lot_id, floor_paddle=paddle,
                                         amount=h.rub(units, currency),
                                         idempotency_key=key or h.idem())


def floor(market, clerk, lot_id, paddle, units, key=None):
    return h.call(market.stub.PlaceFloorBid, floor_req(lot_id, paddle, units, key), clerk.md)


def place_seen(market, who, lot_id, units, media_time_us, key=None):
    req = market.place_req(lot_id, units, key)
    req.media_time_us = media_time_us
    return h.call(market.stub.PlaceBid, req, who.md)


def venue_log(market, lot_id):
    bids = h.list_lot_bids(market.stub, lot_id, market.svc_md())
    h.verify_chain(bids, lot_id, venue=True)
    return bids


def hammer(market, lot_id):
    return h.call(market.stub.CloseLot, bids_pb2.CloseLotRequest(lot_id=lot_id, hammer=True),
                  market.svc_md())


def test_open_venue_lot_rules(market):
    # A venue lot has no end and no soft close.
    for over in ({"ends_at_us": 600 * S}, {"soft_close_window_seconds": 30}):
        req = market.lot_request()
        req.venue = True
        req.ends_at_us = 0
        for k, v in over.items():
            setattr(req, k, req.starts_at_us + v if k == "ends_at_us" else v)
        code, _, _ = market.outcome(lambda: h.call(market.stub.OpenLot, req, market.svc_md()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, over
    # A timed lot still needs its end.
    req = market.lot_request()
    req.ends_at_us = 0
    code, _, _ = market.outcome(lambda: h.call(market.stub.OpenLot, req, market.svc_md()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_online_and_floor_bids_in_one_sequence_with_verified_receipts(market, clerk):
    a, b = market.new_bidders(2)
    lot = open_venue(market, start=1000)
    now = market.server_now_us()
    r1 = place_seen(market, a, lot, 1000, now - 2 * S)           # online, 2 s behind
    assert r1.bid.media_time_us == now - 2 * S and r1.bid.floor_paddle == 0
    market.wait_reserved({a: 1000})
    f1 = floor(market, clerk, lot, 17, 1100)                     # the room outbids a
    assert f1.bid.bidder_id == clerk.id and f1.bid.floor_paddle == 17
    assert f1.bid.media_time_us == 0
    assert f1.state.leader_floor_paddle == 17 and f1.state.leader_id == clerk.id
    market.wait_reserved({a: 0})                                 # a's hold released
    f2 = floor(market, clerk, lot, 42, 1200)                     # the room over the room
    assert f2.state.leader_floor_paddle == 42
    r2 = market.place(b, lot, 1300)                              # online over the room
    assert r2.bid.media_time_us == 0 and r2.caller_is_leading
    assert r2.state.leader_floor_paddle == 0 and r2.state.leader_id == b.id
    market.wait_reserved({a: 0, b: 1300})
    f3 = floor(market, clerk, lot, 17, 1400)
    assert f3.state.leader_floor_paddle == 17
    market.wait_reserved({b: 0})

    log = venue_log(market, lot)
    assert [x.seq for x in log] == [1, 2, 3, 4, 5]
    assert [(x.floor_paddle, x.amount.units) for x in log] == [
        (0, 1000), (17, 1100), (42, 1200), (0, 1300), (17, 1400)]
    assert log[0].media_time_us == now - 2 * S
    # The receipts are the log, and each hash covers paddle and media time.
    assert [h.receipt(x) for x in (r1.bid, f1.bid, f2.bid, r2.bid, f3.bid)] == \
        [h.receipt(x) for x in log]
    assert log[0].hash != h.bid_hash(log[0], venue=False)
    forged = bids_pb2.Bid()
    forged.CopyFrom(log[0])
    forged.media_time_us += 1
    assert h.bid_hash(forged, venue=True) != log[0].hash
    # The hammer: the room wins, no hold secures it.
    c = hammer(market, lot)
    assert c.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    assert c.winning_bid.floor_paddle == 17 and c.winning_bid.bidder_id == clerk.id
    assert c.winning_hold_id == 0
    assert c.state.status == bids_pb2.LOT_STATUS_CLOSED


def test_media_time_ignored_on_online_lots_and_their_hashes_stay_84_bytes(market):
    a = market.new_bidder()
    lot = market.open_lot()
    r = place_seen(market, a, lot, 1000, market.server_now_us() - 5 * S)
    assert r.bid.media_time_us == 0
    log = market.log(lot)   # verifies the 84-byte rule
    assert log[0].hash == h.bid_hash(log[0], venue=False)
    assert not market.state(lot).venue


def test_autobid_answers_a_floor_bid_and_online_win_by_hammer(market, clerk):
    a = market.new_bidder()
    lot = open_venue(market, start=1000)
    ra = market.autobid(a, lot, 5000)
    assert [(x.bidder_id, x.amount.units) for x in ra.placed_bids] == [(a.id, 1000)]
    f = floor(market, clerk, lot, 7, 2000)
    assert [(x.bidder_id, x.amount.units, x.is_autobid) for x in f.triggered_bids] == \
        [(a.id, 2100, True)]
    assert f.state.leader_id == a.id and f.state.leader_floor_paddle == 0
    f = floor(market, clerk, lot, 8, 6000)                      # the room goes past a's max
    assert not f.triggered_bids and f.state.leader_floor_paddle == 8
    r = market.place(a, lot, 6100)                               # a bids by hand over the room
    assert r.caller_is_leading
    venue_log(market, lot)
    c = hammer(market, lot)
    assert c.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    assert c.winning_bid.bidder_id == a.id and c.winning_bid.floor_paddle == 0
    assert c.winning_hold_id > 0
    market.wait_reserved({a: 6100})   # the winner's hold stays for payments


def test_close_without_hammer_never_closes_a_venue_lot(market, clerk):
    lot = open_venue(market)
    for _ in range(2):
        c = market.close(lot)
        assert c.outcome == bids_pb2.CLOSE_OUTCOME_EXTENDED and c.ends_at_us == 0
    assert market.state(lot).status == bids_pb2.LOT_STATUS_LIVE
    # A hammer on a timed lot is ignored: it closes only at its end.
    timed = market.open_lot(ends_in_s=600)
    c = hammer(market, timed)
    assert c.outcome == bids_pb2.CLOSE_OUTCOME_EXTENDED
    # A cancel closes a venue lot.
    c = market.close(lot, cancel=True)
    assert c.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED


def test_hammer_without_bids_and_again_is_idempotent(market, clerk):
    lot = open_venue(market)
    c1 = hammer(market, lot)
    assert c1.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_NO_BIDS
    c2 = hammer(market, lot)
    assert (c2.outcome, c2.closed_at_us) == (c1.outcome, c1.closed_at_us)
    code, _, _ = market.outcome(lambda: floor(market, clerk, lot, 1, 5000))
    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_fair_warning_on_watch_and_feed_cleared_by_the_next_bid(market, clerk, bids):
    from bids.test_lot_feed import next_feed, subscriber
    a = market.new_bidder()
    lot = open_venue(market)
    floor(market, clerk, lot, 3, 1000)
    stream = market.stub.WatchLot(bids_pb2.WatchLotRequest(lot_id=lot), metadata=a.md)
    updates = []
    got = threading.Event()

    def reader():
        try:
            for u in stream:
                updates.append(u)
                if u.WhichOneof("change") in ("fair_warning", "bid_accepted"):
                    got.set()
        except grpc.RpcError:
            pass
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    h.wait_until(lambda: updates, 5, what="the snapshot")
    r, p = subscriber(bids, lot)
    try:
        w = h.call(market.stub.FairWarning, bids_pb2.FairWarningRequest(lot_id=lot), clerk.md)
        assert w.state.fair_warning_at_us > 0
        assert got.wait(5 * h.SLOW)
        fw = [u for u in updates if u.WhichOneof("change") == "fair_warning"]
        assert fw and fw[0].fair_warning.warned_at_us == w.state.fair_warning_at_us
        assert fw[0].fair_warning.state.fair_warning_at_us == w.state.fair_warning_at_us
        f = next_feed(p)
        assert f.state.fair_warning_at_us == w.state.fair_warning_at_us
        assert market.state(lot).fair_warning_at_us == w.state.fair_warning_at_us
        got.clear()
        rb = market.place(a, lot, 1100)
        assert rb.state.fair_warning_at_us == 0
        assert got.wait(5 * h.SLOW)
        assert market.state(lot).fair_warning_at_us == 0
        f = next_feed(p)
        assert f.state.fair_warning_at_us == 0 and f.bids[0].seq == rb.bid.seq
    finally:
        p.close()
        r.close()
        stream.cancel()
    # Bidders may not warn; an online lot takes no warning.
    code, _, _ = market.outcome(lambda: h.call(
        market.stub.FairWarning, bids_pb2.FairWarningRequest(lot_id=lot), a.md))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    timed = market.open_lot()
    code, _, _ = market.outcome(lambda: h.call(
        market.stub.FairWarning, bids_pb2.FairWarningRequest(lot_id=timed), clerk.md))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _, _ = market.outcome(lambda: h.call(
        market.stub.FairWarning, bids_pb2.FairWarningRequest(lot_id=market.unused_lot_id()),
        clerk.md))
    assert code == grpc.StatusCode.NOT_FOUND


def test_refusals_change_nothing(market, clerk):
    a = market.new_bidder()
    lot = open_venue(market, start=1000)
    floor(market, clerk, lot, 5, 1000)
    before = market.state(lot)
    now = market.server_now_us()
    cases = [
        (lambda: floor(market, a, lot, 5, 2000), grpc.StatusCode.PERMISSION_DENIED),
        (lambda: floor(market, clerk, lot, 0, 2000), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, lot, -3, 2000), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, lot, 100000, 2000), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, lot, 5, 0), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, lot, 5, -100), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, lot, 5, 1050), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: h.call(market.stub.PlaceFloorBid, floor_req(lot, 5, 2000, currency="USD"),
                        clerk.md), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: h.call(market.stub.PlaceFloorBid, floor_req(lot, 5, 2000, key="x" * 129),
                        clerk.md), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: h.call(market.stub.PlaceFloorBid, bids_pb2.PlaceFloorBidRequest(
            lot_id=lot, floor_paddle=5, idempotency_key=h.idem()), clerk.md),
         grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: floor(market, clerk, market.unused_lot_id(), 5, 2000), grpc.StatusCode.NOT_FOUND),
        (lambda: place_seen(market, a, lot, 2000, now - 11 * 60 * S),
         grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: place_seen(market, a, lot, 2000, now + 60 * S), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda: place_seen(market, a, lot, 2000, -5), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for i, (fn, want) in enumerate(cases):
        code, details, _ = market.outcome(fn)
        assert code == want, (i, code, details)
    after = market.state(lot)
    assert (after.seq, after.head_hash, after.leader_floor_paddle) == \
        (before.seq, before.head_hash, before.leader_floor_paddle)
    market.wait_reserved({a: 0})
    # Floor bids on an online lot are refused.
    timed = market.open_lot()
    code, _, _ = market.outcome(lambda: floor(market, clerk, timed, 5, 2000))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert market.state(timed).seq == 0


def test_floor_bids_are_idempotent_per_clerk_lot_and_key(market, clerk):
    lot = open_venue(market)
    key = h.idem()
    r1 = floor(market, clerk, lot, 9, 1000, key=key)
    r2 = floor(market, clerk, lot, 9, 1000, key=key)
    assert r1 == r2
    code, _, _ = market.outcome(lambda: floor(market, clerk, lot, 9, 1500, key=key))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert market.state(lot).seq == 1
    # After the close the answer comes from the requests table.
    hammer(market, lot)
    assert floor(market, clerk, lot, 9, 1000, key=key) == r1


def test_concurrent_floor_and_online_bids_keep_a_gapless_sequence(market, clerk):
    bidders = market.new_bidders(6)
    lot = open_venue(market, start=1000, bands=((0, 10),))
    stop = threading.Event()
    accepted = []
    lock = threading.Lock()

    def online(who):
        while not stop.is_set():
            nxt = market.state(lot).next_min_bid.units
            code, _, r = market.outcome(lambda: place_seen(
                market, who, lot, nxt, market.server_now_us() - S))
            if r is not None:
                with lock:
                    accepted.append(r.bid)

    def room(paddle):
        for _ in range(20):
            nxt = market.state(lot).next_min_bid.units
            code, _, r = market.outcome(lambda: floor(market, clerk, lot, paddle, nxt))
            if r is not None:
                with lock:
                    accepted.append(r.bid)
    with ThreadPoolExecutor(max_workers=8) as ex:
        fs = [ex.submit(online, b) for b in bidders]
        rs = [ex.submit(room, p) for p in (11, 12)]
        for f in rs:
            f.result()
        stop.set()
        for f in fs:
            f.result()
    log = venue_log(market, lot)
    assert len(log) == market.state(lot).seq
    assert sorted(x.seq for x in accepted) == sorted(set(x.seq for x in accepted))
    by_seq = {x.seq: h.receipt(x) for x in log}
    for x in accepted:
        assert by_seq[x.seq] == h.receipt(x)
    assert any(x.floor_paddle for x in log) and any(not x.floor_paddle for x in log)
    amounts = [x.amount.units for x in log]
    assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts)
    # Only the leader (if online) keeps a hold.
    st = market.state(lot)
    market.wait_reserved({b: (st.current_price.units if b.id == st.leader_id
                              and not st.leader_floor_paddle else 0) for b in bidders})


def test_kill9_during_venue_bidding_loses_no_acknowledged_floor_bid(market, clerk, bids):
    a, b = market.new_bidders(2)
    lot = open_venue(market, start=1000, bands=((0, 10),))
    acked = []
    keys = {}
    stop = threading.Event()

    def room():
        paddle = 1
        while not stop.is_set():
            nxt = market.state(lot).next_min_bid.units
            k = h.idem()
            code, _, r = market.outcome(lambda: floor(market, clerk, lot, paddle, nxt, key=k))
            if r is not None:
                acked.append(r)
                keys[k] = (paddle, nxt, r)
            paddle = paddle % 99 + 1

    def online(who):
        while not stop.is_set():
            nxt = market.state(lot).next_min_bid.units
            market.outcome(lambda: market.place(who, lot, nxt))
    errors = []

    def guarded(fn, *args):
        try:
            fn(*args)
        except Exception as e:   # the daemon is down for a while: keep going
            errors.append(e)
    ts = [threading.Thread(target=guarded, args=(room,)),
          threading.Thread(target=guarded, args=(online, a)),
          threading.Thread(target=guarded, args=(online, b))]
    for t in ts:
        t.start()
    h.wait_until(lambda: len(acked) >= 5, 20, what="five floor bids")
    bids.kill9()
    stop.set()
    for t in ts:
        t.join(30)
    bids.start()
    log = venue_log(market, lot)
    by_seq = {x.seq: h.receipt(x) for x in log}
    assert acked, "no floor bid acknowledged before the kill"
    for r in acked:
        assert by_seq.get(r.bid.seq) == h.receipt(r.bid), "acknowledged floor bid lost"
    # A retry with its key answers the same receipt.
    k, (paddle, amount, r) = next(iter(keys.items()))
    assert floor(market, clerk, lot, paddle, amount, key=k) == r
    st = market.state(lot)
    assert st.venue and st.status == bids_pb2.LOT_STATUS_LIVE and st.seq == len(log)
    assert st.leader_floor_paddle == log[-1].floor_paddle
    # The lot still takes bids and the hammer after the restart.
    f = floor(market, clerk, lot, 77, st.next_min_bid.units)
    assert f.bid.seq == st.seq + 1
    c = hammer(market, lot)
    assert c.winning_bid.floor_paddle == 77 and c.winning_hold_id == 0
    market.wait_reserved({a: 0, b: 0})


def test_events_name_the_floor(market, clerk, kafka_bootstrap):
    from bids.test_events import lot_events
    a = market.new_bidder()
    tail = market.tail(kafka_bootstrap)
    try:
        lot = open_venue(market)
        market.place(a, lot, 1000)
        floor(market, clerk, lot, 31, 1100)
        hammer(market, lot)
        evs = tail.wait_for(lambda t: (lambda e: e if any(
            env.type == "lot.closed" for env, _ in e) else None)(lot_events(t, lot)),
            what="lot.closed of the venue lot")
    finally:
        tail.close()
    got = [(env.type, getattr(p, "bidder_id", None), getattr(p, "floor_paddle", None))
           for env, p in evs]
    assert ("bid.placed", a.id, 0) in got and ("bid.placed", clerk.id, 31) in got
    outbid = [p for env, p in evs if env.type == "bid.outbid"]
    assert [(p.previous_leader_id, p.new_leader_id) for p in outbid] == [(a.id, clerk.id)]
    closed = [p for env, p in evs if env.type == "lot.closed"]
    assert len(closed) == 1 and (closed[0].winner_id, closed[0].floor_paddle) == (clerk.id, 31)
