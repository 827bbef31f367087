"""The dev stack's demo bidder: now and then one of the demo dealers bids
the next minimum on a live lot, so a newcomer who opens the web UI sees
prices move, the countdown extend and "outbid" appear without a second
browser. It goes through the gateway's public REST API like any client,
never bids on a lot it already leads, and only on the demo lots (by their
titles in demo_data.py), so a developer's own lots are left alone.

Started by deploy/dev/stack.sh start after the demo data (unless
GAVEL_DEMO_BIDDER=off) and stopped by stack.sh stop. Settings:
GAVEL_GATEWAY_PORT, RUN_DIR (demo-users.txt), GAVEL_DEMO_BID_EVERY_S
(mean seconds between bids, default 20).
"""
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BASE = "http://127.0.0.1:%s" % os.environ.get("GAVEL_GATEWAY_PORT", "8080")
EVERY_S = float(os.environ.get("GAVEL_DEMO_BID_EVERY_S", "20"))


def log(msg):
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), msg, flush=True)


def call(method, path, body=None, token=None, key=None):
    """One REST call: (status, parsed JSON or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, OSError, ValueError) as e:
        return 0, {"error": {"message": str(e)}}


def read_people(run_dir):
    """(role, email, password) of demo-users.txt."""
    people = []
    try:
        with open(os.path.join(run_dir, "demo-users.txt")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    people.append(tuple(parts))
    except OSError:
        pass
    return people


class Dealer:
    def __init__(self, email, password):
        self.email, self.password = email, password
        self.token, self.user_id = None, 0

    def login(self):
        st, got = call("POST", "/api/v1/auth/login",
                       {"email": self.email, "password": self.password})
        if st != 200:
            log("login of %s failed: %s %s" % (self.email, st, got))
            self.token = None
            return False
        self.token = got["tokens"]["accessToken"]
        self.user_id = int(got["profile"]["userId"])
        return True

    def call(self, method, path, body=None, key=None):
        if self.token is None and not self.login():
            return 0, None
        st, got = call(method, path, body, self.token, key)
        if st == 401 and self.login():
            st, got = call(method, path, body, self.token, key)
        return st, got


def live_demo_lots(dealer):
    """The live lots titled as demo_data.py's cars."""
    query = urllib.parse.quote(json.dumps([["eq", "state", "live"], ["limit", "100"]]))
    st, got = dealer.call("GET", "/api/v1/lots?filterJson=%s" % query)
    if st != 200:
        log("cannot list the live lots: %s %s" % (st, (got or {}).get("error")))
        return []
    return [l for l in (got or {}).get("lots", []) if l.get("title") in DEMO_TITLES]


def bid_once(dealers):
    candidates = live_demo_lots(dealers[0])
    if not candidates:
        return
    lot = random.choice(candidates)
    lot_id = lot["id"]
    bidder = random.choice(dealers)
    st, got = bidder.call("GET", "/api/v1/lots/%s/state" % lot_id)
    if st != 200:
        return
    state = got["state"]
    if state.get("status") != "LOT_STATUS_LIVE":
        return
    if int(state.get("leaderId", "0")) == bidder.user_id:
        others = [d for d in dealers if d.user_id != bidder.user_id]
        if not others:
            return
        bidder = random.choice(others)
    amount = state["nextMinBid"]
    st, got = bidder.call("POST", "/api/v1/lots/%s/bids" % lot_id, {"amount": amount},
                          key="demo-" + uuid.uuid4().hex)
    if st == 200:
        log("%s bid %s %s on lot %s" % (bidder.email, amount.get("units"),
                                        amount.get("currency"), lot_id))
    else:
        log("%s could not bid on lot %s: %s %s" % (bidder.email, lot_id, st,
                                                   (got or {}).get("error")))


# The demo lots' titles (deploy/dev/demo_data.py's CARS; it needs the
# generated stubs on PYTHONPATH, as demo-data.sh sets): the only lots bid on.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_data import CARS  # noqa: E402
DEMO_TITLES = {c[1] for c in CARS}


def main():
    run_dir = os.environ["RUN_DIR"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    dealers = []
    while not dealers:
        dealers = [Dealer(e, p) for role, e, p in read_people(run_dir) if role == "bidder"]
        if not dealers:
            time.sleep(5)
    log("demo bidder: %d dealers, about one bid every %.0f s on live demo lots" %
        (len(dealers), EVERY_S))
    while True:
        time.sleep(random.uniform(0.5, 1.5) * EVERY_S)
        try:
            bid_once(dealers)
        except (KeyError, TypeError, ValueError) as e:  # an answer of an unexpected shape
            log("demo bidder: skipped a round: %r" % e)


if __name__ == "__main__":
    main()
