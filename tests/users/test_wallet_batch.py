"""Wallet batches (ReserveFundsBatch, ReleaseFundsBatch): many wallet calls
in one transaction, each item answered exactly as its single call would be
(same idempotency keys, checks, messages and rows), in item order."""
import random
import threading

import grpc
import pytest

import gavel_harness as h
from gavel_harness import events_pb2, users_pb2, users_pb2_grpc

IA = grpc.StatusCode.INVALID_ARGUMENT
OK = grpc.StatusCode.OK.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
LOT = 730001
UNKNOWN = 2 ** 62


def code(status_code):
    return status_code.value[0]


def rreq(user_id, units, lot_id=LOT, key=None, currency="RUB"):
    return users_pb2.ReserveFundsRequest(idempotency_key=h.idem() if key is None else key,
                                         user_id=user_id, lot_id=lot_id,
                                         amount=h.rub(units, currency))


def relreq(hold_id, key=None):
    return users_pb2.ReleaseFundsRequest(idempotency_key=h.idem() if key is None else key,
                                         hold_id=hold_id)


def reserve_batch(stub, md, items, timeout=None):
    r = h.call(stub.ReserveFundsBatch, users_pb2.ReserveFundsBatchRequest(items=items), md,
               timeout)
    assert len(r.results) == len(items)
    return r.results


def release_batch(stub, md, items):
    r = h.call(stub.ReleaseFundsBatch, users_pb2.ReleaseFundsBatchRequest(items=items), md)
    assert len(r.results) == len(items)
    return r.results


def single_error(method, req, md):
    """(code, message) of a single call expected to fail."""
    with pytest.raises(grpc.RpcError) as e:
        h.call(method, req, md)
    return code(e.value.code()), e.value.details()


def wallet_events(ledger, user_id, kind):
    """WalletChanged events of a user in the outbox, oldest first."""
    rows = ledger.all("SELECT payload FROM event_outbox WHERE key = %s ORDER BY id", str(user_id))
    envs = [events_pb2.Envelope.FromString(bytes(r[0])) for r in rows]
    return [events_pb2.WalletChanged.FromString(e.payload) for e in envs
            if e.type == "wallet." + kind]


def ledger_of_hold(ledger, hold_id, kind):
    """[(account, amount)] of the hold's one ledger transaction of kind."""
    txs = ledger.all("SELECT id FROM ledger_tx WHERE hold_id = %s AND kind = %s", hold_id, kind)
    assert len(txs) == 1, "hold %d has %d %s transactions" % (hold_id, len(txs), kind)
    return ledger.all("SELECT account, amount FROM ledger_entries WHERE tx_id = %s ORDER BY id",
                      txs[0][0])


def counts(ledger):
    return ledger.one("SELECT (SELECT count(*) FROM holds), (SELECT count(*) FROM ledger_tx), "
                      "(SELECT count(*) FROM idem_keys), "
                      "(SELECT count(*) FROM event_outbox)")


def key_stored(ledger, method, key):
    return ledger.one("SELECT count(*) FROM idem_keys WHERE scope = %s AND key = %s",
                      method, key)[0] == 1


# ---- ReserveFundsBatch --------------------------------------------------------------------

def test_reserve_batch_items_answer_like_single_calls_in_order(wallet_stub, service_md, funded,
                                                               ledger):
    a, b = funded(10000), funded(5000)
    plan = [(a, 1000, 11), (b, 2000, 12), (a, 3000, 13), (b, 500, 14), (a, 6000, 15)]
    items = [rreq(u.id, units, lot) for u, units, lot in plan]
    results = reserve_batch(wallet_stub, service_md, items)
    assert [(r.status.code, r.status.message) for r in results] == [(OK, "")] * 5
    holds = [r.response.hold_id for r in results]
    assert len(set(holds)) == 5 and holds == sorted(holds)
    # Balances after each item follow from the ones before it.
    assert [h.balance_tuple(r.response.balance) for r in results] == [
        (10000, 1000, 9000), (5000, 2000, 3000), (10000, 4000, 6000), (5000, 2500, 2500),
        (10000, 10000, 0)]
    assert [r.response.balance.user_id for r in results] == [u.id for u, _, _ in plan]
    for (u, units, lot), hold in zip(plan, holds):
        got = h.call(wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=hold), u.md).hold
        assert (got.user_id, got.lot_id, got.amount.units, got.amount.currency, got.state) == \
            (u.id, lot, units, "RUB", "held")
        assert ledger_of_hold(ledger, hold, "reserve") == [
            ("user:%d:available" % u.id, -units), ("user:%d:held" % u.id, units)]
    # Each item's answer is what a single call retried with its key returns.
    for item, r in zip(items, results):
        assert h.call(wallet_stub.ReserveFunds, item, service_md) == r.response
    # One wallet.reserve event per item, as the single path writes it.
    for u in (a, b):
        want = [(u.id, "reserve", r.response.hold_id, lot, units, "RUB",
                 r.response.balance.total.units, r.response.balance.reserved.units)
                for r, (owner, units, lot) in zip(results, plan) if owner is u]
        evs = wallet_events(ledger, u.id, "reserve")
        assert [(e.user_id, e.kind, e.hold_id, e.lot_id, e.amount.units, e.amount.currency,
                 e.total.units, e.reserved.units) for e in evs] == want
        ledger.assert_wallet_consistent(u.id)
    ledger.assert_balanced()


