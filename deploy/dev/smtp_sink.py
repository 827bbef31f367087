#!/usr/bin/python3
"""The dev stack's mail sink: an SMTP server (Debian python3-aiosmtpd) on
127.0.0.1 that accepts every message and stores it, exactly as received,
as one file under a directory (`.run/mail/` in `make run`), so a developer
can read what the notifications daemon sent. Nothing is relayed anywhere.

    smtp_sink.py --port 50075 --dir .run/mail [--reject-domain DOMAIN] [--delay-ms N]

Files are named `<UTC time>-<n>.eml` and appear whole (written to a
temporary name, then renamed). With --reject-domain, a recipient in that
domain is refused with `550` (a permanent failure: the tests use it for a
channel that never accepts). With --delay-ms, each message is stored and
then answered N ms later (a slow mail server, for the crash tests). Runs
until SIGTERM or SIGINT.
"""
import argparse
import asyncio
import itertools
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    """aiosmtpd handler: refuse the rejected domain, store everything else."""

    def __init__(self, directory, reject_domain, delay_ms=0):
        self.dir = directory
        self.reject = (reject_domain or "").lower()
        self.delay_s = delay_ms / 1000
        self.count = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and address.lower().endswith("@" + self.reject):
            return "550 5.1.1 mailbox unavailable (the sink rejects %s)" % self.reject
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = "%s-%06d.eml" % (stamp, next(self.count))
        tmp = os.path.join(self.dir, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(("X-Sink-Mail-From: %s\r\nX-Sink-Rcpt-To: %s\r\n"
                     % (envelope.mail_from, ", ".join(envelope.rcpt_tos))).encode())
            content = envelope.original_content or envelope.content
            f.write(content if isinstance(content, bytes) else content.encode())
        os.rename(tmp, os.path.join(self.dir, name))
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        return "250 stored as %s" % name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--reject-domain", default="")
    ap.add_argument("--delay-ms", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    ctl = Controller(Sink(a.dir, a.reject_domain, a.delay_ms), hostname=a.host, port=a.port)
    try:
        ctl.start()
    except (OSError, RuntimeError) as e:
        print("smtp sink: cannot listen on %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 1
    print("smtp sink: listening on %s:%d, storing messages in %s"
          % (a.host, a.port, os.path.abspath(a.dir)), flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    ctl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
