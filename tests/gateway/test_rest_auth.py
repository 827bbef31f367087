"""The token at the edge: every route that needs one answers 401 (with
WWW-Authenticate and the reason) for a missing, malformed, expired,
revoked, unsigned (alg none) or foreign-key token, and such a request never
reaches a service; a valid token acting on another user's wallet, lot or
autobid gets the service's 403/404 and changes nothing."""
import json
import re
import time

import pytest

import gavel_harness as h
from gavel_harness import new_key, rub_json as rub


def unauthenticated_calls(daemons):
    """UNAUTHENTICATED answers the daemons have given so far, all methods."""
    n = 0
    for d in daemons:
        for line in h.metrics_text(d).splitlines():
            if line.startswith("gavel_rpc_requests_total{") and 'code="16"' in line:
                n += float(line.rsplit(" ", 1)[1])
    return n


@pytest.fixture(scope="module")
def people(rest, market):
    p = {"seller": market.seller(), "other_seller": market.seller(),
         "bidder": market.bidder(), "other_bidder": market.bidder()}
    p["lot"] = market.live(p["seller"])
    p["draft"] = market.draft(p["seller"])
    return p


def token_routes(rest):
    doc = rest.ok("GET", "/openapi.json")
    for path, item in sorted(doc["paths"].items()):
        for method, op in item.items():
            if op["security"]:
                yield method.upper(), path.replace("{lot_id}", "1").replace(
                    "{user_id}", "1").replace("{rule_id}", "1").replace("{hold_id}", "1")


def alg_none(claims):
    head = h.b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return head + "." + h.b64url(json.dumps(claims).encode()) + "."


def test_bad_tokens_get_401_at_the_edge_and_reach_no_service(rest, people, users, bids,
                                                             auctions, gateway):
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is needed to sign test tokens")
    now = int(time.time())
    uid = people["bidder"].id
    key = users.env["GAVEL_JWT_PRIVATE_KEY"]
    claims = {"iss": "gavel-users", "sub": str(uid), "role": "bidder", "jti": new_key(),
              "iat": now, "exp": now + 600}
    bad = {
        "missing": None,
        "not bearer": "Basic dXNlcjpwYXNz",
        "empty bearer": "Bearer ",
        "garbage": "Bearer not.a.jwt",
        "expired": "Bearer " + h.user_token(key, uid, "bidder", now - 3600, now - 60),
        "alg none": "Bearer " + alg_none(claims),
        "wrong key": "Bearer " + h.sign_jwt(h.new_ed25519_key(), claims),
        "tampered": "Bearer " + people["bidder"].token[:-4] + "AAAA",
        "service issuer on a person": "Bearer " + h.sign_jwt(
            users.env["GAVEL_SERVICE_KEY"], claims),
    }
    before_edge = h.metric_value(gateway, "gavel_gateway_edge_auth_refused_total")
    before = unauthenticated_calls([users, bids, auctions])
    n = 0
    for method, path in token_routes(rest):
        for what, auth in bad.items():
            headers = {"Idempotency-Key": new_key()}
            if auth is not None:
                headers["Authorization"] = auth
            a = rest.call(method, path, {} if method in ("POST", "PUT", "PATCH") else None,
                          headers=headers)
            assert a.status == 401, (what, method, path, a)
            assert a.error["code"] == "unauthenticated" and a.error["message"], a
            assert a.header("www-authenticate") == "Bearer", a.headers
            n += 1
    assert h.metric_value(gateway, "gavel_gateway_edge_auth_refused_total") - before_edge == n
    # None of the edge's refusals reached a service...
    assert unauthenticated_calls([users, bids, auctions]) == before
    # ...and one that does is counted (the count above is live).
    stub = h.users_pb2_grpc.UsersStub(users.channel)
    h.expect_error(h.grpc.StatusCode.UNAUTHENTICATED, stub.GetProfile,
                   h.users_pb2.GetProfileRequest(), h.bearer("not.a.jwt"))
    assert unauthenticated_calls([users, bids, auctions]) == before + 1


def test_expired_token_says_so(rest, people, users):
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is needed to sign test tokens")
    now = int(time.time())
    tok = h.user_token(users.env["GAVEL_JWT_PRIVATE_KEY"], people["bidder"].id, "bidder",
                       now - 3600, now - 60)
    a = rest.call("GET", "/api/v1/me", token=tok)
    assert a.status == 401 and "expired" in a.error["message"], a
    fresh = h.user_token(users.env["GAVEL_JWT_PRIVATE_KEY"], people["bidder"].id, "bidder",
                         now, now + 600)
    a = rest.call("GET", "/api/v1/me", token=fresh)
    assert a.status == 200, a


def test_token_revoked_by_logout_is_refused_at_the_edge(rest, market):
    b = rest.register()
    assert rest.call("GET", "/api/v1/me", token=b.token).status == 200
    rest.ok("POST", "/api/v1/auth/logout", {"refreshToken": b.tokens["refreshToken"]}, b.token)
    # A "not revoked" answer is believed for GAVEL_AUTH_REVOCATION_CACHE_MS (1 s).
    h.wait_until(lambda: rest.call("GET", "/api/v1/me", token=b.token).status == 401, 5,
                 what="the revoked token refused")
    for path in ("/api/v1/me", "/api/v1/wallet", "/api/v1/categories"):
        a = rest.call("GET", path, token=b.token)
        assert a.status == 401 and "revoked" in a.error["message"], (path, a)
    a = rest.call("POST", "/api/v1/auth/refresh", {"refreshToken": b.tokens["refreshToken"]})
    assert a.status == 401, a


