"""Malformed requests: empty, huge, invalid UTF-8, out-of-range numbers,
bytes that are not the method's message, unknown methods. Each gets a clear
error and changes nothing; the daemon survives all of it (the autouse
fixture in conftest.py fails a test after which it is dead)."""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import common_pb2, users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
MB = 1024 * 1024
USERS = "/gavel.users.v1.Users/"
WALLET = "/gavel.users.v1.Wallet/"
BAD_UTF8 = b"\xc3\x28\xff\xfe"  # a broken 2-byte sequence, then bytes never valid
PLACEHOLDER = "\u2603QZ"        # 5 bytes, replaced by 5 invalid ones below


@pytest.fixture(scope="module")
def victim(users_stub, wallet_stub, service_md):
    """A bidder with money and an open hold, whose state must never move."""
    a = h.register(users_stub, users_pb2.ROLE_BIDDER, company="Victim Co")
    h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=a.id, amount=h.rub(10000)), service_md)
    a.hold_id = h.call(wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
        idempotency_key=h.idem(), user_id=a.id, lot_id=31337, amount=h.rub(2500)), a.md).hold_id
    return a


@pytest.fixture
def unchanged(users_stub, wallet_stub, victim, ledger):
    """Snapshots the victim's profile, balance, holds and ledger around a test."""
    def snap():
        p = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), victim.md).profile
        b = h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), victim.md).balance
        n_users = ledger.one("SELECT count(*) FROM users")[0]
        return (p, h.balance_tuple(b), ledger.holds(victim.id), ledger.wallet(victim.id),
                ledger.account_sum("user:%d:available" % victim.id), n_users)
    before = snap()
    yield victim
    after = snap()
    assert after[:5] == before[:5], "the victim's state changed"
    assert after[5] == before[5], "users were created by malformed requests"
    ledger.assert_balanced()


def raw_call(users, path, payload, md=None):
    return h.raw_method(users.channel, path)(payload, metadata=md, timeout=h.RPC_TIMEOUT)


def expect_raw(code, users, path, payload, md=None):
    try:
        raw_call(users, path, payload, md)
    except grpc.RpcError as e:
        assert e.code() == code, "%s: expected %s, got %s %r" % (path, code, e.code(), e.details())
        assert e.details(), "%s without a message" % path
        return e
    raise AssertionError("%s: expected %s, got OK" % (path, code))


def with_invalid_utf8(msg):
    """msg serialized, with its one PLACEHOLDER string turned into invalid UTF-8."""
    raw = msg.SerializeToString()
    ph = PLACEHOLDER.encode()
    assert raw.count(ph) == 1 and len(ph) == 5
    return raw.replace(ph, BAD_UTF8 + b"\xff")


# ---- empty requests -----------------------------------------------------------------------

def test_empty_requests_to_methods_with_required_fields_are_invalid(users_stub, wallet_stub,
                                                                     service_md, unchanged):
    v = unchanged
    cases = [
        (users_stub.Register, users_pb2.RegisterRequest(), None),
        (users_stub.Login, users_pb2.LoginRequest(), None),
        (users_stub.Refresh, users_pb2.RefreshRequest(), None),
        (users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(), v.md),
        (wallet_stub.Deposit, users_pb2.DepositRequest(), service_md),
        (wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(), v.md),
        (wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(), service_md),
        (wallet_stub.ReleaseFunds, users_pb2.ReleaseFundsRequest(), service_md),
        (wallet_stub.CaptureFunds, users_pb2.CaptureFundsRequest(), service_md),
        (wallet_stub.GetHold, users_pb2.GetHoldRequest(), v.md),
    ]
    wrong = []
    for method, req, md in cases:
        try:
            h.expect_error(IA, method, req, md)
        except AssertionError as e:
            wrong.append("empty %s: %s" % (type(req).__name__, e))
    assert not wrong, "\n".join(wrong)


def test_empty_requests_mean_the_caller_where_the_contract_says_so(users_stub, wallet_stub,
                                                                   unchanged):
    v = unchanged
    assert h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), v.md).profile.user_id == v.id
    assert h.call(wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), v.md).balance.user_id == v.id
    h.call(users_stub.ListParticipation, users_pb2.ListParticipationRequest(), v.md)
    assert h.call(users_stub.Ping, common_pb2.PingRequest()).server_time_us > 0


