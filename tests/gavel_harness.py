"""Shared helpers for Gavel's system tests.

The tests drive real daemons from outside: this module knows where the test
stack lives (tests/run.sh or conftest.py starts it with deploy/dev/stack.sh),
starts and stops a daemon binary with the environment `stack.sh env <svc>`
prints, mints JWTs the way the daemons expect them, and wraps the few gRPC,
PostgreSQL and Kafka chores every test file needs. Nothing here fakes a Gavel
service.
"""
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

import grpc
import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STACK = os.path.join(ROOT, "deploy", "dev", "stack.sh")

# The test stack's settings (tests/run.sh uses the same ones), each
# overridable by the environment variable of the same name.
TEST_STACK_DEFAULTS = {
    "GAVEL_PG_PORT": "15532",
    "GAVEL_REDIS_PORT": "16479",
    "GAVEL_PORT_BASE_GRPC": "12150",
    "GAVEL_PORT_BASE_METRICS": "9200",
    "GAVEL_GATEWAY_PORT": "8180",
}

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = b"\x08\x01"


def _build_py_path(build):
    for d in (os.path.join(build, "py"), os.path.join(ROOT, "build", "py")):
        if os.path.isdir(d) and d not in sys.path:
            sys.path.append(d)


def build_dir():
    """The build directory whose daemons are under test."""
    return os.path.abspath(os.environ.get("GAVEL_TEST_BUILD", os.path.join(ROOT, "build")))


_build_py_path(build_dir())

from gavel.common.v1 import common_pb2  # noqa: E402  (needs the path above)
from gavel.events.v1 import events_pb2  # noqa: E402
from gavel.users.v1 import users_pb2, users_pb2_grpc  # noqa: E402,F401 (re-exported)
from gavel.bids.v1 import bids_pb2, bids_pb2_grpc  # noqa: E402,F401 (re-exported)
from gavel.auctions.v1 import auctions_pb2, auctions_pb2_grpc  # noqa: E402,F401 (re-exported)
from gavel.notifications.v1 import notifications_pb2, notifications_pb2_grpc  # noqa: E402,F401


def is_asan_build():
    return "asan" in os.path.basename(build_dir())


# Sanitizer builds run several times slower; every wait scales with this.
SLOW = 3.0 if is_asan_build() else 1.0
RPC_TIMEOUT = 15 * SLOW


# ---- the test stack ----------------------------------------------------------------

class Stack:
    """PostgreSQL, Redis and the dev broker of one RUN_DIR, via stack.sh."""

    def __init__(self, run_dir):
        self.run_dir = os.path.abspath(run_dir)
        self.env = dict(os.environ)
        self.env["RUN_DIR"] = self.run_dir
        self.env.setdefault("BUILD", os.path.join(ROOT, "build"))
        for k, v in TEST_STACK_DEFAULTS.items():
            self.env.setdefault(k, v)
        self.started_here = False

    def _stack(self, *args, check=True):
        p = subprocess.run([STACK, *args], env=self.env, capture_output=True, text=True,
                           timeout=300)
        if check and p.returncode != 0:
            raise RuntimeError("stack.sh %s failed (exit %d):\n%s%s"
                               % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def start_infra(self):
        self._stack("infra")
        self.started_here = True

    def stop(self):
        self._stack("stop", check=False)

    def daemon_env(self, svc):
        """The KEY=VALUE environment the daemon svc runs with, as a dict."""
        env = {}
        for line in self._stack("env", svc).splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
        return env

    def kafka_bootstrap(self):
        if os.environ.get("GAVEL_TEST_KAFKA") and os.environ.get("GAVEL_TEST_RUN_DIR"):
            return os.environ["GAVEL_TEST_KAFKA"]
        with open(os.path.join(self.run_dir, "kafka.bootstrap")) as f:
            return f.readline().strip()


def read_env_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
    return out


# ---- daemons -------------------------------------------------------------------------

_ports_given = set()


def free_port():
    """A TCP port nobody listens on now, for a daemon a test starts.

    Drawn at random below the kernel's ephemeral range (32768 up): a port the
    kernel picked would be free for any outgoing connection of another suite
    to take before the daemon binds it (seen: EADDRINUSE under parallel
    suites). Random, so two suites side by side rarely draw the same one,
    and never the same one twice in one process."""
    rng = secrets.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise AssertionError("no free TCP port between 20000 and 32000")


def port_open(addr):
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def make_channel(addr):
    # Short reconnect backoff: daemons are restarted under the tests' feet.
    # min_reconnect_backoff_ms is how long one connection attempt may take
    # (TCP and the server's HTTP/2 settings): at 100 ms a daemon busy under
    # the sanitizers failed a first call with UNAVAILABLE ("timed out
    # before receiving SETTINGS frame"); a call still waits only within its
    # own deadline.
    return grpc.insecure_channel(addr, options=[
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 5000),
        ("grpc.max_reconnect_backoff_ms", 500),
        ("grpc.max_send_message_length", 8 * 1024 * 1024),
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ])


