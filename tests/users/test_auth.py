"""Users: registration, login, tokens, refresh rotation and logout."""
import json
import time

import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
UNAUTH = grpc.StatusCode.UNAUTHENTICATED


def reg(users_stub, **kw):
    kw.setdefault("email", h.unique_email())
    kw.setdefault("password", h.PASSWORD)
    kw.setdefault("role", users_pb2.ROLE_BIDDER)
    kw.setdefault("display_name", "Dealer")
    return users_pb2.RegisterRequest(**kw)


def can_login(users_stub, email, password=h.PASSWORD):
    return h.code_of(lambda: h.login(users_stub, email, password)) == grpc.StatusCode.OK


# ---- Register ---------------------------------------------------------------------------

def test_register_returns_profile_with_id_and_lowercased_email(users_stub):
    email = "Mixed.Case-%s@Example.COM" % h.idem()[2:14]
    resp = h.call(users_stub.Register, reg(users_stub, email=email, display_name="Ivan",
                                            company="Auto LLC", phone="+7 999", region="Kazan",
                                            role=users_pb2.ROLE_SELLER))
    p = resp.profile
    assert p.user_id > 0
    assert p.email == email.lower()
    assert p.role == users_pb2.ROLE_SELLER
    assert (p.display_name, p.company, p.phone, p.region) == ("Ivan", "Auto LLC", "+7 999", "Kazan")
    assert can_login(users_stub, email.lower())


def test_register_twice_with_email_differing_only_in_case_is_already_exists(users_stub):
    local = "dup-" + h.idem()[2:14]
    h.call(users_stub.Register, reg(users_stub, email="%s@x.com" % local.upper()))
    h.expect_error(grpc.StatusCode.ALREADY_EXISTS, users_stub.Register,
                   reg(users_stub, email="%s@X.COM" % local.lower(), password="other-pass-99"))
    # The first account's password still works, the second never took hold.
    assert can_login(users_stub, "%s@x.com" % local)
    assert not can_login(users_stub, "%s@x.com" % local, "other-pass-99")


BAD_EMAILS = ["", "plainaddress", "@no-local.com", "no-domain@", "two@@ats.com",
              "a" * 250 + "@x.com"]


@pytest.mark.parametrize("email", BAD_EMAILS, ids=["empty", "no-at", "no-local",
                                                    "no-domain", "double-at", "256-bytes"])
def test_register_rejects_malformed_email(users_stub, email):
    h.expect_error(IA, users_stub.Register, reg(users_stub, email=email), field="email")


def test_register_accepts_254_byte_email(users_stub):
    local = "e" + h.idem()[2:12]
    domain = ".".join(c * 60 for c in "abc") + "."
    domain += "d" * (254 - len(local) - 1 - len(domain) - len(".gavel")) + ".gavel"
    email = local + "@" + domain
    assert len(email) == 254
    p = h.call(users_stub.Register, reg(users_stub, email=email)).profile
    assert p.email == email


BAD_PASSWORDS = {
    "9-bytes": "abcd12345",
    "129-bytes": "a1" * 64 + "b",
    "no-digit": "onlyletters-here",
    "no-letter": "1234567890123",
    "empty": "",
}


@pytest.mark.parametrize("password", BAD_PASSWORDS.values(), ids=BAD_PASSWORDS.keys())
def test_register_rejects_password_outside_policy(users_stub, password):
    email = h.unique_email()
    h.expect_error(IA, users_stub.Register, reg(users_stub, email=email, password=password),
                   field="password")
    assert not can_login(users_stub, email, password or "x")


def test_register_accepts_passwords_at_policy_bounds(users_stub):
    for pw in ("abcdefgh12", "a1" * 64):
        email = h.unique_email()
        h.call(users_stub.Register, reg(users_stub, email=email, password=pw))
        assert can_login(users_stub, email, pw)


@pytest.mark.parametrize("role", [users_pb2.ROLE_ADMIN, users_pb2.ROLE_MODERATOR,
                                  users_pb2.ROLE_SERVICE, users_pb2.ROLE_UNSPECIFIED, 99],
                         ids=["admin", "moderator", "service", "unspecified", "unknown-99"])
