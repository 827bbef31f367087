"""Card payments: Authorize → Capture → Wallet.Deposit exactly once (the
wallet and the ledger agree), declines, Void, Refund, idempotency keys, a
provider timeout after the charge was made, and who may do what."""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id, payments_pb2 as pb

S = grpc.StatusCode


def authorize(stub, who, units=5000, token="tok_visa", key=None, **kw):
    return h.call(stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=key or h.idem(), amount=h.rub(units), payment_method_token=token, **kw),
        who.md).payment


def capture(stub, who, pid, units, key=None):
    return h.call(stub.Capture, pb.CaptureRequest(idempotency_key=key or h.idem(),
                                                  payment_id=pid, amount=h.rub(units)),
                  who.md).payment


def test_card_deposit_reaches_wallet_and_ledger_exactly_once(payments, paydb, closer, pay_stub,
                                                             new_account, admin):
    u = new_account()
    key = h.idem()
    p = authorize(pay_stub, u, 7000, key=key, description="wallet top-up")
    assert p.state == pb.PAYMENT_STATE_AUTHORIZED and p.provider == "sim"
    assert p.provider_reference and p.payer_id == u.id and p.amount.units == 7000
    assert authorize(pay_stub, u, 7000, key=key, description="wallet top-up").id == p.id
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=key, amount=h.rub(7001), payment_method_token="tok_visa"), u.md)
    ckey = h.idem()
    c = capture(pay_stub, admin, p.id, 6500, key=ckey)
    assert c.state == pb.PAYMENT_STATE_CAPTURED and c.captured.units == 6500
    assert capture(pay_stub, admin, p.id, 6500, key=ckey).captured_at_us == c.captured_at_us
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(6500)), admin.md)
    assert closer.balance(u).total.units == 6500
    assert paydb.account("buyer", u.id) == 6500
    assert paydb.rows("SELECT kind FROM ledger_txns WHERE payment_id = %s", p.id) == [("deposit",)]
    assert paydb.unbalanced_txns() == []


def test_declines_voids_and_amount_rules(payments, pay_stub, new_account, admin):
    u = new_account()
    d = authorize(pay_stub, u, 3000, token="tok_decline")
    assert d.state == pb.PAYMENT_STATE_FAILED and "card_declined" in d.failure_reason
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=d.id, amount=h.rub(3000)), admin.md)
    p = authorize(pay_stub, u, 3000)
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(3001)), admin.md, field="amount")
    h.expect_error(S.NOT_FOUND, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=10 ** 15, amount=h.rub(1)), admin.md)
    v = h.call(pay_stub.Void, pb.VoidRequest(idempotency_key=h.idem(), payment_id=p.id,
                                             reason="buyer changed their mind"), admin.md).payment
    assert v.state == pb.PAYMENT_STATE_VOIDED
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Void, pb.VoidRequest(
        idempotency_key=h.idem(), payment_id=p.id), admin.md)


def test_lot_payment_needs_its_winner_and_refunds_go_back(payments, paydb, closer, pay_stub,
                                                         new_account, admin):
    buyer, other, seller = new_account(), new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 100000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 20000)
    closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, 20000, hold))
    paydb.wait_step(lot, "done")
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), lot_id=lot, amount=h.rub(100), payment_method_token="tok_v"),
        other.md)
    h.expect_error(S.NOT_FOUND, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), lot_id=new_lot_id(), amount=h.rub(100),
        payment_method_token="tok_v"), buyer.md)
    p = authorize(pay_stub, buyer, 9000, lot_id=lot)
    capture(pay_stub, admin, p.id, 9000)
    total = closer.balance(buyer).total.units
    rkey = h.idem()
    r = h.call(pay_stub.Refund, pb.RefundRequest(idempotency_key=rkey, payment_id=p.id,
                                                 amount=h.rub(4000), reason="damaged"), admin.md)
    assert r.refund_id > 0 and r.payment.state == pb.PAYMENT_STATE_PARTIALLY_REFUNDED
    again = h.call(pay_stub.Refund, pb.RefundRequest(idempotency_key=rkey, payment_id=p.id,
                                                     amount=h.rub(4000), reason="damaged"),
                   admin.md)
    assert again.refund_id == r.refund_id
    assert closer.balance(buyer).total.units == total - 4000
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, pb.RefundRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(5001), reason="x"), admin.md)
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Refund, pb.RefundRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(1), reason=""), admin.md,
        field="reason")
    r2 = h.call(pay_stub.Refund, pb.RefundRequest(idempotency_key=h.idem(), payment_id=p.id,
                                                  amount=h.rub(5000), reason="rest"), admin.md)
    assert r2.payment.state == pb.PAYMENT_STATE_REFUNDED and r2.payment.refunded.units == 9000
    assert closer.balance(buyer).total.units == total - 9000
    assert all(v == 0 for v in paydb.ledger_sums().values())


