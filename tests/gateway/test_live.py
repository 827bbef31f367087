"""The gateway serves the venue streams' HLS at /live/<stream>/<file> from its
live directory: a real stream written by Debian's ffmpeg (a test pattern,
1 s segments with EXT-X-PROGRAM-DATE-TIME) comes back byte for byte with
the headers players and caches need (playlists revalidated, segments
immutable, ETag and 304, HEAD, CORS), nothing outside the directory or
hidden ever leaves, and the playlist requests count distinct viewers per
stream into Redis (HSET gavel:stream:<name>:viewers <instance> "<n> <ms>")
for the streaming service to sum.

A gateway of its own serves a directory made here."""
import concurrent.futures
import http.client
import os
import shutil
import subprocess
import time

import pytest

import gavel_harness as h

ORIGIN = "https://dealers.example"
SECRET = b"SECRET-OUTSIDE-THE-LIVE-DIR"


def write_hls(out_dir, seconds=4, extra=()):
    """A real HLS stream by ffmpeg: test pattern, 1 s keyframe-aligned
    segments, program date time; returns the segment names."""
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=640x360:rate=25", "-t", str(seconds), "-c:v", "libx264", "-preset",
         "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", *extra,
         "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
         "-hls_flags", "program_date_time+temp_file",
         "-hls_segment_filename", os.path.join(out_dir, "seg%03d.ts"),
         os.path.join(out_dir, "index.m3u8")], check=True, timeout=120)
    return sorted(n for n in os.listdir(out_dir) if n.endswith(".ts"))


@pytest.fixture(scope="module")
def live_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    d = root / "live"
    segs = write_hls(str(d / "cam1"))
    assert len(segs) >= 3
    for name in ("cam2", "cam3", "cam4"):
        shutil.copytree(str(d / "cam1"), str(d / name))
    # a segment of several write parts (256 KB each): every answer shares
    # its cached bytes
    whole = b"".join((d / "cam4" / n).read_bytes() for n in segs)
    (d / "cam4" / "big.ts").write_bytes(whole * (700 * 1024 // len(whole) + 1))
    (d / "cam1" / ".hidden.ts").write_bytes(SECRET)
    (d / "cam1" / "notes.txt").write_bytes(SECRET)
    (d / "cam1" / "index.m3u8.bak").write_bytes(SECRET)
    (d / ".private").mkdir()
    (d / ".private" / "index.m3u8").write_bytes(SECRET)
    (root / "outside.ts").write_bytes(SECRET)
    (root / "outside.m3u8").write_bytes(SECRET)
    os.symlink(str(root / "outside.ts"), str(d / "cam1" / "link.ts"))
    os.symlink(str(root), str(d / "escape"))
    return d


@pytest.fixture(scope="module")
def live_gw(stack, users, auctions, bids, notifications, live_dir):
    spares = h.Spares(stack)
    gw = spares.start("gateway", "live", GAVEL_GATEWAY_LIVE_DIR=str(live_dir),
                      GAVEL_GATEWAY_RATE_LIMITS="off", GAVEL_GATEWAY_CORS_ORIGINS=ORIGIN,
                      GAVEL_GATEWAY_INSTANCE_ID="gw-live-test-%d" % os.getpid())
    yield gw
    spares.stop_all()


@pytest.fixture(scope="module")
def redis_client(stack):
    import redis
    addr = stack.daemon_env("gateway")["GAVEL_REDIS_ADDR"]
    host, port = addr.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port), socket_timeout=10)
    yield r
    r.close()


def get(gw, path, method="GET", headers=None):
    conn = gw.connection()
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_playlist_is_served_with_its_type_and_no_cache(live_gw, live_dir):
    st, hdrs, body = get(live_gw, "/live/cam1/index.m3u8")
    assert st == 200, body
    assert body == (live_dir / "cam1" / "index.m3u8").read_bytes()
    assert body.startswith(b"#EXTM3U") and b"#EXT-X-PROGRAM-DATE-TIME:" in body
    assert hdrs["content-type"] == "application/vnd.apple.mpegurl"
    assert hdrs["cache-control"] == "no-cache"
    assert hdrs["etag"].startswith('"') and int(hdrs["content-length"]) == len(body)
    assert hdrs["x-content-type-options"] == "nosniff"


def test_every_segment_is_served_byte_for_byte_and_immutable(live_gw, live_dir):
    listed = [ln for ln in (live_dir / "cam1" / "index.m3u8").read_text().splitlines()
              if ln and not ln.startswith("#")]
    assert len(listed) >= 3
    for name in listed:
        for _ in range(2):  # from the disk, then from memory
            st, hdrs, body = get(live_gw, "/live/cam1/" + name)
            assert st == 200, (name, body[:200])
            assert body == (live_dir / "cam1" / name).read_bytes()
            assert body[0] == 0x47 and body[188] == 0x47  # MPEG-TS sync bytes
            assert hdrs["content-type"] == "video/mp2t"
            assert hdrs["cache-control"] == "public, max-age=31536000, immutable"


