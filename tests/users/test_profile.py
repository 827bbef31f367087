"""Users: reading and updating profiles, and who may do which."""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED


def get(users_stub, md, user_id=0):
    return h.call(users_stub.GetProfile, users_pb2.GetProfileRequest(user_id=user_id), md).profile


def update(users_stub, md, mask, **fields):
    return h.call(users_stub.UpdateProfile,
                  users_pb2.UpdateProfileRequest(update_mask=mask, **fields), md).profile


@pytest.fixture(scope="module")
def moderator(users_stub, admin):
    m = h.register(users_stub, users_pb2.ROLE_BIDDER)
    update(users_stub, admin.md, ["role"], user_id=m.id, role=users_pb2.ROLE_MODERATOR)
    resp = h.login(users_stub, m.email, m.password)
    assert resp.profile.role == users_pb2.ROLE_MODERATOR
    return h.Account(m.email, m.password, resp.profile, resp.tokens)


# ---- GetProfile ------------------------------------------------------------------------

def test_get_profile_with_user_id_zero_returns_callers_own(users_stub, bidder):
    p = get(users_stub, bidder.md)
    assert p.user_id == bidder.id
    assert p.email == bidder.email
    assert p.role == users_pb2.ROLE_BIDDER
    assert (p.company, p.phone, p.region) == ("Test Motors", "+7 900 000-00-00", "Moscow")
    assert p.created_at_us > 0
    assert get(users_stub, bidder.md, bidder.id) == p


@pytest.mark.parametrize("who", ["bidder", "seller"])
def test_get_profile_of_another_user_is_denied_to_bidders_and_sellers(users_stub, bidder, seller,
                                                                      other_bidder, who):
    caller = {"bidder": bidder, "seller": seller}[who]
    h.expect_error(DENIED, users_stub.GetProfile,
                   users_pb2.GetProfileRequest(user_id=other_bidder.id), caller.md)


def test_admin_and_moderator_may_read_another_users_profile(users_stub, admin, moderator, bidder):
    own = get(users_stub, bidder.md)
    assert get(users_stub, admin.md, bidder.id) == own
    assert get(users_stub, moderator.md, bidder.id) == own


def test_get_profile_of_unknown_user_is_not_found(users_stub, admin):
    h.expect_error(grpc.StatusCode.NOT_FOUND, users_stub.GetProfile,
                   users_pb2.GetProfileRequest(user_id=2 ** 62), admin.md)


def test_get_profile_with_negative_user_id_is_invalid_or_not_found(users_stub, admin):
    with pytest.raises(grpc.RpcError) as e:
        get(users_stub, admin.md, -5)
    assert e.value.code() in (IA, grpc.StatusCode.NOT_FOUND)
    assert e.value.details()


# ---- UpdateProfile ------------------------------------------------------------------------

def test_update_changes_only_the_masked_fields(users_stub, new_account):
    a = new_account(company="Old Co", phone="111", region="Tver")
    p = update(users_stub, a.md, ["display_name", "phone"], display_name="New Name",
               phone="+7 222", company="Ignored Co", region="Ignored")
    assert (p.display_name, p.phone) == ("New Name", "+7 222")
    assert (p.company, p.region) == ("Old Co", "Tver")
    assert get(users_stub, a.md) == p
    assert p.updated_at_us >= p.created_at_us


def test_update_can_clear_optional_fields(users_stub, new_account):
    a = new_account(company="Old Co", region="Tver")
    p = update(users_stub, a.md, ["company", "region"])
    assert (p.company, p.region) == ("", "")
    assert p.display_name == a.profile.display_name


@pytest.mark.parametrize("mask", [[], ["email"], ["password"], ["bogus"], ["display_name", "nope"],
                                  ["user_id"]],
                         ids=["empty", "email", "password", "unknown", "one-unknown", "user_id"])
def test_update_with_empty_or_unknown_mask_is_invalid_and_changes_nothing(users_stub, new_account,
                                                                          mask):
    a = new_account()
    before = get(users_stub, a.md)
    h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        update_mask=mask, display_name="Changed"), a.md)
    assert get(users_stub, a.md) == before


