"""The ingest for real: Debian's ffmpeg publishes a test pattern with a
burned-in clock over RTMP to nginx (libnginx-mod-rtmp), whose callbacks go
to the streaming daemon; ffmpeg (exec_push) writes HLS under the stream's
public name. A valid key goes live and its segments arrive, about a
second each, with EXT-X-PROGRAM-DATE-TIME; invalid, revoked and expired
keys are refused by nginx through the callback; a stopped publisher ends
the stream; revoking or rotating drops a live publisher."""
import os
import re
import socket
import time
import urllib.parse

import gavel_harness as h
import pytest
from stream_kit import (ENDED, HOUR_US, LIVE, REVOKED, Publisher, create_request, http_get,
                        now_us, parse_playlist, random_key, read_playlist, streaming_pb2)
from stream_kit import wait_for as _wait_for

REFUSED_WITHIN = 15 * h.SLOW
_where = {}


@pytest.fixture(autouse=True)
def _diagnosis(stack, streaming):
    _where.update(stack=stack, streaming=streaming)
    yield
    _where.clear()


def _tail(path, n=8):
    try:
        with open(path, "rb") as f:
            lines = f.read()[-8192:].decode("utf-8", "replace").splitlines()
        return "\n  ".join(lines[-n:]) or "(empty)"
    except OSError as e:
        return "(%s)" % e.strerror


def wait_for(pred, timeout, what):
    """stream_kit.wait_for; a timeout also shows the ingest's state and
    logs (a CI run shows only what the assertion says)."""
    try:
        return _wait_for(pred, timeout, what)
    except AssertionError as e:
        stack, strm = _where["stack"], _where["streaming"]
        logs = os.path.join(stack.run_dir, "logs")
        pubs = sorted((p for p in os.listdir(logs) if p.startswith("publisher-")),
                      key=lambda p: os.path.getmtime(os.path.join(logs, p)))
        hls = os.path.join(stack.run_dir, "nginx", "logs")
        hls_logs = sorted(os.listdir(hls), key=lambda p: os.path.getmtime(
            os.path.join(hls, p))) if os.path.isdir(hls) else []
        parts = ["status: " + " | ".join(ln for ln in stack._stack("status", check=False)
                                         .splitlines() if "ingest" in ln or "streaming" in ln),
                 "nginx.log:\n  " + _tail(os.path.join(logs, "nginx.log"))]
        if pubs:
            parts.append("%s:\n  %s" % (pubs[-1], _tail(os.path.join(logs, pubs[-1]))))
        if hls_logs:
            parts.append("%s:\n  %s" % (hls_logs[-1], _tail(os.path.join(hls, hls_logs[-1]))))
        parts.append("streaming daemon:\n  " + strm.log_tail(8).replace("\n", "\n  "))
        raise AssertionError("%s\n%s" % (e, "\n".join(parts))) from None


def publisher(ingest, key, seconds, stack_dir, tag):
    log = os.path.join(stack_dir, "logs", "publisher-%s.log" % tag)
    return Publisher("%s/%s" % (ingest["rtmp"], key), seconds, log_path=log)


def get(strm_stub, who, stream_id):
    return h.call(strm_stub.GetStream, streaming_pb2.GetStreamRequest(stream_id=stream_id),
                  who.md).stream


def assert_refused(ingest, key, stack, tag):
    pub = publisher(ingest, key, 5, stack.run_dir, tag)
    rc = pub.wait(REFUSED_WITHIN)
    assert rc != 0, "ffmpeg published with a %s key" % tag
    assert not os.path.exists(os.path.join(ingest["live_dir"], key))