def test_etag_gives_304_without_body_and_a_new_version_a_new_etag(live_gw, live_dir):
    st, hdrs, body = get(live_gw, "/live/cam2/seg000.ts")
    assert st == 200
    st, hdrs2, body2 = get(live_gw, "/live/cam2/seg000.ts",
                           headers={"If-None-Match": hdrs["etag"]})
    assert st == 304 and body2 == b"" and hdrs2["etag"] == hdrs["etag"]
    assert hdrs2["cache-control"] == "public, max-age=31536000, immutable"
    st, p1, _ = get(live_gw, "/live/cam2/index.m3u8")
    assert st == 200
    st, _, b = get(live_gw, "/live/cam2/index.m3u8",
                   headers={"If-None-Match": 'W/"x", ' + p1["etag"]})
    assert st == 304 and b == b""
    # the writer replaces the playlist (a new file renamed over it)
    path = live_dir / "cam2" / "index.m3u8"
    new = path.read_bytes().replace(b"#EXT-X-ENDLIST\n", b"")
    tmp = live_dir / "cam2" / "index.m3u8.tmp"
    tmp.write_bytes(new)
    os.rename(str(tmp), str(path))
    st, p2, b = get(live_gw, "/live/cam2/index.m3u8", headers={"If-None-Match": p1["etag"]})
    assert st == 200 and b == new and p2["etag"] != p1["etag"]


def test_head_gives_the_headers_without_the_body(live_gw, live_dir):
    size = (live_dir / "cam1" / "seg001.ts").stat().st_size
    st, hdrs, body = get(live_gw, "/live/cam1/seg001.ts", method="HEAD")
    assert st == 200 and body == b"" and int(hdrs["content-length"]) == size
    assert hdrs["content-type"] == "video/mp2t"
    st, hdrs, body = get(live_gw, "/live/cam1/index.m3u8", method="HEAD")
    assert st == 200 and body == b"" and hdrs["cache-control"] == "no-cache"


