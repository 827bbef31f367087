"""A sold lot's fees come from the auctions daemon's price rules
(QuoteServices of buyer_premium and seller_commission for the lot), fixed
once by the settlement's first step: an admin's rule changes the fee of
the next settlement; while auctions is down a settlement waits (nothing
charged, no fee guessed) and completes with the right fees once it is
back; a lot auctions does not know fails for an operator with nothing
moved."""
import time

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import bid, closed_envelope, new_lot_id, payments_pb2 as pb, sold_event

FUNDS = 10 ** 6


def settle_entries(paydb, lot_id):
    """{(account, owner): amount} of the lot's settlement txn."""
    return {(a, o): int(v) for a, o, v in paydb.rows(
        "SELECT e.account, e.owner_id, e.amount FROM ledger_entries e "
        "JOIN ledger_txns t ON t.id = e.txn_id WHERE t.ref = %s", "settle:%d" % lot_id)}


def fees_row(paydb, lot_id):
    return paydb.one("SELECT buyer_fee, seller_fee, buyer_fee_rule, seller_fee_rule, "
                     "fees_quoted FROM settlements WHERE lot_id = %s", lot_id)


def failed_total(payments):
    return h.metric_value(payments, "gavel_payments_settlements_total", 'result="failed"')


def test_an_admin_price_rule_changes_the_fee_of_the_next_settlement(
        payments, paydb, closer, market, price_rules, new_account, pay_stub, admin):
    category = int(market.category["id"])
    seller = market.seller()
    # before any rule for the category: the base rates (0 and 50 per mille)
    buyer = new_account()
    closer.fund(buyer, FUNDS)
    first = new_lot_id()
    hold = closer.hold(buyer, first, 80000)
    closer.publish(first, closed_envelope(first, seller.id, buyer.id, 80000, hold),
                   category_id=category)
    paydb.wait_step(first, "done", timeout=30)
    assert fees_row(paydb, first) == (0, 4000, 0, 0, True)
    assert settle_entries(paydb, first) == {("buyer", buyer.id): -80000,
                                            ("seller", seller.id): 76000,
                                            ("platform_fees", 0): 4000}

    # the admin's rules for the category: a 3 % commission, a flat premium
    commission = price_rules.create("seller_commission", coefficient=600,
                                    category_id=category)
    premium = price_rules.create("buyer_premium", fixed=2500, category_id=category)
    try:
        a, b = market.bidder(FUNDS), market.bidder(FUNDS)
        lot = market.live(seller, duration_s=3)
        lot_id = int(lot["id"])
        bid(market, lot_id, a)
        price = bid(market, lot_id, b)
        paydb.wait_step(lot_id, "done", timeout=30)
    finally:
        price_rules.delete(commission.id)
        price_rules.delete(premium.id)
    fee = -(-price * 30 // 1000)
    assert fees_row(paydb, lot_id) == (2500, fee, premium.id, commission.id, True)
    # platform fees get premium + commission, the seller hammer - commission,
    # the buyer pays hammer + premium
    assert settle_entries(paydb, lot_id) == {("buyer", b.id): -(price + 2500),
                                             ("seller", seller.id): price - fee,
                                             ("platform_fees", 0): 2500 + fee}
    p = h.call(pay_stub.ListPayments, pb.ListPaymentsRequest(lot_id=lot_id), admin.md).payments
    assert len(p) == 1
    assert (p[0].amount.units, p[0].fees.units, p[0].net_payout.units) == (
        price + 2500, 2500 + fee, price - fee)

    class U:  # the wallet helper wants .id
        id = b.id
    bal = closer.balance(U)
    assert (bal.total.units, bal.reserved.units) == (FUNDS - price - 2500, 0)
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())