def test_mixed_batch_refusals_replays_and_conflicts_leave_the_others_alone(
        wallet_stub, service_md, funded, ledger):
    a = funded(1000)
    first = rreq(a.id, 100, lot_id=21)
    single = h.call(wallet_stub.ReserveFunds, first, service_md)
    ok = rreq(a.id, 200, lot_id=22)
    items = [
        ok,                                                     # 0 applied
        rreq(a.id, 5000, lot_id=23),                            # 1 insufficient funds
        first,                                                  # 2 replay of a single call
        rreq(a.id, 101, lot_id=21, key=first.idempotency_key),  # 3 key reused, other amount
        ok,                                                     # 4 repeated inside the batch
        rreq(a.id, 300, lot_id=24),                             # 5 applied
        rreq(a.id, 201, lot_id=22, key=ok.idempotency_key),     # 6 repeated key, other amount
        rreq(UNKNOWN, 1),                                       # 7 nobody's wallet
    ]
    before = counts(ledger)
    res = reserve_batch(wallet_stub, service_md, items)
    st = [(r.status.code, r.status.message) for r in res]
    assert st[0] == (OK, "") and st[5] == (OK, "") and st[2] == (OK, "") and st[4] == (OK, "")
    assert h.balance_tuple(res[0].response.balance) == (1000, 300, 700)
    assert st[1] == (code(EXHAUSTED), "insufficient funds: available 700 RUB, requested 5000")
    assert res[2].response == single
    assert st[3] == (code(PRECOND), "idempotency_key %s was already used for a different request"
                     % first.idempotency_key)
    assert res[4].response == res[0].response
    assert h.balance_tuple(res[5].response.balance) == (1000, 600, 400)
    assert st[6] == (code(PRECOND), "idempotency_key %s was already used for a different request"
                     % ok.idempotency_key)
    # The unknown user gets exactly what the single call answers.
    assert st[7] == single_error(wallet_stub.ReserveFunds, rreq(UNKNOWN, 1), service_md)
    for i in (1, 3, 6, 7):
        assert not res[i].HasField("response")
    assert ledger.holds(a.id) == {single.hold_id: (21, 100, "held", 0),
                                  res[0].response.hold_id: (22, 200, "held", 0),
                                  res[5].response.hold_id: (24, 300, "held", 0)}
    after = counts(ledger)
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (2, 2, 2)
    # A refused item stored nothing under its key: it may be retried.
    assert not key_stored(ledger, "ReserveFunds", items[1].idempotency_key)
    assert not key_stored(ledger, "ReserveFunds", items[7].idempotency_key)
    assert len(wallet_events(ledger, a.id, "reserve")) == 3
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()


def test_refused_key_then_applied_by_a_later_item_of_the_same_batch(wallet_stub, service_md,
                                                                    funded, ledger):
    a = funded(500)
    key = h.idem()
    res = reserve_batch(wallet_stub, service_md, [
        rreq(a.id, 900, key=key), rreq(a.id, 400, key=key), rreq(a.id, 400, key=key),
        rreq(a.id, 400, key=key, lot_id=LOT + 1)])
    assert res[0].status.code == code(EXHAUSTED)
    assert res[1].status.code == OK
    assert res[2] == res[1]
    assert res[3].status.code == code(PRECOND)
    assert list(ledger.holds(a.id)) == [res[1].response.hold_id]
    assert h.call(wallet_stub.ReserveFunds, rreq(a.id, 400, key=key), service_md) == \
        res[1].response
    ledger.assert_wallet_consistent(a.id)


