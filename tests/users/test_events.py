"""Events: what the users daemon publishes through its outbox to the broker
(read back with python3-kafka), and what it must not publish."""
import re
import time

import grpc
import pytest

import gavel_harness as h
from gavel_harness import events_pb2, users_pb2

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def tail(kafka_bootstrap):
    t = h.TopicTail(kafka_bootstrap, "gavel.users", "gavel.wallet")
    yield t
    t.close()


def keyed(tail, topic, user_id):
    return [env for _, env in tail.envelopes(topic, str(user_id).encode())]


def wallet_changes(tail, user_id):
    return [(env, events_pb2.WalletChanged.FromString(env.payload))
            for env in keyed(tail, "gavel.wallet", user_id)]


def assert_envelope_header(env, aggregate, since_us):
    assert HEX32.match(env.id), "envelope id %r is not 32 hex chars" % env.id
    assert env.aggregate_id == str(aggregate)
    assert env.source == "users"
    assert since_us - 5e6 <= env.occurred_at_us <= time.time() * 1e6 + 5e6


def test_register_publishes_user_registered_keyed_by_user_id(tail, users_stub):
    since = time.time() * 1e6
    a = h.register(users_stub, users_pb2.ROLE_SELLER, login=False,
                   email=h.unique_email("Ev").upper())
    (env,) = tail.wait_for(lambda t: keyed(t, "gavel.users", a.id), what="user.registered")
    assert env.type == "user.registered"
    assert_envelope_header(env, a.id, since)
    ev = events_pb2.UserRegistered.FromString(env.payload)
    assert (ev.user_id, ev.email, ev.role) == (a.id, a.email.lower(), "seller")


def test_deposit_and_reserve_publish_wallet_changed_keyed_by_user_id(tail, users_stub,
                                                                    wallet_stub, service_md):
    since = time.time() * 1e6
    a = h.register(users_stub)
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(5000)), service_md)
    hold = h.call(wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
        idempotency_key=h.idem(), user_id=a.id, lot_id=4242, amount=h.rub(1200)), a.md).hold_id
    got = tail.wait_for(lambda t: len(wallet_changes(t, a.id)) >= 2 and wallet_changes(t, a.id),
                        what="wallet.deposit and wallet.reserve")
    (dep_env, dep), (res_env, res) = got
    assert dep_env.type == "wallet.deposit"
    assert (dep.user_id, dep.kind, dep.amount.units, dep.amount.currency) == \
        (a.id, "deposit", 5000, "RUB")
    assert (dep.total.units, dep.reserved.units) == (5000, 0)
    assert res_env.type == "wallet.reserve"
    assert (res.user_id, res.kind, res.amount.units, res.hold_id, res.lot_id) == \
        (a.id, "reserve", 1200, hold, 4242)
    assert (res.total.units, res.reserved.units) == (5000, 1200)
    for env in (dep_env, res_env):
        assert_envelope_header(env, a.id, since)
    assert dep_env.id != res_env.id


def test_release_and_capture_publish_wallet_changed(tail, users_stub, wallet_stub, service_md):
    a = h.register(users_stub)
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1000)), service_md)
    holds = [h.call(wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
        idempotency_key=h.idem(), user_id=a.id, lot_id=77, amount=h.rub(300)), a.md).hold_id
        for _ in range(2)]
    h.call(wallet_stub.ReleaseFunds, users_pb2.ReleaseFundsRequest(
        idempotency_key=h.idem(), hold_id=holds[0]), service_md)
    h.call(wallet_stub.CaptureFunds, users_pb2.CaptureFundsRequest(
        idempotency_key=h.idem(), hold_id=holds[1], amount=h.rub(200)), service_md)
    got = tail.wait_for(lambda t: len(wallet_changes(t, a.id)) >= 5 and wallet_changes(t, a.id),
                        what="five wallet events")
    assert [wc.kind for _, wc in got] == ["deposit", "reserve", "reserve", "release", "capture"]
    rel, cap = got[3][1], got[4][1]
    assert (rel.hold_id, rel.amount.units, rel.total.units, rel.reserved.units) == \
        (holds[0], 300, 1000, 300)
    assert (cap.hold_id, cap.amount.units, cap.total.units, cap.reserved.units) == \
        (holds[1], 200, 800, 0)
    assert all(env.type.startswith("wallet.") for env, _ in got)
    assert len({env.id for env, _ in got}) == 5


