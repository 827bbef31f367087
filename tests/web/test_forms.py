"""Bad input and dead sessions in a real browser (tests/web/forms.mjs): the
sign-up, log-in and bid forms show the server's own message beside the
field that caused it (an empty wallet: a word to top up), and a session revoked elsewhere sends the user to
log in and back."""
from web.webtest import account_json, live_lot


def test_server_messages_beside_the_field_and_a_revoked_session(run_node, market):
    seller = market.seller()
    bidder = market.bidder()
    lot = live_lot(market, seller)
    poor = market.bidder(funds=0)
    r = run_node("forms.mjs", timeout=180, bidder=account_json(bidder), poor=account_json(poor),
                 lotId=str(lot["id"]))
    assert "password" in r["signup"]["signup"]
    assert r["login"] == "email or password is wrong"
    assert "amount" in r["bid"]["server"]
    assert r["poor"].startswith("Not enough money in your wallet")
    assert r["revoked"] == "#/login?next=%23%2Fmy-bids"
    assert r["silentRefresh"] is True
    # The refused bid changed nothing.
    assert market.state(lot["id"], bidder.token).get("bidCount", "0") == "0"
