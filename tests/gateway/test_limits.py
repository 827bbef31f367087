"""Rate limits and the login lockout at the gateway, against real daemons.

Every /api/v1 request takes a token of its route's class (read, write,
auth) from the bucket of its client address and, with a token, of its
user; buckets live in Redis, so gateways share them. A refused request
gets 429 with Retry-After and the usual error body. Logins are refused
before they are forwarded once the users service's failed-login counts
(the same Redis keys) lock the account or the address.

The session's gateway runs with its limits off; each test here starts
gateways of its own with small limits, and sends from a loopback address
of its own (127.x.y.z, bound as the client's source), so its buckets and
failed-login counts are fresh and nobody else's."""
import concurrent.futures
import http.client
import random
import re
import statistics
import subprocess
import threading
import time

import pytest

import gavel_harness as h

BIG = "1000000"
REFUSAL = re.compile(r"too many (read|write|auth) requests (from this address|by this user); "
                     r"retry in (\d+) s")
LOCKED = re.compile(r"too many failed logins (for this account|from this address); "
                    r"retry in (\d+) s")



def loopback():
    """A client address of its own: any 127/8 address reaches the gateway."""
    return "127.%d.%d.%d" % (random.randrange(1, 255), random.randrange(256),
                             random.randrange(1, 255))


def limits_env(**rules):
    """Every bucket very large but those given: read_addr=(per_min, burst), ..."""
    env = {}
    for cls in ("READ", "WRITE", "AUTH", "WS_MSG"):
        for scope in ("ADDR", "USER"):
            per_min, burst = rules.get("%s_%s" % (cls, scope), (BIG, BIG))
            env["GAVEL_GATEWAY_RATE_%s_%s_PER_MIN" % (cls, scope)] = str(per_min)
            env["GAVEL_GATEWAY_RATE_%s_%s_BURST" % (cls, scope)] = str(burst)
    return env


@pytest.fixture(scope="module")
def spare_gateway(stack, gateway):
    """spare_gateway(tag, **env) starts another gavel-gateway on free ports in
    front of the session's services (limits on, with env over the stack's
    settings) and returns it; they are stopped at the end of the module and
    their logs must hold no sanitizer report."""
    spares = h.Spares(stack)
    yield lambda tag, **env: spares.start("gateway", "limits-" + tag, **env)
    spares.stop_all()


class Client:
    """Requests to one gateway from one source address, on one keep-alive
    connection (re-opened when the gateway closes it)."""

    def __init__(self, gw, addr=None):
        self.gw = gw
        self.addr = addr or loopback()
        self.conn = None

    def call(self, method, path, body=None, token=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.gw.host, self.gw.port,
                                                       timeout=h.RPC_TIMEOUT,
                                                       source_address=(self.addr, 0))
            try:
                a = h.http_request(self.conn, method, path, body=body, token=token)
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if a.header("connection") == "close":
                self.close()
            return a

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def assert_limited(a, cls, scope):
    """a is a 429 of the class's bucket of scope, and says how long to wait."""
    assert a.status == 429, a
    err = a.error
    assert err["code"] == "resource_exhausted", a
    assert err["request_id"] == a.header("x-request-id"), a
    m = REFUSAL.fullmatch(err["message"])
    assert m and m.group(1) == cls and m.group(2) == scope, err["message"]
    retry = int(a.header("retry-after"))
    assert retry >= 1 and retry == int(m.group(3)), a.headers
    return retry


def read(c, who):
    return c.call("GET", "/api/v1/me", token=who.token)


def write(c, who):
    return c.call("PATCH", "/api/v1/me", {"updateMask": ["display_name"],
                                          "displayName": "Limits %d" % time.time_ns()},
                  who.token)


def auth(c):
    return c.call("POST", "/api/v1/auth/refresh", {"refreshToken": "not-a-token"})


def test_reads_writes_and_auth_are_limited_per_address_and_recover(spare_gateway, rest):
    gw = spare_gateway("addr", **limits_env(READ_ADDR=(60, 3), WRITE_ADDR=(60, 2),
                                            AUTH_ADDR=(60, 2)))
    who = rest.register()
    c = Client(gw)
    for cls, send, burst in (("read", lambda: read(c, who), 3),
                             ("write", lambda: write(c, who), 2),
                             ("auth", lambda: auth(c), 2)):
        for _ in range(burst):
            a = send()
            assert a.status != 429, (cls, a)
        retry = assert_limited(send(), cls, "from this address")
        assert_limited(send(), cls, "from this address")
        time.sleep(retry + 0.1)
        a = send()
        assert a.status != 429, (cls, a)
    # Each class has its own bucket: reads emptied theirs, writes still pass.
    for _ in range(5):
        read(c, who)
    assert read(c, who).status == 429
    assert write(c, who).status == 200
    # Another address has buckets of its own.
    assert read(Client(gw), who).status == 200
    assert h.metric_value(gw, "gavel_gateway_rate_limited_total",
                          'class="read",scope="addr"') >= 2


