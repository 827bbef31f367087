"""Reconciliation with the provider: card payments still AUTHORIZED here are
read back from the simulator; a hold it dropped without a webhook makes the
payment EXPIRED, a capture it made that we never recorded is completed
(wallet deposit, ledger, CAPTURED) exactly once, and a payment the provider
does not know is counted and left alone. Refunds and payouts recorded done
are read back too: a payout the provider returned afterwards is reversed in
the ledger once and its settlement left 'returned' for an operator, a
refund it failed afterwards gives the money back to the payer's wallet once
(also across a crash between the wallet and the record), agreeing ones are
confirmed and never read again, and another amount is counted every round
and not repaired. The daemon runs here with a round every 200 ms and no
minimum age (production: 60 s, and 10 minutes unchanged), and is put back
as it was afterwards; the refunds and payouts are made under the test
stack's usual daemon (which reconciles nothing within 10 minutes) and
changed at the simulator before the reconciling daemon starts."""
import contextlib
import json
import urllib.error
import urllib.request
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id
from pay_kit import payments_pb2 as pb

RECONCILE_ENV = {"GAVEL_PAYMENTS_RECONCILE_MS": "200", "GAVEL_PAYMENTS_RECONCILE_AGE_MS": "0"}
MISMATCHES = "gavel_payments_reconcile_mismatches_total"
REPAIRS = "gavel_payments_reconcile_repairs_total"
RUNS = "gavel_payments_reconcile_runs_total"


@contextlib.contextmanager
def restarted(payments, env):
    """payments restarted with env over its settings, put back afterwards
    (also when it exited on its own meanwhile)."""
    if payments.is_running():
        payments.stop()
    payments.env.update(env)
    try:
        payments.start()
        yield payments
    finally:
        if payments.is_running():
            payments.stop()
        for k in env:
            del payments.env[k]
        payments.start()


@pytest.fixture
def reconciling(payments):
    with restarted(payments, RECONCILE_ENV) as d:
        yield d


def authorize(stub, account, units):
    return h.call(stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(units), payment_method_token="tok_visa"),
        account.md).payment


def wait_state(stub, account, payment_id, state):
    def probe():
        p = h.call(stub.GetPayment, pb.GetPaymentRequest(payment_id=payment_id), account.md)
        return p.payment if p.payment.state == state else None
    return h.wait_until(probe, 10 * h.SLOW, what="payment %d in state %d" % (payment_id, state))


def sim_post(sim, path, body):
    """A call made at the provider behind our back, with a key of its own."""
    req = urllib.request.Request(
        sim.url + path, method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + sim.key, "Content-Type": "application/json",
                 "Idempotency-Key": "behind-our-back-" + uuid.uuid4().hex})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def sim_capture(sim, intent, units):
    """A capture made at the provider behind our back (as when our Capture
    died after the provider's capture and was never retried)."""
    return sim_post(sim, "/v1/payment_intents/%s/capture" % intent, {"amount": units})


def test_reconciliation_repairs_known_causes_and_counts_the_rest(reconciling, sim, pay_stub,
                                                                 paydb, new_account, admin,
                                                                 closer):
    d = reconciling
    before = {k: h.metric_value(d, MISMATCHES, 'kind="%s"' % k)
              for k in ("expired", "captured", "unknown")}
    repairs = h.metric_value(d, "gavel_payments_reconcile_repairs_total")
    payer = new_account()
    # a hold the provider dropped, its webhook lost: EXPIRED
    dropped = authorize(pay_stub, payer, 900)
    sim.request("POST", "/_control/expire", {"payment_intent": dropped.provider_reference})
    got = wait_state(pay_stub, payer, dropped.id, pb.PAYMENT_STATE_EXPIRED)
    assert "reconciliation" in got.failure_reason
    # captured at the provider, not here: completed once, wallet = ledger
    behind = authorize(pay_stub, payer, 1500)
    assert sim_capture(sim, behind.provider_reference, 1200)["status"] == "succeeded"
    got = wait_state(pay_stub, payer, behind.id, pb.PAYMENT_STATE_CAPTURED)
    assert got.captured.units == 1200
    assert closer.balance(payer).total.units == 1200
    assert paydb.account("buyer", payer.id) == 1200
    assert [k for k, r in paydb.rows("SELECT kind, ref FROM ledger_txns WHERE payment_id = %s",
                                     behind.id)] == ["deposit"]
    # our own Capture now finds it captured: nothing moves twice
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=behind.id, amount=h.rub(1200)), admin.md)
    # a payment the provider does not know: counted, logged, left alone
    lost = authorize(pay_stub, payer, 300)
    paydb.rows("UPDATE payments SET provider_reference = 'pi_unknown_to_the_provider' "
               "WHERE id = %s RETURNING id", lost.id)
    h.wait_until(lambda: h.metric_value(d, MISMATCHES, 'kind="unknown"') > before["unknown"],
                 10 * h.SLOW, what="the unknown payment counted")
    assert h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=lost.id),
                  payer.md).payment.state == pb.PAYMENT_STATE_AUTHORIZED
    # a hold that agrees with the provider is no mismatch and stays
    kept = authorize(pay_stub, payer, 400)
    runs = h.metric_value(d, "gavel_payments_reconcile_runs_total")
    h.wait_until(lambda: h.metric_value(d, "gavel_payments_reconcile_runs_total") >= runs + 3,
                 10 * h.SLOW, what="three more reconciliation rounds")
    assert h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=kept.id),
                  payer.md).payment.state == pb.PAYMENT_STATE_AUTHORIZED
    # (at least: payments of earlier tests may have mismatched too)
    assert h.metric_value(d, MISMATCHES, 'kind="expired"') >= before["expired"] + 1
    assert h.metric_value(d, MISMATCHES, 'kind="captured"') >= before["captured"] + 1
    assert h.metric_value(d, "gavel_payments_reconcile_repairs_total") >= repairs + 2
    assert closer.balance(payer).total.units == 1200
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())
    # leave nothing for later rounds to shout about
    paydb.rows("UPDATE payments SET state = 7, failure_reason = 'test: made up reference' "
               "WHERE id = %s RETURNING id", lost.id)