def test_register_refuses_roles_other_than_bidder_and_seller(users_stub, ledger, role):
    email = h.unique_email("role")
    h.expect_error(IA, users_stub.Register, reg(users_stub, email=email, role=role),
                   field="role")
    assert ledger.one("SELECT count(*) FROM users WHERE lower(email) = %s", email)[0] == 0


FIELD_LIMITS = [("display_name", 100), ("company", 200), ("phone", 32), ("region", 100)]


@pytest.mark.parametrize("field,limit", FIELD_LIMITS, ids=[f for f, _ in FIELD_LIMITS])
def test_register_limits_optional_fields_in_characters(users_stub, field, limit):
    # Cyrillic letters are two bytes each: the limit counts characters.
    ok = h.call(users_stub.Register, reg(users_stub, **{field: "Ж" * limit})).profile
    assert getattr(ok, field) == "Ж" * limit
    email = h.unique_email()
    h.expect_error(IA, users_stub.Register, reg(users_stub, email=email, **{field: "Ж" * (limit + 1)}),
                   field=field)
    assert not can_login(users_stub, email)


def test_register_requires_display_name(users_stub):
    h.expect_error(IA, users_stub.Register, reg(users_stub, display_name=""), field="display_name")


# ---- Login ----------------------------------------------------------------------------------

def test_login_issues_access_jwt_with_subject_role_expiry_and_issuer(users, users_stub, bidder):
    ttl = int(users.env.get("GAVEL_ACCESS_TTL_S", "900"))
    before = time.time()
    resp = h.login(users_stub, bidder.email, bidder.password)
    t = resp.tokens
    assert resp.profile.user_id == bidder.id
    assert len(t.access_token.split(".")) == 3
    claims = h.jwt_claims(t.access_token)
    assert claims["sub"] == str(bidder.id)
    assert claims["role"] == "bidder"
    assert claims["iss"] == "gavel-users"
    assert before + ttl - 60 <= claims["exp"] <= time.time() + ttl + 60
    assert t.refresh_token and t.refresh_token != t.access_token
    now_us = time.time() * 1e6
    assert t.access_expires_at_us > now_us
    assert t.refresh_expires_at_us > now_us
    # The token is accepted for the account it names.
    me = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(),
                h.bearer(t.access_token)).profile
    assert me.user_id == bidder.id


def test_login_with_email_in_other_case_succeeds(users_stub, bidder):
    resp = h.login(users_stub, bidder.email.upper(), bidder.password)
    assert resp.profile.user_id == bidder.id


def test_login_wrong_password_and_unknown_email_fail_alike(users_stub, bidder):
    wrong = h.expect_error(UNAUTH, users_stub.Login,
                           users_pb2.LoginRequest(email=bidder.email, password="wrong-pass-1"))
    unknown = h.expect_error(UNAUTH, users_stub.Login,
                             users_pb2.LoginRequest(email=h.unique_email(),
                                                    password="wrong-pass-1"))
    assert wrong.details() == unknown.details()


# ---- tokens on authenticated methods ------------------------------------------------------

def _authenticated_calls(users_stub, wallet_stub):
    u, w = users_stub, wallet_stub
    return {
        "GetProfile": (u.GetProfile, users_pb2.GetProfileRequest()),
        "UpdateProfile": (u.UpdateProfile, users_pb2.UpdateProfileRequest(
            update_mask=["display_name"], display_name="Hacked")),
        "Logout": (u.Logout, users_pb2.LogoutRequest()),
        "ListParticipation": (u.ListParticipation, users_pb2.ListParticipationRequest()),
        "Deposit": (w.Deposit, users_pb2.DepositRequest(idempotency_key=h.idem(), user_id=1,
                                                        amount=h.rub(100))),
        "GetBalance": (w.GetBalance, users_pb2.GetBalanceRequest()),
        "ReserveFunds": (w.ReserveFunds, users_pb2.ReserveFundsRequest(
            idempotency_key=h.idem(), user_id=1, lot_id=1, amount=h.rub(1))),
        "ReleaseFunds": (w.ReleaseFunds, users_pb2.ReleaseFundsRequest(
            idempotency_key=h.idem(), hold_id=1)),
        "CaptureFunds": (w.CaptureFunds, users_pb2.CaptureFundsRequest(
            idempotency_key=h.idem(), hold_id=1, amount=h.rub(1))),
        "GetHold": (w.GetHold, users_pb2.GetHoldRequest(hold_id=1)),
    }


