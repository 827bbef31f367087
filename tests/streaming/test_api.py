"""gavel.streaming.v1.Streaming over gRPC: who may create streams, what
every field must be, keys shown once and stored only as their hash, the
idempotency key of CreateStream, one unrevoked stream per session even
under concurrent calls, listing and the key calls."""
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import gavel_harness as h
from stream_kit import (HOUR_US, REVOKED, SCHEDULED, create_request, is_key_shaped,
                        now_us, streaming_pb2)

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def test_only_staff_create_streams(strm_stub, bidder, seller, session_id):
    req = create_request(session_id)
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, strm_stub.CreateStream, req)
    for who in (bidder, seller):
        h.expect_error(grpc.StatusCode.PERMISSION_DENIED, strm_stub.CreateStream, req, who.md)


def test_clerk_and_admin_create_streams(strm_stub, clerk, admin, session_id):
    a = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    b = h.call(strm_stub.CreateStream, create_request(session_id + 500000000), admin.md)
    for resp, who in ((a, clerk), (b, admin)):
        s = resp.stream
        assert s.status == SCHEDULED and s.created_by == who.id
        assert s.playback_url == "/live/%s/index.m3u8" % s.name
        assert resp.ingest_url.startswith("rtmp://") and resp.ingest_url.endswith("/live")
        assert s.key_expires_at_us == s.scheduled_end_us
        assert s.segment_ms > 0 and s.live_since_us == 0 and s.latency_ms == 0


@pytest.mark.parametrize("change, field", [
    (dict(session_id=0), "session_id"),
    (dict(session_id=-5), "session_id"),
    (dict(title=""), "title"),
    (dict(title="x" * 201), "title"),
    (dict(title="bad\x01title"), "title"),
    (dict(scheduled_start_us=1), "scheduled_start_us"),
    (dict(scheduled_start_us=-1), "scheduled_start_us"),
    (dict(scheduled_end_us=0), "scheduled_end_us"),
    (dict(scheduled_end_us="start"), "scheduled_end_us"),
    (dict(scheduled_end_us="start+25h"), "scheduled_end_us"),
    (dict(scheduled_start_us="now+400d"), "scheduled_start_us"),
    (dict(idempotency_key="has space"), "idempotency_key"),
    (dict(idempotency_key="k" * 129), "idempotency_key"),
])
def test_every_field_is_checked(strm_stub, clerk, session_id, change, field):
    req = create_request(session_id)
    for k, v in change.items():
        if v == "start":
            v = req.scheduled_start_us
        elif v == "start+25h":
            v = req.scheduled_start_us + 25 * HOUR_US
        elif v == "now+400d":
            v = now_us() + 400 * 24 * HOUR_US
        setattr(req, k, v)
    h.expect_error(INVALID, strm_stub.CreateStream, req, clerk.md, field=field)


def test_a_start_up_to_an_hour_past_is_accepted(strm_stub, clerk, session_id):
    req = create_request(session_id, start_us=now_us() - HOUR_US + 60 * 1000000)
    assert h.call(strm_stub.CreateStream, req, clerk.md).stream.status == SCHEDULED
    req = create_request(session_id + 1, start_us=now_us() - HOUR_US - 60 * 1000000)
    h.expect_error(INVALID, strm_stub.CreateStream, req, clerk.md, field="scheduled_start_us")


def test_malformed_and_oversized_requests_are_refused(streaming, strm_stub, clerk, session_id):
    raw = h.raw_method(streaming.channel, "/gavel.streaming.v1.Streaming/CreateStream")
    for junk in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\x0f", b"\x12\x05ab"):
        with pytest.raises(grpc.RpcError) as e:
            raw(junk, metadata=clerk.md, timeout=h.RPC_TIMEOUT)
        assert e.value.code() == INVALID, e.value.details()
    big = create_request(session_id, title="x" * 100000)
    with pytest.raises(grpc.RpcError) as e:
        strm_stub.CreateStream(big, metadata=clerk.md, timeout=h.RPC_TIMEOUT)
    assert e.value.code() in (INVALID, grpc.StatusCode.RESOURCE_EXHAUSTED), e.value.details()
    # Still serving, and the session was not taken.
    assert h.call(strm_stub.CreateStream, create_request(session_id), clerk.md).stream.stream_id