# ---- refunds and payouts ----------------------------------------------------------


def top_up(stub, who, admin, units):
    p = authorize(stub, who, units)
    return h.call(stub.Capture, pb.CaptureRequest(idempotency_key=h.idem(), payment_id=p.id,
                                                  amount=h.rub(units)), admin.md).payment


def refund(stub, admin, payment_id, units):
    return h.call(stub.Refund, pb.RefundRequest(
        idempotency_key=h.idem(), payment_id=payment_id, amount=h.rub(units),
        reason="returned"), admin.md)


def refund_row(paydb, refund_id):
    """(step, provider reference, confirmed_at_us) of a refund."""
    return paydb.one("SELECT step, provider_reference, confirmed_at_us FROM refunds "
                     "WHERE id = %s", refund_id)


def payout_row(paydb, lot):
    """(step, payout reference, net, payout_confirmed_at_us, last_error) of a settlement."""
    return paydb.one("SELECT step, payout_reference, hammer - seller_fee, payout_confirmed_at_us, "
                     "last_error FROM settlements WHERE lot_id = %s", lot)


def settle_sold_lot(closer, paydb, new_account, price):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, price)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, price)
    closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, price, hold))
    paydb.wait_step(lot, "done")
    return lot, seller


def change(sim, kind, ref, **what):
    """The provider changes a refund or payout after the fact."""
    return sim.request("POST", "/_control/transfer", dict(what, **{kind: ref}))


def reversals(ledger, user_id, refund_id, payment_id):
    return ledger.one("SELECT count(*) FROM ledger_tx WHERE user_id = %s AND kind = 'deposit' "
                      "AND reference = %s", user_id, "refund %d of card payment %d failed at "
                      "the provider" % (refund_id, payment_id))[0]


def metrics(d):
    kinds = ("refund_failed", "payout_returned", "unknown")
    out = {k: h.metric_value(d, MISMATCHES, 'kind="%s"' % k) for k in kinds}
    out["repairs"] = h.metric_value(d, REPAIRS)
    return out


def more_rounds(d, n):
    runs = h.metric_value(d, RUNS)
    h.wait_until(lambda: h.metric_value(d, RUNS) >= runs + n, 10 * h.SLOW,
                 what="%d more reconciliation rounds" % n)


