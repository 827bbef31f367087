"""Refunds of card payments in recorded steps: a wallet top-up (lot 0)
refunded by Wallet.Withdraw then the provider's refund, balanced ledger
entries, refused with nothing changed when the wallet no longer holds the
money, racing refunds, and kill -9 between the steps resumed exactly once
(by the resumer, and by the caller's retry with the same key)."""
import threading

import grpc

import gavel_harness as h
from pay_kit import payments_pb2 as pb

S = grpc.StatusCode


def top_up(stub, who, admin, units):
    p = h.call(stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(units), payment_method_token="tok_visa"),
        who.md).payment
    return h.call(stub.Capture, pb.CaptureRequest(idempotency_key=h.idem(), payment_id=p.id,
                                                  amount=h.rub(units)), admin.md).payment


def refund_req(pid, units, key=None, reason="returned"):
    return pb.RefundRequest(idempotency_key=key or h.idem(), payment_id=pid,
                            amount=h.rub(units), reason=reason)


def withdrawals(ledger, user_id):
    return ledger.all("SELECT reference FROM ledger_tx WHERE user_id = %s AND kind = 'withdraw' "
                      "ORDER BY id", user_id)


def refund_rows(paydb, pid):
    return paydb.rows("SELECT id, amount, step FROM refunds WHERE payment_id = %s ORDER BY id",
                      pid)


def test_top_up_refund_leaves_the_wallet_then_the_card_once(payments, paydb, closer, pay_stub,
                                                            new_account, admin, sim, ledger):
    u = new_account()
    p = top_up(pay_stub, u, admin, 7000)
    before = sim.state()["counts"]["refunds"]
    key = h.idem()
    r = h.call(pay_stub.Refund, refund_req(p.id, 3000, key=key), admin.md)
    assert r.refund_id > 0 and r.payment.state == pb.PAYMENT_STATE_PARTIALLY_REFUNDED
    assert r.payment.refunded.units == 3000
    assert h.call(pay_stub.Refund, refund_req(p.id, 3000, key=key), admin.md) == r
    assert closer.balance(u).total.units == 4000
    assert sim.state()["counts"]["refunds"] == before + 1
    assert withdrawals(ledger, u.id) == [("refund of card payment %d" % p.id,)]
    assert refund_rows(paydb, p.id) == [(r.refund_id, 3000, "done")]
    assert paydb.account("buyer", u.id) == 4000
    r2 = h.call(pay_stub.Refund, refund_req(p.id, 4000), admin.md)
    assert r2.payment.state == pb.PAYMENT_STATE_REFUNDED and r2.payment.refunded.units == 7000
    assert closer.balance(u).total.units == 0
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Refund, refund_req(p.id, 1), admin.md)
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())
    ledger.assert_wallet_consistent(u.id)


def test_refund_of_money_spent_or_held_is_refused_and_changes_nothing(
        payments, paydb, closer, pay_stub, new_account, admin, sim, ledger):
    u = new_account()
    p = top_up(pay_stub, u, admin, 5000)
    hold = closer.hold(u, 880001, 4000)   # bidding with it: held, not available
    before = sim.state()["counts"]["refunds"]
    key = h.idem()
    e = h.expect_error(S.FAILED_PRECONDITION, pay_stub.Refund, refund_req(p.id, 2000, key=key),
                       admin.md)
    assert "available balance 1000 RUB is less than 2000 RUB" in e.details()
    bal = closer.balance(u)
    assert (bal.total.units, bal.reserved.units) == (5000, 4000)
    assert ledger.holds(u.id)[hold][2] == "held"
    assert sim.state()["counts"]["refunds"] == before
    assert refund_rows(paydb, p.id) == []
    assert withdrawals(ledger, u.id) == []
    got = h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=p.id), admin.md).payment
    assert got.state == pb.PAYMENT_STATE_CAPTURED and got.refunded.units == 0
    assert [k for (k,) in paydb.rows("SELECT kind FROM ledger_txns WHERE payment_id = %s",
                                     p.id)] == ["deposit"]
    # what is available may go back, and the refused key is free again
    r = h.call(pay_stub.Refund, refund_req(p.id, 1000, key=key), admin.md)
    assert r.payment.refunded.units == 1000
    assert closer.balance(u).total.units == 4000