def test_the_key_is_shown_once_and_only_its_hash_is_stored(strm_stub, strm_db, clerk, bidder,
                                                           session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    key, s = resp.stream_key, resp.stream
    assert is_key_shaped(key), key
    assert s.name and s.name not in key and key not in s.name and len(s.name) == 16
    with strm_db.cursor() as cur:
        cur.execute("SELECT * FROM streams WHERE id = %s", (s.stream_id,))
        row = cur.fetchone()
        cols = [d.name for d in cur.description]
    stored = dict(zip(cols, row))
    assert stored["key_sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert all(key not in str(v) for v in row), "the key itself is stored"
    got = h.call(strm_stub.GetStream, streaming_pb2.GetStreamRequest(stream_id=s.stream_id),
                 bidder.md)
    assert key not in str(got) and got.stream.name == s.name and got.server_time_us > 0
    listed = h.call(strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(
        session_id=session_id), bidder.md)
    assert [x.stream_id for x in listed.streams] == [s.stream_id]
    assert key not in str(listed)
    # Two streams never share a key or a name.
    other = h.call(strm_stub.CreateStream, create_request(session_id + 1), clerk.md)
    assert other.stream_key != key and other.stream.name != s.name


def test_a_retry_with_the_idempotency_key_returns_the_stream_without_the_key(
        strm_stub, strm_db, clerk, session_id):
    req = create_request(session_id, key=h.idem())
    first = h.call(strm_stub.CreateStream, req, clerk.md)
    again = h.call(strm_stub.CreateStream, req, clerk.md)
    assert first.stream_key and again.stream_key == ""
    with strm_db.cursor() as cur:  # the stored answer never held the key
        cur.execute("SELECT response FROM idem_keys WHERE key = %s", (req.idempotency_key,))
        stored = bytes(cur.fetchone()[0])
    assert first.stream.name.encode() in stored and first.stream_key.encode() not in stored
    assert again.stream.stream_id == first.stream.stream_id
    assert again.stream.name == first.stream.name
    changed = create_request(session_id, title="another title", key=req.idempotency_key,
                             start_us=req.scheduled_start_us)
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, strm_stub.CreateStream, changed,
                   clerk.md, field="idempotency_key")
    # Without a key, a second stream for the session is refused.
    h.expect_error(grpc.StatusCode.ALREADY_EXISTS, strm_stub.CreateStream,
                   create_request(session_id), clerk.md)


def test_concurrent_creates_for_one_session_make_exactly_one_stream(
        strm_stub, clerk, session_id):
    def create(i):
        try:
            return h.call(strm_stub.CreateStream, create_request(session_id, key=h.idem()),
                          clerk.md).stream.stream_id
        except grpc.RpcError as e:
            return e.code()

    with ThreadPoolExecutor(max_workers=8) as ex:
        got = list(ex.map(create, range(16)))
    won = [g for g in got if isinstance(g, int)]
    assert len(won) == 1, got
    assert all(g == grpc.StatusCode.ALREADY_EXISTS for g in got if not isinstance(g, int)), got
    listed = h.call(strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(
        session_id=session_id), clerk.md)
    assert [x.stream_id for x in listed.streams] == won


def test_revoke_is_idempotent_and_frees_the_session(strm_stub, clerk, bidder, session_id):
    s = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md).stream
    req = streaming_pb2.RevokeKeyRequest(stream_id=s.stream_id)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, strm_stub.RevokeKey, req, bidder.md)
    one = h.call(strm_stub.RevokeKey, req, clerk.md).stream
    two = h.call(strm_stub.RevokeKey, req, clerk.md).stream
    assert one.status == two.status == REVOKED
    h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, strm_stub.RotateKey,
                   streaming_pb2.RotateKeyRequest(stream_id=s.stream_id), clerk.md)
    # The session may have a new stream now.
    again = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md).stream
    assert again.stream_id != s.stream_id


