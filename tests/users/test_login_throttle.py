"""Login throttling in the users service itself (partners reach gRPC
without the gateway): failed logins counted in Redis per account and per
client address, refused with RESOURCE_EXHAUSTED before any argon2 once a
count reaches its limit, the same on every instance sharing the Redis.

The daemons here are spare gavel-users processes beside the session's,
with small limits; every failure they count comes from an address named
in `x-client-addr` by the tests' service identity (random, so runs never
meet each other's counts), except one anonymous attempt, made on a daemon
whose window is seconds long: the session daemon's count for 127.0.0.1 is
left alone."""
import random
import re
import socket
import statistics
import time
import urllib.request
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import common_pb2, users_pb2, users_pb2_grpc

OK = grpc.StatusCode.OK
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
WRONG = "wrong-pass-1"
REFUSAL = re.compile(r"too many failed logins (for this account|from this address); "
                     r"try again in (\d+) s")

ACCOUNT_LIMIT = 3
ADDRESS_LIMIT = 8
WINDOW_S = 3600
SHORT_WINDOW_S = int(3 * h.SLOW)

pytestmark = pytest.mark.skipif(not h.HAVE_CRYPTOGRAPHY,
                                reason="needs python3-cryptography for a service identity")


def random_ipv4():
    return "10.%d.%d.%d" % (random.randrange(256), random.randrange(256),
                            random.randrange(1, 255))


def random_ipv6_64():
    """The first four groups of an IPv6 address: a /64 of its own."""
    return "2001:db8:%x:%x" % (random.randrange(1 << 16), random.randrange(1 << 16))


class Client:
    """Logins against one daemon, from a client address the tests' service
    identity forwards (or anonymously, as the connection's peer)."""

    def __init__(self, daemon, service_md):
        self.daemon = daemon
        self.stub = users_pb2_grpc.UsersStub(daemon.channel)
        self.service_md = service_md
        h.call(self.stub.Ping, common_pb2.PingRequest())  # connected before timing

    def login(self, email, password, addr=None, request_id=None):
        """(code, message, seconds) of one Login."""
        md = ()
        if addr is not None:
            md = tuple(self.service_md) + (("x-client-addr", addr),)
        if request_id is not None:
            md += (("x-request-id", request_id),)
        start = time.monotonic()
        try:
            self.stub.Login(users_pb2.LoginRequest(email=email, password=password),
                            metadata=md, timeout=h.RPC_TIMEOUT)
            code, msg = OK, ""
        except grpc.RpcError as e:
            code, msg = e.code(), e.details()
        return code, msg, time.monotonic() - start

    def failures(self):
        """gavel_users_login_failures_total by reason, from /metrics."""
        url = "http://127.0.0.1:%s/metrics" % self.daemon.env["GAVEL_METRICS_PORT"]
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        found = re.findall(r'^gavel_users_login_failures_total\{reason="(\w+)"\} (\S+)$',
                           text, re.M)
        return {reason: float(v) for reason, v in found}


def refusal(code, msg, window=WINDOW_S):
    """("for this account" | "from this address", wait) of a refused login."""
    assert code == EXHAUSTED, "expected RESOURCE_EXHAUSTED, got %s: %r" % (code, msg)
    m = REFUSAL.fullmatch(msg)
    assert m, "refusal message %r" % msg
    wait = int(m.group(2))
    assert 0 < wait <= window, "wait %d s outside the window of %d s" % (wait, window)
    return m.group(1), wait


def throttle_env(account, address, window):
    return {"GAVEL_LOGIN_ACCOUNT_FAILURES": str(account),
            "GAVEL_LOGIN_ADDRESS_FAILURES": str(address),
            "GAVEL_LOGIN_WINDOW_S": str(window)}


@pytest.fixture(scope="module")
def pair(spare_users, service_md):
    """Two users instances with the same small limits, sharing the Redis."""
    env = throttle_env(ACCOUNT_LIMIT, ADDRESS_LIMIT, WINDOW_S)
    return (Client(spare_users("throttle-a", **env), service_md),
            Client(spare_users("throttle-b", **env), service_md))