def test_racing_refunds_never_refund_more_than_captured(payments, paydb, closer, pay_stub,
                                                        new_account, admin, sim):
    u = new_account()
    p = top_up(pay_stub, u, admin, 5000)
    before = sim.state()["counts"]["refunds"]
    answers = [None] * 4
    barrier = threading.Barrier(4)

    def client(i):
        barrier.wait()
        try:
            r = pay_stub.Refund(refund_req(p.id, 2000), metadata=admin.md, timeout=h.RPC_TIMEOUT)
            answers[i] = (S.OK, r.refund_id)
        except grpc.RpcError as e:
            answers[i] = (e.code(), e.details())

    h.run_threads(4, client)
    ok = [a for a in answers if a[0] == S.OK]
    assert len(ok) == 2, answers
    assert all(a[0] == S.INVALID_ARGUMENT for a in answers if a[0] != S.OK), answers
    assert closer.balance(u).total.units == 1000
    assert sim.state()["counts"]["refunds"] == before + 2
    assert [s for _, _, s in refund_rows(paydb, p.id)] == ["done", "done"]


def test_bidder_cannot_refund_and_bad_requests_are_refused(payments, pay_stub, new_account,
                                                           admin, paydb):
    u = new_account()
    p = top_up(pay_stub, u, admin, 1000)
    h.expect_error(S.PERMISSION_DENIED, pay_stub.Refund, refund_req(p.id, 100), u.md)
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, refund_req(p.id, 0), admin.md,
                   field="amount")
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, refund_req(p.id, 1001), admin.md)
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, refund_req(p.id, 1, reason="r" * 501),
                   admin.md, field="reason")
    h.expect_error(S.NOT_FOUND, pay_stub.Refund, refund_req(10 ** 15, 1), admin.md)
    key = h.idem()
    h.call(pay_stub.Refund, refund_req(p.id, 100, key=key), admin.md)
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Refund, refund_req(p.id, 101, key=key),
                   admin.md)
    assert refund_rows(paydb, p.id)[0][1:] == (100, "done")


def _refund_through_a_crash(payments, pay_stub, admin, step, req):
    """Restarts the daemon to die right after the refund's `step`, sends
    req (the call fails as the daemon dies), and starts it again."""
    payments.stop()
    payments.env["GAVEL_PAYMENTS_FAULT_EXIT_AFTER"] = step
    try:
        payments.start()
        try:
            pay_stub.Refund(req, metadata=admin.md, timeout=h.RPC_TIMEOUT)
            raise AssertionError("the refund answered instead of dying at %s" % step)
        except grpc.RpcError as e:
            assert e.code() in (S.UNAVAILABLE, S.INTERNAL, S.UNKNOWN), e
        rc = payments.proc.wait(timeout=30 * h.SLOW)
        assert rc == 137, "exit %s:\n%s" % (rc, payments.log_tail())
    finally:
        del payments.env["GAVEL_PAYMENTS_FAULT_EXIT_AFTER"]
    payments.start()


def test_crash_after_the_withdrawal_is_resumed_and_refunded_once(payments, paydb, closer,
                                                                 pay_stub, new_account, admin,
                                                                 sim, ledger):
    u = new_account()
    p = top_up(pay_stub, u, admin, 6000)
    before = sim.state()["counts"]["refunds"]
    req = refund_req(p.id, 2500)
    _refund_through_a_crash(payments, pay_stub, admin, "withdraw", req)
    assert "GAVEL_PAYMENTS_FAULT_EXIT_AFTER=withdraw" in payments.log_text()
    # nobody retries: the resumer finishes it from the recorded step
    h.wait_until(lambda: [s for _, _, s in refund_rows(paydb, p.id)] == ["done"],
                 20 * h.SLOW, what="the refund resumed")
    assert closer.balance(u).total.units == 3500
    assert len(withdrawals(ledger, u.id)) == 1
    assert sim.state()["counts"]["refunds"] == before + 1
    # the caller's retry with its key answers the refund made, makes none
    r = h.call(pay_stub.Refund, req, admin.md)
    assert r.refund_id == refund_rows(paydb, p.id)[0][0] and r.payment.refunded.units == 2500
    assert sim.state()["counts"]["refunds"] == before + 1
    assert closer.balance(u).total.units == 3500
    assert len(paydb.rows("SELECT 1 FROM ledger_txns WHERE payment_id = %s AND kind = 'refund'",
                          p.id)) == 1
    assert all(v == 0 for v in paydb.ledger_sums().values())


