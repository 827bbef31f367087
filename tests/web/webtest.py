"""Helpers of the browser tests (tests/web/): accounts as the node scripts
take them, lots made for the browser, and a live HLS stream written
by ffmpeg."""
import os
import subprocess
import time


def account_json(acc):
    return {"id": str(acc.id), "email": acc.email, "password": acc.password,
            "profile": acc.profile, "tokens": acc.tokens}


def live_lot(market, seller, duration_s=600, **over):
    """A live lot without photos on other hosts (the browser would fetch
    them, and a failed fetch is a console error)."""
    over.setdefault("photoUrls", [])
    return market.live(seller, duration_s=duration_s, **over)


class HlsWriter:
    """A live HLS stream as a venue's ingest writes it: Debian's ffmpeg
    encodes a test pattern (lavfi testsrc, with a burned-in frame counter)
    in real time to <dir>/index.m3u8 with 1 s keyframe-aligned segments and
    EXT-X-PROGRAM-DATE-TIME on each. stop() ends it (the playlist then
    gets EXT-X-ENDLIST)."""

    def __init__(self, directory, log_path):
        self.dir = directory
        self.log_path = log_path
        self.proc = None

    def start(self, wait_segments=2, timeout=20):
        os.makedirs(self.dir, exist_ok=True)
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
               "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
               "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
               "-pix_fmt", "yuv420p", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
               "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
               "-hls_flags", "delete_segments+program_date_time+temp_file",
               os.path.join(self.dir, "index.m3u8")]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        playlist = os.path.join(self.dir, "index.m3u8")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("ffmpeg exited %s; see %s" % (self.proc.returncode, self.log_path))
            try:
                with open(playlist) as f:
                    if f.read().count("#EXTINF") >= wait_segments:
                        return self
            except FileNotFoundError:
                pass
            time.sleep(0.2)
        raise AssertionError("no HLS segments in %s after %d s" % (self.dir, timeout))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        self.proc = None
