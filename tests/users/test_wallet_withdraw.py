"""Wallet.Withdraw: money leaves the available balance (never a held
amount), exactly once per idempotency key, with a ledger row and a
wallet.withdraw event; who may call it, what it refuses, and two
withdrawals racing for one balance."""
import threading

import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2, users_pb2_grpc

IA = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
LOT = 700051


def withdraw_req(user_id, units, key=None, currency="RUB", reference=""):
    return users_pb2.WithdrawRequest(idempotency_key=h.idem() if key is None else key,
                                     user_id=user_id, amount=h.rub(units, currency),
                                     reference=reference)


def test_withdraw_takes_the_available_balance_once_per_key(wallet_stub, funded, service_md,
                                                           admin, ledger):
    a = funded(10000)
    key = h.idem()
    req = withdraw_req(a.id, 2500, key=key, reference="refund of card payment 7")
    r = h.call(wallet_stub.Withdraw, req, service_md)
    assert r.ledger_tx_id > 0 and r.balance.user_id == a.id
    assert h.balance_tuple(r.balance) == (7500, 0, 7500)
    again = h.call(wallet_stub.Withdraw, req, service_md)
    assert again == r
    assert ledger.one("SELECT count(*) FROM ledger_tx WHERE user_id = %s AND kind = 'withdraw'",
                      a.id)[0] == 1
    assert ledger.one("SELECT reference FROM ledger_tx WHERE id = %s",
                      r.ledger_tx_id)[0] == "refund of card payment 7"
    r2 = h.call(wallet_stub.Withdraw, withdraw_req(a.id, 500), admin.md)
    assert h.balance_tuple(r2.balance) == (7000, 0, 7000)
    assert ledger.account_sum("platform:withdrawals") >= 3000
    assert ledger.assert_wallet_consistent(a.id) == (7000, 0)
    ledger.assert_balanced()
    hist = h.call(wallet_stub.ListLedger, users_pb2.ListLedgerRequest(), a.md).entries
    assert hist[0].kind == "withdraw" and hist[0].available_change.units == -500
    assert hist[0].held_change.units == 0 and hist[0].hold_id == 0


def test_withdraw_never_touches_held_money(wallet_stub, funded, service_md, ledger):
    a = funded(10000)
    hold = h.call(wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
        idempotency_key=h.idem(), user_id=a.id, lot_id=LOT, amount=h.rub(8000)), a.md).hold_id
    e = h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(a.id, 2001), service_md)
    assert "available balance 2000 RUB is less than 2001 RUB" in e.details()
    assert ledger.wallet(a.id) == (10000, 8000)
    r = h.call(wallet_stub.Withdraw, withdraw_req(a.id, 2000), service_md)
    assert h.balance_tuple(r.balance) == (8000, 8000, 0)
    assert ledger.holds(a.id)[hold] == (LOT, 8000, "held", 0)
    h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(a.id, 1), service_md)
    assert ledger.assert_wallet_consistent(a.id) == (8000, 8000)
    ledger.assert_balanced()


def test_refused_withdraw_changes_nothing_and_its_key_may_be_used_later(wallet_stub, funded,
                                                                        service_md, ledger):
    a = funded(1000)
    key = h.idem()
    h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(a.id, 1500, key=key), service_md)
    assert ledger.wallet(a.id) == (1000, 0)
    assert ledger.one("SELECT count(*) FROM ledger_tx WHERE user_id = %s AND kind = 'withdraw'",
                      a.id)[0] == 0
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1000)), service_md)
    r = h.call(wallet_stub.Withdraw, withdraw_req(a.id, 1500, key=key), service_md)
    assert h.balance_tuple(r.balance) == (500, 0, 500)
    ledger.assert_wallet_consistent(a.id)


def test_withdraw_key_reused_for_another_request_is_failed_precondition(wallet_stub, funded,
                                                                        service_md, ledger):
    a = funded(5000)
    key = h.idem()
    h.call(wallet_stub.Withdraw, withdraw_req(a.id, 100, key=key), service_md)
    e = h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(a.id, 101, key=key),
                       service_md)
    assert "idempotency_key" in e.details()
    assert ledger.wallet(a.id) == (4900, 0)


