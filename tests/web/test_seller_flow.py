"""The seller's way to an auction in a real browser (tests/web/seller_flow.mjs):
create a lot with two uploaded photos and a condition report, with the
server's message beside a bad field; a moderator approves and schedules
it; it is in the catalog, goes live, and its page shows the photos, which
the gateway serves from /media/. The seller, moderator and admin pages
are saved at 390 and 1280 px under <build>/web-artifacts/; any console
error fails."""
import hashlib
import os
import time
import urllib.request

import gavel_harness as h
from web.webtest import account_json

REASON = "The photos do not show the odometer"


def test_a_seller_lot_with_photos_goes_through_moderation_to_a_live_page(
        run_node, rest, market, gw_moderator, gw_admin, gw_category, gateway):
    seller = market.seller()
    # Two earlier lots of the seller's: one rejected with a reason, one
    # whose short auction closed without bids (#/sell shows both results).
    rejected = market.draft(seller, title="Rejected Lada", photoUrls=[])
    rest.ok("POST", "/api/v1/lots/%s/submit" % rejected["id"], None, seller.token)
    rest.ok("POST", "/api/v1/lots/%s/moderation" % rejected["id"],
            {"decision": "MODERATION_DECISION_REJECT", "reason": REASON}, gw_moderator.token)
    closed = market.live(seller, duration_s=2, title="Closed Volga", photoUrls=[])
    h.wait_until(lambda: rest.ok("GET", "/api/v1/lots/%s" % closed["id"], token=seller.token)
                 ["lot"]["state"] == "LOT_STATE_CLOSED", 20, what="the short auction closes")
    r = run_node("seller_flow.mjs", timeout=240, seller=account_json(seller),
                 moderator=account_json(gw_moderator), admin=account_json(gw_admin),
                 categoryId=str(gw_category["id"]), rejectedId=str(rejected["id"]),
                 reason=REASON, closedId=str(closed["id"]))
    assert REASON in r["rejectedRow"] and "Not sold" in r["closedRow"], r
    lot = rest.ok("GET", "/api/v1/lots/%s" % r["lotId"], token=seller.token)["lot"]
    assert lot["state"] in ("LOT_STATE_LIVE", "LOT_STATE_CLOSED"), lot["state"]
    assert lot["photoUrls"] == r["photos"], (lot["photoUrls"], r["photos"])
    report = lot["condition"]
    assert report["damages"][0]["location"] == "front_bumper"
    assert report["damages"][0]["photoUrl"] == r["photos"][1]
    assert report["tyres"][0]["treadDepthTenthsMm"] == 65
    assert report["documents"][0]["isPresent"] is True
    assert lot["vin"] == "JTNB11HK0K3012345" and lot["startPrice"]["units"] == "100000000"
    for u in lot["photoUrls"]:  # stored under their content's hash
        with urllib.request.urlopen(gateway.base_url + u, timeout=10) as f:
            assert hashlib.sha256(f.read()).hexdigest() == u.split("/")[-1].split(".")[0]
    assert r["slugErrorBesideField"]
    names = {os.path.basename(p) for p in r["screenshots"]}
    for page in ("sell", "sell-new", "moderate", "admin"):
        for width in (390, 1280):
            assert "%s-%d.png" % (page, width) in names, sorted(names)
