"""Two of everything: the dev stack as `make run SCALE=2` starts it (two
instances of every daemon, two bids instances each with its own database), on a PostgreSQL, Redis and dev broker of its own under the
slot's run directory, so nothing the session's daemons use is touched.

The end-to-end flows go through BOTH gateways: register, log in, list lots,
a seller creates and submits, a moderator approves, the seller schedules,
two dealers bid on one lot from two different gateways, the lot closes and
the real payments daemon settles it at the card provider simulator. Then one
instance of each daemon is killed with SIGKILL in turn (users, auctions,
gateway, notifications, search, payments, streaming, and one bids instance, restarted,
since its lots live only there) while a client keeps registering and bidding
with retries: every acknowledged registration and bid is there afterwards,
exactly once, and the lots still settle once each."""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import psycopg2
import pytest

import gavel_harness as h
from payments.pay_kit import PAYMENTS_TEST_ENV

SLOW = h.SLOW
# The daemons' knobs, as the session's fixtures set them (tests/conftest.py).
KNOBS = {
    "GAVEL_AUCTIONS_MIN_LEAD_MS": "500",
    "GAVEL_AUCTIONS_MIN_DURATION_MS": "1000",
    "GAVEL_AUCTIONS_ENDING_SOON_MS": "1500",
    "GAVEL_AUCTIONS_TICK_MS": "200",
    "GAVEL_GATEWAY_RATE_LIMITS": "off",
    "GAVEL_DEMO_DATA": "off",
    "GAVEL_DEMO_BIDDER": "off",
    # the payments test knobs, but the Kafka session timeout: every daemon
    # of this stack inherits it, and 3 s is too short on a busy machine
    **{k: v for k, v in PAYMENTS_TEST_ENV.items() if k != "GAVEL_KAFKA_SESSION_TIMEOUT_MS"},
}
# Ports stack.sh derives from a base that must be free for this stack.
GRPC_OFFSETS = [*range(1, 9), *range(11, 19), 25, 935, 936, 937, 938, 946, 976]
METRICS_OFFSETS = [*range(1, 9), *range(11, 19)]
# The order instances die in; bids is restarted (its lots live only there).
KILLS = [("users", 0), ("auctions", 1), ("gateway", 0), ("notifications", 1),
         ("search", 0), ("payments", 1), ("streaming", 0), ("bids", 1)]


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _pick_base(offsets, taken):
    """A base below the ephemeral range whose ports are all free."""
    rng = secrets.SystemRandom()
    for _ in range(500):
        base = rng.randrange(20000, 30900)
        ports = {base + o for o in offsets}
        if ports & taken or not all(_free(p) for p in ports):
            continue
        taken |= ports
        return base
    raise AssertionError("no free port range for the SCALE=2 stack")