def test_single_call_retrying_a_batch_items_key_gets_the_same_hold(wallet_stub, service_md,
                                                                   funded, ledger):
    a = funded(1000)
    item = rreq(a.id, 250, lot_id=31)
    (r,) = reserve_batch(wallet_stub, service_md, [item])
    assert r.status.code == OK
    assert h.call(wallet_stub.ReserveFunds, item, service_md) == r.response
    h.expect_error(PRECOND, wallet_stub.ReserveFunds,
                   rreq(a.id, 251, lot_id=31, key=item.idempotency_key), service_md)
    # And the batch itself, sent again, answers the same.
    (again,) = reserve_batch(wallet_stub, service_md, [item])
    assert again == r
    assert list(ledger.holds(a.id)) == [r.response.hold_id]
    ledger.assert_wallet_consistent(a.id)


def test_bidders_retry_with_user_id_0_replays_the_call_made_with_their_id(wallet_stub, funded,
                                                                         ledger):
    a = funded(1000)
    item = rreq(a.id, 250, lot_id=32)
    first = h.call(wallet_stub.ReserveFunds, item, a.md)
    # user_id 0 ("me") normalizes to the same request.
    mine = users_pb2.ReserveFundsRequest(idempotency_key=item.idempotency_key, lot_id=32,
                                         amount=h.rub(250))
    assert h.call(wallet_stub.ReserveFunds, mine, a.md) == first
    assert list(ledger.holds(a.id)) == [first.hold_id]
    ledger.assert_wallet_consistent(a.id)


def test_refused_batch_item_may_be_retried_once_funds_arrive(wallet_stub, service_md, funded,
                                                             ledger):
    a = funded(100)
    item = rreq(a.id, 500)
    (r,) = reserve_batch(wallet_stub, service_md, [item])
    assert (r.status.code, r.status.message) == \
        (code(EXHAUSTED), "insufficient funds: available 100 RUB, requested 500")
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(1000)), service_md)
    single = h.call(wallet_stub.ReserveFunds, item, service_md)
    assert h.balance_tuple(single.balance) == (1100, 500, 600)
    (again,) = reserve_batch(wallet_stub, service_md, [item])
    assert again.response == single
    ledger.assert_wallet_consistent(a.id)


def test_keys_with_quotes_braces_and_backslashes_round_trip(wallet_stub, service_md, funded,
                                                            ledger):
    a = funded(1000)
    keys = [p + h.idem() for p in ('"', "\\", "{}", "a,b", "NULL-", "'", "~!@#$%^&*()[]:;<>?|")]
    items = [rreq(a.id, 10 + i, key=k) for i, k in enumerate(keys)]
    res = reserve_batch(wallet_stub, service_md, items)
    assert [r.status.code for r in res] == [OK] * len(keys)
    for k, item, r in zip(keys, items, res):
        assert key_stored(ledger, "ReserveFunds", k)
        assert h.call(wallet_stub.ReserveFunds, item, service_md) == r.response
    assert reserve_batch(wallet_stub, service_md, items) == res
    assert len(ledger.holds(a.id)) == len(keys)


def test_reserve_batch_of_256_items_is_accepted(wallet_stub, service_md, funded, ledger):
    a = funded(300)
    res = reserve_batch(wallet_stub, service_md, [rreq(a.id, 1, lot_id=LOT + i)
                                                  for i in range(256)])
    assert all(r.status.code == OK for r in res)
    assert [r.response.balance.reserved.units for r in res] == list(range(1, 257))
    assert len(ledger.holds(a.id)) == 256
    assert ledger.assert_wallet_consistent(a.id) == (300, 256)


# ---- ReleaseFundsBatch --------------------------------------------------------------------

