#!/usr/bin/env python3
"""Ingest-to-player latency of the venue video (tests/bench/streaming_latency.sh
runs it; make bench runs that).

    streaming_latency.py STREAMING_ADDR USERS_ADDR ADMIN_ENV LIVE_BASE SECONDS SEGMENT_S LOG

Creates a stream as the admin, publishes ffmpeg's test pattern (a
keyframe every SEGMENT_S seconds, as an encoder set up for the ingest
would) to the stream's ingest URL for SECONDS, and plays it the way an HLS
player does: polls LIVE_BASE/<name>/index.m3u8 every 100 ms and fetches
each new segment at once. For every segment (but the first, maybe
partial, and the one flushed after the publisher stopped): the wall clock
when its fetch completed minus its EXT-X-PROGRAM-DATE-TIME (the wall time of its
first frame at the ingest). That is the earliest moment a player could
show the frame; a player's own buffer (hls.js: about 3 target durations
by default, 1-2 with its low-latency settings) comes on top. Prints one
line: segment_s=… segments=… p50_ms=… p99_ms=… max_ms=… streaming_latency_ms=…
(the daemon's GetStream.latency_ms, sampled while live).
"""
import os
import sys
import time
import urllib.error
import urllib.request

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "streaming"))
from stream_kit import Publisher, create_request, parse_playlist, streaming_pb2  # noqa: E402
from stream_kit import streaming_pb2_grpc  # noqa: E402
from gavel.users.v1 import users_pb2, users_pb2_grpc  # noqa: E402


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read()
    except (urllib.error.URLError, OSError):
        return None


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    addr, users_addr, admin_env, base, seconds, seg, log = sys.argv[1:8]
    seconds, seg = int(seconds), int(seg)
    creds = dict(line.strip().split("=", 1) for line in open(admin_env) if "=" in line)
    users = users_pb2_grpc.UsersStub(grpc.insecure_channel(users_addr))
    tok = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                             password=creds["GAVEL_ADMIN_PASSWORD"]),
                      timeout=10).tokens.access_token
    md = (("authorization", "Bearer " + tok),)
    strm = streaming_pb2_grpc.StreamingStub(grpc.insecure_channel(addr))
    resp = strm.CreateStream(create_request(int.from_bytes(os.urandom(5), "big") + 1,
                                            title="latency bench"), metadata=md, timeout=10)
    name = resp.stream.name
    pub = Publisher("%s/%s" % (resp.ingest_url, resp.stream_key), seconds, gop_s=seg,
                    log_path=log)
    seen, lat, daemon = set(), [], []
    deadline = time.time() + seconds + 10
    try:
        while time.time() < deadline:
            text = fetch("%s/%s/index.m3u8" % (base, name))
            if text is not None:
                segs, ended = parse_playlist(text.decode("utf-8", "replace"))
                for uri, dur, pdt in segs:
                    if uri in seen or pdt is None:
                        continue
                    seen.add(uri)
                    # The first segment may be partial; the last one, listed with
                    # EXT-X-ENDLIST, is flushed when ffmpeg sees the publisher
                    # gone (seconds later): neither is live delivery.
                    if fetch("%s/%s/%s" % (base, name, uri)) is not None and len(seen) > 1 \
                            and not ended:
                        lat.append((time.time() - pdt) * 1000.0)  # the first may be partial
                        print("segment %s duration %.3f s latency %.0f ms"
                              % (uri, dur or 0, lat[-1]), file=sys.stderr)
                if ended and not pub.is_running():
                    break
            if len(seen) % 4 == 3:
                got = strm.GetStream(streaming_pb2.GetStreamRequest(
                    stream_id=resp.stream.stream_id), metadata=md, timeout=5).stream
                if got.latency_ms > 0:
                    daemon.append(got.latency_ms)
            time.sleep(0.1)
    finally:
        pub.stop()
        strm.RevokeKey(streaming_pb2.RevokeKeyRequest(stream_id=resp.stream.stream_id),
                       metadata=md, timeout=10)
    if not lat:
        print("segment_s=%d segments=0 (no segment arrived; see %s)" % (seg, log))
        return 1
    print("segment_s=%d segments=%d p50_ms=%.0f p99_ms=%.0f max_ms=%.0f streaming_latency_ms=%s"
          % (seg, len(lat), percentile(lat, 50), percentile(lat, 99), max(lat),
             ("%.0f" % percentile(daemon, 50)) if daemon else "-"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
