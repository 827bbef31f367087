"""Bad input through the gateway, route by route: malformed JSON (400 naming
the position), values of the wrong type and unknown fields (400 naming the
field), missing required fields (the service's 400 naming the field),
bodies over the limit (413 saying the limit), bad path and query
parameters; and the HTTP edges: 404, 405 with Allow, request ids, CORS,
keep-alive, the client's deadline. Nothing a refused request carried
changes anything."""
import json
import socket
import time

import pytest

import gavel_harness as h
from gavel_harness import new_key, rub_json as rub

MAX_BODY = 1048576  # GAVEL_GATEWAY_MAX_BODY's default, which the fixture keeps


@pytest.fixture(scope="module")
def ctx(rest, market, gw_admin, gw_moderator):
    c = {"admin": gw_admin, "moderator": gw_moderator}
    c["seller"] = market.seller()
    c["bidder"] = market.bidder()
    c["live"] = market.live(c["seller"])
    c["draft"] = market.draft(c["seller"])
    c["approved"] = market.approved(c["seller"])
    review = market.draft(c["seller"])
    rest.ok("POST", "/api/v1/lots/%s/submit" % review["id"], None, c["seller"].token)
    c["review"] = review
    c["rule"] = rest.ok("POST", "/api/v1/price-rules",
                        {"service": "promotion", "priority": 1, "coefficientPermille": 1100,
                         "make": "Errors%d" % time.time_ns()}, gw_admin.token)["rule"]
    c["doc"] = rest.ok("GET", "/openapi.json")
    return c


# Who calls each route in the matrix, and which lot fills {lot_id}: a call
# must get past its role and state checks to reach the field checks.
CALLER = {
    "/api/v1/lots/{lot_id}/bids": ("bidder", "live"),
    "/api/v1/lots/{lot_id}/autobid": ("bidder", "live"),
    "/api/v1/lots/{lot_id}/state": ("bidder", "live"),
    "/api/v1/lots/{lot_id}/moderation": ("moderator", "review"),
    "/api/v1/lots/{lot_id}/schedule": ("seller", "approved"),
    "/api/v1/lots/{lot_id}/submit": ("seller", "draft"),
    "/api/v1/lots/{lot_id}/cancel": ("seller", "draft"),
    "/api/v1/lots/{lot_id}": ("seller", "draft"),
    "/api/v1/lots": ("seller", None),
    "/api/v1/quotes": ("seller", None),
    "/api/v1/lots/{lot_id}/quote": ("seller", "draft"),
}

# Routes whose empty body ({}) lacks a required field, and the field the
# service names.
REQUIRED = {
    ("POST", "/api/v1/auth/register"): "email",
    ("POST", "/api/v1/auth/login"): "email",
    ("POST", "/api/v1/auth/refresh"): "refresh_token",
    ("PATCH", "/api/v1/me"): "update_mask",
    ("PATCH", "/api/v1/users/{user_id}"): "update_mask",
    ("POST", "/api/v1/users/{user_id}/wallet/deposits"): "amount",
    ("POST", "/api/v1/categories"): "name",
    ("PATCH", "/api/v1/lots/{lot_id}"): "lot",
    ("POST", "/api/v1/lots/{lot_id}/moderation"): "decision",
    ("POST", "/api/v1/lots/{lot_id}/schedule"): "starts_at",
    ("POST", "/api/v1/lots/{lot_id}/cancel"): "reason",
    ("POST", "/api/v1/quotes"): "subject",
    ("POST", "/api/v1/price-rules"): "adjustment",
    ("PATCH", "/api/v1/price-rules/{rule_id}"): "update_mask",
    ("POST", "/api/v1/lots/{lot_id}/bids"): "amount",
    ("PUT", "/api/v1/lots/{lot_id}/autobid"): "max_amount",
}


def norm(s):
    return s.lower().replace("_", "")


def concrete(c, path):
    who, lot = CALLER.get(path, ("admin", "live"))
    p = path.replace("{lot_id}", c[lot]["id"] if lot else "0")
    p = p.replace("{user_id}", str(c["bidder"].id)).replace("{rule_id}", c["rule"]["id"])
    p = p.replace("{hold_id}", "1").replace("{subscription_id}", "1")
    p = p.replace("{webhook_id}", "1").replace("{payment_id}", "1").replace("{stream_id}", "1")
    token = None if path.startswith("/api/v1/auth/") and not path.endswith("logout") \
        else c[who].token
    return p, token


