"""Lot photos through the gateway (services/gateway/media.c), against the
real daemons: POST /api/v1/media takes a JPEG, PNG or WebP as the raw body
(by its first bytes, and its Content-Type must agree), from sellers only,
up to GAVEL_GATEWAY_MEDIA_MAX bytes; it is stored once under the SHA-256 of
its bytes, and GET /media/<sha256>.<ext> serves the same bytes back,
cacheable for a year, with an ETag and 304. Nothing else under /media/ is
ever served. A lot may name the returned URL as a photo."""
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import struct
import zlib

import pytest

import gavel_harness as h
from gateway.test_rest_errors import raw_exchange

MEDIA_MAX = 8 * 1024 * 1024  # GAVEL_GATEWAY_MEDIA_MAX's default, which the session keeps

# An 8x8 JPEG and WebP as Chromium's canvas encodes them (a red square with
# a blue corner).
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH"
    "4AABAAEAAAAAAABhY3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAAB"
    "FAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAA"
    "AChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJY"
    "WVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVog"
    "AAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAA"
    "AAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAAYEBQYF"
    "BAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBD"
    "AQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo"
    "KCj/wAARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAYEAADAQEAAAAAAAAAAAAA"
    "AAAAAxETIf/EABUBAQEAAAAAAAAAAAAAAAAAAAUH/8QAHREAAgEFAQEAAAAAAAAAAAAAAQMEAAIRMUEhof/a"
    "AAwDAQACEQMRAD8Ah1LzvbQAAyZLJTC5xzcdn5yqZFiqiKCUjFo0PTs57X//2Q==")
WEBP = base64.b64decode(
    "UklGRjgCAABXRUJQVlA4WAoAAAAgAAAABwAABwAASUNDUMgBAAAAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH"
    "4AABAAEAAAAAAABhY3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAAB"
    "FAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAA"
    "AChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJY"
    "WVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVog"
    "AAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAA"
    "AAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADZWUDggSgAAADAC"
    "AJ0BKggACAABQCYlsAJ0ugH4AIkACEwAAP7wdFswtM5dTbl8hKbhcf/K7cummJRNua/+e//3zXj6f/Cp8Mfj"
    "9aH9aH/SgAAA")