def test_provider_timeout_after_the_charge_is_retried_with_the_same_key(payments, sim, pay_stub,
                                                                       new_account):
    """The simulator makes the charge, then answers too late: the adapter's
    retry (or ours, with the same key) finds the first charge."""
    u = new_account()
    key = h.idem()
    before = sim.state()["counts"]
    sim.faults({"timeout_after_effect": {"next": 1, "sleep_ms": 6000,
                                         "match": "POST /v1/payment_intents"}})
    try:
        try:
            p = authorize(pay_stub, u, 1234, key=key)
        except grpc.RpcError as e:
            assert e.code() == S.UNAVAILABLE, e
            p = authorize(pay_stub, u, 1234, key=key)
    finally:
        sim.faults({})
    assert p.state == pb.PAYMENT_STATE_AUTHORIZED
    after = sim.state()["counts"]
    assert after["timeouts"] == before["timeouts"] + 1
    assert after["charges"] == before["charges"] + 1
    assert after["idempotent_replays"] > before["idempotent_replays"]
    got = h.call(pay_stub.ListPayments, pb.ListPaymentsRequest(payer_id=u.id), u.md).payments
    assert [x.id for x in got] == [p.id]


def test_authorisation_matrix(payments, pay_stub, new_account, admin, service_md):
    bidder, seller, stranger = new_account(), new_account(users_pb2.ROLE_SELLER), new_account()
    p = authorize(pay_stub, bidder, 1500)
    req = {
        "Capture": pb.CaptureRequest(idempotency_key="k1", payment_id=p.id, amount=h.rub(1)),
        "Void": pb.VoidRequest(idempotency_key="k1", payment_id=p.id),
        "Refund": pb.RefundRequest(idempotency_key="k1", payment_id=p.id, amount=h.rub(1),
                                   reason="r"),
        "HandleProviderWebhook": pb.HandleProviderWebhookRequest(body=b"{}", signature="t=1"),
    }
    for name, r in req.items():
        h.expect_error(S.UNAUTHENTICATED, getattr(pay_stub, name), r, None)
        # the payer may capture their own top-up (test_payer_captures_only_their_own_top_up)
        for who in (seller,) if name == "Capture" else (bidder, seller):
            h.expect_error(S.PERMISSION_DENIED, getattr(pay_stub, name), r, who.md)
    h.expect_error(S.UNAUTHENTICATED, pay_stub.GetPayment,
                   pb.GetPaymentRequest(payment_id=p.id), None)
    h.expect_error(S.UNAUTHENTICATED, pay_stub.ListPayments, pb.ListPaymentsRequest(), None)
    h.expect_error(S.PERMISSION_DENIED, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(1), payment_method_token="t"), seller.md)
    h.expect_error(S.PERMISSION_DENIED, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), payer_id=stranger.id, amount=h.rub(1),
        payment_method_token="t"), bidder.md)
    # own payments only, whatever the filter; staff see all
    h.expect_error(S.NOT_FOUND, pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=p.id),
                   stranger.md)
    assert len(h.call(pay_stub.ListPayments, pb.ListPaymentsRequest(payer_id=bidder.id),
                      stranger.md).payments) == 0
    for who in (admin.md, service_md):
        assert h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=p.id),
                      who).payment.id == p.id
    # a service pays for a named user only
    h.expect_error(S.INVALID_ARGUMENT, pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(1), payment_method_token="t"), service_md)
    on_behalf = h.call(pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), payer_id=stranger.id, amount=h.rub(1),
        payment_method_token="tok_visa"), service_md).payment
    assert on_behalf.payer_id == stranger.id


