"""Durability: kill -9 of the users daemon in the middle of concurrent
reserves loses nothing that was acknowledged and invents nothing."""
import random
import threading

import grpc

import gavel_harness as h
from gavel_harness import events_pb2, users_pb2, users_pb2_grpc

THREADS = 8
FUNDS = 10 ** 9


def test_kill9_during_concurrent_reserves_keeps_each_acknowledged_hold_exactly_once(
        users, users_stub, wallet_stub, service_md, ledger, kafka_bootstrap):
    a = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(FUNDS)), service_md)
    tail = h.TopicTail(kafka_bootstrap, "gavel.wallet")

    records = []  # [request, code, hold_id] in the order answered
    lock = threading.Lock()
    stop = threading.Event()
    acked = [0]

    def client(i):
        rng = random.Random(i)
        ch = h.make_channel(users.addr)
        stub = users_pb2_grpc.WalletStub(ch)
        try:
            while not stop.is_set():
                req = users_pb2.ReserveFundsRequest(
                    idempotency_key=h.idem(), user_id=a.id, lot_id=920000 + i,
                    amount=h.rub(rng.randint(1, 1000)))
                try:
                    hold = stub.ReserveFunds(req, metadata=a.md, timeout=5 * h.SLOW).hold_id
                    with lock:
                        records.append([req, grpc.StatusCode.OK, hold])
                        acked[0] += 1
                except grpc.RpcError as e:
                    with lock:
                        records.append([req, e.code(), 0])
                    break  # the daemon is gone (or sick): stop this client
        finally:
            ch.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    h.wait_until(lambda: acked[0] >= 150, 30, interval=0.01, what="150 acknowledged reserves")
    users.kill9()
    stop.set()
    for t in threads:
        t.join()
    ok_before = [r for r in records if r[1] == grpc.StatusCode.OK]
    unknown = [r for r in records if r[1] != grpc.StatusCode.OK]
    assert len(ok_before) >= 150
    assert unknown, "no call was in flight at the kill; the test proved little"

    users.start()

    # Replaying an acknowledged call's key gives back its hold; retrying an
    # unanswered one makes (or finds) exactly one hold.
    for r in ok_before:
        again = h.call(wallet_stub.ReserveFunds, r[0], a.md)
        assert again.hold_id == r[2], "acknowledged reserve answered differently after kill -9"
    for r in unknown:
        r[2] = h.call(wallet_stub.ReserveFunds, r[0], a.md).hold_id

    holds = ledger.holds(a.id)
    by_key = {r[0].idempotency_key: r for r in records}
    assert len(by_key) == len(records)
    assert len({r[2] for r in records}) == len(records), "two keys share one hold"
    assert sorted(holds) == sorted(r[2] for r in records), (
        "holds in the database differ from the calls made: %d rows for %d calls"
        % (len(holds), len(records)))
    for r in records:
        assert holds[r[2]][1] == r[0].amount.units
        assert holds[r[2]][2] == "held"
    reserved = sum(r[0].amount.units for r in records)
    assert ledger.assert_wallet_consistent(a.id) == (FUNDS, reserved)
    b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), a.md).balance
    assert h.balance_tuple(b) == (FUNDS, reserved, FUNDS - reserved)
    ledger.assert_balanced()

    # The outbox lost no event across the kill and invented none: one
    # wallet.reserve event per hold (a re-sent copy keeps its envelope id).
    key = str(a.id).encode()
    want = {r[2] for r in records}

    def reserve_events(t):
        out = {}
        for _, env in t.envelopes("gavel.wallet", key):
            if env.type == "wallet.reserve":
                wc = events_pb2.WalletChanged.FromString(env.payload)
                out.setdefault(wc.hold_id, set()).add(env.id)
        return out if set(out) >= want else None

    seen = tail.wait_for(reserve_events, timeout=20, what="a wallet.reserve event per hold")
    tail.close()
    assert set(seen) == want, "events for holds that do not exist: %s" % (set(seen) - want)
    dup = {hold: ids for hold, ids in seen.items() if len(ids) != 1}
    assert not dup, "holds published as several distinct events: %s" % dup


def test_acknowledged_registration_and_deposit_survive_kill9(users, users_stub, wallet_stub,
                                                            service_md, ledger):
    a = h.register(users_stub, users_pb2.ROLE_SELLER, login=False)
    dep_req = users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=a.id,
                                       amount=h.rub(777))
    dep = h.call(wallet_stub.Deposit, dep_req, service_md)
    users.kill9()
    users.start()
    resp = h.login(users_stub, a.email, a.password)
    assert resp.profile.user_id == a.id
    b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(),
               h.bearer(resp.tokens.access_token)).balance
    assert h.balance_tuple(b) == (777, 0, 777)
    assert ledger.assert_wallet_consistent(a.id) == (777, 0)
    # The deposit's key still gives the first answer and moves no money.
    assert h.call(wallet_stub.Deposit, dep_req, service_md).ledger_tx_id == dep.ledger_tx_id
    assert ledger.wallet(a.id) == (777, 0)


def test_sigterm_exits_cleanly_and_the_daemon_comes_back(users, users_stub, bidder):
    users.restart()  # stop() asserts exit code 0 after the drain
    p = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), bidder.md).profile
    assert p.user_id == bidder.id