class TwoStack:
    """deploy/dev/stack.sh start at SCALE=2 in a run directory of its own."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        taken = set()
        grpc = _pick_base(GRPC_OFFSETS, taken)
        metrics = _pick_base(METRICS_OFFSETS, taken)
        gw = _pick_base([0, 1], taken)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("GAVEL_") or k.startswith("GAVEL_TEST_")}
        self.env.update(KNOBS)
        self.env.update(RUN_DIR=run_dir, BUILD=h.build_dir(), SCALE="2",
                        GAVEL_PG_PORT=str(h.free_port()), GAVEL_REDIS_PORT=str(h.free_port()),
                        GAVEL_PORT_BASE_GRPC=str(grpc), GAVEL_PORT_BASE_METRICS=str(metrics),
                        GAVEL_GATEWAY_PORT=str(gw))
        self.gateways = [GwAt(gw), GwAt(gw + 1)]
        self.pg_port = int(self.env["GAVEL_PG_PORT"])

    def stack(self, *args, timeout=300):
        p = subprocess.run([h.STACK, *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout * SLOW)
        assert p.returncode == 0, "stack.sh %s: %s%s" % (" ".join(args), p.stdout, p.stderr)
        return p.stdout

    def dsn(self, db):
        return "host=127.0.0.1 port=%d user=gavel dbname=%s" % (self.pg_port, db)

    def pid(self, svc, inst):
        name = svc if inst == 0 else "%s-%d" % (svc, inst)
        with open(os.path.join(self.run_dir, name + ".pid")) as f:
            return int(f.read().strip())

    def kill(self, svc, inst):
        pid = self.pid(svc, inst)
        os.kill(pid, signal.SIGKILL)
        h.wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                     open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z", 10,
                     what="%s-%d gone" % (svc, inst))

    def log_tail(self, name, n=8):
        """The last n lines of a daemon's log (name as in its pid file)."""
        try:
            with open(os.path.join(self.run_dir, "logs", name + ".log"), "rb") as f:
                lines = f.read()[-16384:].decode("utf-8", "replace").splitlines()
        except OSError as e:
            return "(%s)" % e.strerror
        return "\n  ".join(lines[-n:]) or "(empty)"

    def diagnosis(self, *names):
        """stack.sh status and the named logs' tails, for an assertion's
        message (a CI run shows only what the assertion says)."""
        status = subprocess.run([h.STACK, "status"], env=self.env, capture_output=True,
                                text=True, timeout=60 * SLOW).stdout
        return "\n".join(["status:\n" + status] +
                         ["%s.log:\n  %s" % (n, self.log_tail(n)) for n in names])

    def sanitizer_reports(self):
        found = []
        logs = os.path.join(self.run_dir, "logs")
        for name in sorted(os.listdir(logs)):
            with open(os.path.join(logs, name), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            found += ["%s: %s" % (name, m) for m in h.SANITIZER_MARKERS if m in text]
        return found


class GwAt(h.Gateway):
    """A gateway of the SCALE=2 stack, by its HTTP port."""

    def __init__(self, port):  # pylint: disable=super-init-not-called
        self.env = {"GAVEL_GATEWAY_PORT": str(port)}


class Client:
    """REST over both gateways: a call goes to the gateway asked for and,
    while that one cannot answer (refused, reset, 502/503/504), to the
    other, until a deadline. The same request goes again: callers that must
    not double send an Idempotency-Key."""

    RETRY = (502, 503, 504)

    def __init__(self, gateways):
        self.gws = gateways
        self.failovers = 0

    def call(self, gw, method, path, body=None, token=None, headers=None, timeout=40):
        deadline = time.monotonic() + timeout * SLOW
        i = gw
        last = None
        while True:
            try:
                a = h.http_request(self.gws[i % 2], method, path, body=body, token=token,
                                   headers=headers, timeout=10 * SLOW)
                if a.status not in self.RETRY:
                    return a
                last = a
            except (OSError, ConnectionError) as e:  # http.client errors are OSErrors too
                last = e
            except Exception as e:  # http.client.RemoteDisconnected, BadStatusLine
                last = e
            if time.monotonic() > deadline:
                raise AssertionError("%s %s: no answer from either gateway: %r"
                                     % (method, path, last))
            self.failovers += 1
            i += 1
            time.sleep(0.1)

    def ok(self, gw, method, path, body=None, token=None, headers=None, want=200):
        a = self.call(gw, method, path, body, token, headers)
        assert a.status == want, "%s %s via gateway %d: %r" % (method, path, gw, a)
        return a.json

    def register(self, gw, role="ROLE_BIDDER"):
        """A new account; (email, id) once acknowledged. A retried
        registration that meets its own first attempt (409) still counts."""
        email = h.unique_email("two")
        body = dict(email=email, password=h.PASSWORD, role=role,
                    displayName="Two " + email.split("@")[0])
        a = self.call(gw, "POST", "/api/v1/auth/register", body)
        assert a.status in (200, 409), "register via gateway %d: %r" % (gw, a)
        return self.login(gw + 1, email, h.PASSWORD)

    def login(self, gw, email, password):
        got = self.ok(gw, "POST", "/api/v1/auth/login", {"email": email, "password": password})
        return h.RestAccount(email, password, got["profile"], got["tokens"])


class World:
    """The accounts and category the flows share."""

    def __init__(self, stack, client):
        self.c = client
        env = h.read_env_file(os.path.join(stack.run_dir, "admin.env"))
        self.admin = client.login(0, env["GAVEL_ADMIN_EMAIL"], env["GAVEL_ADMIN_PASSWORD"])
        m = client.register(1)
        client.ok(0, "PATCH", "/api/v1/users/%d" % m.id,
                  {"updateMask": ["role"], "role": "ROLE_MODERATOR"}, self.admin.token)
        self.moderator = client.login(1, m.email, m.password)
        n = time.time_ns()
        self.category = client.ok(0, "POST", "/api/v1/categories",
                                  {"name": "Two of everything %d" % n, "slug": "two-%d" % n},
                                  self.admin.token)["category"]
        self.seller = client.register(1, "ROLE_SELLER")

    def dealer(self, gw, funds=10 ** 9):
        d = self.c.register(gw)
        self.c.ok(gw + 1, "POST", "/api/v1/users/%d/wallet/deposits" % d.id,
                  {"amount": h.rub_json(funds), "reference": "two of everything"},
                  self.admin.token, headers={"Idempotency-Key": h.new_key()})
        return d

    def lots(self, n, duration_s, buy_now=None):
        """n lots, created via one gateway, approved via the other, all
        scheduled to start together; consecutive ids, so both bids
        instances get some. buy_now: a buy-now price in roubles."""
        ids = []
        extra = {"buyNowPrice": h.rub_json(buy_now)} if buy_now else {}
        for i in range(n):
            lot = self.c.ok(i, "POST", "/api/v1/lots",
                            h.complete_lot(self.category["id"], title="Two Camry %d" % i,
                                           **extra),
                            self.seller.token)["lot"]
            self.c.ok(i, "POST", "/api/v1/lots/%s/submit" % lot["id"], None, self.seller.token)
            self.c.ok(i + 1, "POST", "/api/v1/lots/%s/moderation" % lot["id"],
                      {"decision": "MODERATION_DECISION_APPROVE"}, self.moderator.token)
            ids.append(int(lot["id"]))
        start = int(time.time() * 1e6) + int(1.5e6 * SLOW)
        for i, lot_id in enumerate(ids):
            self.c.ok(i, "POST", "/api/v1/lots/%d/schedule" % lot_id,
                      {"startsAtUs": str(start), "endsAtUs": str(start + int(duration_s * 1e6))},
                      self.seller.token)
        for i, lot_id in enumerate(ids):
            self.wait_status(i, lot_id, "LOT_STATUS_LIVE")
        return ids

    def state(self, gw, lot_id):
        return self.c.ok(gw, "GET", "/api/v1/lots/%d/state" % lot_id,
                         token=self.seller.token)["state"]

    def wait_status(self, gw, lot_id, status, timeout=20):
        def probe():  # 404 until the scheduler has opened the lot
            a = self.c.call(gw, "GET", "/api/v1/lots/%d/state" % lot_id, token=self.seller.token)
            return a.status == 200 and a.json["state"].get("status") == status
        h.wait_until(probe, timeout, interval=0.2, what="lot %d %s" % (lot_id, status))

    def bid(self, gw, lot_id, dealer):
        """One bid at the next minimum, retried with one key until answered.
        Returns (amount, bid id) when accepted, None when refused (another
        bid got there first)."""
        state = self.state(gw, lot_id)
        if "nextMinBid" not in state:  # closed meanwhile
            return None
        units = int(state["nextMinBid"]["units"])
        a = self.c.call(gw, "POST", "/api/v1/lots/%d/bids" % lot_id,
                        {"amount": h.rub_json(units)}, dealer.token,
                        headers={"Idempotency-Key": h.new_key()})
        if a.status == 200:
            return units, int(a.json["bid"]["bidId"])
        assert a.status in (409, 412, 400), "bid via gateway %d: %r" % (gw, a)
        return None

    def buy_now(self, gw, lot_id, dealer, units):
        """A bid at the lot's buy-now price: accepted, it closes the lot."""
        a = self.c.ok(gw, "POST", "/api/v1/lots/%d/bids" % lot_id, {"amount": h.rub_json(units)},
                      dealer.token, headers={"Idempotency-Key": h.new_key()})
        return units, int(a["bid"]["bidId"])


@pytest.fixture(scope="module")
def two():
    base = os.environ.get("GAVEL_TEST_RUN_DIR") or os.path.join(h.ROOT, ".run-test")
    run_dir = os.path.join(base, "two-of-everything")
    shutil.rmtree(run_dir, ignore_errors=True)
    s = TwoStack(run_dir)
    t0 = time.monotonic()
    try:
        out = s.stack("start")
        s.started_in = time.monotonic() - t0
        s.summary = out
        yield s
    finally:
        subprocess.run([h.STACK, "stop"], env=s.env, capture_output=True, timeout=180)
    found = s.sanitizer_reports()
    assert not found, "sanitizer reports: %s" % found


def test_status_and_summary_show_both_instances(two):
    status = two.stack("status")
    for svc in ("users", "auctions", "bids", "search", "payments", "notifications", "gateway",
                "streaming"):
        for name in (svc, svc + "-1"):
            line = [ln for ln in status.splitlines() if ln.split()[:1] == [name]]
            assert line and "running" in line[0], status
            assert name in two.summary
    # each bids instance has its own database and knows its place
    for inst, db in ((0, "gavel_bids"), (1, "gavel_bids_1")):
        env = dict(ln.split("=", 1) for ln in two.stack("env", "bids", str(inst)).splitlines())
        assert env["GAVEL_PG_DSN"].endswith("dbname=" + db)
        assert (env["GAVEL_BIDS_INSTANCES"], env["GAVEL_BIDS_INSTANCE"]) == ("2", str(inst))
    gw = dict(ln.split("=", 1) for ln in two.stack("env", "gateway", "1").splitlines())
    assert gw["GAVEL_USERS_ADDR"].count(",") == 1 and gw["GAVEL_BIDS_ADDR"].count(",") == 1
    auc = dict(ln.split("=", 1) for ln in two.stack("env", "auctions", "0").splitlines())
    assert auc["GAVEL_BIDS_ADDRS"] == gw["GAVEL_BIDS_ADDR"]
    # the ingest calls instance 0's hook; instance 1 has a hook port of its own
    hooks = {int(dict(ln.split("=", 1) for ln in two.stack("env", "streaming", str(i))
                      .splitlines())["GAVEL_STREAMING_HOOK_PORT"]) for i in (0, 1)}
    assert len(hooks) == 2, hooks
    with pytest.raises(AssertionError):
        two.stack("env", "streaming", "2")


def _settled(two, lot_ids, timeout=40):
    pay = psycopg2.connect(two.dsn("gavel_payments"))
    pay.autocommit = True
    try:
        def done():
            with pay.cursor() as cur:
                cur.execute("SELECT lot_id, step FROM settlements WHERE lot_id = ANY(%s)",
                            (list(lot_ids),))
                rows = dict(cur.fetchall())
            return all(rows.get(i) == "done" for i in lot_ids)
        try:
            h.wait_until(done, timeout, interval=0.3, what="lots %s settled" % (lot_ids,))
        except AssertionError as e:
            with pay.cursor() as cur:
                cur.execute("SELECT lot_id, step, attempts, last_error FROM settlements "
                            "WHERE lot_id = ANY(%s)", (list(lot_ids),))
                rows = cur.fetchall()
            raise AssertionError("%s: %s\n%s" % (e, rows, two.diagnosis(
                "payments", "payments-1", "auctions", "auctions-1"))) from None
        with pay.cursor() as cur:
            cur.execute("SELECT lot_id, array_agg(kind ORDER BY id) FROM ledger_txns "
                        "WHERE lot_id = ANY(%s) GROUP BY lot_id", (list(lot_ids),))
            kinds = dict(cur.fetchall())
            cur.execute("SELECT txn_id FROM ledger_entries GROUP BY txn_id, currency "
                        "HAVING sum(amount) <> 0")
            unbalanced = cur.fetchall()
        assert all(kinds.get(i) == ["settlement", "payout"] for i in lot_ids), kinds
        assert unbalanced == []
    finally:
        pay.close()


def _rows(two, db, sql, *args):
    conn = psycopg2.connect(two.dsn(db))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def _owner(two, lot_id):
    """The bids database that holds the lot."""
    for db in ("gavel_bids", "gavel_bids_1"):
        if _rows(two, db, "SELECT 1 FROM lots WHERE lot_id = %s", lot_id):
            return db
    return None


def test_flows_through_both_gateways(two):
    c = Client(two.gateways)
    w = World(two, c)
    a, b = w.dealer(0), w.dealer(1)
    lots = w.lots(2, duration_s=4 * SLOW)
    # consecutive lots: one on each bids instance
    assert sorted(_owner(two, i) for i in lots) == ["gavel_bids", "gavel_bids_1"]
    for gw in (0, 1):  # both gateways list and find them
        listed = c.ok(gw, "GET", "/api/v1/lots?filterJson=" + urllib.parse.quote(
            '[["in","id",[%d,%d]]]' % tuple(lots)), token=w.seller.token)
        assert {int(x["id"]) for x in listed.get("lots", [])} >= set(lots), listed
    for lot_id in lots:  # two dealers, two gateways, one lot
        assert w.bid(0, lot_id, a) is not None
        assert w.bid(1, lot_id, b) is not None
    for gw in (0, 1):
        h.wait_until(lambda: {int(x["lot"]["lotId"]) for x in c.ok(
            gw, "GET", "/api/v1/search?query=Camry", token=w.seller.token).get("hits", [])}
            >= set(lots), 20, interval=0.3, what="search finds the lots via gateway %d" % gw)
    for lot_id in lots:
        w.wait_status(lot_id % 2, lot_id, "LOT_STATUS_CLOSED", timeout=20)
    _settled(two, lots)


def test_one_instance_of_each_dies_in_turn(two):
    c = Client(two.gateways)
    w = World(two, c)
    dealers = [w.dealer(0), w.dealer(1)]
    # The lots outlive the chaos however slow the machine is; a buy-now
    # bid closes them after it.
    buy_now = 10 ** 7
    lots = w.lots(2, duration_s=600, buy_now=buy_now)
    owner = {i: _owner(two, i) for i in lots}
    assert sorted(owner.values()) == ["gavel_bids", "gavel_bids_1"]
    stop = threading.Event()
    acked = {"users": [], "bids": []}
    errors = []

    def work():
        i = 0
        try:
            while not stop.is_set():
                gw = i % 2
                acked["users"].append(c.register(gw).email)
                lot_id = lots[i % 2]
                d = dealers[(i // 2) % 2]
                got = w.bid(gw, lot_id, d)
                if got is not None:
                    acked["bids"].append((lot_id, d.id) + got)
                # the read paths of the services that hold no lot
                c.ok(gw, "GET", "/api/v1/search?query=Camry", token=d.token)
                c.ok(gw, "GET", "/api/v1/notifications", token=d.token)
                c.ok(gw, "GET", "/api/v1/payments", token=d.token)
                c.ok(gw, "GET", "/api/v1/streams", token=w.moderator.token)
                i += 1
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        for svc, inst in KILLS:
            before = len(acked["bids"]) + len(acked["users"])
            two.kill(svc, inst)
            if svc == "bids":
                time.sleep(1.0)
                two.stack("daemon", "bids", str(inst))
            try:
                h.wait_until(lambda: errors or len(acked["bids"]) + len(acked["users"])
                             >= before + 4, 30, interval=0.1,
                             what="the client goes on after %s-%d died" % (svc, inst))
            except AssertionError as e:
                name = svc if inst == 0 else "%s-%d" % (svc, inst)
                raise AssertionError("%s (acknowledged %d before, %d now)\n%s" % (
                    e, before, len(acked["bids"]) + len(acked["users"]),
                    two.diagnosis(name, "gateway", "gateway-1", "auctions"))) from None
            assert not errors, errors
        # the restarted bids instance takes bids on its lot again
        mark = len([x for x in acked["bids"] if owner[x[0]] == "gavel_bids_1"])
        h.wait_until(lambda: errors or len([x for x in acked["bids"]
                                            if owner[x[0]] == "gavel_bids_1"]) > mark,
                     20, interval=0.2, what="a bid on the restarted instance's lot")
    finally:
        stop.set()
        t.join(60 * SLOW)
    assert not errors, errors
    assert acked["users"] and acked["bids"]

    counts = dict(_rows(two, "gavel_users", "SELECT lower(email), count(*) FROM users "
                        "WHERE lower(email) = ANY(%s) GROUP BY 1",
                        [e.lower() for e in acked["users"]]))
    assert counts == {e.lower(): 1 for e in acked["users"]}
    for lot_id in lots:  # every acknowledged bid once, under the id it was acknowledged with
        got = {}
        for bidder, units, bid_id in _rows(two, owner[lot_id], "SELECT bidder_id, amount, "
                                           "bid_id FROM bids WHERE lot_id = %s", lot_id):
            got.setdefault((bidder, units), []).append(bid_id)
        for lid, bidder, units, bid_id in acked["bids"]:
            if lid == lot_id:
                assert got.get((bidder, units)) == [bid_id], (lot_id, bidder, units, bid_id)
    for lot_id in lots:
        acked["bids"].append((lot_id, dealers[0].id) + w.buy_now(lot_id % 2, lot_id, dealers[0],
                                                                 buy_now))
        w.wait_status(lot_id % 2, lot_id, "LOT_STATUS_CLOSED", timeout=20)
    _settled(two, lots, timeout=60)
    print("two of everything: start %.1f s, %d registrations and %d bids acknowledged, "
          "%d failovers" % (two.started_in, len(acked["users"]), len(acked["bids"]), c.failovers))


def _recorded(two, lot_ids):
    """Each lot's bids instance as auctions recorded it at ScheduleLot."""
    return dict(_rows(two, "gavel_auctions", "SELECT id, bids_instance FROM lots "
                      "WHERE id = ANY(%s)", list(lot_ids)))


def test_a_third_bids_instance_joins_while_lots_are_live(two):
    """Scale-out without draining on the dev stack: `stack.sh bids-add`
    starts a third bids instance while lots are live and dealers bid through
    both gateways. New lots land on it at once; no live lot changes owner;
    every acknowledged bid is in its owner's log; the lots close with the top
    acknowledged bid. (Runs last: the third instance stays in the registry.)"""
    c = Client(two.gateways)
    w = World(two, c)
    dealers = [w.dealer(0), w.dealer(1)]
    # The old lots outlive the scale-out however slow the machine is; a
    # buy-now bid, the top one, closes them after it.
    buy_now = 10 ** 7
    old = w.lots(2, duration_s=600, buy_now=buy_now)
    before = _recorded(two, old)
    assert sorted(before.values()) == ["bids-0", "bids-1"], \
        "%s\n%s" % (before, two.diagnosis("bids-1", "auctions", "auctions-1"))
    stop = threading.Event()
    acked, errors = [], []

    def work():
        i = 0
        try:
            while not stop.is_set():
                lot_id = old[i % 2]
                got = w.bid(i % 2, lot_id, dealers[(i // 2) % 2])
                if got is not None:
                    acked.append((lot_id, dealers[(i // 2) % 2].id) + got)
                i += 1
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        out = two.stack("bids-add", "bids-x")
        assert "bids instance bids-x up" in out, out
        # the registry sees it at once: consecutive new lots, one in three on it
        new = w.lots(6, duration_s=120)
        rec = _recorded(two, new)
        assert sorted(set(rec.values())) == ["bids-0", "bids-1", "bids-x"], rec
        on_x = [i for i in new if rec[i] == "bids-x"]
        held = {r[0] for r in _rows(two, "gavel_bids_bids_x", "SELECT lot_id FROM lots "
                                    "WHERE lot_id = ANY(%s)", on_x)}
        assert held == set(on_x), (held, on_x)
        for lot_id in on_x:  # and it takes their bids through either gateway
            assert w.bid(lot_id % 2, lot_id, dealers[0]) is not None
        h.wait_until(lambda: errors or len(acked) >= 6, 20, interval=0.1,
                     what="bids on the old lots go on after the third instance joined")
    finally:
        stop.set()
        t.join(60 * SLOW)
    assert not errors, errors
    assert _recorded(two, old) == before  # no live lot changed owner
    db = {"bids-0": "gavel_bids", "bids-1": "gavel_bids_1"}
    for lot_id in old:
        got = {(b, u): i for b, u, i in _rows(two, db[before[lot_id]], "SELECT bidder_id, "
                                             "amount, bid_id FROM bids WHERE lot_id = %s",
                                             lot_id)}
        mine = [x for x in acked if x[0] == lot_id]
        for _, bidder, units, bid_id in mine:
            assert got.get((bidder, units)) == bid_id, (lot_id, bidder, units, bid_id)
        assert not _rows(two, "gavel_bids_bids_x", "SELECT 1 FROM lots WHERE lot_id = %s", lot_id)
        mine.append((lot_id, dealers[1].id) + w.buy_now(lot_id % 2, lot_id, dealers[1], buy_now))
        w.wait_status(lot_id % 2, lot_id, "LOT_STATUS_CLOSED", timeout=20)
        if mine:
            top = max(mine, key=lambda x: x[2])
            h.wait_until(lambda: c.ok(0, "GET", "/api/v1/lots/%d" % lot_id, token=w.seller.token)[
                "lot"].get("result", {}).get("winnerId") == str(top[1]), 20, interval=0.3,
                what="lot %d won by the top acknowledged bid %r" % (lot_id, top))
