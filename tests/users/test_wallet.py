"""Wallet: deposits, balances, holds (reserve, release, capture) and the
double-entry ledger behind them, one call at a time."""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
LOT = 700001


def deposit_req(user_id, units, key=None, currency="RUB", reference=""):
    return users_pb2.DepositRequest(idempotency_key=h.idem() if key is None else key,
                                    user_id=user_id,
                                    amount=h.rub(units, currency), reference=reference)


def reserve_req(user_id, units, lot_id=LOT, key=None, currency="RUB"):
    return users_pb2.ReserveFundsRequest(idempotency_key=h.idem() if key is None else key,
                                         user_id=user_id,
                                         lot_id=lot_id, amount=h.rub(units, currency))


def balance(wallet_stub, md, user_id=0, currency=""):
    return h.balance_tuple(h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(
        user_id=user_id, currency=currency), md).balance)


def reserve(wallet_stub, a, units, lot_id=LOT):
    return h.call(wallet_stub.ReserveFunds, reserve_req(a.id, units, lot_id), a.md)


# ---- Deposit ------------------------------------------------------------------------------

def test_deposit_by_admin_and_by_service_credits_the_wallet(wallet_stub, admin, service_md,
                                                            new_account, ledger):
    a = new_account()
    r1 = h.call(wallet_stub.Deposit, deposit_req(a.id, 10000, reference="bank 1"), admin.md)
    assert r1.ledger_tx_id > 0
    assert r1.balance.user_id == a.id
    assert h.balance_tuple(r1.balance) == (10000, 0, 10000)
    assert r1.balance.total.currency == "RUB"
    r2 = h.call(wallet_stub.Deposit, deposit_req(a.id, 550), service_md)
    assert r2.ledger_tx_id > r1.ledger_tx_id
    assert h.balance_tuple(r2.balance) == (10550, 0, 10550)
    assert balance(wallet_stub, a.md) == (10550, 0, 10550)
    assert ledger.assert_wallet_consistent(a.id) == (10550, 0)
    ledger.assert_balanced()


def test_bidder_cannot_deposit_even_to_self(wallet_stub, funded, ledger):
    a = funded(1000)
    h.expect_error(DENIED, wallet_stub.Deposit, deposit_req(a.id, 10 ** 6), a.md)
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)
    assert ledger.wallet(a.id) == (1000, 0)


@pytest.mark.parametrize("units", [0, -1, -10 ** 15, -2 ** 63, 10 ** 15 + 1, 2 ** 63 - 1],
                         ids=["zero", "minus-one", "minus-1e15", "int64-min", "1e15+1",
                              "int64-max"])
def test_deposit_amount_must_be_positive_and_at_most_1e15(wallet_stub, service_md, funded, units):
    a = funded(1000)
    h.expect_error(IA, wallet_stub.Deposit, deposit_req(a.id, units), service_md, field="amount")
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)


def test_deposit_of_exactly_1e15_is_accepted(wallet_stub, service_md, funded, ledger):
    a = funded(0)
    r = h.call(wallet_stub.Deposit, deposit_req(a.id, 10 ** 15), service_md)
    assert h.balance_tuple(r.balance) == (10 ** 15, 0, 10 ** 15)
    ledger.assert_wallet_consistent(a.id)


@pytest.mark.parametrize("currency", ["rub", "GBP", "RUBL", "RU", "R1B", "€UR"])
def test_deposit_currency_must_be_rub_eur_or_usd(wallet_stub, service_md, funded, currency):
    a = funded(1000)
    h.expect_error(IA, wallet_stub.Deposit, deposit_req(a.id, 100, currency=currency), service_md,
                   field="currency")
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)


def test_deposits_in_other_currencies_keep_separate_balances(wallet_stub, service_md, funded,
                                                             ledger):
    a = funded(1000)
    h.call(wallet_stub.Deposit, deposit_req(a.id, 70, currency="EUR"), service_md)
    h.call(wallet_stub.Deposit, deposit_req(a.id, 30, currency="USD"), service_md)
    b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(currency="EUR"), a.md).balance
    assert h.balance_tuple(b) == (70, 0, 70)
    assert b.total.currency == "EUR"
    assert balance(wallet_stub, a.md, currency="USD") == (30, 0, 30)
    assert balance(wallet_stub, a.md, currency="RUB") == (1000, 0, 1000)
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)  # empty currency: RUB
    ledger.assert_wallet_consistent(a.id, "EUR")
    ledger.assert_balanced()


