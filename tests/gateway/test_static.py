"""The gateway serves the web UI's files (GAVEL_GATEWAY_WEB_DIR) at / and by
path, and nothing else: no hidden file, nothing outside the directory, no
file type it does not know. Pages carry their own Content-Security-Policy,
the API keeps its own; ETags turn a reload into a 304.

A gateway of its own serves a directory made here, so the test does not
depend on the UI's contents."""
import http.client
import os

import pytest

import gavel_harness as h

INDEX = b"<!doctype html><title>Gavel</title><script type=module src=/js/app.js></script>"
APP_JS = b"export const gavel = 1;\n"


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    (d / "index.html").write_bytes(INDEX)
    (d / "js").mkdir()
    (d / "js" / "app.js").write_bytes(APP_JS)
    (d / "css").mkdir()
    (d / "css" / "app.css").write_bytes(b"body{margin:0}\n")
    (d / ".env").write_bytes(b"SECRET=1\n")
    (d / "js" / ".hidden.js").write_bytes(b"secret\n")
    (d / "notes.bak").write_bytes(b"secret\n")
    (d / "big.js").write_bytes(b"/*" + b"x" * (300 * 1024) + b"*/\n")
    outside = d.parent / ("outside-%s.txt" % d.name)
    outside.write_bytes(b"secret\n")
    os.symlink(str(outside), str(d / "link.txt"))
    return d


@pytest.fixture(scope="module")
def web_gw(stack, users, auctions, bids, notifications, web_dir):
    spares = h.Spares(stack)
    gw = spares.start("gateway", "static", GAVEL_GATEWAY_WEB_DIR=str(web_dir),
                      GAVEL_GATEWAY_RATE_LIMITS="off")
    yield gw
    spares.stop_all()


def get(gw, path, method="GET", headers=None):
    conn = gw.connection()
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_index_and_files_are_served_with_their_types(web_gw):
    st, hdrs, body = get(web_gw, "/")
    assert st == 200 and body == INDEX
    assert hdrs["content-type"] == "text/html; charset=utf-8"
    assert hdrs["cache-control"] == "no-cache"
    assert hdrs["x-content-type-options"] == "nosniff"
    csp = hdrs["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    st, hdrs, body = get(web_gw, "/js/app.js")
    assert st == 200 and body == APP_JS
    assert hdrs["content-type"] == "text/javascript; charset=utf-8"
    st, hdrs, body = get(web_gw, "/css/app.css")
    assert st == 200 and hdrs["content-type"] == "text/css; charset=utf-8"
    st, hdrs, body = get(web_gw, "/big.js")
    assert st == 200 and len(body) == 300 * 1024 + 5


def test_head_gives_headers_without_body(web_gw):
    st, hdrs, body = get(web_gw, "/js/app.js", method="HEAD")
    assert st == 200 and body == b""
    assert int(hdrs["content-length"]) == len(APP_JS)


def test_etag_turns_a_reload_into_304(web_gw):
    st, hdrs, _ = get(web_gw, "/js/app.js")
    etag = hdrs["etag"]
    st, hdrs, body = get(web_gw, "/js/app.js", headers={"If-None-Match": etag})
    assert st == 304 and body == b"" and hdrs["etag"] == etag
    st, _, body = get(web_gw, "/js/app.js", headers={"If-None-Match": '"other", ' + etag})
    assert st == 304
    st, _, body = get(web_gw, "/js/app.js", headers={"If-None-Match": '"stale"'})
    assert st == 200 and body == APP_JS


def test_a_changed_file_gets_a_new_etag(web_gw, web_dir):
    _, hdrs, _ = get(web_gw, "/css/app.css")
    (web_dir / "css" / "app.css").write_bytes(b"body{margin:1px}\n")
    st, hdrs2, body = get(web_gw, "/css/app.css", headers={"If-None-Match": hdrs["etag"]})
    assert st == 200 and body == b"body{margin:1px}\n"
    assert hdrs2["etag"] != hdrs["etag"]


@pytest.mark.parametrize("path", [
    "/.env", "/js/.hidden.js", "/notes.bak", "/link.txt", "/missing.js", "/js/",
    "/js", "/../outside.txt", "/%2e%2e/outside.txt", "/js/..%2f..%2fetc/passwd",
    "/index.html%00.js", "/" + "a" * 300 + ".js",
])
def test_nothing_hidden_outside_or_unknown_is_served(web_gw, path):
    try:
        st, hdrs, body = get(web_gw, path)
    except http.client.RemoteDisconnected:  # libwebsockets drops a NUL in the path
        st, body = 0, b""
    assert st in (0, 400, 403, 404), (path, st, body)
    assert b"secret" not in body and b"SECRET" not in body


def test_only_get_and_head_outside_the_api(web_gw):
    conn = web_gw.connection()
    try:
        conn.request("POST", "/index.html", body=b"{}",
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 405
        assert resp.getheader("Allow") == "GET, HEAD"
    finally:
        conn.close()


def test_the_api_keeps_its_own_policy_and_404(web_gw):
    st, hdrs, body = get(web_gw, "/api/v1/nothing-here")
    assert st == 404 and b"no route" in body
    assert hdrs["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert hdrs["cache-control"] == "no-store"
    st, hdrs, _ = get(web_gw, "/openapi.json")
    assert st == 200 and hdrs["content-type"] == "application/json"


def test_a_missing_web_dir_serves_no_ui(stack, users, auctions, bids, notifications,
                                        tmp_path):
    spares = h.Spares(stack)
    try:
        gw = spares.start("gateway", "noweb", GAVEL_GATEWAY_WEB_DIR=str(tmp_path / "none"),
                          GAVEL_GATEWAY_RATE_LIMITS="off")
        st, _, _ = get(gw, "/")
        assert st == 404
        st, _, _ = get(gw, "/openapi.json")
        assert st == 200
    finally:
        spares.stop_all()
