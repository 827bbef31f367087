"""HandleProviderWebhook: the signature and its timestamp are checked
before anything else, each provider event applies once (a second delivery
is a duplicate, a late replay is refused), and a hold the provider dropped
makes its payment EXPIRED."""
import hashlib
import hmac
import json
import time
import uuid

import grpc

import gavel_harness as h
from pay_kit import payments_pb2 as pb

S = grpc.StatusCode


def event(type_, obj_id, event_id=None):
    return json.dumps({"id": event_id or "evt_" + uuid.uuid4().hex[:20], "object": "event",
                       "type": type_, "created": int(time.time()),
                       "data": {"object": {"id": obj_id, "object": "payment_intent"}}},
                      separators=(",", ":")).encode()


def sign(secret, body, t=None):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def deliver(stub, md, body, signature):
    return h.call(stub.HandleProviderWebhook, pb.HandleProviderWebhookRequest(
        body=body, signature=signature, content_type="application/json"), md)


def test_signed_event_applies_once_and_replays_are_refused(payments, sim, pay_stub, service_md,
                                                           bidder):
    p = h.call(pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(2500), payment_method_token="tok_visa"),
        bidder.md).payment
    body = event("payment_intent.authorized", p.provider_reference)
    sig = sim.sign(body)  # the simulator's own signature
    first = deliver(pay_stub, service_md, body, sig)
    assert (first.is_duplicate, first.payment_id, first.event_type) == (
        False, p.id, "payment_intent.authorized")
    again = deliver(pay_stub, service_md, body, sign(sim.secret, body))
    assert again.is_duplicate and again.payment_id == p.id
    # a delivery recorded 10 minutes ago and replayed now is refused
    h.expect_error(S.UNAUTHENTICATED, pay_stub.HandleProviderWebhook,
                   pb.HandleProviderWebhookRequest(
                       body=body, signature=sign(sim.secret, body, int(time.time()) - 600)),
                   service_md)
    # an event about an intent we do not know is recorded for reconciliation
    unknown = event("payment_intent.captured", "pi_unknown")
    r = deliver(pay_stub, service_md, unknown, sign(sim.secret, unknown))
    assert (r.is_duplicate, r.payment_id) == (False, 0)


def test_forged_stale_and_malformed_deliveries(payments, sim, pay_stub, service_md):
    body = event("payment_intent.authorized", "pi_x")
    for bad in ("", "garbage", sign("not-the-secret", body), sign(sim.secret, body + b" "),
                sign(sim.secret, body, int(time.time()) + 3600),
                "t=%d" % int(time.time()), "v1=" + "0" * 64):
        h.expect_error(S.UNAUTHENTICATED, pay_stub.HandleProviderWebhook,
                       pb.HandleProviderWebhookRequest(body=body, signature=bad), service_md)
    for junk in (b"not json", b"[]", b'{"id": 5, "type": "x"}', b'{"type": "x"}',
                 json.dumps({"id": "e" * 200, "type": "x"}).encode()):
        h.expect_error(S.INVALID_ARGUMENT, pay_stub.HandleProviderWebhook,
                       pb.HandleProviderWebhookRequest(body=junk, signature=sign(sim.secret, junk)),
                       service_md)
    big = b"{" + b" " * (1024 * 1024 + 8192) + b"}"
    try:
        deliver(pay_stub, service_md, big, sign(sim.secret, big))
        raise AssertionError("an oversized webhook was accepted")
    except grpc.RpcError as e:
        assert e.code() in (S.INVALID_ARGUMENT, S.RESOURCE_EXHAUSTED), e


def test_a_hold_the_provider_dropped_expires_the_payment(payments, sim, pay_stub, service_md,
                                                         bidder, admin):
    p = h.call(pay_stub.Authorize, pb.AuthorizeRequest(
        idempotency_key=h.idem(), amount=h.rub(900), payment_method_token="tok_visa"),
        bidder.md).payment
    sim.request("POST", "/_control/expire", {"payment_intent": p.provider_reference})
    body = event("payment_intent.canceled", p.provider_reference)
    assert deliver(pay_stub, service_md, body, sign(sim.secret, body)).payment_id == p.id
    got = h.call(pay_stub.GetPayment, pb.GetPaymentRequest(payment_id=p.id), bidder.md).payment
    assert got.state == pb.PAYMENT_STATE_EXPIRED and "hold" in got.failure_reason
    h.expect_error(S.FAILED_PRECONDITION, pay_stub.Capture, pb.CaptureRequest(
        idempotency_key=h.idem(), payment_id=p.id, amount=h.rub(900)), admin.md)


def test_concurrent_deliveries_of_one_event_apply_once(payments, sim, pay_stub, service_md):
    import concurrent.futures
    body = event("payment_intent.authorized", "pi_concurrent")
    sig = sign(sim.secret, body)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: deliver(pay_stub, service_md, body, sig), range(16)))
    assert sum(1 for r in got if not r.is_duplicate) == 1