def health(channel, timeout=1.0):
    """The raw HealthCheckResponse bytes, or None when the call failed."""
    check = channel.unary_unary(HEALTH_CHECK, request_serializer=lambda _: b"",
                                response_deserializer=lambda b: b)
    try:
        return check(None, timeout=timeout)
    except grpc.RpcError:
        return None


class Daemon:
    """One Gavel daemon binary started from outside, as an operator would."""

    def __init__(self, stack, svc):
        self.stack = stack
        self.svc = svc
        self.binary = os.path.join(build_dir(), "bin", "gavel-" + svc)
        self.env = stack.daemon_env(svc)
        # The gateway's gRPC port serves health only; the others' serve their API.
        self.addr = self.env["GAVEL_%s_ADDR" % svc.upper()]
        self.log_path = os.path.join(stack.run_dir, "logs", "%s.pytest.log" % svc)
        self.proc = None
        self.starts = 0
        self._channel = None
        self.log_start = self.log_size()  # what earlier sessions wrote is not ours

    def _proc_env(self):
        env = dict(os.environ)
        env.update(self.env)
        if is_asan_build():
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
            env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
        return env

    @property
    def channel(self):
        """A channel shared by the tests; it reconnects across restarts."""
        if self._channel is None:
            self._channel = make_channel(self.addr)
        return self._channel

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=30):
        assert not self.is_running(), "%s already running" % self.svc
        assert os.access(self.binary, os.X_OK), "daemon not built: %s" % self.binary
        assert not port_open(self.addr), (
            "%s is already taken (a stray daemon from an earlier run?)" % self.addr)
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("=== pytest start %d %s %s\n"
                       % (self.starts, time.strftime("%FT%T"), self.binary)).encode())
            log.flush()
            self.proc = subprocess.Popen([self.binary], env=self._proc_env(),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s during start-up:\n%s"
                                     % (self.svc, self.proc.returncode, self.log_tail()))
            # A fresh channel per probe: one that met a refused connection
            # waits out its reconnect backoff (seconds) before trying again.
            probe = make_channel(self.addr)
            try:
                if health(probe) == SERVING:
                    break
            finally:
                probe.close()
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError("%s not SERVING after %ss:\n%s"
                                     % (self.svc, timeout, self.log_tail()))
            time.sleep(0.05)
        if self._channel is not None:
            grpc.channel_ready_future(self._channel).result(timeout=10)

    def stop(self, timeout=None):
        """SIGTERM, wait for the drain; returns the exit code (asserted 0)."""
        assert self.is_running(), "%s is not running" % self.svc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout or 20 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s ignored SIGTERM:\n%s" % (self.svc, self.log_tail()))
        assert rc == 0, "%s exited %d after SIGTERM:\n%s" % (self.svc, rc, self.log_tail())
        return rc

    def kill9(self):
        if self.is_running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self):
        self.stop()
        self.start()

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_text(self, since=None):
        """What the daemon logged from byte offset since (default: this session)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_start if since is None else since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        start = max(self.log_start, self.log_size() - 64 * 1024)
        return "\n".join(self.log_text(start).splitlines()[-n:])

    def sanitizer_reports(self, since=None):
        text = self.log_text(since)
        return [m for m in SANITIZER_MARKERS if m in text]


class Gateway(Daemon):
    """gavel-gateway: a Daemon whose API is HTTP on GAVEL_GATEWAY_PORT."""

    def __init__(self, stack, svc="gateway"):
        super().__init__(stack, svc)

    @property
    def host(self):
        return self.env.get("GAVEL_GATEWAY_BIND", "127.0.0.1")

    @property
    def port(self):
        return int(self.env["GAVEL_GATEWAY_PORT"])

    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.port)

    def connection(self, timeout=None):
        """A new keep-alive HTTP/1.1 connection (http.client)."""
        import http.client
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or RPC_TIMEOUT)


class Spares:
    """Daemons started beside the session's on free ports, as an operator
    adds replicas: start() each, then stop_all() at the end stops those still
    running (together: each may take seconds to leave its consumer groups)
    and fails on any sanitizer report in their logs."""

    def __init__(self, stack):
        self.stack = stack
        self.started = []

    def start(self, svc, tag, base_env=None, **env):
        """Another gavel-<svc> with base_env (a running daemon's env, say)
        and env over the stack's settings; its log is <svc>.<tag>.pytest.log."""
        d = Gateway(self.stack) if svc == "gateway" else Daemon(self.stack, svc)
        d.env.update(base_env or {})
        addr_env = "GAVEL_%s_ADDR" % svc.upper()
        d.env[addr_env] = "127.0.0.1:%d" % free_port()
        d.env["GAVEL_METRICS_PORT"] = str(free_port())
        if svc == "gateway":
            d.env["GAVEL_GATEWAY_PORT"] = str(free_port())
        d.env.update(env)
        d.addr = d.env[addr_env]
        d.log_path = d.log_path.replace(".pytest.log", ".%s.pytest.log" % tag)
        d.log_start = d.log_size()
        d.start()
        self.started.append(d)
        return d

    def stop_all(self):
        running = [d for d in self.started if d.is_running()]
        if running:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(running)) as pool:
                for f in [pool.submit(d.stop) for d in running]:
                    f.result()
        problems = ["%s: sanitizer reports %s" % (d.log_path, d.sanitizer_reports())
                    for d in self.started if d.sanitizer_reports()]
        assert not problems, "\n".join(problems)