def operations(c, with_body, decoded=True):
    """The API's operations with (or without) a body; decoded: only those
    whose JSON body the gateway decodes into a request message (not the
    provider's webhook, passed on byte for byte: test_rest_routes.py and
    tests/payments/test_webhook.py try its bad input)."""
    out = []
    for path, item in sorted(c["doc"]["paths"].items()):
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {})
            if body and "application/json" not in body:
                continue  # a raw upload (test_media.py)
            if decoded and body and "$ref" not in body["application/json"]["schema"]:
                continue
            if path.startswith("/api/") and ("requestBody" in op) == with_body:
                out.append((method.upper(), path, op))
    return out


def body_schema(c, op):
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return c["doc"]["components"]["schemas"][ref.split("/")[-1]]


def wrong_value(c, prop):
    """A JSON value of another type than the property's."""
    ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
    target = c["doc"]["components"]["schemas"].get(ref.split("/")[-1]) if ref else None
    is_object = prop.get("type") == "object" or (target is not None and "enum" not in target)
    if prop.get("type") == "array":
        return {"not": "an array"}
    return "not an object" if is_object else {"not": "a scalar"}


def keys(method):
    return {"Idempotency-Key": new_key()} if method in ("POST", "PUT", "DELETE") else {}


def test_malformed_json_is_refused_naming_the_position(rest, ctx):
    for method, path, op in operations(ctx, True):
        p, token = concrete(ctx, path)
        a = rest.call(method, p, raw=b'{"amount": {"units": "5",', token=token,
                      headers=dict(keys(method), **{"Content-Type": "application/json"}))
        assert a.status == 400, (method, path, a)
        assert "position" in a.error["message"] and "line 1" in a.error["message"], (path, a)


def test_wrong_types_are_refused_naming_the_field(rest, ctx):
    for method, path, op in operations(ctx, True):
        p, token = concrete(ctx, path)
        props = body_schema(ctx, op)["properties"]
        for name in list(props)[:3]:
            a = rest.call(method, p, {name: wrong_value(ctx, props[name])}, token=token,
                          headers=keys(method))
            assert a.status == 400, (method, path, name, a)
            assert norm(name) in norm(a.error["message"]), (method, path, name, a)
        a = rest.call(method, p, raw=b"[1, 2]", token=token,
                      headers=dict(keys(method), **{"Content-Type": "application/json"}))
        assert a.status == 400, (method, path, a)


def test_unknown_fields_are_refused_naming_them(rest, ctx):
    for method, path, op in operations(ctx, True):
        p, token = concrete(ctx, path)
        a = rest.call(method, p, {"noSuchField": 1}, token=token, headers=keys(method))
        assert a.status == 400 and "noSuchField" in a.error["message"], (method, path, a)


def test_missing_required_fields_are_refused_naming_them(rest, ctx):
    ops = {(m, p) for m, p, _ in operations(ctx, True)}
    assert set(REQUIRED) <= ops, sorted(set(REQUIRED) - ops)
    for (method, path), field in REQUIRED.items():
        p, token = concrete(ctx, path)
        a = rest.call(method, p, {}, token=token, headers=keys(method))
        assert a.status == 400, (method, path, a)
        assert norm(field) in norm(a.error["message"]), (method, path, field, a)