def test_deposit_to_unknown_user_is_not_found(wallet_stub, service_md, ledger):
    h.expect_error(NOT_FOUND, wallet_stub.Deposit, deposit_req(2 ** 62, 100), service_md)
    assert ledger.wallet(2 ** 62) == (0, 0)


@pytest.mark.parametrize("bad", ["", "k" * 129, "{}\tkey", "{}\nkey", "ключ-{}", "{}\x00",
                                 "{}\x00key", "del\x7f{}"],
                         ids=["empty", "129-chars", "tab", "newline", "non-ascii", "trailing-nul",
                              "embedded-nul", "del"])
def test_deposit_needs_a_printable_ascii_idempotency_key_up_to_128(wallet_stub, service_md, funded,
                                                                   bad):
    a = funded(1000)
    key = bad.format(h.idem())  # unique, so an accepted key cannot collide across runs
    h.expect_error(IA, wallet_stub.Deposit, deposit_req(a.id, 100, key=key), service_md,
                   field="idempotency_key")
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)


def test_deposit_accepts_a_128_char_key_with_punctuation(wallet_stub, service_md, funded):
    a = funded(0)
    key = ("~!@#$%^&*()_+-=[]{};:'\",.<>/?|`" + h.idem()).ljust(128, "z")
    assert len(key) == 128
    r = h.call(wallet_stub.Deposit, deposit_req(a.id, 5, key=key), service_md)
    assert h.balance_tuple(r.balance) == (5, 0, 5)


def test_deposit_reference_is_at_most_200(wallet_stub, service_md, funded):
    a = funded(1000)
    h.expect_error(IA, wallet_stub.Deposit, deposit_req(a.id, 100, reference="r" * 201),
                   service_md, field="reference")
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)
    h.call(wallet_stub.Deposit, deposit_req(a.id, 100, reference="r" * 200), service_md)
    assert balance(wallet_stub, a.md) == (1100, 0, 1100)


def test_deposit_retried_with_same_key_applies_once_and_answers_the_same(wallet_stub, service_md,
                                                                         admin, funded, ledger):
    a = funded(1000)
    req = deposit_req(a.id, 250, reference="wire 7")
    first = h.call(wallet_stub.Deposit, req, service_md)
    again = h.call(wallet_stub.Deposit, req, service_md)
    assert again == first
    assert again.ledger_tx_id == first.ledger_tx_id
    assert balance(wallet_stub, a.md) == (1250, 0, 1250)
    assert ledger.one("SELECT count(*) FROM ledger_tx WHERE user_id = %s AND kind = 'deposit'",
                      a.id)[0] == 2
    ledger.assert_wallet_consistent(a.id)


def test_deposit_key_reused_for_another_request_is_failed_precondition(wallet_stub, service_md,
                                                                       funded, ledger):
    a = funded(1000)
    b = funded(1000)
    key = h.idem()
    h.call(wallet_stub.Deposit, deposit_req(a.id, 100, key=key), service_md)
    for other in (deposit_req(a.id, 101, key=key), deposit_req(b.id, 100, key=key),
                  deposit_req(a.id, 100, key=key, currency="EUR"),
                  deposit_req(a.id, 100, key=key, reference="different")):
        h.expect_error(PRECOND, wallet_stub.Deposit, other, service_md)
    assert balance(wallet_stub, a.md) == (1100, 0, 1100)
    assert balance(wallet_stub, b.md) == (1000, 0, 1000)
    assert balance(wallet_stub, a.md, currency="EUR") == (0, 0, 0)
    ledger.assert_wallet_consistent(a.id)


# ---- GetBalance -------------------------------------------------------------------------------

def test_get_balance_of_own_wallet_by_zero_or_own_id(wallet_stub, funded):
    a = funded(4200)
    b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), a.md).balance
    assert b.user_id == a.id
    assert h.balance_tuple(b) == (4200, 0, 4200)
    assert (b.total.currency, b.reserved.currency, b.available.currency) == ("RUB",) * 3
    assert balance(wallet_stub, a.md, a.id) == (4200, 0, 4200)


def test_get_balance_without_any_deposit_is_zero(wallet_stub, new_account):
    a = new_account()
    assert balance(wallet_stub, a.md) == (0, 0, 0)


