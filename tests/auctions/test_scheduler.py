"""The scheduler against the real bids and users daemons: lots open and
close within a second of their times with the winner the bids service
reports, soft close moves the close, auction.closed goes out exactly once,
a cancelled live lot releases its holds, and neither a restart (kill -9)
nor a second replica opens or closes any lot twice."""
import time

import grpc

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb, bids_pb2, events_pb2, users_pb2

from auction_house import complete_lot, now_us, rub

S = apb.LotState
SEC = 10 ** 6
START_PRICE = 100000000
STEP = 500000  # the platform increment at this price (lot_check.c)


def funded_bidder(users_stub, wallet, svc_key, units=10 ** 10):
    b = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(wallet.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=b.id, amount=rub(units)),
        h.bearer(h.service_token(svc_key)))
    return b


def reserved(wallet, who):
    return h.call(wallet.GetBalance, users_pb2.GetBalanceRequest(), who.md).balance.reserved.units


def bid(bids_stub, who, lot_id, units):
    return h.call(bids_stub.PlaceBid, bids_pb2.PlaceBidRequest(
        lot_id=lot_id, amount=rub(units), idempotency_key=h.idem()), who.md)


def transitions_to(house, lot_id, state):
    return [t for t in house.history(lot_id, house.admin) if t.to_state == state]


def scheduled(house, seller, category, start_in_s, length_s, **over):
    lot = house.approved(seller, category.id, **over)
    start = now_us() + int(start_in_s * SEC)
    return house.schedule(seller, lot.id, start, start + int(length_s * SEC))


def lot_key(lot_id):
    return str(lot_id).encode()


def fresh_lot(house, seller, category):
    """A marker for TopicTail.read_past: a new draft, whose creation the
    auctions outbox publishes under the new lot's id."""
    return lot_key(house.create(seller, complete_lot(category.id)).id)


def settle(house, seller, category, tail, lots):
    """Waits for an auction.closed of every lot, then until a second one
    would have been read: a marker lot scheduled after they all closed must
    close too (so every scheduler round that could still take one of them
    has committed), then fresh lots are created until one has been read on
    each partition the lots' events go to."""
    tail.wait_for(lambda t: all(closed_events(t, lot.id) for lot in lots),
                  what="auction.closed of lots %s" % [lot.id for lot in lots])
    marker = scheduled(house, seller, category, 0.6, 1.0)
    house.wait_state(marker.id, S.LOT_STATE_CLOSED, timeout=6)
    parts = {tail.first_record("gavel.auctions", lot_key(lot.id)).partition for lot in lots}
    tail.read_past("gavel.auctions", lambda: fresh_lot(house, seller, category), parts)


def closed_events(tail, lot_id):
    return [events_pb2.AuctionClosed.FromString(e.payload)
            for _, e in tail.envelopes("gavel.auctions", str(lot_id).encode())
            if e.type == "auction.closed"]


def test_opens_and_closes_on_time_with_the_winner_bids_reports(
        house, seller, category, bids_stub, users_stub, wallet, svc_key, tail):
    lot = scheduled(house, seller, category, 1.0, 3.0)
    live = house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    opened = transitions_to(house, lot.id, S.LOT_STATE_LIVE)
    assert len(opened) == 1 and opened[0].actor_role == "service"
    assert 0 <= opened[0].at_us - lot.starts_at_us < SEC, "opened late"
    assert live.ends_at_us == lot.ends_at_us

    a = funded_bidder(users_stub, wallet, svc_key)
    b = funded_bidder(users_stub, wallet, svc_key)
    bid(bids_stub, a, lot.id, START_PRICE)
    last = bid(bids_stub, b, lot.id, START_PRICE + STEP)

    closed = house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=6)
    r = closed.result
    assert r.winner_id == b.id and r.final_price.units == START_PRICE + STEP
    assert r.reserve_met and r.bid_count == 2 and r.winning_bid_id == last.bid.bid_id
    assert r.winning_hold_id > 0
    assert 0 <= r.closed_at_us - lot.ends_at_us < SEC, "closed late"
    state = h.call(bids_stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot.id),
                   a.md).state
    assert state.status == bids_pb2.LOT_STATUS_CLOSED and state.leader_id == b.id
    settle(house, seller, category, tail, [lot])
    ev = closed_events(tail, lot.id)
    assert len(ev) == 1
    assert (ev[0].winner_id, ev[0].price.units, ev[0].reserve_met, ev[0].seller_id,
            ev[0].winning_hold_id) == (b.id, START_PRICE + STEP, True, seller.id,
                                       r.winning_hold_id)
    assert reserved(wallet, b) == START_PRICE + STEP  # the winner's hold stays for payment


