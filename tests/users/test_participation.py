"""ListParticipation: a bidder's auction history, built by the users daemon
from bid and auction events that these tests publish to the broker
themselves, as the bids service would."""
import os
import random
import time
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import common_pb2, events_pb2, users_pb2

EVENT_WAIT = 10  # seconds an applied event may take to show


@pytest.fixture(scope="module")
def kafka(kafka_bootstrap):
    p = h.producer(kafka_bootstrap)
    yield p
    p.close()


def new_lot():
    return random.randrange(10 ** 12, 2 ** 53)


def envelope(type_, lot, payload, event_id=None, topic_source="bids"):
    return events_pb2.Envelope(
        id=event_id or uuid.uuid4().hex, type=type_, occurred_at_us=int(time.time() * 1e6),
        aggregate_id=str(lot), source=topic_source, request_id=uuid.uuid4().hex,
        payload=payload.SerializeToString())


def publish(kafka, env, topic="gavel.bids", key=None, wait=True):
    sent = kafka.send(topic, key=(key or env.aggregate_id).encode(),
                      value=env.SerializeToString())
    if wait:
        sent.get(timeout=10)
    return env


class Lot:
    """One lot's bid history, published event by event."""

    def __init__(self, kafka, wait=True):
        self.kafka = kafka
        self.wait = wait  # False: send without waiting, so events reach the consumer together
        self.id = new_lot()
        self.seq = 0
        self.leader = None
        self.price = 0

    def bid(self, bidder, units):
        self.seq += 1
        now = int(time.time() * 1e6)
        env = publish(self.kafka, envelope("bid.placed", self.id, events_pb2.BidPlaced(
            lot_id=self.id, bid_id=random.randrange(1, 2 ** 53), seq=self.seq,
            bidder_id=bidder.id, amount=h.rub(units), placed_at_us=now,
            ends_at_us=now + 1800 * 10 ** 6)), wait=self.wait)
        if self.leader is not None and self.leader != bidder.id:
            publish(self.kafka, envelope("bid.outbid", self.id, events_pb2.BidOutbid(
                lot_id=self.id, previous_leader_id=self.leader, new_leader_id=bidder.id,
                amount=h.rub(units))), wait=self.wait)
        self.leader, self.price = bidder.id, units
        return env

    def close(self, winner_id=None, price=None):
        return publish(self.kafka, envelope("lot.closed", self.id, events_pb2.LotClosed(
            lot_id=self.id, winner_id=self.leader if winner_id is None else winner_id,
            price=h.rub(self.price if price is None else price), reserve_met=True,
            closed_at_us=int(time.time() * 1e6))), wait=self.wait)


def items(users_stub, account, md=None, user_id=0, **page):
    req = users_pb2.ListParticipationRequest(user_id=user_id,
                                             page=common_pb2.PageRequest(**page))
    return h.call(users_stub.ListParticipation, req, md or account.md)


def entry(users_stub, account, lot_id):
    for it in items(users_stub, account).items:
        if it.lot_id == lot_id:
            return it
    return None


def wait_entry(users_stub, account, lot_id, pred, timeout=EVENT_WAIT, what="participation"):
    """Polls until the account's entry for lot_id satisfies pred; returns it."""
    def probe():
        e = entry(users_stub, account, lot_id)
        return e if e is not None and pred(e) else None
    return h.wait_until(probe, timeout, interval=0.2, what="%s (lot %d)" % (what, lot_id))


@pytest.fixture(scope="module")
def consumer_ready(users_stub, kafka, other_bidder):
    """Waits once for the daemon's consumer to apply an event: after the
    kill -9 tests its group may be rebalancing (a dead member is only
    evicted when its session times out)."""
    lot = Lot(kafka)
    lot.bid(other_bidder, 100)
    wait_entry(users_stub, other_bidder, lot.id, lambda e: e.bid_count == 1, timeout=90,
               what="the consumer's first event")


@pytest.fixture
def a(new_account, consumer_ready):
    return new_account()


@pytest.fixture
def b(new_account, consumer_ready):
    return new_account()


