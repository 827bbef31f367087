"""A lot's life against the real daemon: soft close, buy-now, reserve,
CloseLot (early, on time, idempotent, cancel), who may bid (not the seller,
not the leader by hand), funds, and a users service that is down."""
import time
import urllib.request

import grpc

import gavel_harness as h
from gavel_harness import bids_pb2, users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
FP = grpc.StatusCode.FAILED_PRECONDITION
PD = grpc.StatusCode.PERMISSION_DENIED
RE = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
US = 1000000
# Soft-close window: long enough for a few calls under ASan, short enough to wait out.
WINDOW_S = 4 if h.SLOW == 1 else 8


def snapshot(market, lot):
    st = market.state(lot)
    return (st.status, st.seq, st.bid_count, st.current_price, st.leader_id, st.head_hash,
            st.ends_at_us, st.extensions_used, st.outcome)


def expect_refused(market, code, fn, lot):
    """fn() must fail with code and a message, and leave the lot as it was."""
    before = snapshot(market, lot)
    got, details, _ = market.outcome(fn)
    assert got == code, "expected %s, got %s %r" % (code, got, details)
    assert details, "%s without a message" % code
    assert snapshot(market, lot) == before, "a refused call changed the lot"
    return details


def close_answer(cl):
    """A CloseLotResponse without the read time of its state."""
    st = bids_pb2.LotState()
    st.CopyFrom(cl.state)
    st.ClearField("server_time_us")
    return (cl.outcome, h.receipt(cl.winning_bid) if cl.HasField("winning_bid") else None,
            cl.winning_hold_id, cl.ends_at_us, cl.closed_at_us, st.SerializeToString())


def hold_of(market, hold_id):
    return h.call(market.wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=hold_id),
                  market.svc_md()).hold


# ---- soft close -------------------------------------------------------------------------

def test_bid_outside_the_soft_close_window_does_not_extend(market):
    a, b = market.new_bidders(2)
    lot = market.open_lot(ends_in_s=120, soft_close_s=WINDOW_S, max_extensions=5)
    end = market.state(lot).ends_at_us
    for who, units in ((a, 1000), (b, 1100)):
        st = market.place(who, lot, units).state
        assert (st.ends_at_us, st.extensions_used) == (end, 0)


def test_soft_close_extends_only_on_a_leader_change_inside_the_window_up_to_the_cap(
        market, kafka_bootstrap):
    a, b, c = market.new_bidders(3)
    poor = market.new_bidder(funds=500)
    tail = market.tail(kafka_bootstrap)
    try:
        lot = market.open_lot(ends_in_s=WINDOW_S / 2, soft_close_s=WINDOW_S, max_extensions=2)
        st = market.state(lot)
        assert (st.soft_close_window_seconds, st.max_extensions, st.extensions_used) == \
            (WINDOW_S, 2, 0)
        end0 = st.ends_at_us

        def moved_to_now_plus_window(resp):
            lo = resp.bid.placed_at_us + WINDOW_S * US
            hi = resp.state.server_time_us + WINDOW_S * US
            return lo <= resp.state.ends_at_us <= hi

        # The first bid inside the window gives the lot a leader: now + N.
        r1 = market.place(a, lot, 1000)
        assert r1.state.ends_at_us > end0 and moved_to_now_plus_window(r1), (end0, r1.state)
        assert r1.state.extensions_used == 1
        end1 = r1.state.ends_at_us

        # Rejected bids never extend: too low, not enough funds, the leader
        # bidding again; nor does the leader raising their maximum.
        expect_refused(market, IA, lambda: market.place(b, lot, 1000), lot)
        expect_refused(market, RE, lambda: market.place(poor, lot, 1100), lot)
        expect_refused(market, FP, lambda: market.place(a, lot, 1200), lot)
        r2 = market.autobid(a, lot, 1200)
        assert (r2.state.ends_at_us, r2.state.extensions_used) == (end1, 1)
        assert not r2.placed_bids
        # Another bidder takes the lead: extended again.
        r3 = market.place(b, lot, 1300)
        assert r3.state.ends_at_us > end1 and moved_to_now_plus_window(r3)
        assert r3.state.extensions_used == 2
        end2 = r3.state.ends_at_us
        # The cap (2) is reached: a new leader no longer extends.
        r4 = market.place(c, lot, 1400)
        assert r4.state.leader_id == c.id
        assert (r4.state.ends_at_us, r4.state.extensions_used) == (end2, 2)

        # CloseLot before the (extended) end: EXTENDED with that end, nothing closed.
        early = market.close(lot)
        assert early.outcome == bids_pb2.CLOSE_OUTCOME_EXTENDED
        assert (early.ends_at_us, early.closed_at_us) == (end2, 0)
        assert early.state.status == bids_pb2.LOT_STATUS_LIVE
        assert not early.HasField("winning_bid") and early.winning_hold_id == 0

        market.wait_until_past(end2)
        expect_refused(market, FP, lambda: market.place(a, lot, 2000), lot)
        done = market.close(lot)
        assert done.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
        assert h.receipt(done.winning_bid) == h.receipt(r4.bid)
        assert done.closed_at_us >= end2

        # The broker got one lot.extended per extension, with the old and new ends.
        def extended(t):
            evs = {}
            for _, env in t.envelopes("gavel.bids", str(lot).encode()):
                if env.type == "lot.extended":
                    evs[env.id] = h.events_pb2.LotExtended.FromString(env.payload)
            return evs if len(evs) >= 2 else None
        tail.wait_for(extended, what="two lot.extended events")
        # lot.closed comes after any extension on the lot's partition: once it
        # is read, a third lot.extended (from r4, past the cap) would be too.
        tail.wait_for(lambda t: any(env.type == "lot.closed" for _, env in
                                    t.envelopes("gavel.bids", str(lot).encode())),
                      what="lot.closed")
        assert sorted((e.old_ends_at_us, e.new_ends_at_us) for e in extended(tail).values()) == \
            [(end0, end1), (end1, end2)]
    finally:
        tail.close()