def raw_exchange(gateway, data, read_timeout=10):
    """Sends bytes on a fresh connection; returns what comes back until the
    server closes or read_timeout passes."""
    with socket.create_connection((gateway.host, gateway.port), timeout=read_timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                out += got
        except socket.timeout:
            pass
        return out


def test_bodies_over_the_limit_get_413_naming_the_limit_before_the_body_is_read(
        rest, ctx, gateway):
    for method, path, op in operations(ctx, True, decoded=False):
        p, token = concrete(ctx, path)
        head = ("%s %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n%s\r\n" % (
                    method, p, MAX_BODY + 1,
                    "Authorization: Bearer %s\r\n" % token if token else "")).encode()
        out = raw_exchange(gateway, head)
        assert out.startswith(b"HTTP/1.1 413"), (path, out[:200])
        body = json.loads(out.split(b"\r\n\r\n", 1)[1])
        assert str(MAX_BODY) in body["error"]["message"], body
        assert b"connection: close" in out.lower()
    # A body at the limit is read (and refused for what it says, not its size).
    a = rest.call("POST", "/api/v1/auth/login", raw=b" " * (MAX_BODY - 2) + b"{}",
                  headers={"Content-Type": "application/json"})
    assert a.status == 400, a


def test_bad_path_and_query_parameters_are_refused_naming_them(rest, ctx):
    for method, path, op in operations(ctx, False):
        if "{" not in path:
            continue
        p, token = concrete(ctx, path)
        bad = path
        for seg in path.split("/"):
            if seg.startswith("{"):
                bad = bad.replace(seg, "abc")
        bad = bad.replace("{user_id}", "abc")
        a = rest.call(method, bad, token=token, headers=keys(method))
        assert a.status == 400, (method, bad, a)
        field = [s[1:-1] for s in path.split("/") if s.startswith("{")][0]
        assert norm(field) in norm(a.error["message"]), (method, bad, a)
    for method, path, op in operations(ctx, False):
        p, token = concrete(ctx, path)
        a = rest.call(method, p + "?noSuchParam=1", token=token, headers=keys(method))
        assert a.status == 400 and "noSuchParam" in a.error["message"], (method, path, a)
    a = rest.call("GET", "/api/v1/lots/%s" % ctx["live"]["id"], raw=b"{}",
                  token=ctx["bidder"].token)
    assert a.status == 400 and "body" in a.error["message"], a
    a = rest.call("POST", "/api/v1/lots/%s/bids?amount=5" % ctx["live"]["id"], {},
                  token=ctx["bidder"].token, headers=keys("POST"))
    assert a.status == 400 and "query" in a.error["message"], a
    a = rest.call("POST", "/api/v1/auth/login", raw=b"email=a&password=b",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert a.status == 415, a


def test_refused_bids_and_deposits_change_nothing(rest, ctx, market):
    lot, bidder = ctx["live"]["id"], ctx["bidder"]
    before = market.state(lot, bidder.token)
    wallet = rest.ok("GET", "/api/v1/wallet", token=bidder.token)["balance"]
    for body in ({"amount": {"currency": "RUB", "units": "x"}}, {"amount": rub(1)},
                 {"amount": before["nextMinBid"], "lotId": str(int(lot) + 1)}, {"amont": rub(10 ** 6)}):
        a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, body, token=bidder.token,
                      headers={"Idempotency-Key": new_key()})
        assert a.status == 400, (body, a)
    a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, {"amount": before["nextMinBid"]},
                  token=bidder.token)
    assert a.status == 400 and "Idempotency-Key" in a.error["message"], a
    for body in ({"amount": rub(-5)}, {"amount": {"currency": "RUB", "units": 5.5}},
                 {"amount": rub(5), "userId": "1"}):
        a = rest.call("POST", "/api/v1/users/%d/wallet/deposits" % bidder.id, body,
                      token=ctx["admin"].token, headers={"Idempotency-Key": new_key()})
        assert a.status == 400, (body, a)
    after = market.state(lot, bidder.token)
    assert after.get("bidCount") == before.get("bidCount") and after.get("seq") == before.get(
        "seq"), (before, after)
    assert rest.ok("GET", "/api/v1/wallet", token=bidder.token)["balance"] == wallet


def test_unknown_route_is_404_and_wrong_method_405_with_allow(rest, ctx):
    a = rest.call("GET", "/api/v2/lots")
    assert a.status == 404 and a.error["code"] == "not_found", a
    a = rest.call("DELETE", "/api/v1/lots/%s" % ctx["live"]["id"], token=ctx["admin"].token)
    assert a.status == 405 and a.error["code"] == "method_not_allowed", a
    assert a.header("allow") == "GET, PATCH, HEAD, OPTIONS", a.headers
    a = rest.call("PUT", "/api/v1/lots/search", {})
    assert a.status == 405 and a.header("allow") == "POST, OPTIONS", a