def test_cors_lets_the_allowed_origin_play(live_gw):
    st, hdrs, _ = get(live_gw, "/live/cam1/index.m3u8", headers={"Origin": ORIGIN})
    assert st == 200 and hdrs["access-control-allow-origin"] == ORIGIN
    st, hdrs, _ = get(live_gw, "/live/cam1/seg000.ts", headers={"Origin": "https://evil.example"})
    assert st == 200 and "access-control-allow-origin" not in hdrs
    st, hdrs, _ = get(live_gw, "/live/cam1/index.m3u8", method="OPTIONS",
                      headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert st == 204 and "GET" in hdrs["access-control-allow-methods"]


BAD_PATHS = [
    "/live/cam1/missing.ts",
    "/live/nosuch/index.m3u8",
    "/live/cam1/.hidden.ts",
    "/live/.private/index.m3u8",
    "/live/cam1/notes.txt",
    "/live/cam1/index.m3u8.bak",
    "/live/cam1/link.ts",                       # a symbolic link out of the directory
    "/live/escape/outside.ts",                  # a linked directory: its name is fine, ...
    "/live/cam1/../outside.ts",
    "/live/cam1/..%2f..%2foutside.ts",
    "/live/cam1/%2e%2e/outside.m3u8",
    "/live/..%2foutside.ts",
    "/live/cam1/..",
    "/live/cam1/...ts",
    "/live/cam1/a..ts",
    "/live/cam1/sub/seg000.ts",
    "/live/cam1",
    "/live/cam1/",
    "/live/cam%201/index.m3u8",
    "/live/cam1/seg000.ts%00.m3u8",
    "/live/" + "a" * 65 + "/index.m3u8",
    "/live/cam1/" + "s" * 200 + ".ts",
    "/live/cam1/" + "s" * 5000 + ".ts",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_nothing_outside_hidden_or_unknown_leaves(live_gw, path):
    try:
        st, hdrs, body = get(live_gw, path)
    except http.client.RemoteDisconnected:
        assert "%00" in path  # libwebsockets drops a request with a NUL in its path
        return
    if path == "/live/escape/outside.ts" and st == 200:
        pytest.fail("served a file through a linked directory")
    assert st in (400, 404, 414, 431), (path, st, body[:200])
    assert SECRET not in body
    assert hdrs.get("content-type", "application/json").startswith(("application/json",
                                                                    "text/html"))


def test_writes_are_refused(live_gw):
    conn = live_gw.connection()
    try:
        conn.request("POST", "/live/cam1/index.m3u8", body=b"x",
                     headers={"Content-Length": "1"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 405 and "GET" in resp.getheader("Allow")
    finally:
        conn.close()


def viewers(redis_client, gw, stream):
    v = redis_client.hget("gavel:stream:%s:viewers" % stream, gw.env["GAVEL_GATEWAY_INSTANCE_ID"])
    if v is None:
        return None
    count, ms = v.decode().split(" ")
    return int(count), int(ms)


def test_distinct_players_are_counted_in_redis_and_expire(live_gw, redis_client):
    for v in ("p1", "p2", "p1", "p2", "p1"):
        st, _, _ = get(live_gw, "/live/cam3/index.m3u8?v=%s" % v)
        assert st == 200
    get(live_gw, "/live/cam3/seg000.ts?v=p3")  # segments do not count
    got = h.wait_until(lambda: (viewers(redis_client, live_gw, "cam3") or (0, 0))[0] == 2 and
                       viewers(redis_client, live_gw, "cam3"), 5, what="2 viewers in Redis")
    count, ms = got
    assert abs(ms - time.time() * 1000) < 5000
    ttl = redis_client.ttl("gavel:stream:cam3:viewers")
    assert 0 < ttl <= 30
    # a third player, then a request without `v`: the address is the id
    get(live_gw, "/live/cam3/index.m3u8?v=p3")
    get(live_gw, "/live/cam3/index.m3u8")
    get(live_gw, "/live/cam3/index.m3u8?v=..%2F..%2Fbad%20id")  # not an id: the address again
    h.wait_until(lambda: viewers(redis_client, live_gw, "cam3")[0] == 4, 5, what="4 viewers")
    assert h.metric_value(live_gw, "gavel_gateway_live_viewers") >= 4
    # nobody fetches for the window (10 s): the count falls to 0, written fresh
    h.wait_until(lambda: viewers(redis_client, live_gw, "cam3")[0] == 0, 16,
                 what="the viewers to expire")
    _, ms0 = viewers(redis_client, live_gw, "cam3")
    assert abs(ms0 - time.time() * 1000) < 3000


def test_one_address_cannot_inflate_a_count_with_invented_player_ids(live_gw, redis_client):
    """Player ids are the client's to choose: one address counts as at most
    GAVEL_GATEWAY_LIVE_VIEWERS_PER_ADDR (16) players of a stream, however many
    ids it invents, and repeating a counted id keeps counting it."""
    for i in range(60):
        st, _, _ = get(live_gw, "/live/cam2/index.m3u8?v=fake%d" % i)
        assert st == 200
    h.wait_until(lambda: (viewers(redis_client, live_gw, "cam2") or (0, 0))[0] == 16, 5,
                 what="16 viewers, the cap of one address")
    time.sleep(1.2)  # a sweep later, still the cap, not 60
    assert viewers(redis_client, live_gw, "cam2")[0] == 16
    st, _, _ = get(live_gw, "/live/cam2/index.m3u8?v=fake0")
    assert st == 200 and viewers(redis_client, live_gw, "cam2")[0] == 16


def test_a_missing_stream_counts_no_viewer(live_gw, redis_client):
    st, _, _ = get(live_gw, "/live/ghost/index.m3u8?v=p1")
    assert st == 404
    time.sleep(1.5)
    assert redis_client.exists("gavel:stream:ghost:viewers") == 0


def test_concurrent_players_get_whole_files(live_gw, live_dir):
    files = {n: (live_dir / "cam4" / n).read_bytes() for n in os.listdir(str(live_dir / "cam4"))
             if n.endswith((".ts", ".m3u8"))}
    segs = sorted(n for n in files if n.endswith(".ts"))
    before = h.metric_value(live_gw, "gavel_gateway_live_requests_total",
                            'kind="segment"') or 0

    def player(i):
        conn = live_gw.connection()
        bad = []
        try:
            for k in range(20):
                name = "index.m3u8" if k % 2 == 0 else segs[(i + k) % len(segs)]
                conn.request("GET", "/live/cam4/%s?v=c%d" % (name, i))
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or body != files[name]:
                    bad.append((name, resp.status, len(body)))
        finally:
            conn.close()
        return bad

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(player, range(80)))
    assert all(r == [] for r in results), [r for r in results if r][:3]
    after = h.metric_value(live_gw, "gavel_gateway_live_requests_total", 'kind="segment"')
    assert after - before == 80 * 10
    assert h.metric_value(live_gw, "gavel_gateway_live_cache_hits_total") > 0
