"""A venue lot (simulcast) end to end in real browsers
(tests/web/venue.mjs): the streaming service's stream for the lot's
session, live HLS that ffmpeg writes into the gateway's live directory
(GAVEL_GATEWAY_LIVE_DIR, served at /live/<name>/), the lot page playing it
(currentTime grows) with the LIVE badge and the delay, an online bid
carrying its media time (checked on the receipt), the clerk console's
floor bid, fair warning and hammer seen on the dealer's page, the venue
receipts' hash chain checked in the browser, and a dealer kept out of the
console and its API routes."""
import os
import secrets
import tempfile
import time

import pytest

import gavel_harness as h
from gavel_harness import new_key
from web.conftest import artifacts_dir
from web.webtest import HlsWriter, account_json

PADDLE = 217


def _needs(what, ok):
    if not ok:
        pytest.skip("needs %s" % what)


def clerk_routes(rest, clerk):
    """Skips unless the gateway has the clerk's routes (branch live)."""
    a = rest.call("POST", "/api/v1/lots/0/fair-warning", {}, clerk.token)
    _needs("the gateway's venue routes (floor-bids, fair-warning, hammer; branch live)",
           a.status != 404 or "route" not in a.body.lower())


def stream_pieces(request, rest, clerk):
    """The ingest (tests/conftest.py's `ingest`: nginx RTMP -> ffmpeg HLS
    in the live directory the gateway serves) when the streaming service
    and the gateway's stream routes are there, else why not."""
    try:
        request.getfixturevalue("streaming")
        ingest = request.getfixturevalue("ingest")
    except pytest.FixtureLookupError:
        return None, "the streaming daemon and ingest fixtures (branch stream)"
    a = rest.call("GET", "/api/v1/streams", token=clerk.token)
    if a.status != 200:
        return None, "the gateway's /api/v1/streams route (branch live)"
    return ingest, None


def venue_lot(market, rest, seller):
    """A LIVE venue lot (no end, closed by the clerk's hammer)."""
    lot = market.approved(seller, photoUrls=[])
    start = int(time.time() * 1e6) + 1_000_000
    a = rest.call("POST", "/api/v1/lots/%s/schedule" % lot["id"],
                  {"startsAtUs": str(start), "endsAtUs": "0", "venue": True}, seller.token)
    _needs("venue lots in the auctions service (ScheduleLot venue; branch venue)",
           a.status == 200 and a.json["lot"].get("venue"))
    market.wait_status(lot["id"], "LOT_STATUS_LIVE", seller.token)
    return rest.ok("GET", "/api/v1/lots/%s" % lot["id"], token=seller.token)["lot"]


def live_stream(rest, clerk, session_id, ingest):
    """The session's stream, created by staff, published by ffmpeg over
    RTMP with its key as a venue's encoder does; returns it LIVE with
    segments in the ingest's (the gateway's) live directory."""
    from streaming.stream_kit import Publisher
    now = int(time.time() * 1e6)
    r = rest.ok("POST", "/api/v1/streams",
                {"sessionId": str(session_id), "title": "Hall %s" % secrets.token_hex(3),
                 "scheduledStartUs": str(now), "scheduledEndUs": str(now + 3600 * 10 ** 6)},
                clerk.token, headers={"Idempotency-Key": new_key()})
    stream = r["stream"]
    pub = Publisher("%s/%s" % (ingest["rtmp"], r["streamKey"]), 300,
                    log_path=os.path.join(artifacts_dir(), "venue-publisher.log"))
    playlist = os.path.join(ingest["live_dir"], stream["name"], "index.m3u8")

    def ready():
        st = rest.ok("GET", "/api/v1/streams/%s" % stream["streamId"], token=clerk.token)["stream"]
        try:
            with open(playlist) as f:
                segments = f.read().count("#EXTINF")
        except FileNotFoundError:
            segments = 0
        return st.get("status") == "STREAM_STATUS_LIVE" and segments >= 2
    try:
        h.wait_until(ready, 30 * h.SLOW, interval=0.3, what="stream %s live with segments" % stream["name"])
    except BaseException:
        pub.stop()
        raise
    return stream, pub