# ---- buy-now, reserve, close -----------------------------------------------------------

def test_buy_now_closes_at_once_at_the_buy_now_price_and_later_bids_are_refused(market):
    a, b, c = market.new_bidders(3)
    lot = market.open_lot(buy_now=5000)
    market.place(a, lot, 2000)
    r = market.place(b, lot, 7000)
    assert (r.bid.bidder_id, r.bid.amount.units, r.bid.is_autobid) == (b.id, 5000, False)
    assert r.caller_is_leading and not r.triggered_bids
    assert r.state.status == bids_pb2.LOT_STATUS_CLOSED
    assert r.state.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    assert (r.state.leader_id, r.state.current_price.units) == (b.id, 5000)

    for fn in (lambda: market.place(c, lot, 6000), lambda: market.place(c, lot, 5000),
               lambda: market.autobid(c, lot, 9000)):
        expect_refused(market, FP, fn, lot)

    cl = market.close(lot)
    assert cl.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    assert h.receipt(cl.winning_bid) == h.receipt(r.bid)
    hold = hold_of(market, cl.winning_hold_id)
    assert (hold.user_id, hold.lot_id, hold.amount.units, hold.state) == (b.id, lot, 5000, "held")
    assert [(x.bidder_id, x.amount.units) for x in market.log(lot)] == [(a.id, 2000), (b.id, 5000)]
    market.wait_reserved({a: 0, b: 5000, c: 0})


def test_reserve_not_met_closes_without_a_winner_and_releases_every_hold(market):
    a, b = market.new_bidders(2)
    lot = market.open_lot(reserve=5000, ends_in_s=2 * h.SLOW)
    market.place(a, lot, 1000)
    st = market.place(b, lot, 2000).state
    assert st.has_reserve and not st.reserve_met
    assert st.ends_at_us > 0
    market.wait_reserved({a: 0, b: 2000})
    market.wait_until_past(st.ends_at_us)
    cl = market.close(lot)
    assert cl.outcome == bids_pb2.CLOSE_OUTCOME_RESERVE_NOT_MET
    assert not cl.HasField("winning_bid") and cl.winning_hold_id == 0
    assert cl.state.status == bids_pb2.LOT_STATUS_CLOSED
    assert cl.state.outcome == bids_pb2.CLOSE_OUTCOME_RESERVE_NOT_MET
    assert close_answer(market.close(lot)) == close_answer(cl)
    market.wait_reserved({a: 0, b: 0})