def test_request_id_is_kept_answered_and_forwarded(rest, ctx, users):
    a = rest.call("GET", "/api/v1/me", token=ctx["bidder"].token,
                  headers={"X-Request-Id": "trace.abc-123_X"})
    assert a.status == 200 and a.header("x-request-id") == "trace.abc-123_X", a
    a = rest.call("GET", "/api/v1/me", token=ctx["bidder"].token,
                  headers={"X-Request-Id": "bad id with spaces"})
    assert a.status == 200 and len(a.header("x-request-id")) == 32, a
    # Forwarded: the service logs a failed call under the same id.
    rid = "gw-forward-%d" % time.time_ns()
    a = rest.call("GET", "/api/v1/users/999999999", token=ctx["admin"].token,
                  headers={"X-Request-Id": rid})
    assert a.status == 404 and a.error["request_id"] == rid, a
    a = rest.call("PATCH", "/api/v1/me", {"updateMask": ["no_such_field"]},
                  token=ctx["bidder"].token, headers={"X-Request-Id": rid})
    assert a.status == 400, a
    h.wait_until(lambda: rid in users.log_text(), 10, what="the users log line of " + rid)


def test_access_log_has_one_json_line_per_answer_without_tokens(rest, ctx, gateway):
    rid = "gw-access-%d" % time.time_ns()
    token = ctx["bidder"].token
    a = rest.call("GET", "/api/v1/lots/%s/state" % ctx["live"]["id"], token=token,
                  headers={"X-Request-Id": rid})
    assert a.status == 200

    def line():
        for ln in gateway.log_text().splitlines():
            if rid in ln and '"msg":"access"' in ln:
                return json.loads(ln)
    entry = h.wait_until(line, 10, what="the access line")
    assert entry["route"] == "/api/v1/lots/{lot_id}/state" and entry["status"] == 200
    assert entry["method"] == "GET" and entry["user_id"] == ctx["bidder"].id
    assert entry["client_addr"] == "127.0.0.1" and entry["bytes"] == len(a.body)
    assert isinstance(entry["ms"], float)
    assert token not in gateway.log_text() and token.split(".")[2] not in gateway.log_text()