def test_another_users_wallet_lot_autobid_and_hold_are_out_of_reach(rest, people, market,
                                                                    ledger):
    seller, other_seller = people["seller"], people["other_seller"]
    bidder, other = people["bidder"], people["other_bidder"]
    lot = people["lot"]["id"]
    # The bidder sets an autobid (a bid and a hold follow).
    rest.ok("PUT", "/api/v1/lots/%s/autobid" % lot, {"maxAmount": rub(10 ** 6)}, bidder.token,
            headers={"Idempotency-Key": new_key()})
    wallet = rest.ok("GET", "/api/v1/wallet", token=bidder.token)["balance"]
    state = market.state(lot, bidder.token)
    draft = rest.ok("GET", "/api/v1/lots/%s" % people["draft"]["id"], token=seller.token)["lot"]
    hold_id = max(ledger.holds(bidder.id))

    a = rest.call("GET", "/api/v1/users/%d/wallet" % bidder.id, token=other.token)
    assert a.status == 403, a
    a = rest.call("POST", "/api/v1/users/%d/wallet/deposits" % other.id,
                  {"amount": rub(10 ** 9)}, token=other.token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 403, a
    a = rest.call("GET", "/api/v1/wallet/holds/%d" % hold_id, token=other.token)
    assert a.status in (403, 404), a
    a = rest.call("PATCH", "/api/v1/lots/%s" % draft["id"],
                  {"updateMask": ["title"], "lot": {"title": "Hijacked"}},
                  token=other_seller.token)
    assert a.status == 404, a
    a = rest.call("POST", "/api/v1/lots/%s/cancel" % draft["id"], {"reason": "mine now"},
                  token=other_seller.token)
    assert a.status == 404, a
    a = rest.call("GET", "/api/v1/lots/%s" % draft["id"], token=other_seller.token)
    assert a.status == 404, a  # a draft is its owner's
    a = rest.call("DELETE", "/api/v1/lots/%s/autobid" % lot, token=other.token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 404, a
    a = rest.call("PATCH", "/api/v1/users/%d" % bidder.id,
                  {"updateMask": ["display_name"], "displayName": "Not me"}, token=other.token)
    assert a.status == 403, a
    a = rest.call("GET", "/api/v1/users/%d/participation" % bidder.id, token=other.token)
    assert a.status == 403, a
    a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, {"amount": state["nextMinBid"]},
                  token=seller.token, headers={"Idempotency-Key": new_key()})
    assert a.status == 403, a  # a seller does not bid

    assert rest.ok("GET", "/api/v1/wallet", token=bidder.token)["balance"] == wallet
    got = rest.ok("GET", "/api/v1/lots/%s/state" % lot, token=bidder.token)
    assert got["state"]["seq"] == state["seq"] and got["callerAutobid"]["status"] == \
        "AUTO_BID_STATUS_ACTIVE"
    after = rest.ok("GET", "/api/v1/lots/%s" % draft["id"], token=seller.token)["lot"]
    assert after["title"] == draft["title"] and after["state"] == "LOT_STATE_DRAFT"
    assert after["updatedAtUs"] == draft["updatedAtUs"]
    assert rest.ok("GET", "/api/v1/me", token=bidder.token)["profile"]["displayName"] == \
        bidder.profile["displayName"]


def test_public_routes_ignore_any_token_and_use_the_gateways_identity(rest, people):
    b = people["bidder"]
    a = rest.call("POST", "/api/v1/auth/login", {"email": b.email, "password": h.PASSWORD},
                  token="garbage")
    assert a.status == 200, a
    a = rest.call("POST", "/api/v1/auth/login", {"email": b.email, "password": "wrong-pass-1"})
    assert a.status == 401 and re.search("password|credentials", a.error["message"]), a


def test_users_service_sees_the_real_client_address_of_a_login(rest, people, stack, users):
    """The gateway sends Login with its service identity and the client's
    address (x-client-addr): the users throttle counts the browser, not the
    gateway. A gateway on ::1 makes the two differ (it reaches users from
    127.0.0.1)."""
    d = h.Gateway(stack)
    d.env.update({"GAVEL_GATEWAY_BIND": "::1", "GAVEL_GATEWAY_PORT": str(d.port + 70),
                  "GAVEL_GATEWAY_ADDR": "127.0.0.1:%d" % (d.port + 71),
                  "GAVEL_METRICS_PORT": "0"})
    d.addr = d.env["GAVEL_GATEWAY_ADDR"]
    d.start()
    try:
        rid = "gw-client-addr-%d" % time.time_ns()
        import http.client
        conn = http.client.HTTPConnection("::1", d.port, timeout=10 * h.SLOW)
        a = h.http_request(conn, "POST", "/api/v1/auth/login",
                           {"email": people["bidder"].email, "password": "wrong-pass-123"},
                           headers={"X-Request-Id": rid})
        conn.close()
        assert a.status == 401, a

        def logged():
            return [ln for ln in users.log_text().splitlines()
                    if rid in ln and "login failed" in ln]
        line = h.wait_until(logged, 10, what="the users service's failed-login line")[0]
        assert "client ::1" in line, line
    finally:
        d.stop()