def test_the_user_limit_holds_whatever_the_address(spare_gateway, rest):
    gw = spare_gateway("user", **limits_env(READ_USER=(60, 3)))
    who, other = rest.register(), rest.register()
    clients = [Client(gw) for _ in range(3)]
    for c in clients:
        assert read(c, who).status == 200
    for c in clients:
        assert_limited(read(c, who), "read", "by this user")
    # Another user from the same addresses is not held by the first one's bucket.
    assert read(clients[0], other).status == 200
    assert h.metric_value(gw, "gavel_gateway_rate_limited_total",
                          'class="read",scope="user"') >= 3


def test_two_gateways_share_the_buckets(spare_gateway, rest):
    env = limits_env(READ_ADDR=(6, 4))
    gws = [spare_gateway("share-a", **env), spare_gateway("share-b", **env)]
    who = rest.register()
    addr = loopback()
    clients = [Client(g, addr) for g in gws]
    for i in range(4):
        assert read(clients[i % 2], who).status == 200
    for c in clients:
        assert_limited(read(c, who), "read", "from this address")


@pytest.fixture(scope="module")
def lockout(stack, users, spare_gateway):
    """A users daemon whose failed-login window is seconds long (the keys'
    expiry comes from the service that counts the failures) and a gateway
    in front of it with the same lockout settings."""
    env = {"GAVEL_LOGIN_ACCOUNT_FAILURES": "3", "GAVEL_LOGIN_ADDRESS_FAILURES": "5",
           "GAVEL_LOGIN_WINDOW_S": str(int(4 * h.SLOW))}
    u = h.Daemon(stack, "users")
    u.env.update(users.env)
    u.addr = "127.0.0.1:%d" % h.free_port()
    u.env.update({"GAVEL_USERS_ADDR": u.addr, "GAVEL_METRICS_PORT": str(h.free_port())})
    u.env.update(env)
    u.log_path = u.log_path.replace(".pytest.log", ".limits-lockout.pytest.log")
    u.log_start = u.log_size()
    u.start()
    try:
        gw = spare_gateway("lockout", GAVEL_USERS_ADDR=u.addr, **env, **limits_env())
        yield u, gw
    finally:
        u.stop()
        assert not u.sanitizer_reports(), u.log_path


def failures(users_daemon):
    text = h.metrics_text(users_daemon)
    found = re.findall(r'^gavel_users_login_failures_total\{reason="(\w+)"\} (\S+)$', text,
                       re.M)
    return {reason: float(v) for reason, v in found}


def login(c, email, password):
    return c.call("POST", "/api/v1/auth/login", {"email": email, "password": password})


def assert_locked(a, scope):
    assert a.status == 429, a
    assert a.error["code"] == "resource_exhausted" and a.error["request_id"], a
    m = LOCKED.fullmatch(a.error["message"])
    assert m and m.group(1) == scope, a.error["message"]
    retry = int(a.header("retry-after"))
    assert 1 <= retry <= int(4 * h.SLOW) and retry == int(m.group(2)), a.headers
    return retry


def test_failed_logins_lock_the_account_at_the_gateway_before_argon2(lockout, rest):
    u, gw = lockout
    who = rest.register()
    c = Client(gw)
    for _ in range(3):
        a = login(c, who.email, "wrong-pass-1")
        assert a.status == 401, a
    before = failures(u)
    assert before.get("bad_credentials", 0) >= 3
    # Locked: the right password too, and the users service never sees them.
    for password in (who.password, "wrong-pass-1", who.password):
        retry = assert_locked(login(c, who.email, password), "for this account")
    assert failures(u) == before
    assert h.metric_value(gw, "gavel_gateway_rate_limited_total",
                          'class="auth",scope="login_account"') >= 3
    # Another address does not unlock the account.
    assert_locked(login(Client(gw), who.email.upper(), who.password), "for this account")
    h.wait_until(lambda: login(c, who.email, who.password).status == 200, retry + 2,
                 interval=0.5, what="the account's window to pass")