class HttpAnswer:
    """One HTTP answer: status, headers (lower-cased names) and body, with
    the body parsed as JSON when it is JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        if body and headers.get("content-type", "").startswith("application/json"):
            self.json = json.loads(body)

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def error(self):
        """The error object of an error answer, or None."""
        return (self.json or {}).get("error")

    def __repr__(self):
        return "<HTTP %d %s>" % (self.status, self.body[:300])


def http_request(gw_or_conn, method, path, body=None, token=None, headers=None, raw=None,
                 timeout=None):
    """Sends one request to the gateway (a Gateway, or an open
    http.client connection to reuse) and returns an HttpAnswer. body is
    dumped as JSON; raw sends those bytes as they are."""
    conn = gw_or_conn.connection(timeout) if isinstance(gw_or_conn, Gateway) else gw_or_conn
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if data is None and method in ("POST", "PUT", "PATCH"):
        data = b""
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        return HttpAnswer(r.status, {k.lower(): v for k, v in r.getheaders()},
                          payload.decode("utf-8", "replace"))
    finally:
        if conn is not gw_or_conn:
            conn.close()


# ---- the mail sink and the realtime channel ------------------------------------------

class SmtpSink:
    """deploy/dev/smtp_sink.py (the dev stack's mail sink) run by the tests on
    `port`: every message it accepts is a file in `directory`; recipients in
    REJECT_DOMAIN are refused with 550, a channel that never accepts."""

    SCRIPT = os.path.join(ROOT, "deploy", "dev", "smtp_sink.py")
    REJECT_DOMAIN = "reject.gavel.test"

    def __init__(self, port, directory, log_path, delay_ms=0):
        self.port = int(port)
        self.delay_ms = delay_ms
        self.dir = directory
        self.log_path = log_path
        self.proc = None

    def is_running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=15):
        assert not self.is_running()
        assert not port_open("127.0.0.1:%d" % self.port), "port %d is taken" % self.port
        os.makedirs(self.dir, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["/usr/bin/python3", self.SCRIPT, "--port", str(self.port), "--dir", self.dir,
                 "--reject-domain", self.REJECT_DOMAIN, "--delay-ms", str(self.delay_ms)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        wait_until(lambda: port_open("127.0.0.1:%d" % self.port) or self.proc.poll() is not None,
                   timeout, what="the mail sink on port %d" % self.port)
        assert self.is_running(), "the mail sink exited (log %s)" % self.log_path

    def stop(self):
        if self.is_running():
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def messages(self, to=None):
        """Every stored message (email.message.EmailMessage) in arrival
        order; to: only those for this recipient."""
        import email
        import email.policy
        out = []
        for name in sorted(n for n in os.listdir(self.dir) if n.endswith(".eml")):
            with open(os.path.join(self.dir, name), "rb") as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            if to is None or m["X-Sink-Rcpt-To"] == to:
                out.append(m)
        return out


class UserFeed:
    """Subscribes to Redis gavel:user:<id> of some users (the realtime
    channel of the notifications service) and keeps what arrives as
    (user_id, parsed JSON), and when each arrived (arrived_at, by
    notification id, time.monotonic())."""

    def __init__(self, redis_addr, *user_ids):
        import redis
        host, port = redis_addr.rsplit(":", 1)
        self.r = redis.Redis(host=host, port=int(port), socket_timeout=10)
        self.ps = self.r.pubsub()
        chans = ["gavel:user:%d" % u for u in user_ids]
        self.ps.subscribe(*chans)
        self.messages = []
        self.arrived_at = {}
        confirmed = 0
        deadline = time.monotonic() + 10
        while confirmed < len(chans):
            assert time.monotonic() < deadline, "Redis did not confirm the subscriptions"
            m = self.ps.get_message(timeout=1)
            if m is not None and m["type"] == "subscribe":
                confirmed += 1

    def poll(self, timeout=0.1):
        while True:
            m = self.ps.get_message(timeout=timeout)
            if m is None:
                return
            if m["type"] == "message":
                user = int(m["channel"].decode().rsplit(":", 1)[1])
                msg = json.loads(m["data"])
                self.messages.append((user, msg))
                nid = msg.get("notification", {}).get("id")
                self.arrived_at.setdefault(nid, time.monotonic())
            timeout = 0

    def of(self, user_id, kind=None):
        """The messages of one user (of one kind: its EventKind name, e.g.
        "EVENT_KIND_OUTBID"), oldest first."""
        return [m for u, m in self.messages if u == user_id and
                (kind is None or m["notification"].get("kind") == kind)]

    def wait_for(self, pred, timeout=10, what="a realtime message"):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            self.poll()
            v = pred(self)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %ss waiting for %s; got %r"
                                     % (timeout * SLOW, what, self.messages[-5:]))

    def close(self):
        self.ps.close()
        self.r.close()


# ---- the gateway's REST API: clients, accounts, lots --------------------------------

GW_FUNDS = 10 ** 9


def rub_json(units):
    """A Money as the REST API writes it."""
    return {"currency": "RUB", "units": str(units)}


def new_key():
    return "k-" + uuid.uuid4().hex


class Rest:
    """Calls the gateway; each call returns an HttpAnswer."""

    def __init__(self, gateway):
        self.gw = gateway

    def call(self, method, path, body=None, token=None, headers=None, raw=None, conn=None,
             timeout=None):
        return http_request(conn or self.gw, method, path, body=body, token=token,
                            headers=headers, raw=raw, timeout=timeout)

    def ok(self, method, path, body=None, token=None, headers=None, want=200):
        a = self.call(method, path, body=body, token=token, headers=headers)
        assert a.status == want, "%s %s: %r" % (method, path, a)
        return a.json

    def register(self, role="ROLE_BIDDER", **fields):
        email = unique_email("gw")
        fields.setdefault("displayName", "Gateway " + email.split("@")[0])
        body = dict(email=email, password=PASSWORD, role=role, **fields)
        profile = self.ok("POST", "/api/v1/auth/register", body)["profile"]
        return self.login(email, PASSWORD, profile)

    def login(self, email, password, profile=None):
        got = self.ok("POST", "/api/v1/auth/login", {"email": email, "password": password})
        return RestAccount(email, password, profile or got["profile"], got["tokens"])


class RestAccount:
    def __init__(self, email, password, profile, tokens):
        self.email = email
        self.password = password
        self.profile = profile
        self.id = int(profile["userId"])
        self.tokens = tokens

    @property
    def token(self):
        return self.tokens["accessToken"]


def complete_lot(category_id, **over):
    lot = dict(title="Toyota Camry 2.5 XLE", description="One owner, dealer serviced.",
               make="Toyota", model="Camry", year=2019, mileageKm=64000,
               vin="JTNB11HK0K3012345", region="Moscow", cityId="671",
               categoryId=str(category_id), photoUrls=["https://img.gavel.test/1.jpg"],
               startPrice=rub_json(100000), softCloseWindowSeconds=0, maxExtensions=0)
    lot.update(over)
    return lot


class Market:
    """Sellers, bidders with deposits and live lots, all through REST."""

    @classmethod
    def open(cls, rest, admin_creds, label):
        """A market of its own: the admin, a new moderator and a new
        category named after label ("Paid cars <n>", slug "paid-<n>")."""
        admin = rest.login(*admin_creds)
        m = rest.register()
        rest.ok("PATCH", "/api/v1/users/%d" % m.id, {"updateMask": ["role"],
                                                     "role": "ROLE_MODERATOR"}, admin.token)
        moderator = rest.login(m.email, m.password)
        n = time.time_ns()
        category = rest.ok("POST", "/api/v1/categories", {
            "name": "%s cars %d" % (label, n), "slug": "%s-%d" % (label.lower(), n)},
            admin.token)["category"]
        return cls(rest, admin, moderator, category)

    def __init__(self, rest, admin, moderator, category):
        self.rest = rest
        self.admin = admin
        self.moderator = moderator
        self.category = category

    def bidder(self, funds=GW_FUNDS):
        b = self.rest.register("ROLE_BIDDER")
        if funds:
            self.rest.ok("POST", "/api/v1/users/%d/wallet/deposits" % b.id,
                         {"amount": rub_json(funds), "reference": "test deposit"},
                         self.admin.token,
                         headers={"Idempotency-Key": new_key()})
        return b

    def seller(self):
        return self.rest.register("ROLE_SELLER")

    def draft(self, seller, **over):
        return self.rest.ok("POST", "/api/v1/lots", complete_lot(self.category["id"], **over),
                            seller.token)["lot"]

    def approved(self, seller, **over):
        lot = self.draft(seller, **over)
        self.rest.ok("POST", "/api/v1/lots/%s/submit" % lot["id"], None, seller.token)
        self.rest.ok("POST", "/api/v1/lots/%s/moderation" % lot["id"],
                     {"decision": "MODERATION_DECISION_APPROVE"}, self.moderator.token)
        return lot

    def live(self, seller, duration_s=600, **over):
        lot = self.approved(seller, **over)
        start = int(time.time() * 1e6) + 1_000_000
        self.rest.ok("POST", "/api/v1/lots/%s/schedule" % lot["id"],
                     {"startsAtUs": str(start), "endsAtUs": str(start + duration_s * 10 ** 6)},
                     seller.token)
        self.wait_status(lot["id"], "LOT_STATUS_LIVE", seller.token)
        return lot

    def state(self, lot_id, token):
        return self.rest.ok("GET", "/api/v1/lots/%s/state" % lot_id, token=token)["state"]

    def wait_status(self, lot_id, status, token, timeout=15):
        def probe():
            a = self.rest.call("GET", "/api/v1/lots/%s/state" % lot_id, token=token)
            return a.status == 200 and a.json["state"].get("status") == status
        wait_until(probe, timeout, what="lot %s %s" % (lot_id, status))


# ---- metrics ---------------------------------------------------------------------------

def metrics_text(daemon):
    """The daemon's /metrics page."""
    import urllib.request
    url = "http://127.0.0.1:%s/metrics" % daemon.env["GAVEL_METRICS_PORT"]
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric_value(daemon, name, labels=None):
    """The value of one series (labels: the label body without braces,
    e.g. 'pool="expensive"'); 0 when the daemon has not made it yet."""
    want = name if labels is None else "%s{%s}" % (name, labels)
    for line in metrics_text(daemon).splitlines():
        series, _, value = line.rpartition(" ")
        if series == want:
            return float(value)
    return 0.0


def wait_group_settled(daemon, group, bootstrap, topics, timeout=30):
    """Waits until daemon's consumer of group holds every partition of
    topics (gavel_events_assigned_partitions): after an instance of its
    service was killed, or stopped while still joining, the group gives
    the survivor those partitions only once the other's session times out,
    and their events wait until then."""
    p = producer(bootstrap)
    try:
        want = sum(len(p.partitions_for(t)) for t in topics)
    finally:
        p.close()
    wait_until(lambda: metric_value(daemon, "gavel_events_assigned_partitions",
                                    'group="%s"' % group) == want,
               timeout, what="group %s holding all %d partitions" % (group, want))


# ---- tokens ------------------------------------------------------------------------------

try:
    import cryptography  # noqa: F401  (Debian python3-cryptography)
    HAVE_CRYPTOGRAPHY = True
except ImportError:
    HAVE_CRYPTOGRAPHY = False

JWT_HEADER = "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9"  # {"alg":"EdDSA","typ":"JWT"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_claims(token):
    """The payload of a JWT, unverified."""
    return json.loads(b64url_decode(token.split(".")[1]))


def load_private_key(path_or_key):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    if not isinstance(path_or_key, str):
        return path_or_key
    with open(path_or_key, "rb") as f:
        return load_pem_private_key(f.read(), password=None)


def new_ed25519_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate()


def sign_jwt(key, claims):
    """A compact EdDSA JWT of claims signed with key (a PEM path or a key)."""
    body = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = JWT_HEADER + "." + b64url(body)
    sig = load_private_key(key).sign(signing_input.encode())
    return signing_input + "." + b64url(sig)


def service_token(key_path, ttl=900, now=None):
    now = int(time.time()) if now is None else now
    return sign_jwt(key_path, {"iss": "gavel-service", "sub": "tests", "role": "service",
                               "jti": secrets.token_hex(16), "iat": now, "exp": now + ttl})


def user_token(key, user_id, role, iat, exp, iss="gavel-users"):
    return sign_jwt(key, {"iss": iss, "sub": str(user_id), "role": role,
                          "jti": secrets.token_hex(16), "iat": iat, "exp": exp})


def bearer(token):
    return (("authorization", "Bearer " + token),)


# ---- gRPC helpers -------------------------------------------------------------------------

def call(method, req, md=None, timeout=None):
    return method(req, metadata=md, timeout=timeout or RPC_TIMEOUT)


def _norm(s):
    return s.lower().replace("_", " ")


def expect_error(code, method, req, md=None, field=None, timeout=None):
    """Calls method and asserts it fails with code and a non-empty message
    (mentioning field, when given). Returns the RpcError."""
    try:
        resp = method(req, metadata=md, timeout=timeout or RPC_TIMEOUT)
    except grpc.RpcError as e:
        assert e.code() == code, "expected %s, got %s: %r" % (code, e.code(), e.details())
        assert e.details(), "%s without a message" % code
        if field is not None:
            assert _norm(field) in _norm(e.details()), (
                "message %r does not mention %r" % (e.details(), field))
        return e
    raise AssertionError("expected %s, got OK: %s" % (code, resp))


def code_of(fn):
    """OK or the status code fn() raised."""
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def raw_method(channel, path):
    """A unary method that sends and returns raw bytes."""
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def unique_email(tag="u"):
    return "%s-%s@test.gavel" % (tag, uuid.uuid4().hex[:16])


def idem():
    return "k-" + uuid.uuid4().hex


def rub(units, currency="RUB"):
    return common_pb2.Money(currency=currency, units=units)


class Account:
    """A registered, logged-in user."""

    def __init__(self, email, password, profile, tokens):
        self.email = email
        self.password = password
        self.profile = profile
        self.id = profile.user_id
        self.tokens = tokens

    @property
    def md(self):
        return bearer(self.tokens.access_token)


PASSWORD = "correct-horse-42"


def register(users_stub, role=users_pb2.ROLE_BIDDER, email=None, password=PASSWORD,
             login=True, **fields):
    email = email or unique_email()
    fields.setdefault("display_name", "Test " + email.split("@")[0])
    resp = call(users_stub.Register, users_pb2.RegisterRequest(
        email=email, password=password, role=role, **fields))
    tokens = None
    if login:
        tokens = call(users_stub.Login, users_pb2.LoginRequest(
            email=email, password=password)).tokens
    return Account(email, password, resp.profile, tokens)


def login(users_stub, email, password):
    resp = call(users_stub.Login, users_pb2.LoginRequest(email=email, password=password))
    return resp


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Polls fn() until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout * SLOW, what))
        time.sleep(interval)