def test_bids_then_close_make_the_winner_won_and_the_loser_lost(users_stub, kafka, a, b):
    lot = Lot(kafka)
    lot.bid(a, 1000)
    e = wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 1)
    assert (e.my_highest_bid.units, e.my_highest_bid.currency, e.is_leading, e.outcome) == \
        (1000, "RUB", True, "open")
    assert e.first_bid_at_us > 0 and e.last_event_at_us >= e.first_bid_at_us
    assert e.final_price.units == 0

    lot.bid(b, 1500)
    wait_entry(users_stub, a, lot.id, lambda e: not e.is_leading, what="a outbid")
    eb = wait_entry(users_stub, b, lot.id, lambda e: e.bid_count == 1)
    assert (eb.my_highest_bid.units, eb.is_leading, eb.outcome) == (1500, True, "open")

    lot.bid(a, 2000)
    ea = wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 2)
    assert (ea.my_highest_bid.units, ea.is_leading) == (2000, True)
    wait_entry(users_stub, b, lot.id, lambda e: not e.is_leading, what="b outbid")

    lot.close()
    ea = wait_entry(users_stub, a, lot.id, lambda e: e.outcome != "open", what="a's outcome")
    eb = wait_entry(users_stub, b, lot.id, lambda e: e.outcome != "open", what="b's outcome")
    assert (ea.outcome, ea.final_price.units, ea.final_price.currency) == ("won", 2000, "RUB")
    assert (eb.outcome, eb.final_price.units, eb.my_highest_bid.units, eb.bid_count) == \
        ("lost", 2000, 1500, 1)
    assert ea.bid_count == 2 and ea.my_highest_bid.units == 2000


def test_a_burst_of_events_lands_as_if_applied_one_by_one(users_stub, kafka, new_account,
                                                          consumer_ready):
    """Events sent without waiting reach the consumer together, and it
    writes a batch folded per bidder and lot: the history must still be
    what applying the events one by one gives, wherever batches end."""
    a, b, c = new_account(), new_account(), new_account()
    hot, closed = Lot(kafka, wait=False), Lot(kafka, wait=False)
    for bidder, units in ((a, 100), (b, 200), (a, 300), (c, 400), (a, 500), (b, 600)):
        hot.bid(bidder, units)
    closed.bid(a, 100)
    closed.bid(b, 200)
    closed.close()
    now = int(time.time() * 1e6)
    publish(kafka, envelope("bid.placed", closed.id, events_pb2.BidPlaced(  # after the close
        lot_id=closed.id, bid_id=random.randrange(1, 2 ** 53), seq=3, bidder_id=c.id,
        amount=h.rub(250), placed_at_us=now, ends_at_us=now)), wait=False)
    kafka.flush(timeout=10)
    want = [(a, hot, (3, 500, False, "open")), (b, hot, (2, 600, True, "open")),
            (c, hot, (1, 400, False, "open")), (a, closed, (1, 100, False, "lost")),
            (b, closed, (1, 200, True, "won")), (c, closed, (1, 250, False, "lost"))]
    for acct, lot, fields in want:
        def seen(e):
            return (e.bid_count, e.my_highest_bid.units, e.is_leading, e.outcome)
        e = wait_entry(users_stub, acct, lot.id, lambda e: seen(e) == fields,
                       what="bidder %d's entry %r" % (acct.id, fields))
        assert e.last_event_at_us >= e.first_bid_at_us > 0


def test_lot_closed_without_winner_is_lost_for_every_bidder(users_stub, kafka, a, b):
    lot = Lot(kafka)
    lot.bid(a, 500)
    lot.bid(b, 600)
    wait_entry(users_stub, b, lot.id, lambda e: e.bid_count == 1)
    lot.close(winner_id=0)
    for acct in (a, b):
        e = wait_entry(users_stub, acct, lot.id, lambda e: e.outcome != "open", what="outcome")
        assert e.outcome == "lost"


def test_the_same_envelope_twice_counts_once(users_stub, kafka, a):
    lot = Lot(kafka)
    first = lot.bid(a, 1000)
    wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 1)
    publish(kafka, first)            # redelivered
    publish(kafka, first)            # and again
    lot.bid(a, 1300)                 # a later, distinct event as a marker
    e = wait_entry(users_stub, a, lot.id, lambda e: e.my_highest_bid.units == 1300,
                   what="the marker bid")
    assert e.bid_count == 2
    # A closed lot's event replayed does not flip or double anything either.
    close = lot.close()
    wait_entry(users_stub, a, lot.id, lambda e: e.outcome == "won")
    publish(kafka, close)
    publish(kafka, first)
    marker = Lot(kafka)
    marker.bid(a, 1)
    wait_entry(users_stub, a, marker.id, lambda e: e.bid_count == 1, what="a second marker")
    e = entry(users_stub, a, lot.id)
    assert (e.bid_count, e.outcome, e.my_highest_bid.units) == (2, "won", 1300)


