"""A randomized run against a misbehaving provider: lots closing while the
simulator answers 500s, 429 storms and timeouts after the effect, and card
deposits made meanwhile. At the end every lot is settled once, the seller
paid once, every deposit in the wallet once, and the ledger sums to zero,
agreeing with the wallet and the simulator."""
import concurrent.futures
import random
import time

import grpc

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id, payments_pb2 as pb

LOTS = 30
DEPOSITS = 20


def test_settlements_and_deposits_under_injected_faults(payments, paydb, closer, sim, pay_stub,
                                                        new_account, admin):
    rnd = random.Random(20261206)
    buyer, depositor = new_account(), new_account()
    sellers = [new_account(users_pb2.ROLE_SELLER) for _ in range(3)]
    closer.fund(buyer, 10 ** 8)
    lots = []
    for _ in range(LOTS):
        lot, price = new_lot_id(), rnd.randint(1000, 90000)
        lots.append((lot, rnd.choice(sellers), price, closer.hold(buyer, lot, price)))
    before = sim.state()["counts"]
    sim.faults({"error_500": {"probability": 0.25},
                "rate_limit": {"probability": 0.05, "retry_after": 1},
                "timeout_after_effect": {"probability": 0.1, "sleep_ms": 2500}})
    deposited = []

    def deposit(i):
        key, units = h.idem(), 100 + i
        for _ in range(120):  # a client retrying with the same keys until it is done
            try:
                p = h.call(pay_stub.Authorize, pb.AuthorizeRequest(
                    idempotency_key=key, amount=h.rub(units), payment_method_token="tok_visa"),
                    depositor.md).payment
                if p.state != pb.PAYMENT_STATE_AUTHORIZED:
                    return
                h.call(pay_stub.Capture, pb.CaptureRequest(
                    idempotency_key=key + "-c", payment_id=p.id, amount=h.rub(units)), admin.md)
                deposited.append(units)
                return
            except grpc.RpcError as e:
                assert e.code() in (grpc.StatusCode.UNAVAILABLE,
                                    grpc.StatusCode.DEADLINE_EXCEEDED), e
                time.sleep(0.3)
        raise AssertionError("deposit %d never went through" % i)
    try:
        for lot, seller, price, hold in lots:
            closer.publish(lot, closed_envelope(lot, seller.id, buyer.id, price, hold))
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(deposit, i) for i in range(DEPOSITS)]:
                f.result()
        for lot, _, _, _ in lots:
            paydb.wait_step(lot, "done", timeout=90)
    finally:
        sim.faults({})
    after = sim.state()["counts"]
    assert after["errors_500"] + after["rate_limited"] + after["timeouts"] > (
        before["errors_500"] + before["rate_limited"] + before["timeouts"]), "no fault fired"
    assert after["payouts"] - before["payouts"] == LOTS
    total = sum(price for _, _, price, _ in lots)
    assert closer.balance(buyer).total.units == 10 ** 8 - total
    assert closer.balance(depositor).total.units == sum(deposited)
    assert paydb.account("buyer", buyer.id) == -total
    assert paydb.account("buyer", depositor.id) == sum(deposited)
    for s in sellers:
        assert paydb.account("seller", s.id) == 0
    for lot, _, _, _ in lots:
        assert [k for k, _ in paydb.txns(lot)] == ["settlement", "payout"]
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())