def test_cors_preflight_and_answers_for_allowed_origins_only(rest, ctx, stack):
    d = h.Gateway(stack)
    d.env.update({"GAVEL_GATEWAY_CORS_ORIGINS": "https://app.gavel.test, http://localhost:3000",
                  "GAVEL_GATEWAY_PORT": str(d.port + 50),
                  "GAVEL_GATEWAY_ADDR": "127.0.0.1:%d" % (d.port + 51),
                  "GAVEL_METRICS_PORT": "0"})
    d.addr = d.env["GAVEL_GATEWAY_ADDR"]
    d.start()
    try:
        good = {"Origin": "https://app.gavel.test", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, idempotency-key"}
        a = h.http_request(d, "OPTIONS", "/api/v1/lots/%s/bids" % ctx["live"]["id"],
                           headers=good)
        assert a.status == 204, a
        assert a.header("access-control-allow-origin") == "https://app.gavel.test"
        assert "POST" in a.header("access-control-allow-methods")
        allowed = a.header("access-control-allow-headers").lower()
        assert "authorization" in allowed and "idempotency-key" in allowed
        assert a.header("vary") == "Origin"
        a = h.http_request(d, "OPTIONS", "/api/v1/lots/%s/bids" % ctx["live"]["id"],
                           headers=dict(good, Origin="https://evil.test"))
        assert a.status == 204 and a.header("access-control-allow-origin") is None, a
        a = h.http_request(d, "GET", "/api/v1/me", token=ctx["bidder"].token,
                           headers={"Origin": "http://localhost:3000"})
        assert a.status == 200 and a.header("access-control-allow-origin") == \
            "http://localhost:3000"
        assert "X-Request-Id" in a.header("access-control-expose-headers")
        a = h.http_request(d, "GET", "/api/v1/me", token=ctx["bidder"].token,
                           headers={"Origin": "https://evil.test"})
        assert a.status == 200 and a.header("access-control-allow-origin") is None
        a = h.http_request(d, "OPTIONS", "/api/v1/nothing-here", headers=good)
        assert a.status == 404
    finally:
        d.stop()
    assert not d.sanitizer_reports()


def test_security_headers_on_every_answer(rest, ctx):
    for a in (rest.call("GET", "/api/v1/me", token=ctx["bidder"].token),
              rest.call("GET", "/nothing"), rest.call("GET", "/openapi.json")):
        assert a.header("x-content-type-options") == "nosniff"
        assert a.header("x-frame-options") == "DENY"
        assert "frame-ancestors 'none'" in a.header("content-security-policy")
        assert a.header("referrer-policy") == "no-referrer"
        assert a.header("cache-control") == "no-store"
        assert a.header("strict-transport-security") is None  # plain HTTP
        assert a.header("server") is None


def test_keep_alive_serves_many_requests_on_one_connection(rest, ctx, gateway):
    conn = gateway.connection()
    try:
        ports = set()
        for i in range(50):
            a = rest.call("GET", "/api/v1/lots/%s/state" % ctx["live"]["id"],
                          token=ctx["bidder"].token, conn=conn)
            assert a.status == 200, a
            ports.add(conn.sock.getsockname()[1])
            a = rest.call("GET", "/nothing", conn=conn)
            assert a.status == 404
        assert len(ports) == 1, "the connection was not kept: %s" % ports
    finally:
        conn.close()
    out = raw_exchange(gateway, b"GET /nothing HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 404") and b"connection: close" in out.lower(), out[:300]


def test_client_deadline_header_is_honoured_and_checked(rest, ctx):
    token = ctx["bidder"].token
    a = rest.call("GET", "/api/v1/me", token=token, headers={"X-Request-Timeout-Ms": "abc"})
    assert a.status == 400 and "X-Request-Timeout-Ms" in a.error["message"], a
    a = rest.call("GET", "/api/v1/me", token=token, headers={"X-Request-Timeout-Ms": "0"})
    assert a.status == 400, a
    a = rest.call("GET", "/api/v1/me", token=token,
                  headers={"X-Request-Timeout-Ms": "999999999"})
    assert a.status == 200, a  # capped at GAVEL_GATEWAY_MAX_DEADLINE_MS, not refused
    # A login hashes a password (tens of milliseconds at least): 1 ms cannot hold it.
    a = rest.call("POST", "/api/v1/auth/login", {"email": ctx["bidder"].email,
                                                 "password": h.PASSWORD},
                  headers={"X-Request-Timeout-Ms": "1"})
    assert a.status == 504 and a.error["code"] == "deadline_exceeded", a


def test_unknown_verbs_and_bodies_without_length_are_refused(gateway):
    out = raw_exchange(gateway, b"BREW /api/v1/me HTTP/1.1\r\nHost: t\r\n\r\n", 3)
    assert not out.startswith(b"HTTP/1.1 200"), out[:200]
    out = raw_exchange(gateway, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 3)
    assert out.startswith(b"HTTP/1.1 411"), out[:200]


def test_series_count_answers_by_route_template_and_status_class(rest, ctx, gateway):
    labels = 'route="/api/v1/lots/{lot_id}/state",method="GET",class="2xx"'
    before = h.metric_value(gateway, "gavel_gateway_http_requests_total", labels)
    unmatched = 'route="unmatched",method="-",class="4xx"'
    before_404 = h.metric_value(gateway, "gavel_gateway_http_requests_total", unmatched)
    for _ in range(3):
        rest.ok("GET", "/api/v1/lots/%s/state" % ctx["live"]["id"], token=ctx["bidder"].token)
    assert rest.call("GET", "/api/v1/none").status == 404
    assert h.metric_value(gateway, "gavel_gateway_http_requests_total", labels) == before + 3
    assert h.metric_value(gateway, "gavel_gateway_http_requests_total", unmatched) == \
        before_404 + 1
    text = h.metrics_text(gateway)
    for name in ("gavel_gateway_http_request_seconds_count", "gavel_gateway_http_in_flight",
                 "gavel_gateway_worker_queue_depth", "gavel_gateway_busy_total"):
        assert name in text, name