def test_a_valid_key_goes_live_and_segments_arrive(ingest, stack, strm_stub, clerk, bidder,
                                                   session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    s, key = resp.stream, resp.stream_key
    pub = publisher(ingest, key, 9, stack.run_dir, "valid")
    try:
        def segments():
            text = read_playlist(ingest["live_dir"], s.name)
            segs = parse_playlist(text)[0] if text else []
            return segs if len(segs) >= 4 else None
        segs = wait_for(segments, 20 * h.SLOW, "4 segments under the public name")
        # The first segment runs from the first frame the ingest got (mid
        # keyframe interval) to the second keyframe after it: up to two
        # intervals. The others are one keyframe interval each.
        assert segs[0][1] is not None and 0 < segs[0][1] <= 2.2, segs
        for uri, dur, pdt in segs[1:]:
            assert dur is not None and 0 < dur <= 1.2, segs
        for uri, dur, pdt in segs:
            assert pdt is not None and abs(pdt - time.time()) < 30, segs
        # Consecutive segments' dates follow their durations.
        for (_, d0, p0), (_, _, p1) in zip(segs, segs[1:]):
            assert abs((p1 - p0) - d0) < 0.1, segs
        live = get(strm_stub, bidder, s.stream_id)
        assert live.status == LIVE and live.live_since_us > 0
        assert 0 < live.latency_ms < 3000, live.latency_ms
        # nginx serves the same files (the benchmark's baseline).
        status, body = http_get("%s/%s/index.m3u8" % (ingest["hls_url"], s.name))
        assert status == 200 and b"#EXT-X-PROGRAM-DATE-TIME" in body
        status, ts = http_get("%s/%s/%s" % (ingest["hls_url"], s.name, segs[-1][0]))
        assert status == 200 and ts[:1] == b"\x47" and len(ts) > 1000  # MPEG-TS sync byte
        # The key appears in no file or directory name of the HLS tree.
        for root, dirs, files in os.walk(ingest["live_dir"]):
            assert all(key not in n for n in dirs + files)
        assert pub.wait(20 * h.SLOW) == 0
    finally:
        pub.stop()

    def ended():
        got = get(strm_stub, bidder, s.stream_id)
        return got if got.status == ENDED else None
    got = wait_for(ended, 10 * h.SLOW, "the stream to end after the publisher stopped")
    assert got.ended_at_us >= got.created_at_us and got.live_since_us == 0 and got.latency_ms == 0
    wait_for(lambda: parse_playlist(read_playlist(ingest["live_dir"], s.name) or "")[1],
             10 * h.SLOW, "EXT-X-ENDLIST once the publisher stopped")


def test_unknown_revoked_and_expired_keys_are_refused(ingest, stack, strm_stub, clerk,
                                                      session_id):
    assert_refused(ingest, random_key(), stack, "unknown")
    revoked = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    h.call(strm_stub.RevokeKey, streaming_pb2.RevokeKeyRequest(
        stream_id=revoked.stream.stream_id), clerk.md)
    assert_refused(ingest, revoked.stream_key, stack, "revoked")
    # The window closed: the key expired at scheduled_end_us.
    start = now_us() - HOUR_US + 30 * 1000000
    expired = h.call(strm_stub.CreateStream, create_request(
        session_id + 1, start_us=start, length_us=now_us() - start + 500000), clerk.md)
    time.sleep(max(0, (expired.stream.scheduled_end_us - now_us()) / 1e6) + 0.2)
    assert_refused(ingest, expired.stream_key, stack, "expired")
    # The window is not open yet (it opens an hour before the start).
    later = h.call(strm_stub.CreateStream, create_request(
        session_id + 2, start_us=now_us() + 2 * HOUR_US), clerk.md)
    assert_refused(ingest, later.stream_key, stack, "early")
    for r in (expired, later):
        assert get(strm_stub, clerk, r.stream.stream_id).status not in (LIVE, ENDED)


def wait_status(strm_stub, who, stream_id, status, timeout, what):
    return wait_for(lambda: get(strm_stub, who, stream_id).status == status, timeout, what)


def test_rotation_refuses_the_old_key_and_drops_its_publisher(ingest, stack, strm_stub, clerk,
                                                              session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    sid = resp.stream.stream_id
    old = publisher(ingest, resp.stream_key, 60, stack.run_dir, "rotated-live")
    try:
        wait_status(strm_stub, clerk, sid, LIVE, 15 * h.SLOW, "LIVE with the first key")
        rot = h.call(strm_stub.RotateKey, streaming_pb2.RotateKeyRequest(stream_id=sid), clerk.md)
        assert old.wait(10 * h.SLOW) != 0, "the old key's publisher was not dropped"
    finally:
        old.stop()
    assert_refused(ingest, resp.stream_key, stack, "rotated")
    new = publisher(ingest, rot.stream_key, 4, stack.run_dir, "rotated-new")
    try:
        wait_status(strm_stub, clerk, sid, LIVE, 15 * h.SLOW, "LIVE with the new key")
        assert new.wait(20 * h.SLOW) == 0
    finally:
        new.stop()
    wait_status(strm_stub, clerk, sid, ENDED, 10 * h.SLOW, "ENDED after the new publisher")


def test_revoking_drops_a_live_publisher(ingest, stack, strm_stub, clerk, bidder, session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    sid = resp.stream.stream_id
    pub = publisher(ingest, resp.stream_key, 60, stack.run_dir, "revoked-live")
    try:
        wait_status(strm_stub, clerk, sid, LIVE, 15 * h.SLOW, "LIVE")
        t0 = time.monotonic()
        got = h.call(strm_stub.RevokeKey, streaming_pb2.RevokeKeyRequest(stream_id=sid),
                     clerk.md).stream
        assert got.status == REVOKED and got.ended_at_us > 0
        assert pub.wait(10 * h.SLOW) != 0, "the publisher was not dropped"
        assert time.monotonic() - t0 < 5 * h.SLOW
    finally:
        pub.stop()
    after = get(strm_stub, bidder, sid)
    assert after.status == REVOKED and after.live_since_us == 0


def test_stopping_the_ingest_leaves_no_ffmpeg(ingest, stack, strm_stub, clerk, session_id):
    resp = h.call(strm_stub.CreateStream, create_request(session_id), clerk.md)
    sid = resp.stream.stream_id
    pub = publisher(ingest, resp.stream_key, 60, stack.run_dir, "ingest-stop")
    try:
        wait_status(strm_stub, clerk, sid, LIVE, 15 * h.SLOW, "LIVE")
        assert ffmpeg_writing(ingest["live_dir"]), "no ffmpeg writes the HLS"
        stack._stack("ingest-stop")
        assert not ffmpeg_writing(ingest["live_dir"])
        assert pub.wait(10 * h.SLOW) != 0, "the publisher outlived the ingest"
    finally:
        pub.stop()
        stack._stack("ingest")  # the session's ingest, for the tests after this one
    assert re.search(r"^ingest +running", stack._stack("status"), re.M)


def ffmpeg_writing(live_dir):
    """Pids of ffmpeg processes whose command line names live_dir."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"ffmpeg") and any(
                a.startswith(live_dir.encode() + b"/") for a in cmd):
            pids.append(int(pid))
    return pids


def test_an_ingest_that_cannot_bind_every_port_is_a_failed_start(ingest, stack):
    """nginx binds the RTMP port first and retries the others for a few
    seconds before it gives up: a port held by a socket that does not
    listen (an outgoing connection's source port, say) must make
    `stack.sh ingest` fail, not look started while nginx is on its way out."""
    control = urllib.parse.urlsplit(ingest["control_url"]).port
    stack._stack("ingest-stop")
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", control))  # bound, never listening
        with pytest.raises(RuntimeError, match=r"bind\(\) to 127\.0\.0\.1:%d failed[\s\S]*"
                           r"ingest \(nginx RTMP\) did not listen on" % control):
            stack._stack("ingest")
        assert not re.search(r"^ingest +running", stack._stack("status"), re.M)
    finally:
        held.close()
        stack._stack("ingest")  # the session's ingest, for the tests after this one
    assert re.search(r"^ingest +running", stack._stack("status"), re.M)