def test_get_balance_of_another_user_is_denied_to_a_bidder(wallet_stub, funded, other_bidder):
    a = funded(100)
    h.expect_error(DENIED, wallet_stub.GetBalance, users_pb2.GetBalanceRequest(user_id=a.id),
                   other_bidder.md)


def test_staff_may_read_any_balance_and_total_is_available_plus_reserved(wallet_stub, admin,
                                                                         service_md, funded):
    a = funded(5000)
    reserve(wallet_stub, a, 1200)
    for md in (admin.md, service_md):
        t, r, av = balance(wallet_stub, md, a.id)
        assert (t, r, av) == (5000, 1200, 3800)
        assert t == av + r


def test_get_balance_with_unknown_currency_is_invalid(wallet_stub, bidder):
    h.expect_error(IA, wallet_stub.GetBalance, users_pb2.GetBalanceRequest(currency="XYZ"),
                   bidder.md, field="currency")


# ---- ReserveFunds ---------------------------------------------------------------------------------

def test_bidder_reserves_own_funds_and_gets_a_hold(wallet_stub, funded, ledger):
    a = funded(10000)
    r = reserve(wallet_stub, a, 3000, lot_id=42)
    assert r.hold_id > 0
    assert h.balance_tuple(r.balance) == (10000, 3000, 7000)
    assert balance(wallet_stub, a.md) == (10000, 3000, 7000)
    hold = h.call(wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=r.hold_id), a.md).hold
    assert (hold.hold_id, hold.user_id, hold.lot_id, hold.amount.units, hold.amount.currency,
            hold.state) == (r.hold_id, a.id, 42, 3000, "RUB", "held")
    assert ledger.holds(a.id) == {r.hold_id: (42, 3000, "held", 0)}
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()


def test_bidder_cannot_reserve_another_users_funds(wallet_stub, funded, other_bidder, ledger):
    victim = funded(10000)
    h.expect_error(DENIED, wallet_stub.ReserveFunds, reserve_req(victim.id, 100), other_bidder.md)
    assert balance(wallet_stub, victim.md) == (10000, 0, 10000)
    assert ledger.holds(victim.id) == {}


def test_staff_may_reserve_for_anyone(wallet_stub, admin, service_md, funded):
    a = funded(10000)
    r1 = h.call(wallet_stub.ReserveFunds, reserve_req(a.id, 100), admin.md)
    r2 = h.call(wallet_stub.ReserveFunds, reserve_req(a.id, 200), service_md)
    assert r1.hold_id != r2.hold_id
    assert balance(wallet_stub, a.md) == (10000, 300, 9700)


def test_reserve_beyond_available_is_resource_exhausted_and_changes_nothing(wallet_stub, funded,
                                                                            ledger):
    a = funded(1000)
    reserve(wallet_stub, a, 600)
    h.expect_error(EXHAUSTED, wallet_stub.ReserveFunds, reserve_req(a.id, 401), a.md)
    assert balance(wallet_stub, a.md) == (1000, 600, 400)
    assert len(ledger.holds(a.id)) == 1
    # Exactly what is available is fine and leaves zero.
    r = reserve(wallet_stub, a, 400)
    assert h.balance_tuple(r.balance) == (1000, 1000, 0)
    h.expect_error(EXHAUSTED, wallet_stub.ReserveFunds, reserve_req(a.id, 1), a.md)
    ledger.assert_wallet_consistent(a.id)


def test_reserve_without_a_wallet_is_resource_exhausted(wallet_stub, new_account, ledger):
    a = new_account()
    h.expect_error(EXHAUSTED, wallet_stub.ReserveFunds, reserve_req(a.id, 1), a.md)
    assert ledger.holds(a.id) == {}


def test_reserve_for_unknown_user_fails_and_holds_nothing(wallet_stub, service_md, ledger):
    # The spec names no code here: NOT_FOUND, or RESOURCE_EXHAUSTED (no funds).
    e = pytest.raises(grpc.RpcError, h.call, wallet_stub.ReserveFunds, reserve_req(2 ** 62, 1),
                      service_md).value
    assert e.code() in (NOT_FOUND, EXHAUSTED) and e.details()
    assert ledger.holds(2 ** 62) == {}