# ---- huge strings -------------------------------------------------------------------------

def test_one_megabyte_strings_are_invalid(users_stub, wallet_stub, service_md, unchanged):
    """A string far over its field's limit is refused naming the field while
    the request is within its method's size limit (here 4,000 characters),
    and the whole request is refused before it is read beyond that (1 MB)."""
    v = unchanged
    for big, what in (("a" * 4000, None), ("a" * MB, "accepts at most")):
        reg = dict(email=h.unique_email(), password=h.PASSWORD, role=users_pb2.ROLE_BIDDER,
                   display_name="Big")
        for field, value in (("email", big + "@x.com"), ("display_name", big),
                             ("password", big + "1"), ("company", big), ("phone", big),
                             ("region", big)):
            h.expect_error(IA, users_stub.Register,
                           users_pb2.RegisterRequest(**dict(reg, **{field: value})),
                           field=what or field)
        h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
            update_mask=["display_name"], display_name=big), v.md, field=what or "display_name")
        h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
            update_mask=["display_name", big], display_name="ok"), v.md, field=what)
        h.expect_error(IA, wallet_stub.Deposit, users_pb2.DepositRequest(
            idempotency_key=big, user_id=v.id, amount=h.rub(1)), service_md,
            field=what or "idempotency_key")
        h.expect_error(IA, wallet_stub.Deposit, users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=v.id, amount=h.rub(1), reference=big), service_md,
            field=what or "reference")
        h.expect_error(IA, wallet_stub.Deposit, users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=v.id, amount=h.rub(1, big)), service_md,
            field=what or "currency")
        h.expect_error(IA, wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
            idempotency_key=big, user_id=v.id, lot_id=1, amount=h.rub(1)), v.md,
            field=what or "idempotency_key")
        h.expect_error(IA, wallet_stub.GetBalance, users_pb2.GetBalanceRequest(currency=big),
                       v.md, field=what)


def test_one_megabyte_credentials_are_refused_without_harm(users_stub, unchanged):
    big = "a" * MB
    for req in (users_pb2.LoginRequest(email=big, password=h.PASSWORD),
                users_pb2.LoginRequest(email=unchanged.email, password=big)):
        e = pytest.raises(grpc.RpcError, h.call, users_stub.Login, req).value
        assert e.code() in (IA, grpc.StatusCode.UNAUTHENTICATED) and e.details()
    e = pytest.raises(grpc.RpcError, h.call, users_stub.Refresh,
                      users_pb2.RefreshRequest(refresh_token=big)).value
    assert e.code() in (IA, grpc.StatusCode.UNAUTHENTICATED) and e.details()


def test_oversized_ping_payload_is_invalid(users_stub):
    h.expect_error(IA, users_stub.Ping, common_pb2.PingRequest(payload=b"p" * (64 * 1024 + 1)))


# ---- invalid UTF-8 ---------------------------------------------------------------------------