def test_close_lot_before_the_end_is_extended_and_after_it_names_the_winner_once(market, ledger):
    a, b, c = market.new_bidders(3)
    lot = market.open_lot(ends_in_s=2 * h.SLOW)
    market.place(a, lot, 1000)
    market.place(b, lot, 1100)
    end = market.state(lot).ends_at_us

    early = market.close(lot)
    assert early.outcome == bids_pb2.CLOSE_OUTCOME_EXTENDED
    assert (early.ends_at_us, early.closed_at_us) == (end, 0)
    assert early.state.status == bids_pb2.LOT_STATUS_LIVE
    win = market.place(a, lot, 1200)          # still live after the early CloseLot

    market.wait_until_past(end)
    cl = market.close(lot)
    assert cl.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    assert h.receipt(cl.winning_bid) == h.receipt(win.bid)
    assert cl.closed_at_us >= end
    assert cl.state.status == bids_pb2.LOT_STATUS_CLOSED
    assert (cl.state.leader_id, cl.state.current_price.units) == (a.id, 1200)
    hold = hold_of(market, cl.winning_hold_id)
    assert (hold.user_id, hold.lot_id, hold.amount.units, hold.state) == (a.id, lot, 1200, "held")

    # Idempotent: the same answer again, and nothing moves after the close.
    assert close_answer(market.close(lot)) == close_answer(cl)
    for fn in (lambda: market.place(c, lot, 5000), lambda: market.place(b, lot, 1300),
               lambda: market.autobid(c, lot, 9000), lambda: market.cancel_autobid(a, lot)):
        expect_refused(market, FP, fn, lot)
    assert len(market.log(lot)) == 3
    market.wait_reserved({a: 1200, b: 0, c: 0})
    assert hold_of(market, cl.winning_hold_id).state == "held"
    for x in (a, b, c):
        ledger.assert_wallet_consistent(x.id)


def test_close_without_bids_and_cancel_release_everything(market):
    a, b = market.new_bidders(2)
    empty = market.open_lot(ends_in_s=0.5)
    market.wait_until_past(market.state(empty).ends_at_us)
    cl = market.close(empty)
    assert cl.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_NO_BIDS and not cl.HasField("winning_bid")

    lot = market.open_lot()
    market.place(a, lot, 1000)
    market.place(b, lot, 1100)
    cancelled = market.close(lot, cancel=True)
    assert cancelled.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED
    assert not cancelled.HasField("winning_bid") and cancelled.winning_hold_id == 0
    assert cancelled.state.status == bids_pb2.LOT_STATUS_CLOSED
    assert close_answer(market.close(lot)) == close_answer(cancelled)
    expect_refused(market, FP, lambda: market.place(a, lot, 1200), lot)
    market.wait_reserved({a: 0, b: 0})


# ---- who may bid, and with what -------------------------------------------------------------

def test_the_seller_cannot_bid_on_their_own_lot(market, new_account):
    seller = market.new_bidder()           # a bidder-role user who sells this lot
    other = market.new_bidder()
    lot = market.open_lot(seller_id=seller.id)
    for fn in (lambda: market.place(seller, lot, 1000),
               lambda: market.autobid(seller, lot, 5000)):
        expect_refused(market, PD, fn, lot)
    assert market.log(lot) == []
    assert market.balance(seller) == (10 ** 9, 0, 10 ** 9)
    # Someone else may, and the seller still may not afterwards.
    market.place(other, lot, 1000)
    expect_refused(market, PD, lambda: market.place(seller, lot, 2000), lot)
    # A user whose role is not bidder may not bid at all.
    s = new_account(users_pb2.ROLE_SELLER)
    expect_refused(market, PD, lambda: market.place(s, lot, 2000), lot)


def leading_message(lot, price):
    return ("you already lead lot %d at %d RUB; to bid higher, raise your maximum with SetAutoBid"
            % (lot, price))


def bids_placed(tail, lot):
    """(bidder, units) of every bid.placed of lot the tail saw, in seq order."""
    evs = {}
    for _, env in tail.envelopes("gavel.bids", str(lot).encode()):
        if env.type == "bid.placed":
            ev = h.events_pb2.BidPlaced.FromString(env.payload)
            evs[ev.seq] = (ev.bidder_id, ev.amount.units)
    return [evs[k] for k in sorted(evs)]