def test_simulator_refuses_bad_transfer_changes(sim):
    po = sim_post(sim, "/v1/payouts", {"amount": 700, "currency": "RUB",
                                       "destination": "seller:1"})
    it = sim_post(sim, "/v1/payment_intents", {"amount": 900, "currency": "RUB",
                                               "payment_method": "tok_visa",
                                               "capture_method": "manual"})
    sim_capture(sim, it["id"], 900)
    re = sim_post(sim, "/v1/refunds", {"payment_intent": it["id"], "amount": 400})
    for body, status in (({"status": "failed"}, 400),
                         ({"payout": "po_nope", "status": "failed"}, 404),
                         ({"refund": "re_nope", "status": "failed"}, 404),
                         ({"payout": po["id"], "status": "lost"}, 400),
                         ({"refund": re["id"], "status": "returned"}, 400),
                         ({"payout": po["id"], "amount": 0}, 400),
                         ({"refund": re["id"], "amount": 901}, 400)):
        with pytest.raises(urllib.error.HTTPError) as e:
            sim.request("POST", "/_control/transfer", body)
        assert e.value.code == status, body
    # nothing changed by the refusals
    assert sim.request("GET", "/v1/payouts/" + po["id"]) == po
    assert sim.request("GET", "/v1/refunds/" + re["id"]) == re
    # a refund failed after the fact no longer counts as refunded at the intent
    change(sim, "refund", re["id"], status="failed")
    got = sim.request("GET", "/v1/payment_intents/" + it["id"])
    assert (got["amount_refunded"], got["amount_captured"]) == (0, 900)
    assert [e["type"] for e in sim.state()["events"][-1:]] == ["refund.failed"]


def test_returned_payouts_and_failed_refunds_are_reversed_once(payments, sim, pay_stub, paydb,
                                                                closer, new_account, admin,
                                                                ledger):
    # made under the usual daemon: nothing is reconciled for 10 minutes
    returned_lot, seller = settle_sold_lot(closer, paydb, new_account, 120000)
    agreeing_lot, _ = settle_sold_lot(closer, paydb, new_account, 50000)
    odd_lot, _ = settle_sold_lot(closer, paydb, new_account, 30000)
    payer = new_account()
    paid = top_up(pay_stub, payer, admin, 9000)
    bounced = refund(pay_stub, admin, paid.id, 3000)
    kept = refund(pay_stub, admin, paid.id, 1000)
    odd = refund(pay_stub, admin, paid.id, 500)
    assert closer.balance(payer).total.units == 4500
    _, po_returned, net, _, _ = payout_row(paydb, returned_lot)
    _, po_agreeing, _, _, _ = payout_row(paydb, agreeing_lot)
    _, po_odd, odd_net, _, _ = payout_row(paydb, odd_lot)
    assert [refund_row(paydb, r.refund_id)[2] for r in (bounced, kept, odd)] == [0, 0, 0]
    # the seller's bank returns one payout, the card network bounces one refund,
    # and the provider's records of another payout and refund say another amount
    assert change(sim, "payout", po_returned, status="returned")["status"] == "returned"
    re_bounced = refund_row(paydb, bounced.refund_id)[1]
    assert change(sim, "refund", re_bounced, status="failed")["status"] == "failed"
    change(sim, "payout", po_odd, amount=odd_net + 1)
    re_odd = refund_row(paydb, odd.refund_id)[1]
    change(sim, "refund", re_odd, amount=499)
    ledger_before = paydb.one("SELECT count(*) FROM ledger_txns")[0]

    with restarted(payments, RECONCILE_ENV) as d:
        # (rows of earlier tests are compared first: up to 100 of each a round)
        paydb.wait_step(returned_lot, "returned", timeout=30)
        h.wait_until(lambda: refund_row(paydb, bounced.refund_id)[0] == "reversed",
                     30 * h.SLOW, what="the bounced refund reversed")
        h.wait_until(lambda: refund_row(paydb, kept.refund_id)[2] > 0 and
                     payout_row(paydb, agreeing_lot)[3] > 0, 30 * h.SLOW,
                     what="the agreeing refund and payout confirmed")
        more_rounds(d, 3)
        got = metrics(d)
        # the payout: reversed once in the ledger, the seller owed it again
        step, _, _, confirmed, why = payout_row(paydb, returned_lot)
        assert (step, confirmed) == ("returned", 0)
        assert po_returned in why and "returned" in why and "not paid" in why
        assert [k for k, _ in paydb.txns(returned_lot)] == ["settlement", "payout",
                                                              "payout_returned"]
        assert paydb.account("seller", seller.id) == net
        # the refund: the money back in the wallet once, the refund undone
        assert refund_row(paydb, bounced.refund_id)[2] == 0
        assert closer.balance(payer).total.units == 7500
        assert paydb.account("buyer", payer.id) == 7500
        assert reversals(ledger, payer.id, bounced.refund_id, paid.id) == 1
        ledger.assert_wallet_consistent(payer.id)
        p = h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=paid.id),
                   admin.md).payment
        assert (p.state, p.refunded.units) == (pb.PAYMENT_STATE_PARTIALLY_REFUNDED, 1500)
        kinds = [k for k, _ in paydb.rows("SELECT kind, ref FROM ledger_txns WHERE payment_id = %s "
                                          "ORDER BY id", paid.id)]
        assert kinds == ["deposit", "refund", "refund", "refund", "refund_reversed"]
        # each counted and repaired once (the daemon's counters start at 0)
        assert (got["payout_returned"], got["refund_failed"]) == (1, 1)
        assert got["repairs"] == 2
        # agreeing ones confirmed and left as they were
        assert payout_row(paydb, agreeing_lot)[0] == "done"
        assert refund_row(paydb, kept.refund_id)[0] == "done"
        # another amount: counted every round, not repaired, not confirmed
        assert got["unknown"] >= 2
        more_rounds(d, 2)
        assert metrics(d)["unknown"] >= got["unknown"] + 2
        step, _, _, confirmed, _ = payout_row(paydb, odd_lot)
        assert (step, confirmed) == ("done", 0)
        step, _, confirmed = refund_row(paydb, odd.refund_id)
        assert (step, confirmed) == ("done", 0)
        assert (metrics(d)["payout_returned"], metrics(d)["refund_failed"]) == (1, 1)
        assert paydb.one("SELECT count(*) FROM ledger_txns")[0] == ledger_before + 2
        assert paydb.unbalanced_txns() == []
        assert all(v == 0 for v in paydb.ledger_sums().values())
        # the refund the provider failed can be made again, in full
        again = refund(pay_stub, admin, paid.id, 3000)
        assert again.payment.refunded.units == 4500
        assert closer.balance(payer).total.units == 4500
        # once the provider's records agree again, they are confirmed
        change(sim, "payout", po_odd, amount=odd_net)
        change(sim, "refund", re_odd, amount=500)
        h.wait_until(lambda: refund_row(paydb, odd.refund_id)[2] > 0 and
                     payout_row(paydb, odd_lot)[3] > 0, 10 * h.SLOW,
                     what="the corrected refund and payout confirmed")
        assert po_returned in d.log_text() and re_bounced in d.log_text()
    # a restart (as another replica would) changes nothing again
    with restarted(payments, RECONCILE_ENV) as d:
        more_rounds(d, 3)
        assert (metrics(d)["payout_returned"], metrics(d)["refund_failed"]) == (0, 0)
        assert [k for k, _ in paydb.txns(returned_lot)] == ["settlement", "payout",
                                                              "payout_returned"]
        assert reversals(ledger, payer.id, bounced.refund_id, paid.id) == 1
        assert closer.balance(payer).total.units == 4500
        ledger.assert_wallet_consistent(payer.id)