def test_no_bids_and_reserve_not_met_close_unsold(house, seller, category, bids_stub,
                                                  users_stub, wallet, svc_key, tail):
    empty = scheduled(house, seller, category, 0.8, 1.5)
    reserve = scheduled(house, seller, category, 0.8, 2.5, reserve_price=rub(START_PRICE * 2))
    house.wait_state(reserve.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    bid(bids_stub, a, reserve.id, START_PRICE)
    for lot, bids_seen in ((empty, 0), (reserve, 1)):
        r = house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=6).result
        assert (r.winner_id, r.reserve_met, r.bid_count) == (0, False, bids_seen)
        ev = tail.wait_for(lambda t: closed_events(t, lot.id), what="auction.closed")
        assert ev[0].winner_id == 0 and not ev[0].reserve_met
    h.wait_until(lambda: reserved(wallet, a) == 0, 10, what="the unsold lot's hold released")


def test_soft_close_moves_the_close_to_the_extended_end(house, seller, category, bids_stub,
                                                       users_stub, wallet, svc_key):
    lot = scheduled(house, seller, category, 0.6, 2.0, soft_close_window_seconds=2,
                    max_extensions=5)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    h.wait_until(lambda: now_us() > lot.ends_at_us - SEC, 5, interval=0.02)
    placed = bid(bids_stub, a, lot.id, START_PRICE)
    new_end = placed.state.ends_at_us
    assert new_end > lot.ends_at_us
    # The scheduler's close at the original end is answered EXTENDED and
    # moves ends_at_us; until that shows, the lot may simply not have been
    # looked at yet.
    moved = h.wait_until(lambda: (lambda l: l if l.ends_at_us != lot.ends_at_us
                                  or l.state != S.LOT_STATE_LIVE else None)(
        house.get(lot.id, house.admin)), 5, interval=0.05,
        what="the scheduler's close at the original end")
    assert moved.state == S.LOT_STATE_LIVE, "closed before the extended end"
    assert moved.ends_at_us == new_end
    r = house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=6).result
    assert r.winner_id == a.id and 0 <= r.closed_at_us - new_end < SEC


def test_cancelling_a_live_lot_closes_it_in_bids_and_releases_holds(
        house, admin, seller, category, bids_stub, users_stub, wallet, svc_key, tail):
    lot = scheduled(house, seller, category, 0.6, 60)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    bid(bids_stub, a, lot.id, START_PRICE)
    assert reserved(wallet, a) == START_PRICE
    out = h.call(house.stub.CancelLot, apb.CancelLotRequest(lot_id=lot.id, reason="Fraud check"),
                 admin.md).lot
    assert out.state == S.LOT_STATE_CANCELLED
    state = h.call(bids_stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot.id),
                   a.md).state
    assert state.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, bids_stub.PlaceBid,
                   bids_pb2.PlaceBidRequest(lot_id=lot.id, amount=rub(START_PRICE * 2),
                                            idempotency_key=h.idem()), a.md)
    h.wait_until(lambda: reserved(wallet, a) == 0, 10, what="the hold released")
    # Nothing sold, nothing to settle: no auction.closed, read past whatever
    # CancelLot wrote on the lot's partition.
    part = tail.first_record("gavel.auctions", lot_key(lot.id)).partition
    tail.read_past("gavel.auctions", lambda: fresh_lot(house, seller, category), {part})
    assert closed_events(tail, lot.id) == []


def test_cancel_while_bids_is_down_changes_nothing(house, admin, seller, category, bids):
    lot = scheduled(house, seller, category, 0.6, 60)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    bids.stop()
    try:
        h.expect_error(grpc.StatusCode.UNAVAILABLE, house.stub.CancelLot, apb.CancelLotRequest(
            lot_id=lot.id, reason="Try"), admin.md, timeout=20)
        assert house.get(lot.id, admin).state == S.LOT_STATE_LIVE
    finally:
        bids.start()
    out = h.call(house.stub.CancelLot, apb.CancelLotRequest(lot_id=lot.id, reason="Again"),
                 admin.md).lot
    assert out.state == S.LOT_STATE_CANCELLED


