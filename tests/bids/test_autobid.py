"""Proxy bidding (SetAutoBid / CancelAutoBid) against the real daemon, as a
table of scenarios written from the rules eBay documents for automatic
bidding:

  - the system bids for you only as much as needed to lead: one increment
    over the next-highest commitment, never above your maximum;
  - the increment depends on the price band of the amount being outbid;
  - between equal maximums, the one placed first wins, at that amount (a
    manual bid equal to an earlier maximum loses to it);
  - a maximum below what the next bid must be is refused;
  - when a maximum reaches an unmet reserve, the price jumps to the reserve;
  - raising your own maximum while you lead does not raise your bid, and
    your proxy never bids against you; nor may you by hand: a manual bid
    while you lead is refused (FAILED_PRECONDITION), except one that buys
    the lot now;
  - two proxies settle at once (here: at most two recorded bids, no
    ping-pong);
  - cancelling stops further proxy bids; the bids already placed stand.

Each row opens a fresh lot, registers fresh bidders, drives the steps and
checks every answer, then the lot's state, its whole recorded log (hash
chain verified) and the money held.
"""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
FP = grpc.StatusCode.FAILED_PRECONDITION
BANDS = ((0, 100), (5000, 250), (10000, 500))
T, F = True, False

# Steps:
#   ("auto", who, max, placed_bids, caller_is_leading)  SetAutoBid
#   ("auto", who, max, <grpc code>)                     SetAutoBid refused
#   ("bid", who, amount, triggered_bids, caller_is_leading)
#   ("bid", who, amount, <grpc code>)
#   ("cancel", who, None, None, None) / ("cancel", who, None, <grpc code>)
# Bids are (who, amount, is_autobid). `end` is (price, leader, next_min or
# None, recorded log). `lot` overrides the lot's rules.
ROWS = [
    dict(id="first_proxy_bids_the_start_price", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
    ], end=(1000, "A", 1100, [("A", 1000, T)])),

    dict(id="proxy_answers_a_lower_manual_bid_with_one_increment_over_it", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "B", 1500, [("A", 1600, T)], F),
    ], end=(1600, "A", 1700, [("A", 1000, T), ("B", 1500, F), ("A", 1600, T)])),

    dict(id="proxy_answer_is_capped_at_its_maximum_then_a_higher_manual_bid_leads", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "B", 2950, [("A", 3000, T)], F),
        ("bid", "B", 3100, [], T),
    ], end=(3100, "B", 3200, [("A", 1000, T), ("B", 2950, F), ("A", 3000, T), ("B", 3100, F)])),

    dict(id="manual_bid_equal_to_an_earlier_proxy_maximum_loses_to_it", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "B", 3000, [("A", 3000, T)], F),
    ], end=(3000, "A", 3100, [("A", 1000, T), ("B", 3000, F), ("A", 3000, T)])),

    dict(id="equal_proxy_maximums_the_earlier_one_leads_at_that_maximum", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("auto", "B", 3000, [("B", 3000, T), ("A", 3000, T)], F),
    ], end=(3000, "A", 3100, [("A", 1000, T), ("B", 3000, T), ("A", 3000, T)])),

    dict(id="higher_second_proxy_wins_in_one_step_at_first_max_plus_increment", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("auto", "B", 5000, [("A", 3000, T), ("B", 3100, T)], T),
    ], end=(3100, "B", 3200, [("A", 1000, T), ("A", 3000, T), ("B", 3100, T)])),

    dict(id="lower_second_proxy_loses_in_one_step_first_leads_at_its_max_plus_increment", steps=[
        ("auto", "A", 5000, [("A", 1000, T)], T),
        ("auto", "B", 3000, [("B", 3000, T), ("A", 3100, T)], F),
    ], end=(3100, "A", 3200, [("A", 1000, T), ("B", 3000, T), ("A", 3100, T)])),

    dict(id="three_proxies_highest_wins_at_runner_up_max_plus_increment", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("auto", "B", 4000, [("A", 3000, T), ("B", 3100, T)], T),
        ("auto", "C", 3500, [("C", 3500, T), ("B", 3600, T)], F),
    ], end=(3600, "B", 3700, [("A", 1000, T), ("A", 3000, T), ("B", 3100, T), ("C", 3500, T),
                              ("B", 3600, T)])),

    dict(id="increments_follow_the_band_of_the_amount_outbid", steps=[
        ("auto", "A", 20000, [("A", 1000, T)], T),
        ("bid", "B", 4950, [("A", 5050, T)], F),    # 4950 is in the 0.. band: +100
        ("bid", "B", 6000, [("A", 6250, T)], F),    # 6000 is in the 5000.. band: +250
        ("bid", "B", 9900, [("A", 10150, T)], F),   # 9900 still +250
        ("bid", "B", 10650, [("A", 11150, T)], F),  # 10650 is in the 10000.. band: +500
    ], end=(11150, "A", 11650, [("A", 1000, T), ("B", 4950, F), ("A", 5050, T), ("B", 6000, F),
                                ("A", 6250, T), ("B", 9900, F), ("A", 10150, T), ("B", 10650, F),
                                ("A", 11150, T)])),

    dict(id="maximum_below_the_next_minimum_is_refused_and_records_nothing", steps=[
        ("bid", "A", 2000, [], T),
        ("auto", "B", 2050, IA),   # next minimum is 2100
        ("auto", "B", 2000, IA),   # equal to the current price
        ("auto", "A", 1500, IA),   # the leader below their own standing bid
        ("auto", "B", 2100, [("B", 2100, T)], T),
    ], end=(2100, "B", 2200, [("A", 2000, F), ("B", 2100, T)])),

    dict(id="cancel_stops_the_proxy_and_its_standing_bid_stays", steps=[
        ("auto", "A", 5000, [("A", 1000, T)], T),
        ("cancel", "A", None, None, None),
        ("bid", "B", 1100, [], T),
        ("cancel", "A", None, NF),   # nothing active any more
        ("cancel", "B", None, NF),   # never had one
    ], end=(1100, "B", 1200, [("A", 1000, T), ("B", 1100, F)])),

    dict(id="maximum_reaching_an_unmet_reserve_jumps_the_price_to_it", lot=dict(reserve=4000),
         steps=[
             ("auto", "A", 10000, [("A", 4000, T)], T),
             ("bid", "B", 4500, [("A", 4600, T)], F),
         ], end=(4600, "A", 4700, [("A", 4000, T), ("B", 4500, F), ("A", 4600, T)])),

    dict(id="proxy_duel_jumps_to_the_reserve_when_the_winners_max_reaches_it",
         lot=dict(reserve=4000), steps=[
             ("auto", "A", 3000, [("A", 1000, T)], T),
             ("auto", "B", 6000, [("A", 3000, T), ("B", 4000, T)], T),
         ], end=(4000, "B", 4100, [("A", 1000, T), ("A", 3000, T), ("B", 4000, T)])),

    dict(id="raising_the_leaders_maximum_places_no_bid", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("auto", "A", 6000, [], T),
        ("bid", "B", 5000, [("A", 5250, T)], F),    # 5000 is in the 5000.. band: +250
    ], end=(5250, "A", 5500, [("A", 1000, T), ("B", 5000, F), ("A", 5250, T)])),

    dict(id="the_leader_may_not_bid_by_hand_and_raises_the_maximum_instead", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "A", 1500, FP),     # leading: the proxy already bids for A
        ("auto", "A", 4000, [], T),
        ("bid", "B", 3500, [("A", 3600, T)], F),
        ("bid", "A", 3700, FP),
    ], end=(3600, "A", 3700, [("A", 1000, T), ("B", 3500, F), ("A", 3600, T)])),

    dict(id="the_leader_may_buy_now", lot=dict(buy_now=5000), steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "A", 4000, FP),
        ("bid", "A", 6000, [], T),  # taken at 5000, and the lot closes
        ("bid", "B", 6000, FP),
    ], end=(5000, "A", None, [("A", 1000, T), ("A", 5000, F)])),

    dict(id="manual_bid_above_every_maximum_leads_at_face_value", steps=[
        ("auto", "A", 3000, [("A", 1000, T)], T),
        ("bid", "B", 5000, [], T),
    ], end=(5000, "B", 5250, [("A", 1000, T), ("B", 5000, F)])),

    dict(id="proxy_stays_below_buy_now_and_a_manual_bid_at_buy_now_buys",
         lot=dict(buy_now=5000), steps=[
             ("auto", "A", 8000, [("A", 1000, T)], T),
             ("bid", "B", 4950, [("A", 4999, T)], F),
             ("bid", "B", 5000, [], T),
             ("auto", "C", 9000, FP),   # closed by the buy-now
         ], end=(5000, "B", None, [("A", 1000, T), ("B", 4950, F), ("A", 4999, T),
                                   ("B", 5000, F)])),
]


