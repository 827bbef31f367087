"""A card top-up on the wallet page in a real browser (tests/web/topup.mjs),
through the gateway, the payments daemon and the card provider simulator:
the succeeding test card adds exactly 1 500 ₽, shown in the balance and as
a deposit in the ledger; the declined one shows its reason beside the form
and moves no money. Checked again here through the API."""
from web.webtest import account_json


def test_top_up_by_card_and_a_declined_card(run_node, market, rest, payments):
    bidder = market.bidder()
    r = run_node("topup.mjs", timeout=180, bidder=account_json(bidder))
    assert int(r["after"]) - int(r["before"]) == 150000
    assert "1,500.00" in r["status"] and "declined" in r["declined"].lower()
    wallet = rest.ok("GET", "/api/v1/wallet", token=bidder.token)
    assert wallet["balance"]["total"]["units"] == r["after"], wallet
    ledger = rest.ok("GET", "/api/v1/wallet/ledger", token=bidder.token)["entries"]
    # market.bidder() was funded by a booked deposit; the card added one more
    by_card = [e for e in ledger if e["kind"] == "deposit" and e.get("reference", "").startswith("card")]
    assert [(e["availableChange"]["units"], e["reference"]) for e in by_card] == [
        ("150000", "card payment %s" % r["paid"])], ledger
    mine = rest.ok("GET", "/api/v1/payments", token=bidder.token)["payments"]
    assert sorted((p["state"], p["amount"]["units"]) for p in mine) == [
        ("PAYMENT_STATE_CAPTURED", "150000"), ("PAYMENT_STATE_FAILED", "150000")], mine
