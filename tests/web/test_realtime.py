"""Two dealers, two browser contexts, one live lot (tests/web/realtime.mjs):
A's bid reaches B's page within 1 s, B's outbid reaches A's page ("outbid")
within 1 s, and a bid in a lot's soft-close window moves the countdown on
both pages within 1 s. Times are measured in the pages, from the click to
the first frame that shows the change."""
import pytest

from web.webtest import account_json, live_lot

SOFT_CLOSE_S = 10


@pytest.mark.latency
def test_two_dealers_see_each_others_bids_and_the_extension(run_node, market):
    seller = market.seller()
    a, b = market.bidder(), market.bidder()
    lot = live_lot(market, seller)
    closing = live_lot(market, seller, duration_s=75, softCloseWindowSeconds=SOFT_CLOSE_S,
                       maxExtensions=5)
    r = run_node("realtime.mjs", timeout=240, a=account_json(a), b=account_json(b),
                 lotId=str(lot["id"]), closingLotId=str(closing["id"]), softCloseS=SOFT_CLOSE_S)
    print("A->B %d ms, B->A %d ms, extension seen after %d ms (%s -> %s)"
          % (r["aToB"], r["bToA"], r["extendMs"], r["leftBefore"], r["leftAfter"]))
    assert 0 <= r["aToB"] < 1000 and 0 <= r["bToA"] < 1000 and 0 <= r["extendMs"] < 1000
    assert r["extendedByMs"] > 0
    # The bids service agrees: the closing lot was extended once, by the late bid.
    st = market.state(closing["id"], a.token)
    assert st.get("extensionsUsed") == 1 and st.get("bidCount") == "1"
