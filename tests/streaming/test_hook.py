"""The loopback HTTP hook nginx-rtmp calls (on_publish, on_publish_done,
on_update), driven directly: unknown keys are refused, a good key is
redirected to the stream's public name, and malformed or oversized
requests get a 4xx without hurting the daemon."""
import http.client
import urllib.parse

import gavel_harness as h
from stream_kit import LIVE, ENDED, create_request, random_key, streaming_pb2


def hook(streaming, body, method="POST", path="/rtmp", ctype="application/x-www-form-urlencoded"):
    port = int(streaming.env["GAVEL_STREAMING_HOOK_PORT"])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
        conn.request(method, path, body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        return r.status, r.getheader("Location"), r.read()
    finally:
        conn.close()


def form(call, name, clientid="7"):
    return {"app": "live", "flashver": "FMLE/3.0", "swfurl": "", "tcurl":
            "rtmp://127.0.0.1/live", "pageurl": "", "addr": "127.0.0.1", "clientid": clientid,
            "call": call, "name": name, "type": "live"}


def test_publish_with_an_unknown_or_misshapen_key_is_refused(streaming):
    for name in (random_key(), "", "short", "x" * 43, "../../etc", random_key() + "A"):
        status, loc, _ = hook(streaming, form("publish", name))
        assert status == 403 and loc is None, (name, status)


def test_a_good_key_is_redirected_to_the_public_name_then_ends(streaming, strm_stub, clerk,
                                                                bidder, session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    s = resp.stream
    status, loc, _ = hook(streaming, form("publish", resp.stream_key, "41"))
    assert (status, loc) == (302, s.name)
    get = streaming_pb2.GetStreamRequest(stream_id=s.stream_id)
    live = h.call(strm_stub.GetStream, get, bidder.md).stream
    assert live.status == LIVE and live.live_since_us > 0
    # on_update while live: by public name or by key.
    assert hook(streaming, form("update_publish", s.name, "41"))[0] == 200
    assert hook(streaming, form("update_publish", resp.stream_key, "41"))[0] == 200
    assert hook(streaming, form("update_play", s.name, "42"))[0] == 200
    # Another publisher's publish_done does not end the stream; its own does.
    assert hook(streaming, form("publish_done", s.name, "99"))[0] == 200
    assert h.call(strm_stub.GetStream, get, bidder.md).stream.status == LIVE
    assert hook(streaming, form("publish_done", s.name, "41"))[0] == 200
    ended = h.call(strm_stub.GetStream, get, bidder.md).stream
    assert ended.status == ENDED and ended.ended_at_us > 0 and ended.live_since_us == 0
    # Once ended, on_update drops whoever still claims the name.
    assert hook(streaming, form("update_publish", s.name, "41"))[0] == 403


def test_bad_requests_get_4xx_and_the_daemon_lives(streaming):
    key = random_key()
    cases = [
        (dict(body=form("publish", key), method="GET"), 405),
        (dict(body=form("publish", key), path="/other"), 404),
        (dict(body=form("publish", key), path="/rtmp/../x"), 404),
        (dict(body="call=publish"), 400),                       # no name
        (dict(body="name=" + key), 400),                        # no call
        (dict(body="call=publish&name=%zz"), 400),              # bad escape
        (dict(body="call=publish&name=%4"), 400),               # cut escape
        (dict(body="call=publish&name=a%00b"), 400),            # NUL
        (dict(body="call=nonsense&name=" + key), 400),
        (dict(body="call=publish&name=" + "a" * 300), 400),     # longer than any name
        (dict(body="call=publish&name=%s&clientid=%s" % (key, "9" * 100)), 400),
        (dict(body=b"\xff\xfe\x00\x01" * 64), 400),
        (dict(body="call=publish&name=" + "a" * 20000), 413),   # over 8 KiB
        (dict(body=b"x" * (1024 * 1024)), 413),
    ]
    for kw, want in cases:
        status = hook(streaming, **kw)[0]
        assert status == want, (kw.get("path"), str(kw.get("body"))[:60], status)
    assert streaming.is_running()
    assert hook(streaming, form("publish", key))[0] == 403


def test_a_key_publishes_once_at_a_time(streaming, strm_stub, strm_db, clerk, bidder,
                                        session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    s, key = resp.stream, resp.stream_key
    assert hook(streaming, form("publish", key, "41"))[:2] == (302, s.name)
    # A second encoder with the same key (a leaked key, or a double start)
    # is refused while the first one is heard from.
    assert hook(streaming, form("publish", key, "42"))[0] == 403
    assert hook(streaming, form("update_publish", s.name, "42"))[0] == 403
    assert hook(streaming, form("update_publish", s.name, "41"))[0] == 200
    # Its publish_done (if nginx sends one) does not end the first's stream.
    assert hook(streaming, form("publish_done", s.name, "42"))[0] == 200
    get = streaming_pb2.GetStreamRequest(stream_id=s.stream_id)
    assert h.call(strm_stub.GetStream, get, bidder.md).stream.status == LIVE
    # A publisher gone without a publish_done (nginx killed) stops blocking
    # the key once silent for 15 s: a new encoder takes over.
    with strm_db.cursor() as cur:
        cur.execute("UPDATE streams SET publisher_seen_us = publisher_seen_us - 16000000 "
                    "WHERE id = %s", (s.stream_id,))
    assert hook(streaming, form("publish", key, "43"))[:2] == (302, s.name)
    assert hook(streaming, form("update_publish", s.name, "41"))[0] == 403
    assert hook(streaming, form("update_publish", s.name, "43"))[0] == 200
