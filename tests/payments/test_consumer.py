"""The auction.closed consumer: one settlement per lot however often the
event (or another event for the lot) is delivered, and events that can
never apply go to gavel.auctions.dlq while later ones still apply."""
import concurrent.futures
import uuid

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id


def test_redelivered_and_repeated_events_settle_a_lot_once(payments, paydb, closer, sim,
                                                           new_account):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 400000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 100000)
    payouts = sim.state()["counts"].get("payouts", 0)
    ev = closed_envelope(lot, seller.id, buyer.id, 100000, hold, event_id=uuid.uuid4().hex)
    for _ in range(3):
        closer.publish(lot, ev)
    # another event id for the same lot (a replayed close) is no second settlement
    closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 100000, hold))
    paydb.wait_step(lot, "done")
    for _ in range(2):
        closer.publish(lot, ev)
    marker = new_lot_id()  # same key space, read after the repeats
    closer.publish(lot, closed_envelope(marker, seller.id))
    paydb.wait_step(marker, "done")
    assert paydb.one("SELECT count(*) FROM settlements WHERE lot_id = %s", lot)[0] == 1
    assert paydb.one("SELECT count(*) FROM payments WHERE lot_id = %s", lot)[0] == 1
    assert [k for k, _ in paydb.txns(lot)] == ["settlement", "payout"]
    assert closer.balance(buyer).total.units == 300000
    assert sim.state()["counts"]["payouts"] == payouts + 1


def test_many_lots_closing_together_each_settle_once(payments, paydb, closer, new_account):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 10 ** 7)
    lots = [new_lot_id() for _ in range(20)]
    holds = [closer.hold(buyer, lot, 10000) for lot in lots]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(closer.publish, lot,
                              closed_envelope(lot, seller.id, buyer.id, 10000, hold))
                  for lot, hold in zip(lots, holds)]:
            f.result()
    for lot in lots:
        paydb.wait_step(lot, "done", timeout=30)
    assert closer.balance(buyer).total.units == 10 ** 7 - 20 * 10000
    assert paydb.account("seller", seller.id) == 0
    assert paydb.unbalanced_txns() == []


def test_a_venue_lot_the_floor_won_charges_nobody_online(payments, paydb, closer, new_account):
    clerk, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(clerk, 400000)
    lot = new_lot_id()
    # The room won with paddle 12: winner_id is the clerk who entered the
    # bid, no hold secures it, the venue settles it.
    closer.publish(lot, closed_envelope(lot, seller.id, clerk.id, 100000, 0, floor_paddle=12))
    paydb.wait_step(lot, "done")   # recorded (not dead-lettered), with nothing to charge
    assert paydb.one("SELECT is_sold, winner_id FROM settlements WHERE lot_id = %s", lot) == \
        (False, 0)
    assert paydb.one("SELECT count(*) FROM payments WHERE lot_id = %s", lot)[0] == 0
    assert closer.balance(clerk).total.units == 400000


def test_events_that_can_never_apply_are_dead_lettered(payments, paydb, closer, new_account,
                                                       kafka_bootstrap):
    seller = new_account(users_pb2.ROLE_SELLER)
    lot = new_lot_id()
    p = h.producer(kafka_bootstrap)
    p.send("gavel.auctions.dlq", key=b"probe", value=b"probe").get(timeout=10)
    tail = h.TopicTail(kafka_bootstrap, "gavel.auctions.dlq")
    try:
        bad = [
            b"\xff\x00 not an envelope",
            closed_envelope(lot, seller.id, winner_id=seller.id + 1, price=5000, hold_id=0),
            closed_envelope(0, seller.id),
            closed_envelope(lot, seller.id, winner_id=seller.id + 1, price=-5, hold_id=9),
        ]
        for value in bad:
            closer.publish(lot, value)
        closer.publish(lot, closed_envelope(lot, seller.id))  # unsold: applies
        paydb.wait_step(lot, "done")

        def ours(t):
            return [r for r in t.records if r.key == str(lot).encode() and
                    dict(r.headers).get("gavel-dlq-group") == b"payments"]
        tail.wait_for(lambda t: len(ours(t)) >= 3, 15, what="dead letters")
        assert paydb.one("SELECT is_sold FROM settlements WHERE lot_id = %s", lot)[0] is False
    finally:
        tail.close()