def png(w=8, h_=8, seed=0, noise=False):
    """A real PNG: w x h RGB, one colour from seed, or random noise (which
    does not compress, for large files)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    if noise:
        rows = b"".join(b"\0" + os.urandom(w * 3) for _ in range(h_))
    else:
        px = bytes(((seed * 37) & 255, (seed * 91) & 255, (seed * 13 + 7) & 255))
        rows = (b"\0" + px * w) * h_
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h_, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def fresh_png():
    """A PNG no test uploaded before (its colour and size are random)."""
    return png(w=1 + os.urandom(1)[0] % 64, h_=1 + os.urandom(1)[0] % 64,
               seed=int.from_bytes(os.urandom(2), "big"))


def media_dir(gateway):
    return gateway.env.get("GAVEL_GATEWAY_MEDIA_DIR") or os.path.join(
        gateway.env["GAVEL_RUN_DIR"], "media")


def raw_call(gw, method, path, data=None, headers=None, token=None):
    """(status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection(gw.host, gw.port, timeout=h.RPC_TIMEOUT)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        if data is None and method == "POST":
            data = b""
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def upload(gw, token, data, ctype):
    status, hdrs, body = raw_call(gw, "POST", "/api/v1/media", data,
                                  {"Content-Type": ctype} if ctype else {}, token)
    return status, hdrs, json.loads(body) if body else None


@pytest.fixture(scope="module")
def people(rest, market, gw_moderator, gw_admin):
    return {"seller": market.seller(), "bidder": market.bidder(funds=0),
            "moderator": gw_moderator, "admin": gw_admin}


def test_each_type_is_stored_under_its_hash_and_served_back_identical(gateway, people):
    for data, ctype, ext in ((JPEG, "image/jpeg", "jpg"), (png(seed=3), "image/png", "png"),
                             (WEBP, "image/webp", "webp")):
        status, _, got = upload(gateway, people["seller"].token, data, ctype)
        digest = hashlib.sha256(data).hexdigest()
        assert status == 201, (ctype, got)
        assert got == {"url": "/media/%s.%s" % (digest, ext), "sha256": digest,
                       "bytes": len(data), "contentType": ctype}, got
        with open(os.path.join(media_dir(gateway), "%s.%s" % (digest, ext)), "rb") as f:
            assert f.read() == data
        status, hdrs, body = raw_call(gateway, "GET", got["url"])
        assert status == 200 and body == data, (ctype, status)
        assert hdrs["content-type"] == ctype
        assert hdrs["cache-control"] == "public, max-age=31536000, immutable"
        etag = hdrs["etag"]
        assert etag
        status, hdrs, body = raw_call(gateway, "GET", got["url"], headers={"If-None-Match": etag})
        assert status == 304 and body == b"", status
        assert hdrs["etag"] == etag
        status, hdrs, body = raw_call(gateway, "HEAD", got["url"])
        assert status == 200 and body == b"" and int(hdrs["content-length"]) == len(data)


def test_a_charset_parameter_and_upper_case_type_are_accepted(gateway, people):
    data = fresh_png()
    status, _, got = upload(gateway, people["seller"].token, data, "IMAGE/PNG; q=1")
    assert status == 201 and got["contentType"] == "image/png", got


def listing(gateway):
    return sorted(os.listdir(media_dir(gateway)))


def test_bodies_that_are_not_an_allowed_image_get_415_and_store_nothing(gateway, people):
    tok = people["seller"].token
    before = listing(gateway)
    cases = [
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/png", "not a JPEG, PNG or WebP"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/jpeg", "not a JPEG, PNG or WebP"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "image/webp", "not a JPEG, PNG or WebP"),
        (b"\xff\xd8", "image/jpeg", "not a JPEG, PNG or WebP"),
        (png(seed=5), "image/jpeg", "is a PNG image but Content-Type says image/jpeg"),
        (JPEG, "image/webp", "is a JPEG image but Content-Type says image/webp"),
        (WEBP, "image/png", "is a WebP image but Content-Type says image/png"),
        (JPEG, "image/gif", "Content-Type must be image/jpeg, image/png or image/webp"),
        (JPEG, "application/json", "Content-Type must be"),
        (JPEG, None, "Content-Type must be"),
    ]
    for data, ctype, words in cases:
        status, _, got = upload(gateway, tok, data, ctype)
        assert status == 415, (ctype, data[:12], got)
        assert got["error"]["code"] == "unsupported_media_type"
        assert words in got["error"]["message"], (ctype, got)
    status, _, got = upload(gateway, tok, b"", "image/png")
    assert status == 400 and "empty" in got["error"]["message"], got
    assert listing(gateway) == before


def test_uploads_over_the_media_limit_get_413_before_the_body_is_read(gateway, people):
    head = ("POST /api/v1/media HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
            "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
            % (people["seller"].token, MEDIA_MAX + 1)).encode()
    out = raw_exchange(gateway, head + png()[:64])
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    body = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert str(MEDIA_MAX) in body["error"]["message"], body
    assert b"connection: close" in out.lower()


def test_a_photo_larger_than_the_json_body_limit_is_accepted(gateway, people):
    data = png(w=700, h_=700, noise=True)  # about 1.5 MB, over GAVEL_GATEWAY_MAX_BODY
    assert 1048576 < len(data) < MEDIA_MAX
    status, _, got = upload(gateway, people["seller"].token, data, "image/png")
    assert status == 201 and got["bytes"] == len(data), got
    status, _, body = raw_call(gateway, "GET", got["url"])
    assert status == 200 and body == data
    # The JSON routes keep their own limit.
    head = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (1048576 + 1)).encode()
    assert raw_exchange(gateway, head).startswith(b"HTTP/1.1 413")


