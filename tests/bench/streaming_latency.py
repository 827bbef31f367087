#!/usr/bin/env python3
"""Ingest-to-player latency of the venue video (tests/bench/streaming_latency.sh
runs it; make bench runs that).

    streaming_latency.py STREAMING_ADDR USERS_ADDR ADMIN_ENV LIVE_BASES SECONDS SEGMENT_S LOG

LIVE_BASES: label=url[,label=url…], e.g. nginx=http://127.0.0.1:50987/live,
gateway=http://127.0.0.1:8080/live: one player per base, all on the same
publish, so the figures of each path come from one run.

Creates a stream as the admin, publishes ffmpeg's test pattern (a
keyframe every SEGMENT_S seconds, as an encoder set up for the ingest
would) to the stream's ingest URL for SECONDS, and plays it the way an HLS
player does: polls <base>/<name>/index.m3u8 every 100 ms and fetches
each new segment at once. For every segment (but the first, maybe
partial, and the one flushed after the publisher stopped): the wall clock
when its fetch completed minus its EXT-X-PROGRAM-DATE-TIME (the wall time of its
first frame at the ingest). That is the earliest moment a player could
show the frame; a player's own buffer (hls.js: about 3 target durations
by default, 1-2 with its low-latency settings) comes on top. Prints one
line per base: via=… segment_s=… segments=… p50_ms=… p99_ms=… max_ms=…
streaming_latency_ms=… (the daemon's GetStream.latency_ms, sampled while
live).
"""
import os
import sys
import threading
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
    players = [Player(label, url, name, pub) for label, url in
               (b.split("=", 1) for b in base.split(","))]
    for pl in players:
        pl.start()
    daemon = []
    deadline = time.time() + seconds + 10
    try:
        while time.time() < deadline and any(pl.is_alive() for pl in players):
            got = strm.GetStream(streaming_pb2.GetStreamRequest(
                stream_id=resp.stream.stream_id), metadata=md, timeout=5).stream
            if got.latency_ms > 0:
                daemon.append(got.latency_ms)
            time.sleep(0.4)
    finally:
        for pl in players:
            pl.stop_at = 0
        for pl in players:
            pl.join()
        pub.stop()
        strm.RevokeKey(streaming_pb2.RevokeKeyRequest(stream_id=resp.stream.stream_id),
                       metadata=md, timeout=10)
    rc = 0
    for pl in players:
        if not pl.lat:
            print("via=%s segment_s=%d segments=0 (no segment arrived; see %s)"
                  % (pl.label, seg, log))
            rc = 1
            continue
        print("via=%s segment_s=%d segments=%d p50_ms=%.0f p99_ms=%.0f max_ms=%.0f "
              "streaming_latency_ms=%s"
              % (pl.label, seg, len(pl.lat), percentile(pl.lat, 50), percentile(pl.lat, 99),
                 max(pl.lat), ("%.0f" % percentile(daemon, 50)) if daemon else "-"))
    return rc


class Player(threading.Thread):
    """Polls one base's playlist and fetches each new segment at once."""

    def __init__(self, label, base, name, pub):
        super().__init__(daemon=True)
        self.label, self.base, self.name, self.pub = label, base, name, pub
        self.lat = []
        self.stop_at = time.time() + 3600

    def run(self):
        seen = set()
        while time.time() < self.stop_at:
            text = fetch("%s/%s/index.m3u8" % (self.base, self.name))
            if text is not None:
                segs, ended = parse_playlist(text.decode("utf-8", "replace"))
                for uri, dur, pdt in segs:
                    if uri in seen or pdt is None:
                        continue
                    seen.add(uri)
                    # The first segment may be partial; the last one, listed with
                    # EXT-X-ENDLIST, is flushed when ffmpeg sees the publisher
                    # gone (seconds later): neither is live delivery.
                    if fetch("%s/%s/%s" % (self.base, self.name, uri)) is not None and \
                            len(seen) > 1 and not ended:
                        self.lat.append((time.time() - pdt) * 1000.0)
                        print("%s: segment %s duration %.3f s latency %.0f ms"
                              % (self.label, uri, dur or 0, self.lat[-1]), file=sys.stderr)
                if ended and not self.pub.is_running():
                    return
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