def bid_tuple(b, names):
    return (names.get(b.bidder_id, b.bidder_id), b.amount.units, b.is_autobid)


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_proxy_bidding_rule(market, row):
    who = sorted({s[1] for s in row["steps"]} | {row["end"][1]})
    accounts = dict(zip(who, market.new_bidders(len(who))))
    names = {a.id: n for n, a in accounts.items()}
    lot = market.open_lot(start=1000, bands=BANDS, **row.get("lot", {}))
    receipts = []     # every Bid any answer carried
    maxima = {}       # highest maximum each bidder ever set

    for n, step in enumerate(row["steps"]):
        kind, name, amount = step[:3]
        a = accounts[name]
        where = "step %d %s" % (n, step)
        if len(step) == 4:   # refused
            before = market.state(lot)
            call = {"auto": lambda: market.autobid(a, lot, amount),
                    "bid": lambda: market.place(a, lot, amount),
                    "cancel": lambda: market.cancel_autobid(a, lot)}[kind]
            code, details, _ = market.outcome(call)
            assert code == step[3], "%s: expected %s, got %s %r" % (where, step[3], code, details)
            assert details, "%s: refusal without a message" % where
            after = market.state(lot)
            assert (after.seq, after.current_price, after.leader_id, after.head_hash) == \
                (before.seq, before.current_price, before.leader_id, before.head_hash), \
                "%s: a refused call changed the lot" % where
            continue
        want, leading = step[3], step[4]
        if kind == "auto":
            r = market.autobid(a, lot, amount)
            maxima[name] = max(maxima.get(name, 0), amount)
            got = [bid_tuple(b, names) for b in r.placed_bids]
            assert got == want, "%s: placed_bids %s" % (where, got)
            assert len(r.placed_bids) <= 2, "%s: proxies did not settle in one step" % where
            # A maximum outbid in the same step is spent at once.
            assert r.autobid.status == (bids_pb2.AUTO_BID_STATUS_ACTIVE if leading else
                                        bids_pb2.AUTO_BID_STATUS_EXHAUSTED), where
            assert (r.autobid.lot_id, r.autobid.bidder_id, r.autobid.max_amount.units) == \
                (lot, a.id, amount)
            receipts += list(r.placed_bids)
        elif kind == "bid":
            r = market.place(a, lot, amount)
            mine = bid_tuple(r.bid, names)
            assert mine[0] == name and not mine[2], "%s: receipt %s" % (where, mine)
            got = [bid_tuple(b, names) for b in r.triggered_bids]
            assert got == want, "%s: triggered_bids %s" % (where, got)
            assert len(r.triggered_bids) <= 2, "%s: proxies did not settle in one step" % where
            receipts += [r.bid] + list(r.triggered_bids)
        else:
            r = market.cancel_autobid(a, lot)
            assert r.autobid.status == bids_pb2.AUTO_BID_STATUS_CANCELLED, where
            assert r.autobid.bidder_id == a.id
            st = market.get(lot, a)
            assert not st.HasField("caller_autobid") or \
                st.caller_autobid.status != bids_pb2.AUTO_BID_STATUS_ACTIVE, where
            continue
        assert r.caller_is_leading == leading, "%s: caller_is_leading %s" % (
            where, r.caller_is_leading)
        assert (r.state.leader_id == a.id) == leading, where
        step_bids = r.placed_bids if kind == "auto" else [r.bid] + list(r.triggered_bids)
        seqs = [b.seq for b in step_bids]
        if seqs:
            assert r.state.seq == seqs[-1] and seqs == list(range(seqs[0], seqs[-1] + 1)), where

    price, leader, next_min, want_log = row["end"]
    st = market.state(lot)
    log = market.log(lot)
    assert [bid_tuple(b, names) for b in log] == want_log
    assert (st.current_price.units, st.leader_id, st.bid_count, st.seq) == \
        (price, accounts[leader].id, len(want_log), len(want_log))
    if next_min is not None:
        assert st.status == bids_pb2.LOT_STATUS_LIVE
        assert st.next_min_bid.units == next_min
    else:
        assert st.status == bids_pb2.LOT_STATUS_CLOSED
        assert st.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
    # Every receipt an answer carried is the stored bid with its seq.
    by_seq = {b.seq: b for b in log}
    for r in receipts:
        assert h.receipt(r) == h.receipt(by_seq[r.seq]), "receipt differs from the log"
    assert {r.seq for r in receipts} == set(by_seq), "a stored bid no answer reported"

    # Only the autobid of the leader may still be active.
    for n, a in accounts.items():
        g = market.get(lot, a)
        if n != leader and g.HasField("caller_autobid"):
            assert g.caller_autobid.status != bids_pb2.AUTO_BID_STATUS_ACTIVE, (
                "%s's autobid still active although %s leads" % (n, leader))

    # Money: losers end with nothing held; the leader's hold covers the
    # standing price (and at most the largest amount they committed to,
    # once a hold it superseded is released: that happens in the background).
    expect = {a: 0 for n, a in accounts.items() if n != leader}
    market.wait_reserved(expect)
    top = max([maxima.get(leader, 0)] + [b.amount.units for b in log
                                          if b.bidder_id == accounts[leader].id])
    held = [None]

    def covers():
        held[0] = market.reserved(accounts[leader])
        return price <= held[0] <= top
    try:
        h.wait_until(covers, 15, interval=0.2, what="the leader's hold")
    except AssertionError:
        raise AssertionError("the leader holds %d for a price of %d (max %d)"
                             % (held[0], price, top))


