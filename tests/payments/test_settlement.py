"""auction.closed → exactly one settlement per lot: the winner's hold
captured for the hammer price, a balanced ledger (buyer → seller and
platform fees, seller → payouts), the seller paid out at the provider,
payment.captured and auction.settled published; an unsold lot releases its
holds and charges nobody; a provider 429 pauses every worker."""
import time

import grpc

import gavel_harness as h
from gavel_harness import events_pb2, users_pb2
from pay_kit import closed_envelope, new_lot_id, payments_pb2

FEE_PERMILLE = 50


def test_sold_lot_settles_once_to_a_balanced_ledger_and_a_payout(
        payments, paydb, closer, sim, new_account, pay_stub, admin, kafka_bootstrap):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 500000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 200000)
    payouts_before = sim.state()["counts"].get("payouts", 0)
    # the topic exists once anything was published to it: make sure of it
    h.producer(kafka_bootstrap).send("gavel.payments", key=b"probe", value=b"probe").get(10)
    tail = h.TopicTail(kafka_bootstrap, "gavel.payments")
    try:
        closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 150000, hold))
        paydb.wait_step(lot, "done")
        fee = 150000 * FEE_PERMILLE // 1000
        bal = closer.balance(buyer)
        assert (bal.total.units, bal.reserved.units) == (500000 - 150000, 0)
        assert [k for k, _ in paydb.txns(lot)] == ["settlement", "payout"]
        assert paydb.unbalanced_txns() == []
        assert all(v == 0 for v in paydb.ledger_sums().values()), paydb.ledger_sums()
        assert paydb.account("seller", seller.id) == 0  # credited, then paid out
        assert paydb.account("buyer", buyer.id) == -150000
        assert sim.state()["counts"]["payouts"] == payouts_before + 1
        got = h.call(pay_stub.ListPayments, payments_pb2.ListPaymentsRequest(lot_id=lot),
                     admin.md).payments
        assert len(got) == 1
        p = got[0]
        assert (p.payer_id, p.payee_id, p.captured.units, p.fees.units, p.net_payout.units) == (
            buyer.id, seller.id, 150000, fee, 150000 - fee)
        assert p.state == payments_pb2.PAYMENT_STATE_CAPTURED and p.wallet_hold_id == hold
        # buyer and seller see it; a stranger does not
        for who in (buyer, seller):
            assert h.call(pay_stub.GetPayment, payments_pb2.GetPaymentRequest(payment_id=p.id),
                          who.md).payment.id == p.id
        h.expect_error(grpc.StatusCode.NOT_FOUND, pay_stub.GetPayment,
                       payments_pb2.GetPaymentRequest(payment_id=p.id), new_account().md)
        key = str(lot).encode()
        tail.wait_for(lambda t: {e.type for _, e in t.envelopes("gavel.payments", key)} >=
                      {"payment.captured", "auction.settled"}, 15, what="payment events")
        settled = [events_pb2.AuctionSettled.FromString(e.payload)
                   for _, e in tail.envelopes("gavel.payments", key) if e.type == "auction.settled"]
        assert len(settled) == 1
        assert (settled[0].price.units, settled[0].fees.units, settled[0].payout.units) == (
            150000, fee, 150000 - fee)
    finally:
        tail.close()


def test_unsold_lot_releases_its_holds_and_charges_nobody(payments, paydb, closer, new_account,
                                                          pay_stub, admin):
    a, b, seller = new_account(), new_account(), new_account(users_pb2.ROLE_SELLER)
    for u in (a, b):
        closer.fund(u, 100000)
    lot = new_lot_id()
    closer.hold(a, lot, 30000)
    closer.hold(b, lot, 40000)
    assert closer.balance(b).reserved.units == 40000
    closer.publish(lot, closed_envelope(lot, seller.id, 0, 40000))
    paydb.wait_step(lot, "done")
    for u in (a, b):
        bal = closer.balance(u)
        assert (bal.total.units, bal.reserved.units, bal.available.units) == (100000, 0, 100000)
    assert paydb.txns(lot) == []
    assert len(h.call(pay_stub.ListPayments, payments_pb2.ListPaymentsRequest(lot_id=lot),
                  admin.md).payments) == 0