@pytest.fixture(scope="module")
def brief(spare_users, service_md):
    """A users instance whose failures count for a few seconds only."""
    env = throttle_env(2, 1000, SHORT_WINDOW_S)
    return Client(spare_users("throttle-window", **env), service_md)


@pytest.fixture
def account(users_stub):
    return h.register(users_stub, login=False)


def test_failed_logins_lock_the_account_and_refused_ones_run_no_argon2(pair, account):
    a, _ = pair
    addr = random_ipv4()
    before = a.failures()
    wrong = []
    for _ in range(ACCOUNT_LIMIT):
        code, msg, secs = a.login(account.email, WRONG, addr)
        assert (code, msg) == (UNAUTH, "email or password is wrong")
        wrong.append(secs)
    refused = []
    for password in (account.password, WRONG) * 3:
        code, msg, secs = a.login(account.email, password, addr)
        assert refusal(code, msg)[0] == "for this account"
        refused.append(secs)
    # The email in another case is the same account.
    assert refusal(*a.login(account.email.upper(), account.password, addr)[:2])[0] == \
        "for this account"
    # A wrong password costs an argon2 hash; a refused attempt a Redis round
    # trip only.
    assert statistics.median(refused) < statistics.median(wrong) / 4, (
        "refused attempts took %s s, wrong passwords %s s" % (refused, wrong))
    after = a.failures()
    assert after["bad_credentials"] - before["bad_credentials"] == ACCOUNT_LIMIT
    assert after["throttled_account"] - before["throttled_account"] == 7
    assert after["throttled_address"] == before["throttled_address"]


def test_unknown_emails_are_counted_and_refused_like_accounts(pair):
    a, _ = pair
    addr = random_ipv4()
    email = h.unique_email("nobody")
    for _ in range(ACCOUNT_LIMIT):
        assert a.login(email, WRONG, addr)[:2] == (UNAUTH, "email or password is wrong")
    assert refusal(*a.login(email, WRONG, addr)[:2])[0] == "for this account"


def test_the_account_lock_holds_on_every_instance_sharing_redis(pair, account):
    a, b = pair
    addr = random_ipv4()
    for client in (a, b, a)[:ACCOUNT_LIMIT]:
        assert client.login(account.email, WRONG, addr)[0] == UNAUTH
    for client in (a, b):
        assert refusal(*client.login(account.email, account.password, addr)[:2])[0] == \
            "for this account"
    # The other accounts on that address still log in, on both instances.
    other = h.register(users_pb2_grpc.UsersStub(b.daemon.channel), login=False)
    for client in (a, b):
        assert client.login(other.email, other.password, addr)[0] == OK


def test_other_accounts_log_in_from_the_address_until_its_limit(pair, users_stub):
    a, b = pair
    x, y = random_ipv4(), random_ipv4()
    p, q, r = (h.register(users_stub, login=False) for _ in range(3))
    for _ in range(ACCOUNT_LIMIT):                       # x: 3 failures
        assert a.login(p.email, WRONG, x)[0] == UNAUTH
    assert refusal(*a.login(p.email, p.password, x)[:2])[0] == "for this account"
    for _ in range(2):                                   # x: 5
        assert a.login(q.email, WRONG, x)[0] == UNAUTH
    assert a.login(q.email, q.password, x)[0] == OK
    # The success cleared q's count, not x's: two more failures do not lock
    # q (2 + 2 would reach its limit of 3).
    for _ in range(2):                                   # x: 7
        assert b.login(q.email, WRONG, x)[0] == UNAUTH
    assert b.login(q.email, q.password, x)[0] == OK
    assert a.login(r.email, WRONG, x)[0] == UNAUTH       # x: 8, its limit
    for who in (q, r):
        assert refusal(*a.login(who.email, who.password, x)[:2])[0] == "from this address"
    assert refusal(*b.login(r.email, r.password, x)[:2])[0] == "from this address"
    # Another address is not held back by x.
    for who in (q, r):
        assert a.login(who.email, who.password, y)[0] == OK