def test_kill9_restart_closes_what_ended_while_down_exactly_once(
        house, seller, category, auctions, bids_stub, users_stub, wallet, svc_key, tail,
        lots_db, kafka_bootstrap):
    running = scheduled(house, seller, category, 0.6, 2.5)       # ends while we are down
    pending = scheduled(house, seller, category, 1.5, 1.0)       # opens and ends while down
    later = scheduled(house, seller, category, 0.6, 8.0)         # still live after restart
    house.wait_state(running.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    bid(bids_stub, a, running.id, START_PRICE)
    auctions.kill9()
    time.sleep(max(0, (pending.ends_at_us - now_us()) / SEC) + 0.5)
    auctions.start()
    for lot in (running, pending):
        house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=5)
    assert house.get(running.id, house.admin).result.winner_id == a.id
    house.wait_state(later.id, S.LOT_STATE_CLOSED, timeout=12)
    settle(house, seller, category, tail, (running, pending, later))
    # the killed instance's session ends, and the restarted one holds gavel.bids
    h.wait_group_settled(auctions, "auctions", kafka_bootstrap, ["gavel.bids"])
    for lot in (running, pending, later):
        assert len(transitions_to(house, lot.id, S.LOT_STATE_LIVE)) == 1
        assert len(transitions_to(house, lot.id, S.LOT_STATE_CLOSED)) == 1
        assert len(closed_events(tail, lot.id)) == 1, "auction.closed not exactly once"


def test_two_replicas_open_and_close_each_lot_once(
        house, seller, category, auctions, stack, tail, kafka_bootstrap):
    second = h.Daemon(stack, "auctions")
    port = int(second.addr.rsplit(":", 1)[1]) + 100
    second.addr = "127.0.0.1:%d" % port
    second.env["GAVEL_AUCTIONS_ADDR"] = second.addr
    second.env["GAVEL_METRICS_PORT"] = str(int(second.env["GAVEL_METRICS_PORT"]) + 100)
    second.env.update({k: v for k, v in auctions.env.items() if k.startswith("GAVEL_AUCTIONS_")
                       and k != "GAVEL_AUCTIONS_ADDR"})
    second.log_path = second.log_path.replace(".pytest.log", ".replica.pytest.log")
    second.log_start = second.log_size()
    second.start()
    try:
        # both in the consumer group before the lots (one stopped while
        # still joining would never say it left: its share of gavel.bids
        # would wait for its session to end)
        h.wait_until(lambda: h.metric_value(second, "gavel_events_assigned_partitions",
                                            'group="auctions"') > 0,
                     30, what="the replica in the auctions consumer group")
        session = 0
        lots = []
        # Approve first, then schedule all twelve to open together: with
        # approvals in between, a loaded machine (three suites side by
        # side) took the later ScheduleLot calls within the 500 ms a start
        # must lie ahead of server time.
        approved = [house.approved(seller, category.id) for _ in range(12)]
        start = now_us() + int(2.5 * SEC)
        for lot in approved:
            lot = house.schedule(seller, lot.id, start, start + int(1.5 * SEC), session)
            session = lot.session_id
            lots.append(lot)
        for lot in lots:
            house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=10)
        second.stop()  # its rounds end before it exits: nothing more can come from it
        settle(house, seller, category, tail, lots)
        for lot in lots:
            assert len(transitions_to(house, lot.id, S.LOT_STATE_LIVE)) == 1
            assert len(transitions_to(house, lot.id, S.LOT_STATE_CLOSED)) == 1
            assert len(closed_events(tail, lot.id)) == 1
    finally:
        if second.is_running():
            second.stop()
        found = second.sanitizer_reports(since=second.log_start)
        assert not found, "replica sanitizer reports %s" % found
    # the replica left the group: the first instance holds gavel.bids again
    h.wait_group_settled(auctions, "auctions", kafka_bootstrap, ["gavel.bids"])