def test_crash_between_the_wallet_and_the_record_reverses_a_refund_once(
        payments, sim, pay_stub, paydb, closer, new_account, admin, ledger):
    payer = new_account()
    paid = top_up(pay_stub, payer, admin, 6000)
    bounced = refund(pay_stub, admin, paid.id, 2500)
    change(sim, "refund", refund_row(paydb, bounced.refund_id)[1], status="failed")
    crash = dict(RECONCILE_ENV, GAVEL_PAYMENTS_FAULT_EXIT_AFTER="reverse")
    payments.stop()
    payments.env.update(crash)
    try:
        # the first round runs at start-up: the daemon may die before it
        # serves, or while the harness waits for its channel to be ready;
        # the exit status below says whether it was the fault
        try:
            payments.start()
        except AssertionError as e:
            assert "exited with 137" in str(e), e
        except grpc.FutureTimeoutError:
            pass
        rc = payments.proc.wait(timeout=30 * h.SLOW)
        assert rc == 137, "exit %s:\n%s" % (rc, payments.log_tail())
    finally:
        for k in crash:
            del payments.env[k]
    assert "GAVEL_PAYMENTS_FAULT_EXIT_AFTER=reverse" in payments.log_text()
    # the wallet took the money back, the record did not happen
    assert closer.balance(payer).total.units == 6000
    assert refund_row(paydb, bounced.refund_id)[0] == "done"
    with restarted(payments, RECONCILE_ENV) as d:
        h.wait_until(lambda: refund_row(paydb, bounced.refund_id)[0] == "reversed",
                     30 * h.SLOW, what="the bounced refund reversed after the crash")
        more_rounds(d, 2)
        assert reversals(ledger, payer.id, bounced.refund_id, paid.id) == 1
        assert closer.balance(payer).total.units == 6000
        assert paydb.account("buyer", payer.id) == 6000
        ledger.assert_wallet_consistent(payer.id)
        assert metrics(d)["refund_failed"] == 1
        p = h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=paid.id),
                   admin.md).payment
        assert (p.state, p.refunded.units) == (pb.PAYMENT_STATE_CAPTURED, 0)
        assert paydb.unbalanced_txns() == []
        assert all(v == 0 for v in paydb.ledger_sums().values())