def test_failed_logins_lock_the_address_at_the_gateway(lockout, rest):
    u, gw = lockout
    who = rest.register()
    c = Client(gw)
    for _ in range(5):
        a = login(c, h.unique_email("nobody"), "wrong-pass-1")
        assert a.status == 401, a
    before = failures(u)
    retry = assert_locked(login(c, who.email, who.password), "from this address")
    assert_locked(login(c, h.unique_email("nobody"), "wrong-pass-1"), "from this address")
    assert failures(u) == before
    # The account itself is fine from elsewhere.
    assert login(Client(gw), who.email, who.password).status == 200
    h.wait_until(lambda: login(c, who.email, who.password).status == 200, retry + 2,
                 interval=0.5, what="the address's window to pass")


def test_requests_pass_while_redis_is_down_and_are_counted(spare_gateway):
    """Availability over limiting: no Redis, no 429, and a back-off instead of a
    connection attempt per request."""
    gw = spare_gateway("no-redis", GAVEL_REDIS_ADDR="127.0.0.1:1",
                       GAVEL_GATEWAY_RATE_REDIS_RETRY_MS="60000",
                       **limits_env(AUTH_ADDR=(1, 1)))
    c = Client(gw)
    for _ in range(8):
        a = auth(c)
        assert a.status not in (429, 503), a
    assert h.metric_value(gw, "gavel_gateway_rate_redis_errors_total") == 8
    tries = gw.log_text().count("unreachable")
    assert 1 <= tries <= 2, "Redis was tried %d times in one back-off period" % tries
    assert "requests pass unchecked" in gw.log_text()


