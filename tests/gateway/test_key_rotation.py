"""Rotating the JWT signing key without logging anyone out (docs/operations.md,
"Rotating the JWT keys"): once every verifier holds the old and the new
public key in one file, a users instance signing with the new key and one
still signing with the old both mint tokens the whole system accepts, so the
rolling restart that swaps the key answers no call 401.

Spare daemons beside the session's: a users instance with the new private
key and a gateway in front of it, both verifying with the ring."""
import subprocess

import pytest

import gavel_harness as h


def new_pair(dirpath, stem):
    key, pub = dirpath / (stem + ".key"), dirpath / (stem + ".pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ED25519", "-out", str(key)],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)],
                   check=True, capture_output=True)
    return key, pub


@pytest.fixture(scope="module")
def rotation(stack, users, gateway, rest, tmp_path_factory):
    d = tmp_path_factory.mktemp("jwt-rotation")
    new_key, new_pub = new_pair(d, "jwt-new")
    old_pub = users.env["GAVEL_JWT_PUBLIC_KEY"]
    ring = d / "jwt-ring.pub"
    ring.write_text(new_pub.read_text() + open(old_pub).read())
    spares = h.Spares(stack)
    new_users = spares.start("users", "rotation", base_env=users.env,
                             GAVEL_JWT_PRIVATE_KEY=str(new_key),
                             GAVEL_JWT_PUBLIC_KEY=str(ring))
    ring_gw = spares.start("gateway", "rotation", base_env=gateway.env,
                           GAVEL_USERS_ADDR=new_users.addr,
                           GAVEL_JWT_PUBLIC_KEY=str(ring))
    new_only_gw = spares.start("gateway", "rotation-new-only", base_env=gateway.env,
                               GAVEL_USERS_ADDR=new_users.addr,
                               GAVEL_JWT_PUBLIC_KEY=str(new_pub))
    yield h.Rest(ring_gw), h.Rest(new_only_gw)
    spares.stop_all()


def test_tokens_of_the_old_and_the_new_key_both_work(rest, rotation):
    ring_rest, new_only_rest = rotation
    account = rest.register()                       # signed by the session's users: old key
    old_token = account.token
    new = ring_rest.login(account.email, account.password)  # signed by the new key
    assert new.token != old_token
    for token in (old_token, new.token):
        a = ring_rest.call("GET", "/api/v1/me", token=token)
        assert a.status == 200, a
        assert int(a.json["profile"]["userId"]) == account.id
    # the session's gateway knows only the old key: the new token is refused
    # there, which is the window the ring closes
    a = rest.call("GET", "/api/v1/me", token=new.token)
    assert a.status == 401, a
    a = new_only_rest.call("GET", "/api/v1/me", token=old_token)
    assert a.status == 401, a


def test_refresh_through_the_new_key_keeps_the_session(rest, rotation):
    ring_rest, _ = rotation
    account = rest.register()
    got = ring_rest.ok("POST", "/api/v1/auth/refresh",
                       {"refreshToken": account.tokens["refreshToken"]})
    a = ring_rest.call("GET", "/api/v1/me", token=got["tokens"]["accessToken"])
    assert a.status == 200, a