def test_release_batch_released_already_released_unknown_and_twice(wallet_stub, service_md,
                                                                   funded, ledger):
    a = funded(1000)
    h1, h2, h3 = (h.call(wallet_stub.ReserveFunds, rreq(a.id, units, lot_id=40 + units),
                         service_md).hold_id for units in (100, 200, 300))
    h.call(wallet_stub.ReleaseFunds, relreq(h3), service_md)
    k1 = relreq(h1)
    items = [k1, relreq(h3), relreq(UNKNOWN), relreq(h2), relreq(h2), k1]
    res = release_batch(wallet_stub, service_md, items)
    st = [(r.status.code, r.status.message) for r in res]
    assert st == [(OK, ""), (code(PRECOND), "hold %d is already released" % h3),
                  (code(NOT_FOUND), "hold %d not found" % UNKNOWN), (OK, ""),
                  (code(PRECOND), "hold %d is already released" % h2), (OK, "")]
    assert (res[0].response.released.units, res[0].response.released.currency) == (100, "RUB")
    assert h.balance_tuple(res[0].response.balance) == (1000, 200, 800)
    assert res[0].response.balance.user_id == a.id
    assert res[3].response.released.units == 200
    assert h.balance_tuple(res[3].response.balance) == (1000, 0, 1000)
    assert res[5].response == res[0].response
    # The single calls say the same.
    assert st[1] == single_error(wallet_stub.ReleaseFunds, relreq(h3), service_md)
    assert st[2] == single_error(wallet_stub.ReleaseFunds, relreq(UNKNOWN), service_md)
    assert h.call(wallet_stub.ReleaseFunds, k1, service_md) == res[0].response
    assert not key_stored(ledger, "ReleaseFunds", items[4].idempotency_key)
    assert {k: v[2] for k, v in ledger.holds(a.id).items()} == \
        {h1: "released", h2: "released", h3: "released"}
    for hold, units in ((h1, 100), (h2, 200)):
        assert ledger_of_hold(ledger, hold, "release") == [
            ("user:%d:held" % a.id, -units), ("user:%d:available" % a.id, units)]
    evs = wallet_events(ledger, a.id, "release")
    assert [(e.hold_id, e.lot_id, e.amount.units, e.total.units, e.reserved.units)
            for e in evs] == [(h3, 340, 300, 1000, 300), (h1, 140, 100, 1000, 200),
                              (h2, 240, 200, 1000, 0)]
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()


def test_released_hold_key_replays_across_batches_and_captured_is_refused(wallet_stub,
                                                                          service_md, funded,
                                                                          ledger):
    a = funded(1000)
    held = h.call(wallet_stub.ReserveFunds, rreq(a.id, 100), service_md).hold_id
    taken = h.call(wallet_stub.ReserveFunds, rreq(a.id, 200), service_md).hold_id
    h.call(wallet_stub.CaptureFunds, users_pb2.CaptureFundsRequest(
        idempotency_key=h.idem(), hold_id=taken, amount=h.rub(200)), service_md)
    single = relreq(held)
    first = h.call(wallet_stub.ReleaseFunds, single, service_md)
    res = release_batch(wallet_stub, service_md, [single, relreq(taken),
                                                  relreq(taken, key=single.idempotency_key)])
    assert res[0].response == first
    assert (res[1].status.code, res[1].status.message) == \
        (code(PRECOND), "hold %d is already captured" % taken)
    assert res[2].status.code == code(PRECOND)
    assert "already used for a different request" in res[2].status.message
    ledger.assert_wallet_consistent(a.id)


def test_batch_keys_are_the_calling_identitys_own(wallet_stub, service_md, admin, funded,
                                                 ledger):
    """Regression: keys were scoped by method only, so the admin's single
    call with a key a service had used in a batch replayed the service's
    answer, and another request with it was refused."""
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("needs python3-cryptography for a service identity distinct from admin")
    a = funded(10000)
    item = rreq(a.id, 100)
    by_service = reserve_batch(wallet_stub, service_md, [item])[0].response
    by_admin = h.call(wallet_stub.ReserveFunds, item, admin.md)
    assert by_admin.hold_id != by_service.hold_id
    assert h.balance_tuple(by_admin.balance) == (10000, 200, 9800)
    # Within one caller a batch item's key and a single call's key are one
    # space, as before.
    assert reserve_batch(wallet_stub, admin.md, [item])[0].response == by_admin
    assert h.call(wallet_stub.ReserveFunds, item, service_md) == by_service
    # A key one caller used is free for another caller's different request,
    # and still conflicts with the first caller's own.
    key = h.idem()
    first = reserve_batch(wallet_stub, service_md, [rreq(a.id, 100, key=key)])[0]
    assert first.status.code == OK
    other = h.call(wallet_stub.ReserveFunds, rreq(a.id, 300, key=key), admin.md)
    assert h.balance_tuple(other.balance) == (10000, 600, 9400)
    res = reserve_batch(wallet_stub, service_md, [rreq(a.id, 300, key=key)])
    assert (res[0].status.code, res[0].status.message) == (
        code(PRECOND), "idempotency_key %s was already used for a different request" % key)
    for k in (item.idempotency_key, key):
        assert ledger.one("SELECT count(*) FROM idem_keys WHERE scope = 'ReserveFunds' "
                          "AND key = %s", k)[0] == 2
    assert len(ledger.holds(a.id)) == 4
    assert ledger.assert_wallet_consistent(a.id) == (10000, 600)