def test_an_ipv6_client_counts_as_its_64(pair, account):
    a, _ = pair
    net, other = random_ipv6_64(), random_ipv6_64()
    others = [h.unique_email("nobody") for _ in range(ADDRESS_LIMIT)]
    for i, email in enumerate(others):
        assert a.login(email, WRONG, "%s::%x" % (net, i + 1))[0] == UNAUTH
    for addr in ("%s::ffff" % net, "%s:1:2:3:4" % net):
        assert refusal(*a.login(account.email, account.password, addr)[:2])[0] == \
            "from this address"
    assert a.login(account.email, account.password, "%s::1" % other)[0] == OK


def test_an_ipv4_address_mapped_into_ipv6_counts_as_itself(pair, account):
    a, _ = pair
    v4 = random_ipv4()
    others = [h.unique_email("nobody") for _ in range(ADDRESS_LIMIT)]
    for i, email in enumerate(others):
        assert a.login(email, WRONG, v4 if i % 2 else "::ffff:" + v4)[0] == UNAUTH
    assert refusal(*a.login(account.email, account.password, v4)[:2])[0] == \
        "from this address"


def test_client_addr_metadata_counts_only_from_a_service_identity(brief, account):
    """Each failure is logged at info with its client address and request
    id: the address an anonymous caller names is ignored (its peer counts),
    the one a service identity names is used."""
    addr = random_ipv4()
    mark = brief.daemon.log_size()
    anon, svc = "anon-" + uuid.uuid4().hex, "svc-" + uuid.uuid4().hex
    stub = brief.stub
    with pytest.raises(grpc.RpcError) as e:
        stub.Login(users_pb2.LoginRequest(email=account.email, password=WRONG),
                   metadata=(("x-client-addr", addr), ("x-request-id", anon)),
                   timeout=h.RPC_TIMEOUT)
    assert e.value.code() == UNAUTH
    assert brief.login(account.email, WRONG, addr, request_id=svc)[0] == UNAUTH
    log = brief.daemon.log_text(mark)
    lines = {rid: [ln for ln in log.splitlines()
                   if '"request_id":"%s"' % rid in ln and "login failed" in ln]
             for rid in (anon, svc)}
    assert len(lines[anon]) == 1 and len(lines[svc]) == 1, lines
    assert '"level":"info"' in lines[anon][0]
    assert "client 127.0.0.1," in lines[anon][0] and addr not in lines[anon][0]
    assert "client %s," % addr in lines[svc][0]
    assert WRONG not in log and account.email not in log


def test_failures_stop_counting_when_the_window_ends(brief, account):
    addr = random_ipv4()
    for _ in range(2):
        assert brief.login(account.email, WRONG, addr)[0] == UNAUTH
    code, msg, _ = brief.login(account.email, account.password, addr)
    assert refusal(code, msg, SHORT_WINDOW_S)[0] == "for this account"
    h.wait_until(lambda: brief.login(account.email, account.password, addr)[0] == OK,
                 SHORT_WINDOW_S + 5, interval=0.2, what="the account's window to end")
    # A new window starts empty.
    assert brief.login(account.email, WRONG, addr)[0] == UNAUTH
    assert brief.login(account.email, account.password, addr)[0] == OK


def unused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_redis_logins_fail_closed_unless_both_limits_are_off(spare_users, service_md,
                                                                     account):
    dead = "127.0.0.1:%d" % unused_port()
    d = spare_users("throttle-noredis", GAVEL_REDIS_ADDR=dead)
    client = Client(d, service_md)
    code, msg, _ = client.login(account.email, account.password)
    assert (code, msg) == (UNAVAILABLE, "cannot check failed logins in Redis; try again")
    d.stop()
    d.env.update(throttle_env(0, 0, WINDOW_S))
    d.start()
    # Off: Redis is never asked, and nothing is counted or refused.
    for _ in range(ACCOUNT_LIMIT + 2):
        assert client.login(account.email, WRONG)[0] == UNAUTH
    assert client.login(account.email, account.password)[0] == OK
