"""The venue player of a venue lot's page (tests/web/venue_player.mjs) on
its own, against a real HLS stream that ffmpeg writes in real time: the
lot is a real live lot whose GetLot answer the browser sees as a venue
lot, and the streams API's answer is the test's, so the player's
behaviour is checked whatever the streaming service does: no stream,
offline, playing (currentTime grows, LIVE badge, measured delay, the
player's ?v= id on the playlist), the media time sent with a bid, the
stream ended, and hls.js missing on the server. The whole path through
the real streaming service, gateway and venue lots is
tests/web/test_venue.py."""
import os
import secrets
import tempfile

import pytest

from web.conftest import artifacts_dir
from web.webtest import HlsWriter, account_json, live_lot

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR = os.path.join(HERE, "..", "..", "web", "vendor", "hls.light.min.js")


@pytest.fixture
def hls_stream():
    with tempfile.TemporaryDirectory(prefix="gavel-hls-") as d:
        w = HlsWriter(d, os.path.join(artifacts_dir(), "venue-player-ffmpeg.log")).start()
        try:
            yield d
        finally:
            w.stop()


def test_the_venue_player_plays_falls_back_and_stamps_bids(run_node, market, hls_stream):
    assert os.path.exists(VENDOR), "web/vendor/hls.light.min.js is missing: run `make web-vendor`"
    seller = market.seller()
    bidder = market.bidder()
    lot = live_lot(market, seller)
    r = run_node("venue_player.mjs", timeout=180, bidder=account_json(bidder), lotId=str(lot["id"]),
                 sessionId=str(lot.get("sessionId") or 4242), hlsDir=hls_stream,
                 name="wv" + secrets.token_hex(4))
    print("currentTime %.2f -> %.2f s, %s, bid's media time %d ms behind"
          % (r["currentTime"][0], r["currentTime"][1], r["delayText"], r["bidMediaLagMs"]))
    assert r["badge"] == "LIVE"
    assert r["currentTime"][1] - r["currentTime"][0] > 1.5
    assert 0 < r["delayMs"] < 15000
    # The bid went through the real API with its media time (ignored by
    # the bids service on a lot that is not a venue lot).
    assert market.state(lot["id"], bidder.token)["bidCount"] == "1"