# ---- who may call, and malformed batches ------------------------------------------------

def test_batches_are_for_service_and_admin_only(wallet_stub, funded, admin, ledger):
    a = funded(1000)
    before = counts(ledger)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, wallet_stub.ReserveFundsBatch,
                   users_pb2.ReserveFundsBatchRequest(items=[rreq(a.id, 10)]), a.md)
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, wallet_stub.ReserveFundsBatch,
                   users_pb2.ReserveFundsBatchRequest(items=[rreq(a.id, 10)]))
    hold = h.call(wallet_stub.ReserveFunds, rreq(a.id, 10), a.md).hold_id
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, wallet_stub.ReleaseFundsBatch,
                   users_pb2.ReleaseFundsBatchRequest(items=[relreq(hold)]), a.md)
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, wallet_stub.ReleaseFundsBatch,
                   users_pb2.ReleaseFundsBatchRequest(items=[relreq(hold)]))
    assert counts(ledger)[:2] == (before[0] + 1, before[1] + 1)
    (r,) = reserve_batch(wallet_stub, admin.md, [rreq(a.id, 10)])
    assert r.status.code == OK


BAD_RESERVE = {
    "empty-key": dict(key=""),
    "key-129": dict(key="k" * 129),
    "key-space": dict(key="a b"),
    "amount-0": dict(units=0),
    "amount-negative": dict(units=-5),
    "amount-over-1e15": dict(units=10 ** 15 + 1),
    "currency-gbp": dict(currency="GBP"),
    "currency-lower": dict(currency="rub"),
    "lot-0": dict(lot_id=0),
    "lot-negative": dict(lot_id=-1),
    "user-0": dict(user_id=0),
    "user-negative": dict(user_id=-7),
}
BAD_FIELD = {"key": "idempotency_key", "units": "amount", "currency": "amount.currency",
             "lot_id": "lot_id", "user_id": "user_id"}


@pytest.mark.parametrize("bad", list(BAD_RESERVE.values()), ids=list(BAD_RESERVE))
def test_malformed_reserve_item_fails_the_whole_batch_naming_it(wallet_stub, service_md, funded,
                                                                ledger, bad):
    a = funded(1000)
    kw = dict(user_id=a.id, units=10, lot_id=LOT, key=None, currency="RUB")
    kw.update(bad)
    items = [rreq(a.id, 10) for _ in range(3)] + [
        rreq(kw["user_id"], kw["units"], kw["lot_id"], kw["key"], kw["currency"])] + \
        [rreq(a.id, 10)]
    before = counts(ledger)
    (field,) = bad
    e = h.expect_error(IA, wallet_stub.ReserveFundsBatch,
                       users_pb2.ReserveFundsBatchRequest(items=items), service_md,
                       field="items[3]." + BAD_FIELD[field])
    assert e.details().startswith("items[3].")
    assert counts(ledger) == before
    assert ledger.wallet(a.id) == (1000, 0)


@pytest.mark.parametrize("item,field", [(dict(hold_id=0), "hold_id"),
                                        (dict(hold_id=-1), "hold_id"),
                                        (dict(key=""), "idempotency_key"),
                                        (dict(key="\x7fdel"), "idempotency_key")],
                         ids=["hold-0", "hold-negative", "empty-key", "del-key"])
def test_malformed_release_item_fails_the_whole_batch_naming_it(wallet_stub, service_md, funded,
                                                                ledger, item, field):
    a = funded(1000)
    holds = [h.call(wallet_stub.ReserveFunds, rreq(a.id, 10), service_md).hold_id
             for _ in range(2)]
    bad = relreq(item.get("hold_id", holds[1]), key=item.get("key"))
    if "key" in item:
        bad.idempotency_key = item["key"]
    before = counts(ledger)
    h.expect_error(IA, wallet_stub.ReleaseFundsBatch, users_pb2.ReleaseFundsBatchRequest(
        items=[relreq(holds[0]), bad]), service_md, field="items[1]." + field)
    assert counts(ledger) == before
    assert ledger.wallet(a.id) == (1000, 20)