# ---- PostgreSQL: the users database, read from outside ---------------------------------------

class Ledger:
    """Read-only checks over the wallet tables of the users database."""

    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def close(self):
        self.conn.close()

    def one(self, sql, *args):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    def all(self, sql, *args):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def wallet(self, user_id, currency="RUB"):
        """(total, reserved), or (0, 0) without a wallet row."""
        row = self.one("SELECT total, reserved FROM wallets WHERE user_id = %s AND currency = %s",
                       user_id, currency)
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def account_sum(self, account, currency="RUB"):
        return int(self.one("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries "
                            "WHERE account = %s AND currency = %s", account, currency)[0])

    def holds(self, user_id):
        """{hold_id: (lot_id, amount, state, captured)} of a user."""
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self.all(
            "SELECT id, lot_id, amount, state, captured FROM holds WHERE user_id = %s", user_id)}

    def assert_balanced(self):
        assert self.one("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries")[0] == 0, \
            "the ledger does not sum to zero"
        bad = self.all("SELECT tx_id, currency, SUM(amount) FROM ledger_entries "
                       "GROUP BY tx_id, currency HAVING SUM(amount) <> 0 LIMIT 5")
        assert not bad, "unbalanced ledger transactions: %r" % bad

    def assert_wallet_consistent(self, user_id, currency="RUB"):
        total, reserved = self.wallet(user_id, currency)
        assert 0 <= reserved <= total
        avail = self.account_sum("user:%d:available" % user_id, currency)
        held = self.account_sum("user:%d:held" % user_id, currency)
        assert avail == total - reserved, (
            "ledger says available %d, wallet says %d" % (avail, total - reserved))
        assert held == reserved, "ledger says held %d, wallet says reserved %d" % (held, reserved)
        open_holds = int(self.one(
            "SELECT COALESCE(SUM(amount), 0) FROM holds WHERE user_id = %s AND currency = %s "
            "AND state = 'held'", user_id, currency)[0])
        assert open_holds == reserved, (
            "open holds sum to %d, wallet reserved is %d" % (open_holds, reserved))
        return total, reserved