def test_crash_after_the_provider_refund_is_retried_by_the_caller_once(
        payments, paydb, closer, pay_stub, new_account, admin, sim, ledger):
    u = new_account()
    p = top_up(pay_stub, u, admin, 6000)
    before = sim.state()["counts"]
    req = refund_req(p.id, 1500)
    _refund_through_a_crash(payments, pay_stub, admin, "refund", req)
    # the caller comes back at once, before the resumer's lease ends
    r = h.call(pay_stub.Refund, req, admin.md)
    assert r.payment.refunded.units == 1500
    after = sim.state()["counts"]
    assert after["refunds"] == before["refunds"] + 1          # the provider's replay, not a second
    assert after["idempotent_replays"] > before["idempotent_replays"]
    assert closer.balance(u).total.units == 4500
    assert len(withdrawals(ledger, u.id)) == 1
    assert refund_rows(paydb, p.id) == [(r.refund_id, 1500, "done")]
    assert all(v == 0 for v in paydb.ledger_sums().values())
    ledger.assert_wallet_consistent(u.id)


def test_provider_down_during_a_refund_is_finished_by_the_resumer(payments, paydb, closer,
                                                                  pay_stub, new_account, admin,
                                                                  sim, ledger):
    u = new_account()
    p = top_up(pay_stub, u, admin, 4000)
    before = sim.state()["counts"]["refunds"]
    sim.faults({"error_500": {"probability": 1, "match": "POST /v1/refunds"}})
    try:
        e = h.expect_error(S.UNAVAILABLE, pay_stub.Refund, refund_req(p.id, 1000), admin.md)
        assert "withdrawn" in e.details()
        assert [s for _, _, s in refund_rows(paydb, p.id)] == ["withdrawn"]
        # the amount under way counts against what may still be refunded
        h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, refund_req(p.id, 3001), admin.md)
    finally:
        sim.faults({})
    h.wait_until(lambda: [s for _, _, s in refund_rows(paydb, p.id)] == ["done"],
                 20 * h.SLOW, what="the refund resumed")
    assert sim.state()["counts"]["refunds"] == before + 1
    assert closer.balance(u).total.units == 3000
    assert len(withdrawals(ledger, u.id)) == 1
    got = h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=p.id), admin.md).payment
    assert got.refunded.units == 1000 and got.state == pb.PAYMENT_STATE_PARTIALLY_REFUNDED
    assert h.metric_value(payments, "gavel_payments_refunds_resumed_total") >= 1
    assert all(v == 0 for v in paydb.ledger_sums().values())


def test_provider_refusing_the_refund_leaves_it_failed_for_an_operator(payments, paydb, closer,
                                                                       pay_stub, new_account,
                                                                       admin, sim):
    u = new_account()
    p = top_up(pay_stub, u, admin, 4000)
    body = '{"error":{"code":"charge_disputed","message":"the charge is disputed"}}'
    sim.faults({"malformed": {"next": 1, "status": 400, "body": body,
                              "match": "POST /v1/refunds"}})
    key = h.idem()
    try:
        e = h.expect_error(S.FAILED_PRECONDITION, pay_stub.Refund,
                           refund_req(p.id, 1000, key=key), admin.md)
        assert "charge_disputed" in e.details()
    finally:
        sim.faults({})
    assert [s for _, _, s in refund_rows(paydb, p.id)] == ["failed"]
    # withdrawn from the wallet, not refunded, nothing in the ledger: an
    # operator's; a retry with the key does not try again
    assert closer.balance(u).total.units == 3000
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Refund, refund_req(p.id, 1000, key=key),
                   admin.md)
    assert paydb.rows("SELECT kind FROM ledger_txns WHERE payment_id = %s", p.id) == \
        [("deposit",)]
    assert "needs an operator" in payments.log_text()
