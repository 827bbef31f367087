"""Reconciliation with the provider: card payments still AUTHORIZED here are
read back from the simulator; a hold it dropped without a webhook makes the
payment EXPIRED, a capture it made that we never recorded is completed
(wallet deposit, ledger, CAPTURED) exactly once, and a payment the provider
does not know is counted and left alone. The daemon runs here with a round
every 200 ms and no minimum age (production: 60 s, and 10 minutes
unchanged), and is put back as it was afterwards."""
import json
import urllib.request
import uuid

import grpc
import pytest

import gavel_harness as h
from pay_kit import payments_pb2 as pb

RECONCILE_ENV = {"GAVEL_PAYMENTS_RECONCILE_MS": "200", "GAVEL_PAYMENTS_RECONCILE_AGE_MS": "0"}
MISMATCHES = "gavel_payments_reconcile_mismatches_total"


@pytest.fixture
def reconciling(payments):
    payments.stop()
    payments.env.update(RECONCILE_ENV)
    try:
        payments.start()
        yield payments
    finally:
        payments.stop()
        for k in RECONCILE_ENV:
            del payments.env[k]
        payments.start()


def authorize(stub, account, units):
    return h.call(stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(units), payment_method_token="tok_visa"),
        account.md).payment


def wait_state(stub, account, payment_id, state):
    def probe():
        p = h.call(stub.GetPayment, pb.GetPaymentRequest(payment_id=payment_id), account.md)
        return p.payment if p.payment.state == state else None
    return h.wait_until(probe, 10 * h.SLOW, what="payment %d in state %d" % (payment_id, state))


def sim_capture(sim, intent, units):
    """A capture made at the provider behind our back (as when our Capture
    died after the provider's capture and was never retried)."""
    req = urllib.request.Request(
        sim.url + "/v1/payment_intents/%s/capture" % intent, method="POST",
        data=json.dumps({"amount": units}).encode(),
        headers={"Authorization": "Bearer " + sim.key, "Content-Type": "application/json",
                 "Idempotency-Key": "behind-our-back-" + uuid.uuid4().hex})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


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
