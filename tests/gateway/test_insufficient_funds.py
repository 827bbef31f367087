"""A bid over the bidder's available funds is refused as such: 402
insufficient_funds over REST and INSUFFICIENT_FUNDS on /ws, never the 429 a
rate limit gives (which tells a client to slow down and retry, when the
dealer must top up). Nothing changes: no bid, no hold."""
from gavel_harness import new_key
from ws_client import bid_msg, connect, min_bid, of_type, run, send, until


def test_a_bid_over_the_funds_is_402_over_rest_and_changes_nothing(rest, market):
    seller, poor = market.seller(), market.bidder(funds=0)
    lot = market.live(seller)["id"]
    before = market.state(lot, poor.token)
    wallet = rest.ok("GET", "/api/v1/wallet", token=poor.token)["balance"]
    a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, {"amount": before["nextMinBid"]},
                  token=poor.token, headers={"Idempotency-Key": new_key()})
    assert a.status == 402, a
    assert a.error["code"] == "insufficient_funds", a
    assert a.error["message"].startswith("insufficient funds"), a
    assert "retry-after" not in a.headers, a.headers
    after = market.state(lot, poor.token)
    assert after.get("seq") == before.get("seq") and after.get("bidCount") == before.get("bidCount")
    assert rest.ok("GET", "/api/v1/wallet", token=poor.token)["balance"] == wallet


def test_a_bid_over_the_funds_is_insufficient_funds_on_the_socket(gateway, market):
    seller, poor = market.seller(), market.bidder(funds=0)
    lot = market.live(seller)["id"]

    async def scenario():
        w = await connect(gateway, token=poor.token)
        await send(w, type="subscribe", id="s", lots=[lot])
        snap = await until(w, of_type("lot_snapshot", lotId=lot))
        await send(w, **bid_msg(lot, min_bid(snap["state"]), "b"))
        e = await until(w, of_type("error", id="b"))
        assert e["code"] == "INSUFFICIENT_FUNDS", e
        assert e["message"].startswith("insufficient funds"), e
        await w.close()

    run(scenario())
    assert "seq" not in market.state(lot, seller.token)  # no bid was placed