def _utf8_cases(v):
    def reg(**kw):
        base = dict(email=h.unique_email(), password=h.PASSWORD, role=users_pb2.ROLE_BIDDER,
                    display_name="Name")
        base.update(kw)
        return users_pb2.RegisterRequest(**base)
    P = PLACEHOLDER
    return [
        ("Register.email", USERS + "Register", reg(email="x" + P + "@test.gavel"), "public"),
        ("Register.display_name", USERS + "Register", reg(display_name=P), "public"),
        ("Register.password", USERS + "Register", reg(password="abc12345" + P), "public"),
        ("Register.company", USERS + "Register", reg(company=P), "public"),
        ("Login.email", USERS + "Login", users_pb2.LoginRequest(email=P, password="x"), "public"),
        ("Refresh.refresh_token", USERS + "Refresh", users_pb2.RefreshRequest(refresh_token=P),
         "public"),
        ("UpdateProfile.display_name", USERS + "UpdateProfile", users_pb2.UpdateProfileRequest(
            update_mask=["display_name"], display_name=P), "victim"),
        ("UpdateProfile.update_mask", USERS + "UpdateProfile", users_pb2.UpdateProfileRequest(
            update_mask=[P], display_name="x"), "victim"),
        ("Logout.refresh_token", USERS + "Logout", users_pb2.LogoutRequest(refresh_token=P),
         "victim"),
        ("Deposit.idempotency_key", WALLET + "Deposit", users_pb2.DepositRequest(
            idempotency_key=P, user_id=v.id, amount=h.rub(1)), "service"),
        ("Deposit.reference", WALLET + "Deposit", users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=v.id, amount=h.rub(1), reference=P), "service"),
        ("Deposit.amount.currency", WALLET + "Deposit", users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=v.id, amount=h.rub(1, P)), "service"),
        ("ReserveFunds.idempotency_key", WALLET + "ReserveFunds", users_pb2.ReserveFundsRequest(
            idempotency_key=P, user_id=v.id, lot_id=1, amount=h.rub(1)), "victim"),
        ("CaptureFunds.amount.currency", WALLET + "CaptureFunds", users_pb2.CaptureFundsRequest(
            idempotency_key=h.idem(), hold_id=v.hold_id, amount=h.rub(1, P)), "service"),
        ("ReleaseFunds.idempotency_key", WALLET + "ReleaseFunds", users_pb2.ReleaseFundsRequest(
            idempotency_key=P, hold_id=v.hold_id), "service"),
        ("GetBalance.currency", WALLET + "GetBalance", users_pb2.GetBalanceRequest(currency=P),
         "victim"),
        ("ListParticipation.page_token", USERS + "ListParticipation",
         users_pb2.ListParticipationRequest(page=common_pb2.PageRequest(page_token=P)), "victim"),
    ]


def test_invalid_utf8_in_any_string_field_is_invalid(users, service_md, unchanged):
    v = unchanged
    mds = {"public": None, "victim": v.md, "service": service_md}
    wrong = []
    for name, path, msg, who in _utf8_cases(v):
        try:
            e = expect_raw(IA, users, path, with_invalid_utf8(msg), mds[who])
            field = name.split(".")[-1]
            assert "utf" in e.details().lower() or field in e.details(), e.details()
        except AssertionError as err:
            wrong.append("%s: %s" % (name, err))
    assert not wrong, "\n".join(wrong)


def test_embedded_nul_in_email_is_not_silently_cut(users_stub, ledger):
    # "x@test.gavel\0junk" is not an email address; storing it as
    # "x@test.gavel" would keep something the caller never sent.
    email = h.unique_email("nul")
    h.expect_error(IA, users_stub.Register, users_pb2.RegisterRequest(
        email=email + "\x00junk", password=h.PASSWORD, role=users_pb2.ROLE_BIDDER,
        display_name="Nul"), field="email")
    assert ledger.one("SELECT count(*) FROM users WHERE lower(email) = %s", email)[0] == 0


def test_embedded_nul_in_update_mask_is_not_silently_cut(users_stub, unchanged):
    # "region\0evil" is no field name; cut at the NUL it would read "region".
    h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        update_mask=["region\x00evil"], region="Changed"), unchanged.md)


# ---- numbers out of range ----------------------------------------------------------------------

AMOUNTS = [0, -1, -2 ** 63, 2 ** 63 - 1, 10 ** 15 + 1]


def test_zero_negative_and_overflowing_amounts_are_invalid(wallet_stub, service_md, unchanged):
    v = unchanged
    for units in AMOUNTS:
        h.expect_error(IA, wallet_stub.Deposit, users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=v.id, amount=h.rub(units)), service_md,
            field="amount")
        h.expect_error(IA, wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
            idempotency_key=h.idem(), user_id=v.id, lot_id=1, amount=h.rub(units)), v.md,
            field="amount")
        if units <= 0 or units > 10 ** 15:
            h.expect_error(IA, wallet_stub.CaptureFunds, users_pb2.CaptureFundsRequest(
                idempotency_key=h.idem(), hold_id=v.hold_id, amount=h.rub(units)), service_md,
                field="amount")


def test_deposit_missing_amount_is_invalid(wallet_stub, service_md, unchanged):
    h.expect_error(IA, wallet_stub.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=unchanged.id), service_md, field="amount")