@pytest.mark.parametrize("lot_id,units", [(0, 10), (-3, 10), (LOT, 0), (LOT, -10),
                                          (LOT, 10 ** 15 + 1)],
                         ids=["lot-0", "lot-negative", "amount-0", "amount-negative",
                              "amount-over-1e15"])
def test_reserve_needs_positive_lot_and_amount(wallet_stub, funded, ledger, lot_id, units):
    a = funded(1000)
    h.expect_error(IA, wallet_stub.ReserveFunds, reserve_req(a.id, units, lot_id), a.md,
                   field="lot_id" if lot_id <= 0 else "amount")
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)
    assert ledger.holds(a.id) == {}


def test_reserve_retried_with_same_key_returns_the_same_hold(wallet_stub, funded, service_md,
                                                             ledger):
    a = funded(1000)
    req = reserve_req(a.id, 300)
    first = h.call(wallet_stub.ReserveFunds, req, a.md)
    again = h.call(wallet_stub.ReserveFunds, req, a.md)
    assert again.hold_id == first.hold_id
    assert again == first
    assert balance(wallet_stub, a.md) == (1000, 300, 700)
    assert list(ledger.holds(a.id)) == [first.hold_id]
    h.expect_error(PRECOND, wallet_stub.ReserveFunds,
                   reserve_req(a.id, 301, key=req.idempotency_key), a.md)
    h.expect_error(PRECOND, wallet_stub.ReserveFunds,
                   reserve_req(a.id, 300, lot_id=LOT + 1, key=req.idempotency_key), a.md)
    assert balance(wallet_stub, a.md) == (1000, 300, 700)
    ledger.assert_wallet_consistent(a.id)


def test_failed_reserve_may_be_retried_with_its_key_once_funds_arrive(wallet_stub, funded,
                                                                      service_md):
    a = funded(100)
    req = reserve_req(a.id, 500)
    h.expect_error(EXHAUSTED, wallet_stub.ReserveFunds, req, a.md)
    h.call(wallet_stub.Deposit, deposit_req(a.id, 1000), service_md)
    r = h.call(wallet_stub.ReserveFunds, req, a.md)
    assert h.balance_tuple(r.balance) == (1100, 500, 600)


# ---- ReleaseFunds -----------------------------------------------------------------------------------

def release_req(hold_id, key=None):
    return users_pb2.ReleaseFundsRequest(idempotency_key=key or h.idem(), hold_id=hold_id)


def capture_req(hold_id, units, key=None, currency="RUB"):
    return users_pb2.CaptureFundsRequest(idempotency_key=key or h.idem(), hold_id=hold_id,
                                         amount=h.rub(units, currency))


def test_bidder_cannot_release_even_own_hold(wallet_stub, funded):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 400).hold_id
    h.expect_error(DENIED, wallet_stub.ReleaseFunds, release_req(hold), a.md)
    assert balance(wallet_stub, a.md) == (1000, 400, 600)


def test_release_returns_the_hold_to_available_once(wallet_stub, funded, service_md, admin,
                                                    ledger):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 400).hold_id
    req = release_req(hold)
    r = h.call(wallet_stub.ReleaseFunds, req, service_md)
    assert r.released.units == 400 and r.released.currency == "RUB"
    assert h.balance_tuple(r.balance) == (1000, 0, 1000)
    # Retry with the same key: the same answer, nothing more released.
    assert h.call(wallet_stub.ReleaseFunds, req, service_md) == r
    # A new key: the hold is already released.
    h.expect_error(PRECOND, wallet_stub.ReleaseFunds, release_req(hold), admin.md)
    assert balance(wallet_stub, a.md) == (1000, 0, 1000)
    got = h.call(wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=hold), a.md).hold
    assert got.state == "released"
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()


def test_release_of_unknown_hold_is_not_found(wallet_stub, service_md):
    h.expect_error(NOT_FOUND, wallet_stub.ReleaseFunds, release_req(2 ** 62), service_md)


# ---- CaptureFunds -----------------------------------------------------------------------------------

def test_bidder_cannot_capture(wallet_stub, funded):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 400).hold_id
    h.expect_error(DENIED, wallet_stub.CaptureFunds, capture_req(hold, 400), a.md)
    assert balance(wallet_stub, a.md) == (1000, 400, 600)