def test_withdraw_publishes_wallet_changed_once(tail, users_stub, wallet_stub, service_md):
    a = h.register(users_stub)
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1000)), service_md)
    req = users_pb2.WithdrawRequest(idempotency_key=h.idem(), user_id=a.id, amount=h.rub(400),
                                    reference="refund")
    h.call(wallet_stub.Withdraw, req, service_md)
    h.call(wallet_stub.Withdraw, req, service_md)  # a replay publishes nothing
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, wallet_stub.Withdraw,
                   users_pb2.WithdrawRequest(idempotency_key=h.idem(), user_id=a.id,
                                             amount=h.rub(601)), service_md)
    got = tail.wait_for(lambda t: len(wallet_changes(t, a.id)) >= 2 and wallet_changes(t, a.id),
                        what="wallet.deposit and wallet.withdraw")
    time.sleep(1)
    got = wallet_changes(tail, a.id)
    assert [env.type for env, _ in got] == ["wallet.deposit", "wallet.withdraw"]
    w = got[1][1]
    assert (w.kind, w.amount.units, w.total.units, w.reserved.units, w.hold_id) == \
        ("withdraw", 400, 600, 0, 0)


def test_failed_and_replayed_calls_publish_nothing(tail, users_stub, wallet_stub, service_md):
    a = h.register(users_stub)
    dep = users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1000))
    h.call(wallet_stub.Deposit, dep, service_md)
    # Failures of every kind, and an idempotent replay: none is a change.
    h.expect_error(grpc.StatusCode.ALREADY_EXISTS, users_stub.Register, users_pb2.RegisterRequest(
        email=a.email.upper(), password=h.PASSWORD, role=users_pb2.ROLE_BIDDER,
        display_name="Twin"))
    h.expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, wallet_stub.ReserveFunds,
                   users_pb2.ReserveFundsRequest(idempotency_key=h.idem(), user_id=a.id,
                                                 lot_id=5, amount=h.rub(5000)), a.md)
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, wallet_stub.Deposit,
                   users_pb2.DepositRequest(idempotency_key=dep.idempotency_key, user_id=a.id,
                                            amount=h.rub(999)), service_md)
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, wallet_stub.Deposit,
                   users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=a.id,
                                            amount=h.rub(-1)), service_md)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, wallet_stub.Deposit,
                   users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=a.id,
                                            amount=h.rub(50)), a.md)
    h.call(wallet_stub.Deposit, dep, service_md)  # replay
    # A marker: once its event is there, anything published before it is too.
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1)), service_md)
    tail.wait_for(lambda t: any(wc.amount.units == 1 for _, wc in wallet_changes(t, a.id)),
                  what="the marker deposit")
    # A twin's user.registered would have a key of its own: new accounts are
    # markers until one has been read on every partition of gavel.users.
    tail.read_past("gavel.users",
                   lambda: str(h.register(users_stub, login=False).id).encode())
    got = wallet_changes(tail, a.id)
    assert [(wc.kind, wc.amount.units) for _, wc in got] == [("deposit", 1000), ("deposit", 1)]
    registered = keyed(tail, "gavel.users", a.id)
    twins = [env for _, env in tail.envelopes("gavel.users")
             if events_pb2.UserRegistered.FromString(env.payload).email == a.email]
    assert len(registered) == 1 and len(twins) == 1


def test_event_carries_the_request_id_of_the_call_that_caused_it(tail, users_stub, wallet_stub,
                                                                 service_md):
    a = h.register(users_stub)
    rid = h.idem()[2:]
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(10)),
        service_md + (("x-request-id", rid),))
    ((env, _),) = tail.wait_for(lambda t: wallet_changes(t, a.id), what="the deposit event")
    assert env.request_id == rid


def test_envelope_ids_are_unique_across_events(tail, users_stub, wallet_stub, service_md):
    accounts = [h.register(users_stub, login=False) for _ in range(3)]
    for a in accounts:
        for units in (10, 20):
            h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
                idempotency_key=h.idem(), user_id=a.id, amount=h.rub(units)), service_md)
    want = 3 * 3

    def mine(t):
        ids = {str(a.id).encode() for a in accounts}
        got = [(r.value, env) for r, env in t.envelopes() if r.key in ids]
        return got if len(got) >= want else None

    got = tail.wait_for(mine, what="nine events")
    by_id = {}
    for raw, env in got:
        by_id.setdefault(env.id, set()).add(raw)
    assert len(by_id) == want, "distinct events share an envelope id"
    assert all(len(v) == 1 for v in by_id.values())