def test_only_sellers_and_admins_may_upload(gateway, people):
    data = fresh_png()
    before = listing(gateway)
    status, hdrs, got = upload(gateway, None, data, "image/png")
    assert status == 401 and hdrs.get("www-authenticate") == "Bearer", got
    status, _, got = upload(gateway, "not-a-token", data, "image/png")
    assert status == 401, got
    for who in ("bidder", "moderator"):
        status, _, got = upload(gateway, people[who].token, data, "image/png")
        assert status == 403 and got["error"]["code"] == "permission_denied", (who, got)
        assert "only sellers" in got["error"]["message"]
    assert listing(gateway) == before
    status, _, got = upload(gateway, people["admin"].token, data, "image/png")
    assert status == 201, got


def test_the_same_image_twice_is_one_file_with_one_url(gateway, people):
    data = fresh_png()
    _, _, first = upload(gateway, people["seller"].token, data, "image/png")
    before = listing(gateway)
    status, _, second = upload(gateway, people["admin"].token, data, "image/png")
    assert status == 201 and second == first
    assert listing(gateway) == before


def test_concurrent_uploads_of_one_image_all_get_its_url_and_leave_one_whole_file(
        gateway, people):
    data = png(w=300, h_=300, noise=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: upload(gateway, people["seller"].token, data,
                                                 "image/png"), range(16)))
    urls = {r[2]["url"] for r in results if r[0] == 201}
    assert all(r[0] == 201 for r in results), [r[:1] + r[2:] for r in results if r[0] != 201]
    assert len(urls) == 1
    name = urls.pop().rsplit("/", 1)[1]
    names = listing(gateway)
    assert names.count(name) == 1
    assert not [n for n in names if n.startswith(".upload-")], names
    with open(os.path.join(media_dir(gateway), name), "rb") as f:
        assert f.read() == data


def test_nothing_but_a_stored_photo_is_served_under_media(gateway, people):
    _, _, got = upload(gateway, people["seller"].token, JPEG, "image/jpeg")
    digest = got["sha256"]
    # A file beside the photos that must never leave through /media/.
    with open(os.path.join(media_dir(gateway), ".secret"), "w") as f:
        f.write("MEDIA-DIR-SECRET-CONTENT")
    # The HTTP layer resolves dot segments before routing (RFC 3986, as a
    # browser does): these climb out of /media/ and get what their resolved
    # path gets, the web UI's page for "/" or 404, never a file from the
    # media directory or above.
    for path, same_as in (("/media/%2e%2e/", "/"), ("/media/../", "/"), ("/media/../x", "/x"),
                          ("/media/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd")):
        status, _, body = raw_call(gateway, "GET", path)
        want_status, _, want_body = raw_call(gateway, "GET", same_as)
        assert status == want_status, (path, status, body[:100])
        assert status != 200 or body == want_body, path
        assert b"SECRET-CONTENT" not in body and b"root:" not in body and body[:3] != JPEG[:3], path
    bad = [
        "/media/", "/media", "/media/..%2f..%2fetc%2fpasswd", "/media/.secret", "/media/%2esecret",
        "/media/" + digest[:63] + ".jpg", "/media/" + digest + "0.jpg",
        "/media/" + digest.upper() + ".jpg", "/media/" + digest + ".gif",
        "/media/" + digest + ".JPG", "/media/" + digest + ".jpg/x", "/media/x/" + digest + ".jpg",
        "/media/" + digest,
        "/media/" + "0" * 64 + ".jpg",  # the right shape, no such photo
    ]
    for path in bad:
        status, hdrs, body = raw_call(gateway, "GET", path)
        assert status == 404, (path, status, body[:100])
        assert b"SECRET-CONTENT" not in body and body[:3] != JPEG[:3], path
    # A NUL in the path: the HTTP layer drops the connection without an answer.
    try:
        status, _, body = raw_call(gateway, "GET", "/media/%s.jpg%%00.png" % digest)
        assert status in (400, 404) and body[:3] != JPEG[:3], status
    except http.client.RemoteDisconnected:
        pass
    # A stored photo under another extension is not served either.
    status, _, _ = raw_call(gateway, "GET", "/media/%s.png" % digest)
    assert status == 404
    status, hdrs, _ = raw_call(gateway, "POST", "/media/%s.jpg" % digest, b"")
    assert status == 405 and "GET" in hdrs["allow"], status