def test_negative_ids_are_refused(wallet_stub, service_md, unchanged):
    v = unchanged
    for method, req in (
            (wallet_stub.Deposit, users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=-v.id,
                                                           amount=h.rub(1))),
            (wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
                idempotency_key=h.idem(), user_id=v.id, lot_id=-1, amount=h.rub(1))),
            (wallet_stub.ReleaseFunds, users_pb2.ReleaseFundsRequest(idempotency_key=h.idem(),
                                                                    hold_id=-v.hold_id)),
            (wallet_stub.GetHold, users_pb2.GetHoldRequest(hold_id=-v.hold_id))):
        e = pytest.raises(grpc.RpcError, h.call, method, req, service_md).value
        assert e.code() in (IA, grpc.StatusCode.NOT_FOUND) and e.details(), e


# ---- bytes that are not the method's message ----------------------------------------------------

AUTHED = {
    "Users/GetProfile": "victim", "Users/UpdateProfile": "victim", "Users/Logout": None,
    "Users/ListParticipation": "victim", "Wallet/Deposit": "service",
    "Wallet/GetBalance": "victim", "Wallet/ReserveFunds": "victim",
    "Wallet/ReleaseFunds": "service", "Wallet/CaptureFunds": "service", "Wallet/GetHold": "victim",
    "Users/Register": "public", "Users/Login": "public", "Users/Refresh": "public",
    "Users/Ping": "public",
}
# Logout is left out of the garbage sweep: a valid token there would be
# revoked if the daemon wrongly accepted the bytes; its own case is below.
GARBAGE = [b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05ab", b"\x08", b"\x80" * 11]


def test_bytes_that_do_not_parse_are_malformed_request(users, service_md, unchanged):
    mds = {"public": None, "victim": unchanged.md, "service": service_md}
    for method, who in AUTHED.items():
        if who is None:
            continue
        for junk in GARBAGE:
            try:
                e = expect_raw(IA, users, "/gavel.users.v1." + method, junk, mds[who])
            except AssertionError as err:
                raise AssertionError("%s with %r: %s" % (method, junk, err))
            assert "malformed" in e.details().lower(), e.details()


def test_garbage_to_logout_is_invalid_and_does_not_log_out(users, users_stub, new_account):
    a = new_account()
    expect_raw(IA, users, USERS + "Logout", b"\xff\xff\xff", a.md)
    assert h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), a.md).profile.user_id == a.id


def test_another_messages_bytes_change_nothing(users, service_md, unchanged):
    v = unchanged
    # A LoginRequest where a Deposit is expected: field 2 (user_id, an
    # int64) arrives length-delimited. Whatever the parser makes of it, it
    # is not a deposit anyone can accept.
    login = users_pb2.LoginRequest(email=h.idem(), password="x" * 10).SerializeToString()
    expect_raw(IA, users, WALLET + "Deposit", login, service_md)
    # A RegisterRequest where a ReserveFunds is expected.
    register = users_pb2.RegisterRequest(email="a@b.c", password="p" * 12, role=1,
                                         display_name="x").SerializeToString()
    expect_raw(IA, users, WALLET + "ReserveFunds", register, v.md)
    # A Money where CaptureFunds is expected parses cleanly: currency lands
    # in idempotency_key ("RUB") and units in hold_id, but amount is missing.
    money = common_pb2.Money(currency="RUB", units=v.hold_id).SerializeToString()
    expect_raw(IA, users, WALLET + "CaptureFunds", money, service_md)


def test_truncated_message_is_malformed(users, service_md, unchanged):
    raw = users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=unchanged.id,
                                   amount=h.rub(100), reference="cut here").SerializeToString()
    for cut in (1, 5, len(raw) - 3):
        e = expect_raw(IA, users, WALLET + "Deposit", raw[:cut], service_md)
        assert "malformed" in e.details().lower(), e.details()


# ---- unknown methods ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [USERS + "DeleteEverything", WALLET + "Transfer",
                                  "/gavel.users.v1.Nope/Register", "/x/y"])
def test_unknown_method_is_unimplemented(users, unchanged, path):
    expect_raw(grpc.StatusCode.UNIMPLEMENTED, users, path, b"", unchanged.md)