@pytest.mark.parametrize("video", ["gateway", "stubbed"])
def test_a_venue_lot_with_video_online_and_floor_bids_fair_warning_and_hammer(
        request, run_node, market, rest, gw_moderator, gateway, video):
    """video=gateway: the stream through the streaming service and the
    gateway's /live; video=stubbed (only while those are missing): the
    same flow with the streams answer and /live served by the test."""
    ingest, missing = stream_pieces(request, rest, gw_moderator)
    if video == "gateway":
        _needs(missing, not missing)
    elif not missing:
        pytest.skip("the stream through the gateway is tested (video=gateway)")
    clerk_routes(rest, gw_moderator)
    seller = market.seller()
    a, b = market.bidder(), market.bidder()
    lot = venue_lot(market, rest, seller)
    tmp = None
    stub = None
    if video == "gateway":
        stream, writer = live_stream(rest, gw_moderator, lot["sessionId"], ingest)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="gavel-hls-")
        stub = {"hlsDir": tmp.name, "name": "stub" + secrets.token_hex(4)}
        writer = HlsWriter(tmp.name, os.path.join(artifacts_dir(), "venue-ffmpeg.log")).start()
    try:
        r = run_node("venue.mjs", timeout=300, a=account_json(a), b=account_json(b),
                     clerk=account_json(gw_moderator), lotId=str(lot["id"]),
                     sessionId=str(lot["sessionId"]), paddle=PADDLE, stub=stub)
    finally:
        writer.stop()
        if tmp is not None:
            tmp.cleanup()
    print("video (%s) %.1f -> %.1f s, %s; viewers %s; A's delay on the console %s; "
          "fair warning seen after %s ms"
          % (video, r["currentTime"][0], r["currentTime"][1], r["delayText"], r.get("viewers"),
             r["onlineDelay"], r.get("fairWarningSeenMs", "(never)")))
    assert r["currentTime"][1] - r["currentTime"][0] > 1.5
    assert "hammer has fallen" in r["aOutcome"]
    assert r.get("fairWarningLost") or "Fair warning" in r["fairWarning"]
    if video == "gateway":
        assert r["viewers"] >= 1

    # The receipts: A's online bid with the media time the page sent, the
    # clerk's floor bid with its paddle, one sequence, the lot closed.
    bids = rest.ok("GET", "/api/v1/lots/%s/bids" % lot["id"], token=a.token)["bids"]
    assert [x["seq"] for x in bids] == ["1", "2"]
    online, floor = bids
    assert online["bidderId"] == str(a.id) and online["mediaTimeUs"] == r["sentMediaTimeUs"]
    lag_us = int(online["placedAtUs"]) - int(online["mediaTimeUs"])
    assert 0 < lag_us < 20 * 10 ** 6, lag_us
    assert floor.get("floorPaddle") == PADDLE and not floor.get("mediaTimeUs")
    st = market.state(lot["id"], a.token)
    assert st["status"] == "LOT_STATUS_CLOSED" and st.get("leaderFloorPaddle") == PADDLE
    # The fair warning reached the dealer's page (the hub ranks it above
    # the state it follows: same seq and status).
    assert not r.get("fairWarningLost"), "the fair warning never reached the dealer's page"


def test_a_dealer_cannot_use_the_clerk_routes(rest, market, gw_moderator):
    clerk_routes(rest, gw_moderator)
    seller = market.seller()
    b = market.bidder()
    lot = venue_lot(market, rest, seller)
    path = "/api/v1/lots/%s" % lot["id"]
    nxt = market.state(lot["id"], b.token)["nextMinBid"]
    for route, body in (("/floor-bids", {"floorPaddle": 5, "amount": nxt}),
                        ("/fair-warning", {}), ("/hammer", {})):
        a = rest.call("POST", path + route, body, b.token, headers={"Idempotency-Key": new_key()})
        assert a.status == 403, (route, a.status, a.body)
    assert market.state(lot["id"], b.token)["status"] == "LOT_STATUS_LIVE"