def test_a_lot_carries_uploaded_photos_and_refuses_other_relative_urls(rest, market, people):
    seller = people["seller"]
    urls = [upload(rest.gw, seller.token, d, t)[2]["url"]
            for d, t in ((JPEG, "image/jpeg"), (fresh_png(), "image/png"))]
    condition = {"damages": [{"location": "front_bumper", "kind": "DAMAGE_KIND_SCRATCH",
                              "severity": "DAMAGE_SEVERITY_MINOR", "photoUrl": urls[1]}]}
    lot = market.draft(seller, photoUrls=urls + ["https://img.gavel.test/2.jpg"],
                       condition=condition)
    got = rest.ok("GET", "/api/v1/lots/%s" % lot["id"], token=seller.token)["lot"]
    assert got["photoUrls"] == urls + ["https://img.gavel.test/2.jpg"]
    assert got["condition"]["damages"][0]["photoUrl"] == urls[1]
    for bad in ("/img/a.jpg", urls[0] + "?x", urls[0].replace("/media/", "/media/../"),
                "media/" + urls[0].rsplit("/", 1)[1]):
        a = rest.call("POST", "/api/v1/lots", h.complete_lot(market.category["id"],
                                                             photoUrls=[bad]), seller.token)
        assert a.status == 400 and "lot.photo_urls" in a.error["message"], (bad, a)
    a = rest.call("PATCH", "/api/v1/lots/%s" % lot["id"],
                  {"updateMask": ["photo_urls"], "lot": {"photoUrls": ["/x.jpg"]}}, seller.token)
    assert a.status == 400 and "lot.photo_urls" in a.error["message"], a


@pytest.fixture(scope="module")
def small_gateway(stack, gateway):
    """A gateway with a 4 KiB photo limit and two uploads a minute per user,
    started over the media directory with an upload a crash left behind."""
    with open(os.path.join(media_dir(gateway), ".upload-crashed"), "wb") as f:
        f.write(b"\x89PNG half")
    spares = h.Spares(stack)
    yield spares.start("gateway", "media", GAVEL_GATEWAY_MEDIA_MAX="4096",
                       GAVEL_GATEWAY_RATE_WRITE_USER_PER_MIN="2",
                       GAVEL_GATEWAY_RATE_WRITE_USER_BURST="2")
    spares.stop_all()


def test_a_gateway_starting_removes_what_a_crashed_upload_left(small_gateway, gateway):
    assert ".upload-crashed" not in listing(gateway)


def test_a_whole_body_over_the_setting_gets_413_and_uploads_are_rate_limited(
        small_gateway, rest, people):
    tok = rest.login(people["seller"].email, people["seller"].password).token
    data = png(w=64, h_=64, noise=True)
    assert len(data) > 4096
    head = ("POST /api/v1/media HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\n"
            "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (tok, len(data))).encode()
    out = raw_exchange(small_gateway, head + data)
    assert out.startswith(b"HTTP/1.1 413") and b"4096" in out, out[:300]
    statuses = [upload(small_gateway, tok, fresh_png(), "image/png")[0] for _ in range(3)]
    assert statuses[:2] == [201, 201] and statuses[2] == 429, statuses