METHODS = ["GetProfile", "UpdateProfile", "Logout", "ListParticipation", "Deposit",
           "GetBalance", "ReserveFunds", "ReleaseFunds", "CaptureFunds", "GetHold"]


def _bad_token(users, bidder, kind):
    """Metadata carrying a token of the given kind of badness (None: none)."""
    now = int(time.time())
    makers = {
        "none": lambda: None,
        "empty-bearer": lambda: (("authorization", "Bearer "),),
        "not-bearer": lambda: (("authorization", "Basic dXNlcjpwYXNz"),),
        "garbage": lambda: h.bearer("garbage.token.here"),
        "random-bytes-b64": lambda: h.bearer(h.b64url(b"x" * 300)),
        "alg-none": lambda: h.bearer(
            h.b64url(b'{"alg":"none","typ":"JWT"}') + "." +
            h.b64url(b'{"sub":"%d","role":"admin","iss":"gavel-users"}' % bidder.id) + "."),
        "tampered-role": lambda: h.bearer(_tamper(bidder.tokens.access_token, role="admin")),
        "other-key": lambda: h.bearer(h.user_token(h.new_ed25519_key(), bidder.id, "admin",
                                                   now, now + 900)),
        "expired": lambda: h.bearer(h.user_token(users.env["GAVEL_JWT_PRIVATE_KEY"], bidder.id,
                                                 "bidder", now - 1000, now - 100)),
        # The service key vouches for daemons only, never for a person.
        "service-key-person": lambda: h.bearer(h.user_token(
            users.env["GAVEL_SERVICE_KEY"], bidder.id, "admin", now, now + 900,
            iss="gavel-service")),
    }
    return makers[kind]()


def _tamper(token, **changes):
    head, body, sig = token.split(".")
    claims = h.jwt_claims(token)
    claims.update(changes)
    return head + "." + h.b64url(json.dumps(claims).encode()) + "." + sig


BAD = ["none", "empty-bearer", "not-bearer", "garbage", "random-bytes-b64", "alg-none",
       "tampered-role", "other-key", "expired", "service-key-person"]
NEEDS_KEYS = {"other-key", "expired", "service-key-person"}


@pytest.mark.parametrize("kind", BAD)
def test_every_authenticated_method_refuses_missing_or_bad_token(users, users_stub, wallet_stub,
                                                                 bidder, ledger, kind):
    if kind in NEEDS_KEYS and not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is not installed: cannot sign test tokens")
    md = _bad_token(users, bidder, kind)
    before = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), bidder.md).profile
    for name, (method, req) in _authenticated_calls(users_stub, wallet_stub).items():
        try:
            h.expect_error(UNAUTH, method, req, md)
        except AssertionError as e:
            raise AssertionError("%s with %s token: %s" % (name, kind, e))
    after = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), bidder.md).profile
    assert after == before
    # The bidder's own token still works: the bad ones revoked nothing.


def test_service_token_is_accepted_for_staff_calls(users_stub, wallet_stub, service_md, bidder):
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is not installed: cannot sign a service token")
    p = h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(user_id=bidder.id),
               service_md).profile
    assert p.user_id == bidder.id


# ---- Refresh ---------------------------------------------------------------------------------

def _refresh(users_stub, token):
    return h.call(users_stub.Refresh, users_pb2.RefreshRequest(refresh_token=token)).tokens


def _works(users_stub, access):
    return h.code_of(lambda: h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(),
                                    h.bearer(access)))