def test_replacing_a_maximum_moves_its_tie_break_time_to_now(market):
    """bids.proto: SetAutoBid "Replaces an existing maximum (whose tie-break
    time becomes now)"; AutoBid.set_at_us is "Server time the current
    maximum was set"."""
    a, = market.new_bidders(1)
    lot = market.open_lot()
    first = market.autobid(a, lot, 3000)
    second = market.autobid(a, lot, 6000)
    assert second.autobid.max_amount.units == 6000
    assert second.autobid.set_at_us > first.autobid.set_at_us, (
        "set_at_us stayed %d after the maximum was replaced" % first.autobid.set_at_us)
    got = market.get(lot, a).caller_autobid
    assert (got.max_amount.units, got.set_at_us) == (6000, second.autobid.set_at_us)


def test_autobid_retry_with_the_same_key_returns_the_first_answer(market):
    a, b = market.new_bidders(2)
    lot = market.open_lot()
    key = h.idem()
    first = market.autobid(a, lot, 3000, key=key)
    again = market.autobid(a, lot, 3000, key=key)
    assert again == first
    code, details, _ = market.outcome(lambda: market.autobid(a, lot, 3500, key=key))
    assert code == FP and details
    ck = h.idem()
    c1 = market.cancel_autobid(a, lot, key=ck)
    assert market.cancel_autobid(a, lot, key=ck) == c1
    assert len(market.log(lot)) == 1
