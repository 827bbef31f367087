"""A lost WebSocket connection in a real browser (tests/web/resync.mjs):
the banner appears, the page reconnects with backoff, resubscribes, and the
snapshot brings what happened meanwhile; then the banner clears."""
from web.webtest import account_json, live_lot


def test_a_lost_connection_shows_the_banner_and_resyncs(run_node, market):
    seller = market.seller()
    bidder, other = market.bidder(), market.bidder()
    lot = live_lot(market, seller)
    r = run_node("resync.mjs", bidder=account_json(bidder), other=account_json(other),
                 lotId=str(lot["id"]))
    assert "Connection lost" in r["banner"] and "Connected again" in r["back"]
    assert market.state(lot["id"], bidder.token)["bidCount"] == "1"
