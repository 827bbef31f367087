"""The bid log's hash chain checked in the browser (tests/web/receipts.mjs):
on a real lot with plain bids and autobid bids the check passes; with one
bid altered or left out of the data the page receives, it fails and names
the bid."""
from gavel_harness import new_key
from web.webtest import account_json, live_lot


def test_the_browser_verifies_the_bid_log_and_catches_tampering(run_node, market, rest):
    seller = market.seller()
    a, b = market.bidder(), market.bidder()
    lot = live_lot(market, seller)
    path = "/api/v1/lots/%s" % lot["id"]

    def bid(who):
        st = market.state(lot["id"], who.token)
        rest.ok("POST", path + "/bids", {"amount": st["nextMinBid"]}, who.token,
                headers={"Idempotency-Key": new_key()})

    bid(a)
    # b's autobid answers a's bids: the log holds autobid bids too.
    rest.ok("PUT", path + "/autobid", {"maxAmount": {"currency": "RUB", "units": "150000"}},
            b.token, headers={"Idempotency-Key": new_key()})
    bid(a)
    bids = rest.ok("GET", path + "/bids", token=a.token)["bids"]
    assert len(bids) >= 4 and any(x.get("isAutobid") for x in bids)
    r = run_node("receipts.mjs", bidder=account_json(a), lotId=str(lot["id"]), bids=bids)
    assert str(len(bids)) in r["intact"]
    assert "#2" in r["altered"] and "missing" in r["dropped"]