def test_a_provider_429_pauses_every_worker_until_retry_after(
        payments, paydb, closer, sim, new_account, pay_stub, admin):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 300000)
    lots = [new_lot_id() for _ in range(3)]
    holds = [closer.hold(buyer, lot, 50000) for lot in lots]
    paused = h.metric_value(payments, "gavel_payments_provider_backoffs_total")
    sim.faults({"rate_limit": {"next": 1, "retry_after": 3, "match": "POST /v1/payouts"}})
    try:
        t0 = time.monotonic()
        closer.publish(lots[0], closed_envelope(lots[0], seller.id, buyer.id, 40000, holds[0]))
        h.wait_until(lambda: h.metric_value(payments, "gavel_payments_provider_backoffs_total")
                     > paused, 10 * h.SLOW, what="the 429")
        # while paused: the other lots wait, and card calls answer UNAVAILABLE
        for lot, hold in zip(lots[1:], holds[1:]):
            closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 40000, hold))
        h.expect_error(grpc.StatusCode.UNAVAILABLE, pay_stub.Authorize,
                       payments_pb2.AuthorizeRequest(idempotency_key=h.idem(), amount=h.rub(100),
                                                     payment_method_token="tok_visa"),
                       buyer.md)
        time.sleep(1)
        assert all((paydb.settlement(lot) or ("",))[0] != "done" for lot in lots)
        for lot in lots:
            paydb.wait_step(lot, "done", timeout=20)
        assert time.monotonic() - t0 >= 3
        assert sim.state()["counts"]["rate_limited"] >= 1
        assert all(v == 0 for v in paydb.ledger_sums().values())
    finally:
        sim.faults({})


def test_buyers_premium_is_charged_beside_the_hammer_price(payments, paydb, closer, new_account,
                                                         pay_stub, admin, ledger, price_rules):
    buyer, poor, seller = new_account(), new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 200000)
    closer.fund(poor, 50000)
    lot, lot2 = new_lot_id(), new_lot_id()
    hold = closer.hold(buyer, lot, 100000)
    hold2 = closer.hold(poor, lot2, 50000)  # all they have: nothing left for a premium
    # the premium's base rate is 0: an admin's flat-fee rule for these lots' make
    make = "Premium-%d" % lot
    rule = price_rules.create("buyer_premium", fixed=10000, make=make)
    closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 100000, hold), make=make)
    closer.publish(lot2, closed_envelope(lot2, seller.id, poor.id, 50000, hold2), make=make)
    paydb.wait_step(lot, "done", timeout=30)
    h.wait_until(lambda: "available balance 0 RUB is less than 10000 RUB"
                 in (paydb.settlement(lot2) or ("",) * 4)[3],
                 15 * h.SLOW, what="the premium refused")
    bal = closer.balance(buyer)
    assert (bal.total.units, bal.reserved.units) == (200000 - 110000, 0)
    p = h.call(pay_stub.ListPayments, pb_list(lot), admin.md).payments[0]
    assert (p.amount.units, p.fees.units, p.net_payout.units) == (110000, 15000, 95000)
    assert paydb.account("buyer", buyer.id) == -110000
    assert paydb.one("SELECT buyer_fee, seller_fee, buyer_fee_rule, seller_fee_rule, fees_quoted "
                     "FROM settlements WHERE lot_id = %s", lot) == (10000, 5000, rule.id, 0, True)
    # the premium is one withdrawal from the available balance: no hold of
    # its own on the lot that anything could release before its capture
    assert [v[2:] for v in ledger.holds(buyer.id).values()] == [("captured", 100000)]
    assert ledger.all("SELECT reference FROM ledger_tx WHERE user_id = %s AND kind = 'withdraw'",
                      buyer.id) == [("buyer's premium of lot %d" % lot,)]
    # a winner who cannot pay the premium is not charged at all: the step
    # waits (retried) until they can; the fees stay those fixed by its
    # first attempt, whatever the rules say meanwhile
    assert paydb.settlement(lot2)[0] == "pending" and paydb.txns(lot2) == []
    bal = closer.balance(poor)
    assert (bal.total.units, bal.reserved.units) == (50000, 50000)
    price_rules.update(rule.id, fixed=40000)
    closer.fund(poor, 10000)
    paydb.wait_step(lot2, "done", timeout=30)
    bal = closer.balance(poor)
    assert (bal.total.units, bal.reserved.units) == (0, 0)
    assert paydb.one("SELECT buyer_fee FROM settlements WHERE lot_id = %s", lot2) == (10000,)
    assert all(v == 0 for v in paydb.ledger_sums().values())
    price_rules.delete(rule.id)


def pb_list(lot):
    return payments_pb2.ListPaymentsRequest(lot_id=lot)
