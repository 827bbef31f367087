"""Wallet under concurrency: many clients reserving from one wallet never
overdraw it, and concurrent retries of one key make one hold."""
import random
import threading

import grpc

import gavel_harness as h
from gavel_harness import users_pb2, users_pb2_grpc

CLIENTS = 32
RESERVES_PER_CLIENT = 200
MAX_AMOUNT = 100


def test_32_clients_x_200_reserves_never_overdraw_one_wallet(users, users_stub, wallet_stub,
                                                            service_md, ledger):
    a = h.register(users_stub, users_pb2.ROLE_BIDDER)
    rng = random.Random(20240601)
    plans = [[rng.randint(1, MAX_AMOUNT) for _ in range(RESERVES_PER_CLIENT)]
             for _ in range(CLIENTS)]
    demand = sum(map(sum, plans))
    funds = demand // 3  # about a third of the calls can succeed
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(funds)), service_md)

    results = [[] for _ in range(CLIENTS)]  # (amount, code, hold_id, available_after)

    def client(i):
        ch = h.make_channel(users.addr)
        stub = users_pb2_grpc.WalletStub(ch)
        try:
            for amount in plans[i]:
                req = users_pb2.ReserveFundsRequest(idempotency_key=h.idem(), user_id=a.id,
                                                    lot_id=900000 + i, amount=h.rub(amount))
                try:
                    r = stub.ReserveFunds(req, metadata=a.md, timeout=h.RPC_TIMEOUT * 2)
                    results[i].append((amount, grpc.StatusCode.OK, r.hold_id,
                                       r.balance.available.units))
                except grpc.RpcError as e:
                    results[i].append((amount, e.code(), 0, None))
        finally:
            ch.close()

    h.run_threads(CLIENTS, client)

    flat = [r for rs in results for r in rs]
    assert len(flat) == CLIENTS * RESERVES_PER_CLIENT
    codes = {}
    for _, code, _, _ in flat:
        codes[code] = codes.get(code, 0) + 1
    unexpected = {c: n for c, n in codes.items()
                  if c not in (grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED)}
    assert not unexpected, "answers other than OK/RESOURCE_EXHAUSTED: %s" % unexpected
    ok = [(amount, hold, avail) for amount, code, hold, avail in flat if code == grpc.StatusCode.OK]
    assert codes.get(grpc.StatusCode.RESOURCE_EXHAUSTED, 0) > 0, "the wallet was never exhausted"
    assert all(avail >= 0 for _, _, avail in ok), "an answer showed negative available"

    # Every OK answer is exactly one hold row with its amount, and nothing else was held.
    hold_ids = [hold for _, hold, _ in ok]
    assert len(set(hold_ids)) == len(hold_ids), "two OK answers share a hold id"
    rows = ledger.holds(a.id)
    assert sorted(rows) == sorted(hold_ids)
    for amount, hold, _ in ok:
        assert rows[hold][1] == amount and rows[hold][2] == "held"

    reserved_ok = sum(amount for amount, _, _ in ok)
    total, reserved = ledger.assert_wallet_consistent(a.id)
    assert (total, reserved) == (funds, reserved_ok)
    b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), a.md).balance
    assert h.balance_tuple(b) == (funds, reserved_ok, funds - reserved_ok)
    # Available only ever shrank, and a refusal means it was below that
    # request's amount: at the end less than the largest request is left.
    assert 0 <= funds - reserved_ok < MAX_AMOUNT
    ledger.assert_balanced()


def test_same_key_sent_by_8_threads_at_once_makes_one_hold(users, users_stub, wallet_stub,
                                                          service_md, ledger):
    a = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(10000)), service_md)
    for round_ in range(3):
        req = users_pb2.ReserveFundsRequest(idempotency_key=h.idem(), user_id=a.id,
                                            lot_id=910000 + round_, amount=h.rub(700))
        barrier = threading.Barrier(8)
        answers = [None] * 8
        channels = [h.make_channel(users.addr) for _ in range(8)]
        for ch in channels:
            h.health(ch, timeout=5)  # connect before the race starts

        def client(i):
            stub = users_pb2_grpc.WalletStub(channels[i])
            barrier.wait()
            try:
                answers[i] = (grpc.StatusCode.OK,
                              stub.ReserveFunds(req, metadata=a.md, timeout=h.RPC_TIMEOUT).hold_id)
            except grpc.RpcError as e:
                answers[i] = (e.code(), e.details())

        h.run_threads(8, client)
        for ch in channels:
            ch.close()
        ok_holds = {hold for code, hold in answers if code == grpc.StatusCode.OK}
        # A concurrent duplicate may at most be told to retry (ABORTED);
        # it must never get a second hold or a conflict error.
        others = [x for x in answers if x[0] not in (grpc.StatusCode.OK, grpc.StatusCode.ABORTED)]
        assert not others, "unexpected answers to identical requests: %s" % others
        assert len(ok_holds) == 1, "OK answers carry different holds: %s" % answers
        (hold,) = ok_holds
        retry = h.call(wallet_stub.ReserveFunds, req, a.md)
        assert retry.hold_id == hold
        assert [k for k, v in ledger.holds(a.id).items() if v[0] == 910000 + round_] == [hold]
    assert ledger.assert_wallet_consistent(a.id) == (10000, 2100)
    ledger.assert_balanced()