@pytest.mark.parametrize("env,want", [
    ({"GAVEL_GATEWAY_RATE_LIMITS": "maybe"}, "GAVEL_GATEWAY_RATE_LIMITS=maybe is neither on nor off"),
    ({"GAVEL_GATEWAY_RATE_READ_ADDR_PER_MIN": "lots"}, "GAVEL_GATEWAY_RATE_READ_ADDR_PER_MIN"),
    ({"GAVEL_GATEWAY_RATE_AUTH_USER_BURST": "-1"}, "GAVEL_GATEWAY_RATE_AUTH_USER_BURST=-1"),
    ({"GAVEL_GATEWAY_RATE_WRITE_USER_PER_MIN": "10", "GAVEL_GATEWAY_RATE_WRITE_USER_BURST": "0"},
     "GAVEL_GATEWAY_RATE_WRITE_USER_PER_MIN=10 turns the bucket on, so "
     "GAVEL_GATEWAY_RATE_WRITE_USER_BURST must be at least 1"),
    ({"GAVEL_GATEWAY_RATE_REDIS_RETRY_MS": "5"}, "GAVEL_GATEWAY_RATE_REDIS_RETRY_MS=5"),
    ({"GAVEL_LOGIN_WINDOW_S": "0"}, "GAVEL_LOGIN_WINDOW_S=0"),
])
def test_malformed_limit_settings_stop_the_gateway_at_start(stack, env, want):
    d = h.Gateway(stack)
    full = d._proc_env()
    full.update({"GAVEL_GATEWAY_PORT": str(h.free_port()),
                 "GAVEL_GATEWAY_ADDR": "127.0.0.1:%d" % h.free_port(),
                 "GAVEL_METRICS_PORT": str(h.free_port())})
    full.update(env)
    p = subprocess.run([d.binary], env=full, capture_output=True, text=True,
                       timeout=30 * h.SLOW, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, p.stderr
    assert want in p.stderr, p.stderr
    assert not any(m in p.stderr for m in h.SANITIZER_MARKERS), p.stderr


def test_a_full_auth_queue_refuses_logins_at_once_and_reads_go_on(spare_gateway, rest):
    """Logins wait on argon2 in the users service on their own workers: when
    their queue is full they get 503 at once, and reads keep their workers."""
    gw = spare_gateway("auth-pool", GAVEL_GATEWAY_AUTH_WORKERS="1",
                       GAVEL_GATEWAY_AUTH_QUEUE="2", **limits_env())
    who = rest.register()
    stop = threading.Event()
    reads = []

    def reader():
        c = Client(gw)
        while not stop.is_set():
            reads.append(read(c, who).status)
        c.close()

    def one_login(_):
        return login(Client(gw), h.unique_email("nobody"), "wrong-pass-1")

    t = threading.Thread(target=reader)
    t.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            answers = list(pool.map(one_login, range(48)))
    finally:
        stop.set()
        t.join()
    busy = [a for a in answers if a.status == 503]
    assert busy, "48 logins at once never filled a queue of 2"
    for a in busy:
        assert a.header("retry-after") == "1" and "busy with logins" in a.error["message"], a
    assert all(a.status in (401, 503) for a in answers), [a for a in answers
                                                          if a.status not in (401, 503)]
    assert reads and set(reads) == {200}, sorted(set(reads))


def p99(samples):
    return statistics.quantiles(samples, n=100)[98]


def timed_reads(c, path, token, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        a = c.call("GET", path, token=token)
        out.append(time.monotonic() - t0)
        assert a.status == 200, a
    return out


@pytest.mark.latency
def test_a_login_burst_does_not_slow_lot_reads(spare_gateway, rest, market):
    """2,000 wrong-password logins against one account from 20 addresses, with
    the default limits: at most a few reach argon2, and GET /api/v1/lots/{id}
    of other users is not starved (p99 under 100 ms; its ratio to the idle
    p99 is printed here and measured by make bench)."""
    gw = spare_gateway("burst")
    seller = market.seller()
    lot = market.live(seller)["id"]
    path = "/api/v1/lots/%s" % lot
    idle_reader, busy_reader = rest.register(), rest.register()
    victim = rest.register()
    reader = Client(gw)
    timed_reads(reader, path, idle_reader.token, 20)  # warm: connections, caches
    idle = timed_reads(reader, path, idle_reader.token, 250)

    statuses = []
    lock = threading.Lock()

    def attacker(i):
        c = Client(gw)
        mine = []
        for _ in range(100):
            mine.append(login(c, victim.email, "wrong-pass-%d" % i).status)
        c.close()
        with lock:
            statuses.extend(mine)

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    busy_client = Client(gw)
    busy = timed_reads(busy_client, path, busy_reader.token, 250)
    for t in threads:
        t.join()
    assert len(statuses) == 2000
    assert set(statuses) <= {401, 429, 503}, set(statuses)
    assert statuses.count(401) <= 40, "%d logins reached argon2" % statuses.count(401)
    # The goal (within 2x of idle) is a figure make bench reports;
    # here the bound is starvation: reads queued behind the logins would
    # take seconds (every read waits for a worker the logins hold).
    print("lot reads p99: idle %.1f ms, during the burst %.1f ms (%.1fx)"
          % (p99(idle) * 1e3, p99(busy) * 1e3, p99(busy) / max(p99(idle), 1e-6)))
    assert p99(busy) < 0.1, (
        "p99 idle %.1f ms, during the burst %.1f ms" % (p99(idle) * 1e3, p99(busy) * 1e3))


def test_websocket_bids_take_the_users_message_and_write_buckets(spare_gateway, market):
    """place_bid over two sockets of one user draws on one ws_msg bucket in
    Redis: past its burst the next bid is refused with the wait and places
    nothing; another user is not held."""
    import asyncio
    from ws_client import bid_msg, connect, min_bid, of_type, run, send, until
    gw = spare_gateway("ws", **limits_env(WS_MSG_USER=(1, 2)))
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]

    async def scenario():
        w1, w2 = await connect(gw, a.token), await connect(gw, a.token)
        wb = await connect(gw, b.token)
        results = []
        for i, w in enumerate((w1, w2, w1)):
            units = min_bid(market.state(lot, a.token)) + 1000 * i
            await send(w, **bid_msg(lot, units, "r%d" % i))
            m = await until(w, lambda m: m.get("id") == "r%d" % i, timeout=10)
            results.append(m)
        assert results[0]["type"] == "bid_result", results
        # The leader may not raise its own bid: refused by the bids service,
        # after the gateway let it through (and took its token).
        assert results[1].get("code") == "FAILED_PRECONDITION", results
        refused = results[2]
        assert refused["type"] == "error" and refused["code"] == "RESOURCE_EXHAUSTED", refused
        assert re.fullmatch(r"too many ws_msg requests by this user; retry in \d+ ms",
                            refused["message"]), refused
        await send(wb, **bid_msg(lot, min_bid(market.state(lot, b.token)), "b0"))
        ok = await until(wb, of_type("bid_result", id="b0"), timeout=10)
        assert ok["callerIsLeading"] is True
        for w in (w1, w2, wb):
            await w.close()
        await asyncio.sleep(0)

    run(scenario())
    # One bid of a and one of b were placed, the refused ones nothing.
    assert market.state(lot, a.token)["bidCount"] == "2"
    assert h.metric_value(gw, "gavel_gateway_rate_limited_total",
                          'class="ws_msg",scope="user"') >= 1