def test_the_leaders_manual_bid_is_refused_and_changes_nothing_set_auto_bid_raises_instead(
        market, ledger, kafka_bootstrap):
    """Issue 14: a PlaceBid by the lot's leader outbid nobody, yet it was
    accepted (a self-raise). It is refused with FAILED_PRECONDITION and a
    message saying what to do, whether the lot's view answers (below the
    minimum) or the shard does, and leaves the lot, its log, the wallet and
    the broker as they were; the refused key records nothing. A retry of the
    leader's own winning bid still gets its first answer, and the leader
    raises their maximum through SetAutoBid, which bids nothing against them."""
    a, b, c = market.new_bidders(3)
    tail = market.tail(kafka_bootstrap)
    try:
        # The window is longer than the lot: every change of leader extends.
        lot = market.open_lot(ends_in_s=600, soft_close_s=3600, max_extensions=10)
        market.place(a, lot, 1000)
        key_b = h.idem()
        first_b = market.place(b, lot, 1100, key=key_b)
        assert first_b.caller_is_leading and first_b.state.extensions_used == 2
        log, holds, balance = market.log(lot), ledger.holds(b.id), market.balance(b)
        assert balance[1] == 1100

        high_key = h.idem()
        for units, key in ((1150, None), (1200, None), (9000, high_key)):
            details = expect_refused(
                market, FP, lambda: market.place(b, lot, units, key=key), lot)
            assert details == leading_message(lot, 1100), details
        assert market.log(lot) == log, "a refused bid entered the log"
        assert ledger.holds(b.id) == holds, "a refused bid took or released a hold"
        assert market.balance(b) == balance
        # Idempotent replay comes first: the winning bid's key, its first answer.
        assert market.place(b, lot, 1100, key=key_b) == first_b

        # Raising the maximum keeps the lead without bidding against oneself.
        before = snapshot(market, lot)
        up = market.autobid(b, lot, 3000)
        assert up.caller_is_leading and not up.placed_bids
        assert (up.autobid.status, up.autobid.max_amount.units) == (
            bids_pb2.AUTO_BID_STATUS_ACTIVE, 3000)
        assert snapshot(market, lot) == before
        market.wait_reserved({b: 3000})
        # ... and its proxy answers the next bidder for it.
        r = market.place(c, lot, 1200)
        assert not r.caller_is_leading
        assert [(x.bidder_id, x.amount.units, x.is_autobid) for x in r.triggered_bids] == [
            (b.id, 1300, True)]

        # The broker saw the accepted bids and nothing for the refused ones.
        want = [(a.id, 1000), (b.id, 1100), (c.id, 1200), (b.id, 1300)]
        tail.wait_for(lambda t: len(bids_placed(t, lot)) >= 4, what="four bid.placed")
        assert bids_placed(tail, lot) == want
        assert [(x.bidder_id, x.amount.units) for x in market.log(lot)] == want

        # Outbid beyond the maximum, the leader's refused key is still unused.
        market.place(c, lot, 5000)
        again = market.place(b, lot, 9000, key=high_key)
        assert (again.bid.bidder_id, again.bid.amount.units, again.bid.seq) == (b.id, 9000, 6)
        assert again.caller_is_leading
        market.wait_reserved({a: 0, b: 9000, c: 0})
        for x in (a, b, c):
            ledger.assert_wallet_consistent(x.id)
    finally:
        tail.close()


def test_the_leader_may_still_buy_now_which_closes_the_lot(market):
    """Buying now is not a self-raise: it ends the auction, so the leader may
    take the lot at the buy-now price (with an autobid active or not)."""
    a, b = market.new_bidders(2)
    lot = market.open_lot(buy_now=5000)
    market.place(a, lot, 1000)
    market.autobid(a, lot, 3000)
    expect_refused(market, FP, lambda: market.place(a, lot, 4999), lot)
    r = market.place(a, lot, 7000)
    assert (r.bid.bidder_id, r.bid.amount.units, r.bid.is_autobid) == (a.id, 5000, False)
    assert r.caller_is_leading and not r.triggered_bids
    assert (r.state.status, r.state.outcome) == (bids_pb2.LOT_STATUS_CLOSED,
                                                 bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER)
    assert (r.state.leader_id, r.state.current_price.units) == (a.id, 5000)
    expect_refused(market, FP, lambda: market.place(b, lot, 6000), lot)
    cl = market.close(lot)
    assert h.receipt(cl.winning_bid) == h.receipt(r.bid)
    hold = hold_of(market, cl.winning_hold_id)
    assert (hold.user_id, hold.amount.units, hold.state) == (a.id, 5000, "held")
    assert [(x.bidder_id, x.amount.units) for x in market.log(lot)] == [(a.id, 1000), (a.id, 5000)]
    market.wait_reserved({a: 5000, b: 0})


def test_insufficient_funds_is_resource_exhausted_and_records_nothing(market):
    poor = market.new_bidder(funds=500)
    lot = market.open_lot()
    details = expect_refused(market, RE, lambda: market.place(poor, lot, 1000), lot)
    assert details
    assert market.log(lot) == []
    st = market.state(lot)
    assert (st.bid_count, st.seq, st.leader_id) == (0, 0, 0)
    assert market.balance(poor) == (500, 0, 500)