def test_withdraw_without_a_wallet_or_in_another_currency_is_refused(wallet_stub, new_account,
                                                                     funded, service_md, ledger):
    a = new_account()
    e = h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(a.id, 1), service_md)
    assert "available balance 0 RUB is less than 1 RUB" in e.details()
    b = funded(1000)
    h.expect_error(PRECOND, wallet_stub.Withdraw, withdraw_req(b.id, 1, currency="EUR"),
                   service_md)
    assert ledger.wallet(b.id) == (1000, 0)
    h.expect_error(NOT_FOUND, wallet_stub.Withdraw, withdraw_req(2 ** 62, 1), service_md)


def test_only_staff_and_services_withdraw(wallet_stub, funded, ledger):
    a = funded(1000)
    h.expect_error(DENIED, wallet_stub.Withdraw, withdraw_req(a.id, 1), a.md)
    h.expect_error(UNAUTH, wallet_stub.Withdraw, withdraw_req(a.id, 1))
    assert ledger.wallet(a.id) == (1000, 0)


@pytest.mark.parametrize("field,req", [
    ("amount", lambda uid: withdraw_req(uid, 0)),
    ("amount", lambda uid: withdraw_req(uid, -5)),
    ("amount", lambda uid: withdraw_req(uid, 10 ** 15 + 1)),
    ("amount", lambda uid: withdraw_req(uid, 1, currency="XXX")),
    ("amount", lambda uid: users_pb2.WithdrawRequest(idempotency_key=h.idem(), user_id=uid)),
    ("idempotency_key", lambda uid: withdraw_req(uid, 1, key="")),
    ("idempotency_key", lambda uid: withdraw_req(uid, 1, key="k" * 129)),
    ("idempotency_key", lambda uid: withdraw_req(uid, 1, key="bad\nkey")),
    ("reference", lambda uid: withdraw_req(uid, 1, reference="r" * 201)),
    ("user_id", lambda uid: withdraw_req(0, 1)),
    ("user_id", lambda uid: withdraw_req(-1, 1)),
], ids=["zero", "negative", "over-1e15", "currency", "no-amount", "no-key", "long-key",
        "control-key", "long-reference", "user-zero", "user-negative"])
def test_withdraw_validation(wallet_stub, funded, service_md, ledger, field, req):
    a = funded(1000)
    h.expect_error(IA, wallet_stub.Withdraw, req(a.id), service_md, field=field)
    assert ledger.wallet(a.id) == (1000, 0)


def test_oversized_withdraw_request_is_refused(wallet_stub, funded, service_md, ledger):
    a = funded(1000)
    req = withdraw_req(a.id, 1, reference="r" * (8 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as e:
        wallet_stub.Withdraw(req, metadata=service_md, timeout=h.RPC_TIMEOUT)
    assert e.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, IA)
    assert ledger.wallet(a.id) == (1000, 0)


def test_two_withdrawals_racing_for_one_balance_exactly_one_wins(users, wallet_stub, funded,
                                                                 service_md, ledger):
    for round_ in range(5):
        a = funded(1000)
        barrier = threading.Barrier(2)
        answers = [None, None]
        channels = [h.make_channel(users.addr) for _ in range(2)]
        for ch in channels:
            h.health(ch, timeout=5)

        def client(i):
            stub = users_pb2_grpc.WalletStub(channels[i])
            barrier.wait()
            try:
                r = stub.Withdraw(withdraw_req(a.id, 700), metadata=service_md,
                                  timeout=h.RPC_TIMEOUT)
                answers[i] = (grpc.StatusCode.OK, r.balance.available.units)
            except grpc.RpcError as e:
                answers[i] = (e.code(), e.details())

        h.run_threads(2, client)
        for ch in channels:
            ch.close()
        codes = sorted(str(x[0]) for x in answers)
        assert codes == sorted([str(grpc.StatusCode.OK), str(PRECOND)]), answers
        assert [x[1] for x in answers if x[0] == grpc.StatusCode.OK] == [300]
        assert ledger.assert_wallet_consistent(a.id) == (300, 0)
    ledger.assert_balanced()