@pytest.mark.parametrize("name,req,field", [
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(0),
                                      payment_method_token="t"), "amount"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(5, "XXX"),
                                      payment_method_token="t"), "amount.currency"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", payment_method_token="t"), "amount"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(5),
                                      payment_method_token=""), "payment_method_token"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(5),
                                      payment_method_token="t" * 257), "payment_method_token"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="", amount=h.rub(5),
                                      payment_method_token="t"), "idempotency_key"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(5), lot_id=-1,
                                      payment_method_token="t"), "lot_id"),
    ("Authorize", pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(10 ** 16),
                                      payment_method_token="t"), "amount"),
    ("ListPayments", pb.ListPaymentsRequest(page={"page_token": "abc"}), "page_token"),
    ("ListPayments", pb.ListPaymentsRequest(page={"page_size": 201}), "page_size"),
    ("ListPayments", pb.ListPaymentsRequest(created_from_us=10, created_to_us=5), "created_to_us"),
    ("GetPayment", pb.GetPaymentRequest(payment_id=0), "payment_id"),
])
def test_bad_requests_name_the_field(payments, pay_stub, bidder, name, req, field):
    h.expect_error(S.INVALID_ARGUMENT, getattr(pay_stub, name), req, bidder.md, field=field)


def test_malformed_and_oversized_requests(payments, bidder):
    for m in ("Authorize", "ListPayments", "GetPayment", "Capture"):
        raw = h.raw_method(payments.channel, "/gavel.payments.v1.Payments/" + m)
        with pytest.raises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff\xff", metadata=bidder.md, timeout=5 * h.SLOW)
        assert e.value.code() in (S.INVALID_ARGUMENT, S.PERMISSION_DENIED), m
    raw = h.raw_method(payments.channel, "/gavel.payments.v1.Payments/Authorize")
    big = pb.AuthorizeRequest(idempotency_key="k", amount=h.rub(5), payment_method_token="t",
                              description="d" * 20000).SerializeToString()
    with pytest.raises(grpc.RpcError) as e:
        raw(big, metadata=bidder.md, timeout=5 * h.SLOW)
    assert e.value.code() == S.INVALID_ARGUMENT


def test_concurrent_calls_charge_and_deposit_once(payments, sim, pay_stub, closer, paydb,
                                                  new_account, admin):
    import concurrent.futures
    u = new_account()
    key = h.idem()
    charges = sim.state()["counts"]["charges"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: authorize(pay_stub, u, 4321, key=key), range(8)))
    assert len({p.id for p in got}) == 1
    assert sim.state()["counts"]["charges"] == charges + 1
    pid = got[0].id

    def cap(_):
        try:
            return capture(pay_stub, admin, pid, 4321).state
        except grpc.RpcError as e:
            return e.code()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(cap, range(8)))  # 8 different keys
    assert outcomes.count(pb.PAYMENT_STATE_CAPTURED) == 1, outcomes
    assert all(o == S.FAILED_PRECONDITION for o in outcomes
               if o != pb.PAYMENT_STATE_CAPTURED), outcomes
    assert closer.balance(u).total.units == 4321
    assert paydb.account("buyer", u.id) == 4321


def test_payer_captures_only_their_own_top_up(payments, paydb, closer, pay_stub, new_account,
                                              admin):
    """A bidder takes the money of their own top-up (lot 0) into their
    wallet; another bidder's payment is NOT_FOUND to them, and a lot
    payment stays staff's even for its payer."""
    payer, other, seller = new_account(), new_account(), new_account(users_pb2.ROLE_SELLER)
    p = authorize(pay_stub, payer, 1500, description="wallet top-up")
    for who in (other, seller):
        code = S.NOT_FOUND if who is other else S.PERMISSION_DENIED
        h.expect_error(code, pay_stub.Capture, pb.CaptureRequest(
            idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(1500)), who.md)
    assert closer.balance(payer).total.units == 0
    key = h.idem()
    c = capture(pay_stub, payer, p.id, 1500, key=key)
    assert c.state == pb.PAYMENT_STATE_CAPTURED and c.captured.units == 1500
    assert capture(pay_stub, payer, p.id, 1500, key=key).captured_at_us == c.captured_at_us
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(1500)), payer.md)
    assert closer.balance(payer).total.units == 1500
    assert paydb.rows("SELECT kind FROM ledger_txns WHERE payment_id = %s", p.id) == [("deposit",)]
    # a lot payment: its winner authorizes it, only staff capture it
    closer.fund(payer, 100000)
    lot = new_lot_id()
    hold = closer.hold(payer, lot, 20000)
    closer.publish(lot, closed_envelope(lot, seller.id, payer.id, 20000, hold))
    paydb.wait_step(lot, "done")
    lp = authorize(pay_stub, payer, 9000, lot_id=lot)
    h.expect_error(S.PERMISSION_DENIED, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=lp.id, amount=h.rub(9000)), payer.md)
    h.expect_error(S.NOT_FOUND, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=lp.id, amount=h.rub(9000)), other.md)
    assert capture(pay_stub, admin, lp.id, 9000).state == pb.PAYMENT_STATE_CAPTURED