def balance_tuple(balance):
    """(total, reserved, available) units of a Balance message."""
    return (balance.total.units, balance.reserved.units, balance.available.units)


# ---- Kafka ----------------------------------------------------------------------------------

class TopicTail:
    """Reads what is published to topics after this object was created."""

    def __init__(self, bootstrap, *topics):
        from kafka import KafkaConsumer, TopicPartition
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      group_id=None, consumer_timeout_ms=1000)
        parts = []
        for t in topics:
            ps = wait_until(lambda: self.consumer.partitions_for_topic(t), 10,
                            what="partitions of " + t)
            parts += [TopicPartition(t, p) for p in sorted(ps)]
        self.consumer.assign(parts)
        self.consumer.seek_to_end(*parts)
        for p in parts:
            self.consumer.position(p)  # resolve the end offsets now
        self.records = []

    def poll(self):
        for recs in self.consumer.poll(timeout_ms=200).values():
            self.records.extend(recs)

    def envelopes(self, topic=None, key=None):
        out = []
        for r in self.records:
            if (topic is None or r.topic == topic) and (key is None or r.key == key):
                out.append((r, events_pb2.Envelope.FromString(r.value)))
        return out

    def wait_for(self, pred, timeout=10, what="an event"):
        """Polls until pred(self) is truthy; returns its value."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            self.poll()
            v = pred(self)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %ss waiting for %s; saw %d records"
                                     % (timeout * SLOW, what, len(self.records)))

    def first_record(self, topic, key, timeout=10):
        """Waits for the first record of key on topic; returns it (its
        .partition tells where that key's events go)."""
        return self.wait_for(
            lambda t: next((r for r in t.records if r.topic == topic and r.key == key), None),
            timeout, what="a record of key %r on %s" % (key, topic))

    def read_past(self, topic, marker, partitions=None, most=64):
        """Reads on until everything published to `partitions` of topic (None:
        every partition) before this call has been read, so that an event
        found missing afterwards was never published, not merely late.

        marker() must make the daemon whose outbox would hold the unwanted
        event publish one new event under a key never used before, and
        return that key (bytes). Markers are made, one after another, until
        one has been read on each of the partitions. This holds because an
        outbox relay publishes rows in id order and a partition keeps that
        order: whatever was committed before a marker was read before it.
        Returns the markers' keys."""
        want = set(self.consumer.partitions_for_topic(topic) if partitions is None
                   else partitions)
        keys = []
        while want:
            assert len(keys) < most, (
                "%d markers on %s and none read on partitions %s" % (most, topic, sorted(want)))
            keys.append(marker())
            want.discard(self.first_record(topic, keys[-1]).partition)
        return keys

    def close(self):
        self.consumer.close()


# The topics the dev broker creates at start (deploy/dev/devbroker.c).
BROKER_TOPICS = ("gavel.users", "gavel.wallet", "gavel.bids", "gavel.auctions")


def producer(bootstrap):
    """A producer that already knows the partitions of every pre-created
    topic. kafka-python replaces its whole partition map with each metadata
    answer, so a topic first named while an older metadata request is in
    flight can vanish again between its wait and its send (TypeError in
    _partition); asking for all of them up front closes that window."""
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for topic in BROKER_TOPICS:
        p.partitions_for(topic)
    return p


# ---- bids: receipts and the hash chain (gavel.bids.v1.Bid) ------------------------------------

ZERO_HASH = bytes(32)


def bid_preimage(bid, venue=False):
    """The 84 bytes bids.proto says a bid's hash covers, built from the
    receipt's own fields (prev_hash as the receipt carries it); on a venue
    lot 96, with floor_paddle (4 bytes) and media_time_us (8) appended."""
    cur = bid.amount.currency.encode("ascii")
    assert len(cur) == 3 and len(bid.prev_hash) == 32, "malformed receipt: %s" % bid
    out = struct.pack(">32sqqqqq3sqB", bid.prev_hash, bid.lot_id, bid.seq, bid.bid_id,
                      bid.bidder_id, bid.amount.units, cur, bid.placed_at_us,
                      1 if bid.is_autobid else 0)
    if venue:
        out += struct.pack(">iq", bid.floor_paddle, bid.media_time_us)
    return out


def bid_hash(bid, venue=False):
    return hashlib.sha256(bid_preimage(bid, venue)).digest()


def verify_chain(bids, lot_id=None, venue=False):
    """Asserts that bids (a lot's log in the order ListBids returned it) is
    seq 1, 2, 3 ... without gaps, each prev_hash the hash of the bid before
    (zeros for seq 1) and each hash the SHA-256 of its 84-byte preimage
    (96 bytes on a venue lot: LotState.venue).
    Returns the head hash (b"" for an empty log)."""
    prev = ZERO_HASH
    for i, b in enumerate(bids):
        if lot_id is not None:
            assert b.lot_id == lot_id, "bid of lot %d in the log of lot %d" % (b.lot_id, lot_id)
        assert b.seq == i + 1, "seq %d at position %d: the log has a gap or is reordered" % (
            b.seq, i)
        assert b.prev_hash == prev, "seq %d: prev_hash does not chain to seq %d" % (b.seq, i)
        assert len(b.hash) == 32 and b.hash == bid_hash(b, venue), (
            "seq %d: hash is not SHA-256 of its fields" % b.seq)
        prev = b.hash
    return prev if bids else b""


def receipt(bid):
    """Every field of a Bid as a comparable tuple."""
    return (bid.lot_id, bid.seq, bid.bid_id, bid.bidder_id, bid.amount.currency,
            bid.amount.units, bid.placed_at_us, bid.is_autobid, bytes(bid.prev_hash),
            bytes(bid.hash), bid.floor_paddle, bid.media_time_us)


def list_lot_bids(stub, lot_id, md, page_size=1000, timeout=None):
    """A lot's whole bid log through ListBids, page by page."""
    out, token, pages = [], "", 0
    while True:
        resp = call(stub.ListBids, bids_pb2.ListBidsRequest(
            lot_id=lot_id, page=common_pb2.PageRequest(page_size=page_size, page_token=token)),
            md, timeout)
        out.extend(resp.bids)
        pages += 1
        token = resp.page.next_page_token
        if not token:
            return out
        assert pages < 100000, "ListBids pages never end"


@contextlib.contextmanager
def threads_until_stopped(n, target, stop):
    """Runs target(0..n-1) on n threads for the with-block; on leaving it
    (even by an error) sets stop and joins them. target must return once
    stop is set."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        yield threads
    finally:
        stop.set()
        for t in threads:
            t.join()


def run_threads(n, target):
    """Runs target(0..n-1) on n threads at once; re-raises the first error
    in the caller's thread."""
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # re-raised below, in the test's thread
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