def test_ending_soon_is_announced_once(house, seller, category, tail):
    lot = scheduled(house, seller, category, 0.6, 3.0)

    def soon(t):
        return [events_pb2.AuctionEndingSoon.FromString(e.payload)
                for _, e in t.envelopes("gavel.auctions", str(lot.id).encode())
                if e.type == "auction.ending_soon"]
    got = tail.wait_for(soon, timeout=6, what="auction.ending_soon")
    assert got[0].ends_at_us == lot.ends_at_us
    assert now_us() >= lot.ends_at_us - 2 * SEC
    house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=6)
    settle(house, seller, category, tail, [lot])
    assert len(soon(tail)) == 1


def test_buy_now_closes_the_lot_at_once_and_announces_it_once(
        house, seller, category, auctions, bids_stub, users_stub, wallet, svc_key, tail,
        kafka_bootstrap):
    """A bid at the buy-now price closes the lot in the bids service; the
    auctions daemon hears lot.closed and closes its lot within a second,
    not at the end ten minutes away: the winner and price of the buy-now,
    one auction.closed (payments settles on it), no "ending soon"."""
    buy_now = START_PRICE * 3
    # measured in a settled group (a rebalance holds events for seconds)
    h.wait_group_settled(auctions, "auctions", kafka_bootstrap, ["gavel.bids"])
    lot = scheduled(house, seller, category, 0.6, 600, buy_now_price=rub(buy_now))
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    a = funded_bidder(users_stub, wallet, svc_key)
    b = funded_bidder(users_stub, wallet, svc_key)
    bid(bids_stub, a, lot.id, START_PRICE)
    t0 = time.monotonic()
    won = bid(bids_stub, b, lot.id, buy_now + STEP)  # accepted at exactly the buy-now price
    assert won.bid.amount.units == buy_now
    closed = house.wait_state(lot.id, S.LOT_STATE_CLOSED, timeout=5)
    took = time.monotonic() - t0
    r = closed.result
    assert (r.winner_id, r.final_price.units, r.winning_bid_id) == (b.id, buy_now, won.bid.bid_id)
    assert r.closed_at_us < lot.ends_at_us - 500 * SEC
    assert closed.ends_at_us == r.closed_at_us
    assert took < 3 * h.SLOW, "closed %.1f s after the buy-now" % took
    settle(house, seller, category, tail, [lot])
    ev = closed_events(tail, lot.id)
    assert len(ev) == 1 and (ev[0].winner_id, ev[0].price.units) == (b.id, buy_now)
    assert not [e for _, e in tail.envelopes("gavel.auctions", lot_key(lot.id))
                if e.type == "auction.ending_soon"]
    assert reserved(wallet, a) == 0 and reserved(wallet, b) == buy_now


def test_a_stray_lot_closed_event_leaves_a_live_lot_live(house, seller, category, bids_stub,
                                                        kafka_bootstrap):
    """lot.closed for a lot the bids service has not closed (a replayed or
    mistaken event): the scheduler's CloseLot gets EXTENDED with the real
    end and the lot stays LIVE with it; a malformed one changes nothing
    either (it is dead-lettered)."""
    lot = scheduled(house, seller, category, 0.6, 600)
    house.wait_state(lot.id, S.LOT_STATE_LIVE, timeout=5)
    p = h.producer(kafka_bootstrap)
    try:
        stray = events_pb2.LotClosed(lot_id=lot.id, closed_at_us=now_us() - SEC)
        for payload in (stray.SerializeToString(), b"\xff\xff not a LotClosed"):
            p.send("gavel.bids", key=lot_key(lot.id), value=events_pb2.Envelope(
                id=h.idem(), type="lot.closed", occurred_at_us=now_us(),
                aggregate_id=str(lot.id), source="tests", payload=payload).SerializeToString())
        p.flush()
    finally:
        p.close()

    def restored():
        got = house.get(lot.id, house.admin)
        return got if got.ends_at_us == lot.ends_at_us and transitions_to(
            house, lot.id, S.LOT_STATE_LIVE) else None
    time.sleep(2 * h.SLOW)  # the consumer and a scheduler round or two
    got = h.wait_until(restored, 10, what="the lot live with its own end")
    assert got.state == S.LOT_STATE_LIVE
    assert not transitions_to(house, lot.id, S.LOT_STATE_CLOSED)
    state = h.call(bids_stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot.id),
                   house.admin.md).state
    assert state.status == bids_pb2.LOT_STATUS_LIVE
