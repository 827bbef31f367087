"""Events the bids daemon publishes through its outbox to gavel.bids, keyed
by lot id so a lot's events keep their order: bid.placed per bid, bid.outbid
per change of leader, lot.closed once; refused and replayed calls publish
nothing."""
import re
import time

import grpc

import gavel_harness as h
from gavel_harness import events_pb2

HEX32 = re.compile(r"^[0-9a-f]{32}$")
PAYLOAD = {"bid.placed": events_pb2.BidPlaced, "bid.outbid": events_pb2.BidOutbid,
           "lot.extended": events_pb2.LotExtended, "lot.closed": events_pb2.LotClosed}


def lot_events(tail, lot):
    """(envelope, payload) of lot's events in partition order, each id once."""
    out, seen = [], set()
    for rec, env in tail.envelopes("gavel.bids", str(lot).encode()):
        if env.id in seen:
            continue
        seen.add(env.id)
        out.append((env, PAYLOAD[env.type].FromString(env.payload)))
    return out


def test_bids_outbids_and_close_are_published_in_lot_order_and_refusals_publish_nothing(
        market, kafka_bootstrap):
    a, b, c = market.new_bidders(3)
    seller = market.new_bidder()
    tail = market.tail(kafka_bootstrap)
    try:
        since = time.time() * 1e6
        lot = market.open_lot(seller_id=seller.id, ends_in_s=2 * h.SLOW)
        r1 = market.place(a, lot, 1000)
        key = h.idem()
        r2 = market.place(b, lot, 1100, key=key)
        # Refused or replayed: no event.
        assert market.outcome(lambda: market.place(c, lot, 1100))[0] == \
            grpc.StatusCode.INVALID_ARGUMENT
        assert market.outcome(lambda: market.place(seller, lot, 5000))[0] == \
            grpc.StatusCode.PERMISSION_DENIED
        assert market.place(b, lot, 1100, key=key) == r2
        r3 = market.place(c, lot, 1200)
        market.wait_until_past(r3.state.ends_at_us)
        cl = market.close(lot)
        market.close(lot)  # idempotent: no second lot.closed

        tail.wait_for(lambda t: any(e.type == "lot.closed" for e, _ in lot_events(t, lot)),
                      timeout=15, what="lot.closed")
        # A second lot.closed (from the repeated CloseLot) would follow the
        # first on the lot's partition: a bid on fresh lots marks it.
        part = tail.first_record("gavel.bids", str(lot).encode()).partition
        bidder = market.new_bidder()
        tail.read_past("gavel.bids", lambda: str(
            market.place(bidder, market.open_lot(), 1000).bid.lot_id).encode(), {part})
        evs = lot_events(tail, lot)
        assert [e.type for e, _ in evs] == ["bid.placed", "bid.placed", "bid.outbid",
                                            "bid.placed", "bid.outbid", "lot.closed"]
        for env, _ in evs:
            assert HEX32.match(env.id) and env.source == "bids" and env.aggregate_id == str(lot)
            assert since - 5e6 <= env.occurred_at_us <= time.time() * 1e6 + 5e6
        placed = [p for e, p in evs if e.type == "bid.placed"]
        for p, r in zip(placed, (r1, r2, r3)):
            assert (p.lot_id, p.bid_id, p.seq, p.bidder_id, p.amount.units, p.amount.currency,
                    p.is_autobid, p.placed_at_us) == \
                (lot, r.bid.bid_id, r.bid.seq, r.bid.bidder_id, r.bid.amount.units, "RUB",
                 False, r.bid.placed_at_us)
            assert p.ends_at_us == r.state.ends_at_us
        outbid = [p for e, p in evs if e.type == "bid.outbid"]
        assert [(o.previous_leader_id, o.new_leader_id, o.amount.units) for o in outbid] == \
            [(a.id, b.id, 1100), (b.id, c.id, 1200)]
        closed = evs[-1][1]
        assert (closed.lot_id, closed.winner_id, closed.price.units, closed.reserve_met,
                closed.closed_at_us) == (lot, c.id, 1200, True, cl.closed_at_us)
    finally:
        tail.close()