def test_malformed_messages_do_not_stop_the_consumer(users_stub, kafka, a):
    lot = Lot(kafka)
    for topic in ("gavel.bids", "gavel.auctions"):
        kafka.send(topic, key=str(lot.id).encode(), value=os.urandom(64)).get(timeout=10)
        kafka.send(topic, key=str(lot.id).encode(), value=b"").get(timeout=10)
        kafka.send(topic, key=None, value=b"\xff\xff\xff").get(timeout=10)
    # Well-formed envelopes with nonsense inside.
    publish(kafka, envelope("bid.placed", lot.id, events_pb2.LotClosed(lot_id=lot.id)))
    bad = envelope("bid.placed", lot.id, events_pb2.BidPlaced())
    bad.payload = b"\xff\xff\xff\xff"
    publish(kafka, bad)
    publish(kafka, envelope("something.unknown", lot.id, events_pb2.BidPlaced(lot_id=lot.id)))
    publish(kafka, envelope("bid.placed", lot.id, events_pb2.BidPlaced(
        lot_id=lot.id, seq=99, bidder_id=a.id, amount=h.rub(-5))))
    lot.bid(a, 700)
    e = wait_entry(users_stub, a, lot.id, lambda e: e.bid_count >= 1, what="the bid after junk")
    assert (e.bid_count, e.my_highest_bid.units) == (1, 700)


def test_events_on_the_auctions_topic_are_consumed(users_stub, kafka, a):
    lot = Lot(kafka)
    lot.bid(a, 800)
    wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 1)
    publish(kafka, envelope("lot.closed", lot.id, events_pb2.LotClosed(
        lot_id=lot.id, winner_id=a.id, price=h.rub(800), reserve_met=True,
        closed_at_us=int(time.time() * 1e6))), topic="gavel.auctions")
    e = wait_entry(users_stub, a, lot.id, lambda e: e.outcome != "open", what="outcome")
    assert (e.outcome, e.final_price.units) == ("won", 800)


def test_history_is_most_recent_first_and_pages(users_stub, kafka, a):
    lots = [Lot(kafka) for _ in range(3)]
    for i, lot in enumerate(lots):
        lot.bid(a, 100 + i)
        wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 1)
        time.sleep(0.01)
    got = [it.lot_id for it in items(users_stub, a).items]
    assert got == [lot.id for lot in reversed(lots)]
    first = items(users_stub, a, page_size=2)
    assert [it.lot_id for it in first.items] == got[:2]
    assert first.page.next_page_token
    second = items(users_stub, a, page_size=2, page_token=first.page.next_page_token)
    assert [it.lot_id for it in second.items] == got[2:]
    assert second.page.next_page_token == ""


def test_history_is_private_to_its_owner_and_staff(users_stub, kafka, a, b, admin, service_md):
    lot = Lot(kafka)
    lot.bid(a, 900)
    wait_entry(users_stub, a, lot.id, lambda e: e.bid_count == 1)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, users_stub.ListParticipation,
                   users_pb2.ListParticipationRequest(user_id=a.id), b.md)
    for md in (admin.md, service_md):
        got = items(users_stub, a, md=md, user_id=a.id)
        assert [it.lot_id for it in got.items] == [lot.id]
    assert [it.lot_id for it in items(users_stub, b).items] == []


def test_page_size_out_of_range_is_invalid(users_stub, a):
    for size in (-1, 201):
        h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, users_stub.ListParticipation,
                       users_pb2.ListParticipationRequest(page=common_pb2.PageRequest(
                           page_size=size)), a.md, field="page_size")
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, users_stub.ListParticipation,
                   users_pb2.ListParticipationRequest(page=common_pb2.PageRequest(
                       page_token="not-a-cursor")), a.md)