def test_refresh_rotates_to_a_new_working_pair(users_stub, new_account):
    a = new_account()
    t2 = _refresh(users_stub, a.tokens.refresh_token)
    assert t2.refresh_token != a.tokens.refresh_token
    assert t2.access_token != a.tokens.access_token
    assert h.jwt_claims(t2.access_token)["sub"] == str(a.id)
    assert _works(users_stub, t2.access_token) == grpc.StatusCode.OK
    t3 = _refresh(users_stub, t2.refresh_token)
    assert _works(users_stub, t3.access_token) == grpc.StatusCode.OK


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(users_stub, new_account):
    a = new_account()
    # A second, independent login of the same user: another family.
    other = h.login(users_stub, a.email, a.password).tokens
    t1 = a.tokens
    t2 = _refresh(users_stub, t1.refresh_token)
    t3 = _refresh(users_stub, t2.refresh_token)
    # t1.refresh was stolen and replayed.
    h.expect_error(UNAUTH, users_stub.Refresh,
                   users_pb2.RefreshRequest(refresh_token=t1.refresh_token))
    # The legitimate latest refresh token is dead too ...
    h.expect_error(UNAUTH, users_stub.Refresh,
                   users_pb2.RefreshRequest(refresh_token=t3.refresh_token))
    # ... and so is every access token of the family, oldest to newest.
    for t in (t1, t2, t3):
        assert _works(users_stub, t.access_token) == UNAUTH
    # The other login is untouched.
    assert _works(users_stub, other.access_token) == grpc.StatusCode.OK
    t_other = _refresh(users_stub, other.refresh_token)
    assert _works(users_stub, t_other.access_token) == grpc.StatusCode.OK


def test_refresh_with_unknown_or_garbage_token_is_unauthenticated(users_stub, bidder):
    for tok in ("no-such-token", "x" * 64, bidder.tokens.access_token):
        h.expect_error(UNAUTH, users_stub.Refresh, users_pb2.RefreshRequest(refresh_token=tok))


# ---- Logout ------------------------------------------------------------------------------------

def test_logout_revokes_the_access_token_everywhere(users_stub, wallet_stub, new_account):
    a = new_account()
    h.call(users_stub.Logout, users_pb2.LogoutRequest(), a.md)
    for name, (method, req) in _authenticated_calls(users_stub, wallet_stub).items():
        try:
            h.expect_error(UNAUTH, method, req, a.md)
        except AssertionError as e:
            raise AssertionError("%s after logout: %s" % (name, e))


def test_logout_with_refresh_token_stops_it_refreshing(users_stub, new_account):
    a = new_account()
    h.call(users_stub.Logout, users_pb2.LogoutRequest(refresh_token=a.tokens.refresh_token), a.md)
    h.expect_error(UNAUTH, users_stub.Refresh,
                   users_pb2.RefreshRequest(refresh_token=a.tokens.refresh_token))


def test_logout_without_refresh_token_leaves_other_sessions_working(users_stub, new_account):
    a = new_account()
    second = h.login(users_stub, a.email, a.password).tokens
    h.call(users_stub.Logout, users_pb2.LogoutRequest(), a.md)
    assert _works(users_stub, a.tokens.access_token) == UNAUTH
    assert _works(users_stub, second.access_token) == grpc.StatusCode.OK


def test_logout_survives_a_daemon_restart(users, users_stub, new_account):
    a = new_account()
    h.call(users_stub.Logout, users_pb2.LogoutRequest(refresh_token=a.tokens.refresh_token), a.md)
    users.restart()
    assert _works(users_stub, a.tokens.access_token) == UNAUTH
    h.expect_error(UNAUTH, users_stub.Refresh,
                   users_pb2.RefreshRequest(refresh_token=a.tokens.refresh_token))
    # A fresh login after the restart works.
    fresh = h.login(users_stub, a.email, a.password).tokens
    assert _works(users_stub, fresh.access_token) == grpc.StatusCode.OK


def test_request_id_metadata_is_accepted(users_stub, bidder):
    md = bidder.md + (("x-request-id", "0123456789abcdef0123456789abcdef"),)
    assert h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(), md).profile.user_id == \
        bidder.id
