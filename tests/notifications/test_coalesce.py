"""A burst of outbids on one lot to one user: the first realtime message
goes at once, then at most one per GAVEL_NOTIFICATIONS_COALESCE_MS window
carrying the latest price; the inbox keeps every one."""
import time

import pytest

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb

OUTBID = "EVENT_KIND_OUTBID"


def money_text(units):
    return "%d.%02d RUB" % (units // 100, units % 100)


@pytest.mark.latency
def test_a_burst_of_outbids_is_the_first_at_once_then_the_latest(
        notifications, notif_stub, market, bid, feed):
    window = int(notifications.env["GAVEL_NOTIFICATIONS_COALESCE_MS"]) / 1000
    coalesced0 = h.metric_value(notifications, "gavel_notifications_coalesced_total",
                                'channel="realtime"')
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]
    f = feed(a.id)
    rounds = 8
    bid(lot, a)
    prices = [int(bid(lot, b)["bid"]["amount"]["units"])]  # a is outbid: the burst starts
    first = f.wait_for(lambda f: f.of(a.id, OUTBID), what="the first outbid")[0]
    assert money_text(prices[0]) in first["notification"]["body"]
    start = time.monotonic()
    for _ in range(rounds - 1):  # the rest of the burst
        bid(lot, a)
        prices.append(int(bid(lot, b)["bid"]["amount"]["units"]))
        f.poll(0)
    burst_s = time.monotonic() - start

    def outbids():
        got = h.call(notif_stub.ListInbox, npb.ListInboxRequest(), h.bearer(a.token))
        return [n for n in got.notifications if n.kind == npb.EVENT_KIND_OUTBID]
    h.wait_until(lambda: len(outbids()) == rounds, 10, what="every outbid in the inbox")
    f.wait_for(lambda f: money_text(prices[-1]) in f.of(a.id, OUTBID)[-1]["notification"]["body"],
               window + 10, what="the latest price")
    f.poll(window + 0.5)  # and nothing after it
    msgs = f.of(a.id, OUTBID)
    bodies = [m["notification"]["body"] for m in msgs]
    assert money_text(prices[-1]) in bodies[-1], bodies
    # after the first, at most one per window
    assert 2 <= len(msgs) <= 2 + int(burst_s / window), (
        "%d messages for a %.1fs burst (window %.1fs): %s" % (len(msgs), burst_s, window, bodies))
    times = [f.arrived_at[m["notification"]["id"]] for m in msgs]
    gaps = [t2 - t1 for t1, t2 in zip(times, times[1:])]
    assert min(gaps) >= window - 0.25, "two messages within one window: gaps %s" % gaps
    ids = [int(m["notification"]["id"]) for m in msgs]
    assert ids == sorted(ids), "the messages went out of order"
    assert h.metric_value(notifications, "gavel_notifications_coalesced_total",
                          'channel="realtime"') >= coalesced0 + rounds - len(msgs)


def test_bursts_on_two_lots_do_not_hold_each_other(notifications, market, bid, feed):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot1, lot2 = market.live(seller)["id"], market.live(seller)["id"]
    f = feed(a.id)
    for lot in (lot1, lot2):
        bid(lot, a)
        bid(lot, b)
    # each lot's first outbid is the first of its own burst: both at once
    f.wait_for(lambda f: {m["notification"]["lotId"] for m in f.of(a.id, OUTBID)}
               == {lot1, lot2}, 5, what="an outbid of each lot")
