"""The lot page's "Buy now" button in a real browser (tests/web/buy_now.mjs):
hidden from the seller, from a signed-out visitor and on a lot without a
buy-now price; a confirmed purchase wins the lot with one bid of exactly
the buy-now price, even after a lost first attempt and double clicks (one
Idempotency-Key for the attempt and its retry); a wallet that cannot cover
it leaves the lot live; two dealers at once make one winner. Each outcome
is checked through the REST API too: the bids service's state and log,
and the auctions service's closed lot with its winner."""
import gavel_harness as h
from web.webtest import account_json, live_lot

START = 100000      # 1,000.00 RUB (complete_lot's start price)
BUY_NOW = 500000    # 5,000.00 RUB


def bids_of(market, lot_id, token):
    return market.rest.ok("GET", "/api/v1/lots/%s/bids" % lot_id, token=token).get("bids", [])


def test_buy_now_button(run_node, market):
    seller = market.seller()
    buyer, watcher, racer_a, racer_b = (market.bidder() for _ in range(4))
    # Enough for the start price, not for the buy-now price.
    poor = market.bidder(funds=BUY_NOW - 1)
    price = h.rub_json(BUY_NOW)
    lot = live_lot(market, seller, buyNowPrice=price)
    plain = live_lot(market, seller)
    race = live_lot(market, seller, buyNowPrice=price)
    poor_lot = live_lot(market, seller, buyNowPrice=price)

    r = run_node("buy_now.mjs", timeout=300, buyer=account_json(buyer),
                 watcher=account_json(watcher), seller=account_json(seller),
                 poor=account_json(poor), racerA=account_json(racer_a),
                 racerB=account_json(racer_b), lotId=str(lot["id"]),
                 plainLotId=str(plain["id"]), raceLotId=str(race["id"]),
                 poorLotId=str(poor_lot["id"]), buyNowUnits=str(BUY_NOW))

    # Not offered: the seller, a lot without buy-now, a signed-out visitor
    # (sent to log in, and back to the lot afterwards).
    assert r["notOffered"]["anonymous"] == "#/login?next=%23%2Flot%2F" + str(lot["id"])

    # The purchase: a lost attempt and its retry, one key, exactly the price.
    posts = r["buy"]["posts"]
    assert len(posts) == 2, posts
    assert posts[0]["key"] == posts[1]["key"] and posts[0]["key"]
    assert posts[0]["body"] == posts[1]["body"] == {"amount": price}
    st = market.state(lot["id"], buyer.token)
    assert st["status"] == "LOT_STATUS_CLOSED"
    assert st["outcome"] == "CLOSE_OUTCOME_CLOSED_WITH_WINNER"
    assert st["leaderId"] == str(buyer.id)
    assert st["currentPrice"] == price
    log = bids_of(market, lot["id"], buyer.token)
    assert [(b["bidderId"], b["amount"]) for b in log] == [(str(buyer.id), price)]

    # auctions hears of it (lot.closed) and closes the lot with the buyer
    # as the winner, well before the end the seller chose.
    def closed():
        got = market.rest.ok("GET", "/api/v1/lots/%s" % lot["id"], token=buyer.token)["lot"]
        return got if got.get("state") == "LOT_STATE_CLOSED" else None
    got = h.wait_until(closed, 15, what="lot %s closed in auctions" % lot["id"])
    assert got["result"]["winnerId"] == str(buyer.id)
    assert got["result"]["finalPrice"] == price

    # No funds: the page's word to top up, two attempts with two keys, and
    # the lot is live without bids.
    assert r["poor"]["error"].startswith("Not enough money in your wallet")
    st = market.state(poor_lot["id"], poor.token)
    assert st["status"] == "LOT_STATUS_LIVE"
    assert st.get("bidCount", "0") == "0"
    assert bids_of(market, poor_lot["id"], poor.token) == []

    # Two at once: one winner, one bid; the other was told why.
    winners = [w for w, x in zip((racer_a, racer_b), r["race"]) if x["won"]]
    assert len(winners) == 1, r["race"]
    loser = [x for x in r["race"] if not x["won"]][0]
    assert loser["error"], r["race"]
    st = market.state(race["id"], racer_a.token)
    assert st["status"] == "LOT_STATUS_CLOSED"
    assert st["leaderId"] == str(winners[0].id)
    assert [b["bidderId"] for b in bids_of(market, race["id"], racer_a.token)] == [str(winners[0].id)]