def test_rotate_gives_a_new_key(strm_stub, strm_db, clerk, bidder, session_id):
    first = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    req = streaming_pb2.RotateKeyRequest(stream_id=first.stream.stream_id)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, strm_stub.RotateKey, req, bidder.md)
    rot = h.call(strm_stub.RotateKey, req, clerk.md)
    assert is_key_shaped(rot.stream_key) and rot.stream_key != first.stream_key
    assert rot.stream.name == first.stream.name and rot.ingest_url == first.ingest_url
    with strm_db.cursor() as cur:
        cur.execute("SELECT key_sha256 FROM streams WHERE id = %s", (first.stream.stream_id,))
        assert cur.fetchone()[0] == hashlib.sha256(rot.stream_key.encode()).hexdigest()


def test_unknown_and_bad_ids(strm_stub, clerk, bidder):
    for method, req in ((strm_stub.GetStream, streaming_pb2.GetStreamRequest),
                        (strm_stub.RotateKey, streaming_pb2.RotateKeyRequest),
                        (strm_stub.RevokeKey, streaming_pb2.RevokeKeyRequest)):
        who = bidder if method == strm_stub.GetStream else clerk
        h.expect_error(grpc.StatusCode.NOT_FOUND, method, req(stream_id=2 ** 62), who.md)
        h.expect_error(INVALID, method, req(stream_id=0), who.md, field="stream_id")
        h.expect_error(INVALID, method, req(stream_id=-1), who.md, field="stream_id")
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, strm_stub.GetStream,
                   streaming_pb2.GetStreamRequest(stream_id=1))


def test_list_pages_newest_first_and_filters(strm_stub, clerk, bidder, session_id):
    ids = []
    for i in range(5):
        ids.append(h.call(strm_stub.CreateStream, create_request(session_id + i),
                          clerk.md).stream.stream_id)
    h.call(strm_stub.RevokeKey, streaming_pb2.RevokeKeyRequest(stream_id=ids[0]), clerk.md)
    seen, token = [], ""
    while True:
        page = h.call(strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(
            status=SCHEDULED, page={"page_size": 2, "page_token": token}), bidder.md)
        seen += [s.stream_id for s in page.streams]
        assert all(s.status == SCHEDULED for s in page.streams)
        token = page.page.next_page_token
        if not token or len(seen) > 400:
            break
    mine = [i for i in seen if i in ids]
    assert mine == sorted(ids[1:], reverse=True)
    revoked = h.call(strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(
        session_id=session_id, status=REVOKED), bidder.md)
    assert [s.stream_id for s in revoked.streams] == [ids[0]]
    for bad, field in ((dict(page={"page_token": "abc"}), "page_token"),
                       (dict(page={"page_size": 201}), "page_size"),
                       (dict(page={"page_size": -1}), "page_size"),
                       (dict(status=9), "status"), (dict(session_id=-1), "session_id")):
        h.expect_error(INVALID, strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(**bad),
                       bidder.md, field=field)


def test_viewers_are_the_fresh_counts_of_every_gateway(streaming, strm_stub, clerk, bidder,
                                                       session_id):
    import redis
    host, port = streaming.env["GAVEL_REDIS_ADDR"].rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port), socket_timeout=10)
    s = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md).stream
    key = "gavel:stream:%s:viewers" % s.name
    now_ms = int(time.time() * 1000)
    r.hset(key, mapping={"gw-a": "7 %d" % now_ms, "gw-b": "5 %d" % (now_ms - 2000),
                         "gw-old": "100 %d" % (now_ms - 60000),   # a gateway gone
                         "gw-junk": "lots", "gw-neg": "-4 %d" % now_ms})
    r.expire(key, 30)
    try:
        got = h.call(strm_stub.GetStream, streaming_pb2.GetStreamRequest(stream_id=s.stream_id),
                     bidder.md).stream
        assert got.viewers == 12
        listed = h.call(strm_stub.ListStreams, streaming_pb2.ListStreamsRequest(
            session_id=session_id), bidder.md).streams
        assert [x.viewers for x in listed] == [12]
    finally:
        r.delete(key)
    got = h.call(strm_stub.GetStream, streaming_pb2.GetStreamRequest(stream_id=s.stream_id),
                 bidder.md).stream
    assert got.viewers == 0