def test_partial_capture_takes_the_amount_and_returns_the_rest(wallet_stub, funded, service_md,
                                                               ledger):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 400).hold_id
    req = capture_req(hold, 250)
    r = h.call(wallet_stub.CaptureFunds, req, service_md)
    assert (r.captured.units, r.released.units) == (250, 150)
    assert h.balance_tuple(r.balance) == (750, 0, 750)
    assert h.call(wallet_stub.CaptureFunds, req, service_md) == r
    assert balance(wallet_stub, a.md) == (750, 0, 750)
    got = h.call(wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=hold), a.md).hold
    assert got.state == "captured"
    assert ledger.holds(a.id)[hold][2:] == ("captured", 250)
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_balanced()


def test_full_capture_releases_nothing(wallet_stub, funded, admin, ledger):
    a = funded(1000)
    other = reserve(wallet_stub, a, 100).hold_id
    hold = reserve(wallet_stub, a, 400).hold_id
    r = h.call(wallet_stub.CaptureFunds, capture_req(hold, 400), admin.md)
    assert (r.captured.units, r.released.units) == (400, 0)
    assert h.balance_tuple(r.balance) == (600, 100, 500)
    assert ledger.holds(a.id)[other][2] == "held"
    ledger.assert_wallet_consistent(a.id)


@pytest.mark.parametrize("units,code", [(0, IA), (-5, IA), (401, PRECOND), (10 ** 15 + 1, IA)],
                         ids=["zero", "negative", "more-than-held", "over-1e15"])
def test_capture_amount_must_be_positive_and_at_most_held(wallet_stub, funded, service_md, ledger,
                                                          units, code):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 400).hold_id
    h.expect_error(code, wallet_stub.CaptureFunds, capture_req(hold, units), service_md)
    assert balance(wallet_stub, a.md) == (1000, 400, 600)
    assert ledger.holds(a.id)[hold][2] == "held"


def test_closed_holds_cannot_be_captured_or_released_again(wallet_stub, funded, service_md):
    a = funded(1000)
    released = reserve(wallet_stub, a, 100).hold_id
    captured = reserve(wallet_stub, a, 200).hold_id
    h.call(wallet_stub.ReleaseFunds, release_req(released), service_md)
    h.call(wallet_stub.CaptureFunds, capture_req(captured, 150), service_md)
    before = balance(wallet_stub, a.md)
    assert before == (850, 0, 850)
    h.expect_error(PRECOND, wallet_stub.CaptureFunds, capture_req(released, 50), service_md)
    h.expect_error(PRECOND, wallet_stub.CaptureFunds, capture_req(captured, 50), service_md)
    h.expect_error(PRECOND, wallet_stub.ReleaseFunds, release_req(captured), service_md)
    assert balance(wallet_stub, a.md) == before


def test_capture_of_unknown_hold_is_not_found(wallet_stub, service_md):
    h.expect_error(NOT_FOUND, wallet_stub.CaptureFunds, capture_req(2 ** 62, 1), service_md)


# ---- GetHold ------------------------------------------------------------------------------------------

def test_get_hold_is_for_its_owner_and_staff_only(wallet_stub, funded, other_bidder, admin,
                                                  service_md):
    a = funded(1000)
    hold = reserve(wallet_stub, a, 10).hold_id
    req = users_pb2.GetHoldRequest(hold_id=hold)
    mine = h.call(wallet_stub.GetHold, req, a.md).hold
    assert h.call(wallet_stub.GetHold, req, admin.md).hold == mine
    assert h.call(wallet_stub.GetHold, req, service_md).hold == mine
    assert mine.created_at_us > 0


def test_get_hold_of_another_users_hold_reads_exactly_like_a_missing_hold(
        wallet_stub, funded, other_bidder, ledger):
    """Regression: another user's hold answered PERMISSION_DENIED "is not
    yours", which told the caller that the hold exists."""
    a = funded(1000)
    hold = reserve(wallet_stub, a, 10).hold_id
    missing = ledger.one("SELECT max(id) FROM holds")[0] + 1000000
    theirs = h.expect_error(NOT_FOUND, wallet_stub.GetHold,
                            users_pb2.GetHoldRequest(hold_id=hold), other_bidder.md)
    absent = h.expect_error(NOT_FOUND, wallet_stub.GetHold,
                            users_pb2.GetHoldRequest(hold_id=missing), other_bidder.md)
    assert theirs.details().replace(str(hold), "N") == absent.details().replace(str(missing), "N")
    assert theirs.details() == "hold %d not found" % hold


