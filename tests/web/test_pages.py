"""Every buyer page in a real browser (chromium via playwright-core), at
390 px and 1280 px, in English and Russian; screenshots under
<build>/web-artifacts/; the catalog searched by text through the search
service, with make and region counts; the lot page's first load under
300 KB; any console error or page error fails (tests/web/pages.mjs)."""
import os
import secrets

from web.webtest import account_json, live_lot


def test_every_page_renders_at_both_widths_in_both_languages(run_node, market):
    seller = market.seller()
    bidder = market.bidder()
    # A word only this lot's title has, for the catalog's text search.
    word = "Browsetest" + secrets.token_hex(4)
    lot = live_lot(market, seller, title="Toyota Camry %s" % word)
    r = run_node("pages.mjs", timeout=240, bidder=account_json(bidder), lotId=str(lot["id"]),
                 word=word)
    names = {os.path.basename(p) for p in r["screenshots"]}
    for page in ("catalog", "lot", "my-bids", "wallet", "inbox", "login", "signup"):
        for width in (390, 1280):
            assert "%s-%d.png" % (page, width) in names
    for p in r["screenshots"]:
        assert os.path.getsize(p) > 1000, p
    assert "₽" in r["lang"]["ru"]
    load = r["firstLoad"]
    print("lot page first load: %d bytes in %d requests" % (load["bytes"], load["requests"]))
    assert 0 < load["bytes"] < 300 * 1024
