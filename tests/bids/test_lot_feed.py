"""The lot feed (bids.proto, LotFeed): after every group commit the bids
daemon publishes each changed lot to Redis channel gavel:lot:<id>, in seq
order, carrying the lot's committed state and the bids the commit accepted.
Read here with a plain Redis subscriber, as a gateway does."""
import time

import redis

import gavel_harness as h
from gavel_harness import bids_pb2


def subscriber(daemon, lot_id):
    host, port = daemon.env["GAVEL_REDIS_ADDR"].rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe("gavel:lot:%d" % lot_id)
    # The subscription is confirmed before anything is published.
    deadline = time.monotonic() + 5
    while p.get_message(timeout=0.1) is None and not p.subscribed and time.monotonic() < deadline:
        pass
    return r, p


def next_feed(p, timeout=5):
    deadline = time.monotonic() + timeout * h.SLOW
    while time.monotonic() < deadline:
        m = p.get_message(timeout=0.2)
        if m is not None and m["type"] == "message":
            f = bids_pb2.LotFeed()
            f.ParseFromString(m["data"])
            return f
    raise AssertionError("no feed within %ss" % timeout)


def first_bid_feed(p):
    """The next feed, past the lot's opening state: that one is published
    after OpenLot's commit, so it may reach a subscriber that came just
    after OpenLot returned."""
    f = next_feed(p)
    if f.state.seq == 0 and not f.bids:
        f = next_feed(p)
    return f


def test_each_commit_publishes_the_lots_state_and_bids_in_seq_order(market, bids):
    a, b = market.new_bidders(2)
    lot = market.open_lot(start=1000)
    r, p = subscriber(bids, lot)
    try:
        placed = []
        price = 1000
        for i in range(4):
            who = (a, b)[i % 2]
            resp = market.place(who, lot, price)
            placed.append(resp.bid)
            price = resp.state.next_min_bid.units
            f = first_bid_feed(p) if i == 0 else next_feed(p)
            # The feed of this bid: the committed state and the bid itself.
            assert f.state.lot_id == lot and f.state.seq == resp.bid.seq
            assert [x.seq for x in f.bids] == [resp.bid.seq]
            assert f.bids[0].bidder_id == who.id and f.bids[0].hash == resp.bid.hash
            assert f.state.leader_id == who.id
            assert f.state.current_price.units == resp.bid.amount.units
            assert f.state.next_min_bid.units == price
            assert f.server_time_us > 0
        market.close(lot, cancel=True)  # it would end in 10 minutes
        closed = next_feed(p)
        assert closed.state.status == bids_pb2.LOT_STATUS_CLOSED
        assert closed.state.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED
        assert closed.state.seq == placed[-1].seq
        assert not closed.bids
        state = market.state(lot)
        assert (closed.state.seq, closed.state.leader_id, closed.state.bid_count) == (
            state.seq, state.leader_id, state.bid_count)
    finally:
        p.close()
        r.close()
    assert h.metric_value(bids, "gavel_bids_feed_published_total") >= 5


def test_a_refused_bid_publishes_nothing(market, bids):
    a, b = market.new_bidders(2)
    lot = market.open_lot(start=1000)
    r, p = subscriber(bids, lot)
    try:
        code, _, _ = market.outcome(lambda: market.place(a, lot, 1))  # below the start
        assert code != 0 and code is not None
        # A later accepted bid is the first feed to arrive: nothing was
        # published for the refusal before it.
        resp = market.place(b, lot, 1000)
        f = first_bid_feed(p)
        assert f.state.seq == resp.bid.seq == 1
    finally:
        p.close()
        r.close()