def test_a_bid_refused_for_funds_does_not_stop_others_bidding_the_next_minimum(market):
    """next_min_bid is "the smallest amount PlaceBid accepts now", and a
    rejected call changes nothing: a bid refused for want of funds must not
    make the next minimum unacceptable to the next bidder."""
    poor = market.new_bidder(funds=500)
    a, = market.new_bidders(1)
    lot = market.open_lot()
    expect_refused(market, RE, lambda: market.place(poor, lot, 1000), lot)
    st = market.state(lot)
    assert st.next_min_bid.units == 1000
    code, details, resp = market.outcome(lambda: market.place(a, lot, st.next_min_bid.units))
    assert code == grpc.StatusCode.OK, (
        "a bid of next_min_bid %d right after a refused one: %s %r"
        % (st.next_min_bid.units, code, details))
    assert resp.bid.seq == 1


def test_users_down_makes_place_bid_unavailable_fast_and_changes_nothing(market, users):
    a, b = market.new_bidders(2)
    lot = market.open_lot()
    market.place(a, lot, 1000)
    before = snapshot(market, lot)
    req = market.place_req(lot, 1100)
    users.stop()
    try:
        t0 = time.monotonic()
        code, details, _ = market.outcome(
            lambda: market.stub.PlaceBid(req, metadata=b.md, timeout=15 * h.SLOW))
        elapsed = time.monotonic() - t0
        assert code == UNAVAILABLE, "expected UNAVAILABLE, got %s %r" % (code, details)
        assert details
        assert elapsed <= 2.0 + 1.0 * h.SLOW, "UNAVAILABLE only after %.2fs" % elapsed
        assert snapshot(market, lot) == before, "the lot changed while the wallet was down"
        assert len(market.log(lot)) == 1
    finally:
        users.start()
    # The refused call recorded nothing: the same key works once users is back.
    deadline = time.monotonic() + 10 * h.SLOW
    while True:
        code, details, resp = market.outcome(
            lambda: market.stub.PlaceBid(req, metadata=b.md, timeout=15 * h.SLOW))
        if code == grpc.StatusCode.OK or time.monotonic() > deadline:
            break
        assert code == UNAVAILABLE, "after the restart: %s %r" % (code, details)
        time.sleep(0.2)
    assert code == grpc.StatusCode.OK, (
        "PlaceBid still %s %r after users came back" % (code, details))
    assert (resp.bid.bidder_id, resp.bid.amount.units, resp.bid.seq) == (b.id, 1100, 2)
    market.wait_reserved({a: 0, b: 1100})


def keys_in_memory(daemon):
    url = "http://127.0.0.1:%s/metrics" % daemon.env["GAVEL_METRICS_PORT"]
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("gavel_bids_idempotency_keys "):
                return float(line.split()[1])
    raise AssertionError("no gavel_bids_idempotency_keys in %s" % url)


def test_retries_after_the_close_get_the_first_answer_from_the_table_also_after_restart(
        market, bids):
    """A closed lot's idempotency keys leave memory (the requests table keeps
    them): a retry still gets its first answer, a reused key with another
    bid is refused as such, and a new key is refused as closed."""
    a, b = market.new_bidders(2)
    lot = market.open_lot(ends_in_s=1.5 * h.SLOW)
    key_a, key_b, key_auto = h.idem(), h.idem(), h.idem()
    first_a = market.place(a, lot, 1000, key=key_a)
    first_b = market.place(b, lot, 1100, key=key_b)
    first_auto = market.autobid(a, lot, 1500, key=key_auto)
    before = keys_in_memory(bids)
    market.wait_until_past(market.state(lot).ends_at_us)
    market.close(lot)
    assert keys_in_memory(bids) <= before - 3, "the closed lot kept its keys in memory"

    def check():
        assert market.place(a, lot, 1000, key=key_a) == first_a
        assert market.place(b, lot, 1100, key=key_b) == first_b
        assert market.autobid(a, lot, 1500, key=key_auto) == first_auto
        e = h.expect_error(FP, market.stub.PlaceBid, market.place_req(lot, 1200, key=key_b), b.md)
        assert "different request" in e.details()
        e = h.expect_error(FP, market.stub.PlaceBid, market.place_req(lot, 5000), b.md)
        assert "closed" in e.details()
    check()
    bids.restart()
    check()
    assert len(market.log(lot)) == 3