def test_get_hold_of_unknown_hold_is_not_found(wallet_stub, admin):
    h.expect_error(NOT_FOUND, wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=2 ** 62),
                   admin.md)


# ---- idempotency keys belong to their caller --------------------------------------------------------

def test_two_users_may_use_the_same_key_each_for_their_own_call(wallet_stub, funded, ledger):
    """Regression: keys were scoped by method only, so the second user's
    call with a key the first had used failed FAILED_PRECONDITION, which
    also told them that someone had used it."""
    a, b = funded(1000), funded(1000)
    key = h.idem()
    ra = h.call(wallet_stub.ReserveFunds, reserve_req(0, 300, key=key), a.md)
    rb = h.call(wallet_stub.ReserveFunds, reserve_req(0, 500, key=key), b.md)
    assert ra.hold_id != rb.hold_id
    assert (ra.balance.user_id, rb.balance.user_id) == (a.id, b.id)
    assert balance(wallet_stub, a.md) == (1000, 300, 700)
    assert balance(wallet_stub, b.md) == (1000, 500, 500)
    # Each retry gets its own caller's first answer, and each caller's key
    # conflicts only with that caller's own request.
    assert h.call(wallet_stub.ReserveFunds, reserve_req(0, 300, key=key), a.md) == ra
    assert h.call(wallet_stub.ReserveFunds, reserve_req(0, 500, key=key), b.md) == rb
    e = h.expect_error(PRECOND, wallet_stub.ReserveFunds, reserve_req(0, 500, key=key), a.md)
    assert e.details() == "idempotency_key %s was already used for a different request" % key
    assert list(ledger.holds(a.id)) == [ra.hold_id]
    assert list(ledger.holds(b.id)) == [rb.hold_id]
    ledger.assert_wallet_consistent(a.id)
    ledger.assert_wallet_consistent(b.id)


def test_another_callers_key_neither_replays_nor_conflicts(wallet_stub, new_account, admin,
                                                           service_md, ledger):
    """Regression: a second staff caller sending the same key and request
    got the first caller's stored answer (and moved no money)."""
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("needs python3-cryptography for a service identity distinct from admin")
    a = new_account()
    req = deposit_req(a.id, 100)
    first = h.call(wallet_stub.Deposit, req, admin.md)
    second = h.call(wallet_stub.Deposit, req, service_md)
    assert second.ledger_tx_id != first.ledger_tx_id
    assert h.balance_tuple(second.balance) == (200, 0, 200)
    assert h.call(wallet_stub.Deposit, req, admin.md) == first
    assert h.call(wallet_stub.Deposit, req, service_md) == second
    other = deposit_req(a.id, 7, key=req.idempotency_key)
    h.expect_error(PRECOND, wallet_stub.Deposit, other, admin.md)
    h.expect_error(PRECOND, wallet_stub.Deposit, other, service_md)
    assert balance(wallet_stub, a.md) == (200, 0, 200)
    ledger.assert_wallet_consistent(a.id)


# ---- the ledger ---------------------------------------------------------------------------------------

def test_ledger_mirrors_balances_through_a_whole_life_cycle(wallet_stub, funded, service_md,
                                                            ledger):
    a = funded(10000)
    h.call(wallet_stub.Deposit, deposit_req(a.id, 5000), service_md)
    h1 = reserve(wallet_stub, a, 3000, lot_id=1).hold_id
    h2 = reserve(wallet_stub, a, 2000, lot_id=2).hold_id
    reserve(wallet_stub, a, 1000, lot_id=3)
    h.call(wallet_stub.ReleaseFunds, release_req(h1), service_md)
    h.call(wallet_stub.CaptureFunds, capture_req(h2, 1500), service_md)
    assert balance(wallet_stub, a.md) == (13500, 1000, 12500)
    assert ledger.assert_wallet_consistent(a.id) == (13500, 1000)
    # Every transaction of this user has at least two entries summing to zero.
    rows = ledger.all("SELECT t.id, count(e.id), SUM(e.amount) FROM ledger_tx t "
                      "JOIN ledger_entries e ON e.tx_id = t.id WHERE t.user_id = %s "
                      "GROUP BY t.id", a.id)
    assert len(rows) == 7
    assert all(n >= 2 and s == 0 for _, n, s in rows), rows
    ledger.assert_balanced()
