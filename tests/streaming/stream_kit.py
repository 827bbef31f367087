"""Helpers of the streaming system tests: the Streaming stub, a publisher
(Debian's ffmpeg sending a test pattern with a burned-in clock over RTMP,
as a venue's encoder would), and readers of the HLS the ingest writes.
Also used by tests/bench/streaming_latency.py."""
import base64
import datetime
import os
import re
import subprocess
import time
import urllib.request

from gavel.streaming.v1 import streaming_pb2, streaming_pb2_grpc

__all__ = ["streaming_pb2", "streaming_pb2_grpc"]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
HOUR_US = 3600 * 1000000
SCHEDULED = streaming_pb2.STREAM_STATUS_SCHEDULED
LIVE = streaming_pb2.STREAM_STATUS_LIVE
ENDED = streaming_pb2.STREAM_STATUS_ENDED
REVOKED = streaming_pb2.STREAM_STATUS_REVOKED


def now_us():
    return int(time.time() * 1000000)


def create_request(session_id, title="Moscow, hall 2, Saturday sale", start_us=None,
                   length_us=2 * HOUR_US, key=""):
    start = now_us() if start_us is None else start_us
    return streaming_pb2.CreateStreamRequest(
        session_id=session_id, title=title, scheduled_start_us=start,
        scheduled_end_us=start + length_us, idempotency_key=key)


def is_key_shaped(key):
    return re.fullmatch(r"[A-Za-z0-9_-]{43}", key) is not None and \
        len(base64.urlsafe_b64decode(key + "=")) == 32


def random_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


class Publisher:
    """ffmpeg publishing testsrc2 (with the wall clock burned in when a
    font is there) at 25 fps, a keyframe every `gop_s` seconds, to url,
    for `seconds`."""

    def __init__(self, url, seconds, gop_s=1, log_path=None):
        vf = "testsrc2=size=320x180:rate=25"
        if os.path.exists(FONT):
            vf += (",drawtext=fontfile=%s:text='%%{localtime\\:%%T}':x=8:y=8:fontsize=20:"
                   "fontcolor=white:box=1:boxcolor=black" % FONT)
        self.cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
                    "-f", "lavfi", "-i", vf, "-t", str(seconds), "-c:v", "libx264",
                    "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                    "-g", str(25 * gop_s), "-keyint_min", str(25 * gop_s),
                    "-sc_threshold", "0", "-flush_packets", "1", "-f", "flv", url]
        self.log_path = log_path
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.log_path and self.proc.poll() is not None:
                self._log.close()

    def is_running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_path and not self._log.closed:
            self._log.close()


def parse_pdt(text):
    """EXT-X-PROGRAM-DATE-TIME value → seconds since the epoch."""
    text = text.strip().replace("Z", "+00:00")
    m = re.fullmatch(r"(.*[+-]\d\d)(\d\d)", text)
    if m and ":" not in text[-6:]:
        text = m.group(1) + ":" + m.group(2)
    return datetime.datetime.fromisoformat(text).timestamp()


def parse_playlist(text):
    """[(uri, duration_s, pdt_s or None)] of an HLS media playlist, plus
    whether it ended."""
    segs, pdt, dur = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            dur = float(line.split(":", 1)[1].split(",")[0])
        elif line and not line.startswith("#"):
            segs.append((line, dur, pdt))
            pdt, dur = None, None
    return segs, "#EXT-X-ENDLIST" in text


def read_playlist(live_dir, name):
    try:
        with open(os.path.join(live_dir, name, "index.m3u8")) as f:
            return f.read()
    except FileNotFoundError:
        return None


def wait_for(pred, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(step)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()