def test_a_settlement_waits_while_auctions_is_down_then_completes(
        payments, paydb, closer, auctions, new_account):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 300000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 120000)
    errors = h.metric_value(payments, "gavel_payments_settlement_step_errors_total")
    auctions.stop()
    try:
        closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 120000, hold))
        h.wait_until(lambda: (paydb.settlement(lot) or (None, 0, 0))[2] >= 3, 20 * h.SLOW,
                     what="three attempts at the fees")
        step, _, _, err = paydb.settlement(lot)
        assert step == "pending" and "quoting the fees at the auctions service" in err, err
        assert fees_row(paydb, lot)[4] is False
        assert paydb.txns(lot) == []
        bal = closer.balance(buyer)
        assert (bal.total.units, bal.reserved.units) == (300000, 120000)  # nothing charged
        assert h.metric_value(payments, "gavel_payments_settlement_step_errors_total") > errors
    finally:
        auctions.start()
    paydb.wait_step(lot, "done", timeout=30)
    assert fees_row(paydb, lot) == (0, 6000, 0, 0, True)
    assert settle_entries(paydb, lot) == {("buyer", buyer.id): -120000,
                                          ("seller", seller.id): 114000,
                                          ("platform_fees", 0): 6000}
    bal = closer.balance(buyer)
    assert (bal.total.units, bal.reserved.units) == (180000, 0)


def test_a_lot_auctions_does_not_know_fails_and_moves_nothing(
        payments, paydb, closer, sim, new_account, pay_stub, admin):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 100000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 70000)
    failed = failed_total(payments)
    payouts = sim.state()["counts"].get("payouts", 0)
    closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 70000, hold), known=False)
    paydb.wait_step(lot, "failed", timeout=20)
    err = paydb.settlement(lot)[3]
    assert "cannot price the fees of lot %d (NOT_FOUND)" % lot in err, err
    assert failed_total(payments) == failed + 1
    assert fees_row(paydb, lot)[4] is False
    assert paydb.txns(lot) == []
    assert len(h.call(pay_stub.ListPayments, pb.ListPaymentsRequest(lot_id=lot),
                      admin.md).payments) == 0
    bal = closer.balance(buyer)
    assert (bal.total.units, bal.reserved.units) == (100000, 70000)  # the hold stays, untouched
    assert sim.state()["counts"].get("payouts", 0) == payouts
    # a failed settlement is not retried: it stays failed for an operator
    attempts = paydb.settlement(lot)[2]
    time.sleep(1.5)
    assert paydb.settlement(lot)[:3:2] == ("failed", attempts)


def test_a_lot_auctions_has_no_hammer_price_for_fails_for_an_operator(
        payments, paydb, closer, auction_lots, new_account):
    """The event says sold, the auctions daemon's record says unsold: no
    fee can be quoted, and no fee is guessed."""
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 100000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 60000)
    ev = closed_envelope(lot, seller.id, buyer.id, 60000, hold)
    auction_lots.closed(sold_event(ev), sold=False)
    closer.publish(lot, ev, known=False)
    paydb.wait_step(lot, "failed", timeout=20)
    err = paydb.settlement(lot)[3]
    assert "cannot price the fees of lot %d (FAILED_PRECONDITION)" % lot in err, err
    assert "has no hammer price" in err, err
    assert paydb.txns(lot) == []
    bal = closer.balance(buyer)
    assert (bal.total.units, bal.reserved.units) == (100000, 60000)


def test_many_lots_quote_their_fees_at_once(payments, paydb, closer, new_account, price_rules):
    """Twelve lots of one make closing together, under a rule: each
    settlement quotes and fixes its own fees once."""
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 10 ** 7)
    lots = [new_lot_id() for _ in range(12)]
    make = "Batch-%d" % lots[0]
    rule = price_rules.create("seller_commission", coefficient=2000, make=make)  # 10 %
    try:
        holds = [closer.hold(buyer, lot, 10001 + i) for i, lot in enumerate(lots)]
        for i, (lot, hold) in enumerate(zip(lots, holds)):
            closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 10001 + i, hold),
                           make=make)
        for lot in lots:
            paydb.wait_step(lot, "done", timeout=30)
    finally:
        price_rules.delete(rule.id)
    for i, lot in enumerate(lots):
        fee = -(-(10001 + i) * 100 // 1000)
        assert fees_row(paydb, lot) == (0, fee, 0, rule.id, True)
        assert settle_entries(paydb, lot)[("platform_fees", 0)] == fee
    assert paydb.unbalanced_txns() == []
