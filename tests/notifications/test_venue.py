"""Venue lots: the room's floor bids are entered by a clerk, but the clerk
is no bidder. Online bidders hear they were outbid by the room and lost
at the hammer; the seller hears the lot sold; the clerk hears nothing,
and the users service's participation history (the same events) shows the
lot as lost for the online bidder and not at all for the clerk."""
import time

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb


def test_a_floor_win_tells_the_bidders_and_seller_and_not_the_clerk(
        notifications, market, bid, feed, notif_stub):
    rest = market.rest
    seller, a = market.seller(), market.bidder()
    c = rest.register()
    rest.ok("PATCH", "/api/v1/users/%d" % c.id, {"updateMask": ["role"],
                                                 "role": "ROLE_MODERATOR"}, market.admin.token)
    clerk = rest.login(c.email, c.password)
    f = feed(a.id, seller.id, clerk.id)
    lot = market.approved(seller)["id"]
    start = int(time.time() * 1e6) + 1_000_000
    rest.ok("POST", "/api/v1/lots/%s/schedule" % lot, {"startsAtUs": str(start), "venue": True},
            seller.token)
    market.wait_status(lot, "LOT_STATUS_LIVE", seller.token)
    bid(lot, a)
    st = market.state(lot, a.token)
    rest.ok("POST", "/api/v1/lots/%s/floor-bids" % lot,
            {"floorPaddle": 7, "amount": st["nextMinBid"]}, clerk.token,
            headers={"Idempotency-Key": h.new_key()})
    f.wait_for(lambda f: f.of(a.id, "EVENT_KIND_OUTBID"), what="a outbid by the room")
    closed = rest.ok("POST", "/api/v1/lots/%s/hammer" % lot, {}, clerk.token)["lot"]
    assert closed["result"]["winningFloorPaddle"] == 7, closed
    f.wait_for(lambda f: f.of(a.id, "EVENT_KIND_AUCTION_LOST"), what="a lost to the room")
    f.wait_for(lambda f: f.of(seller.id, "EVENT_KIND_LOT_SOLD"), what="the seller's sale")
    f.poll(1.0)
    assert f.of(clerk.id) == [], "the clerk was told of the room's bids: %s" % f.of(clerk.id)
    assert f.of(a.id, "EVENT_KIND_AUCTION_WON") == []
    got = h.call(notif_stub.ListInbox, npb.ListInboxRequest(), h.bearer(clerk.token))
    assert list(got.notifications) == [], got

    def mine(who):
        items = rest.ok("GET", "/api/v1/me/participation", token=who.token).get("items", [])
        return [x for x in items if x["lotId"] == lot]
    h.wait_until(lambda: [x["outcome"] for x in mine(a)] == ["lost"], 15,
                 what="a's participation: lost")
    assert mine(clerk) == [], "the room's bids were counted as the clerk's"