def test_bidder_cannot_change_own_role(users_stub, new_account):
    a = new_account()
    h.expect_error(DENIED, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        update_mask=["role"], role=users_pb2.ROLE_ADMIN), a.md)
    assert get(users_stub, a.md).role == users_pb2.ROLE_BIDDER
    h.expect_error(DENIED, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        update_mask=["display_name", "role"], display_name="Sneaky", role=users_pb2.ROLE_SELLER),
        a.md)
    p = get(users_stub, a.md)
    assert (p.role, p.display_name) == (users_pb2.ROLE_BIDDER, a.profile.display_name)


@pytest.mark.parametrize("who", ["bidder", "seller"])
def test_user_cannot_update_another_user(users_stub, bidder, seller, new_account, who):
    victim = new_account()
    caller = {"bidder": bidder, "seller": seller}[who]
    h.expect_error(DENIED, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=victim.id, update_mask=["display_name"], display_name="Pwned"), caller.md)
    assert get(users_stub, victim.md).display_name == victim.profile.display_name


def test_moderator_cannot_update_another_user(users_stub, moderator, new_account):
    victim = new_account()
    h.expect_error(DENIED, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=victim.id, update_mask=["display_name"], display_name="Pwned"), moderator.md)
    assert get(users_stub, victim.md).display_name == victim.profile.display_name


def test_admin_changes_another_users_role_and_fields(users_stub, admin, new_account):
    a = new_account()
    p = update(users_stub, admin.md, ["role", "region"], user_id=a.id,
               role=users_pb2.ROLE_SELLER, region="Omsk")
    assert (p.user_id, p.role, p.region) == (a.id, users_pb2.ROLE_SELLER, "Omsk")
    assert get(users_stub, admin.md, a.id) == p
    relogin = h.login(users_stub, a.email, a.password)
    assert relogin.profile.role == users_pb2.ROLE_SELLER
    assert h.jwt_claims(relogin.tokens.access_token)["role"] == "seller"


@pytest.mark.parametrize("role", [users_pb2.ROLE_UNSPECIFIED, users_pb2.ROLE_SERVICE, 42],
                         ids=["unspecified", "service", "unknown-42"])
def test_admin_cannot_set_a_role_no_person_may_hold(users_stub, admin, new_account, role):
    a = new_account()
    h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=a.id, update_mask=["role"], role=role), admin.md, field="role")
    assert get(users_stub, admin.md, a.id).role == users_pb2.ROLE_BIDDER


def test_admin_update_of_unknown_user_is_not_found(users_stub, admin):
    h.expect_error(grpc.StatusCode.NOT_FOUND, users_stub.UpdateProfile,
                   users_pb2.UpdateProfileRequest(user_id=2 ** 62, update_mask=["region"],
                                                  region="X"), admin.md)


INVALID_VALUES = [
    ("display_name", ""), ("display_name", "x" * 101), ("display_name", "Ж" * 101),
    ("company", "c" * 201), ("phone", "7" * 33), ("region", "r" * 101),
]


@pytest.mark.parametrize("field,value", INVALID_VALUES,
                         ids=["name-empty", "name-101", "name-101-cyrillic", "company-201",
                              "phone-33", "region-101"])
def test_update_with_invalid_value_changes_nothing(users_stub, bidder, field, value):
    before = get(users_stub, bidder.md)
    # A valid change riding along must not be applied either.
    other = "region" if field != "region" else "phone"
    h.expect_error(IA, users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        update_mask=[other, field], **{field: value, other: "Changed"}), bidder.md, field=field)
    assert get(users_stub, bidder.md) == before


def test_update_accepts_values_at_their_limits(users_stub, new_account):
    a = new_account()
    p = update(users_stub, a.md, ["display_name", "company", "phone", "region"],
               display_name="Ж" * 100, company="c" * 200, phone="7" * 32, region="r" * 100)
    assert (len(p.display_name), len(p.company), len(p.phone), len(p.region)) == (100, 200, 32, 100)