@pytest.mark.parametrize("n", [0, 257])
def test_batches_need_1_to_256_items(wallet_stub, service_md, funded, ledger, n):
    a = funded(100000)
    before = counts(ledger)
    h.expect_error(IA, wallet_stub.ReserveFundsBatch, users_pb2.ReserveFundsBatchRequest(
        items=[rreq(a.id, 1) for _ in range(n)]), service_md, field="items")
    h.expect_error(IA, wallet_stub.ReleaseFundsBatch, users_pb2.ReleaseFundsBatchRequest(
        items=[relreq(1) for _ in range(n)]), service_md, field="items")
    assert counts(ledger) == before


# ---- concurrency ----------------------------------------------------------------------------

THREADS = 8
BATCHES = 20
ITEMS = 32
WALLETS = 10


def test_8_threads_of_batches_over_10_small_wallets_keep_every_invariant(
        users, wallet_stub, service_md, funded, ledger):
    accounts = [funded(3000) for _ in range(WALLETS)]
    ids = [a.id for a in accounts]
    reserved_ok = []   # (item, hold_id)
    refused = []       # items
    released = set()
    lock = threading.Lock()

    def client(t):
        rng = random.Random(7000 + t)
        ch = h.make_channel(users.addr)
        stub = users_pb2_grpc.WalletStub(ch)
        try:
            for _ in range(BATCHES):
                items = [rreq(rng.choice(ids), rng.randint(1, 100), lot_id=960000 + t)
                         for _ in range(ITEMS)]
                res = reserve_batch(stub, service_md, items, timeout=h.RPC_TIMEOUT * 2)
                mine = []
                for item, r in zip(items, res):
                    if r.status.code == OK:
                        assert r.response.balance.available.units >= 0
                        assert r.response.balance.user_id == item.user_id
                        mine.append((item, r.response.hold_id))
                    else:
                        assert r.status.code == code(EXHAUSTED), r.status
                        assert r.status.message.startswith("insufficient funds: available ")
                        assert not r.HasField("response")
                        refused.append(item)
                # Give half of them back, in a shuffled release batch.
                back = [hold for _, hold in mine if rng.random() < 0.5]
                rng.shuffle(back)
                if back:
                    rel = release_batch(stub, service_md, [relreq(x) for x in back])
                    assert all(r.status.code == OK for r in rel), rel
                with lock:
                    reserved_ok.extend(mine)
                    released.update(back)
        finally:
            ch.close()

    h.run_threads(THREADS, client)
    assert refused, "no wallet was ever exhausted"
    assert reserved_ok, "nothing was ever reserved"
    holds = {}
    for uid in ids:
        for hold, (lot, amount, state, _) in ledger.holds(uid).items():
            holds[hold] = (uid, amount, state)
    assert len(holds) == len(reserved_ok), "holds other than the OK answers exist"
    for item, hold in reserved_ok:
        want_state = "released" if hold in released else "held"
        assert holds[hold] == (item.user_id, item.amount.units, want_state)
    for item in refused:
        assert not key_stored(ledger, "ReserveFunds", item.idempotency_key)
    for uid in ids:
        total, reserved = ledger.assert_wallet_consistent(uid)
        assert total == 3000 and reserved <= total
    ledger.assert_balanced()


def test_the_same_batch_sent_by_8_threads_at_once_applies_once(users, wallet_stub, service_md,
                                                               funded, ledger):
    accounts = [funded(1000) for _ in range(3)]
    items = [rreq(accounts[i % 3].id, 100 + i, lot_id=970000 + i) for i in range(12)]
    answers = [None] * 8
    channels = [h.make_channel(users.addr) for _ in range(8)]
    for ch in channels:
        h.health(ch, timeout=5)
    barrier = threading.Barrier(8)

    def client(i):
        stub = users_pb2_grpc.WalletStub(channels[i])
        order = list(range(len(items)))
        random.Random(i).shuffle(order)  # other key orders: no deadlock either
        barrier.wait()
        res = reserve_batch(stub, service_md, [items[j] for j in order],
                            timeout=h.RPC_TIMEOUT * 2)
        answers[i] = {order[k]: r for k, r in enumerate(res)}

    h.run_threads(8, client)
    for ch in channels:
        ch.close()
    for j in range(len(items)):
        got = {answers[i][j].SerializeToString() for i in range(8)}
        assert len(got) == 1, "item %d answered differently: %s" % (j, got)
        assert answers[0][j].status.code == OK
    for a in accounts:
        assert len(ledger.holds(a.id)) == 4
        ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()
