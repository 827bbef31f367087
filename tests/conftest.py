"""Fixtures shared by Gavel's system tests.

tests/run.sh starts the test stack and exports GAVEL_TEST_RUN_DIR (plus the
stack's ports); without it this file starts the same stack itself with
deploy/dev/stack.sh infra in .run-test/ and stops it at the end, so
`/usr/bin/python3 -m pytest tests/` works alone (GAVEL_TEST_STACK_DIR and the
stack's port variables, e.g. GAVEL_PG_PORT, move that private stack). Daemons are the real
binaries of $GAVEL_TEST_BUILD (default build/), started once per session.
"""
import os

import pytest

import gavel_harness as h
from gavel_harness import users_pb2, users_pb2_grpc

_daemons = []

# The auctions daemon's timing knobs under test (production: 60 s lead,
# 60 s shortest auction, ending-soon 5 minutes before the end).
AUCTIONS_TEST_ENV = {
    "GAVEL_AUCTIONS_MIN_LEAD_MS": "500",
    "GAVEL_AUCTIONS_MIN_DURATION_MS": "1000",
    "GAVEL_AUCTIONS_ENDING_SOON_MS": "1500",
    "GAVEL_AUCTIONS_TICK_MS": "200",
}


# The notifications daemon's knobs under test (production: a 3 s burst
# window, retries from 1 s up to 5 minutes, 8 attempts, 30 s leases): short
# enough that retries, dead letters and a crashed worker's lease play out
# in seconds.
CHANNEL_RECEIVER_PORT = h.free_port()
NOTIFICATIONS_TEST_ENV = {
    "GAVEL_NOTIFICATIONS_COALESCE_MS": "2000",
    "GAVEL_NOTIFICATIONS_RETRY_BASE_MS": "200",
    "GAVEL_NOTIFICATIONS_RETRY_MAX_MS": "1000",
    "GAVEL_NOTIFICATIONS_MAX_ATTEMPTS": "6",
    "GAVEL_NOTIFICATIONS_LEASE_MS": "5000",
    "GAVEL_NOTIFICATIONS_BATCH": "20",
    "GAVEL_SMTP_TIMEOUT_MS": "3000",
    # webhooks, Telegram and push go to the local receiver of
    # tests/http_receiver.py on CHANNEL_RECEIVER_PORT
    "GAVEL_WEBHOOK_ALLOW_LOOPBACK": "1",
    "GAVEL_WEBHOOK_DISABLE_AFTER_MS": "2000",
    "GAVEL_NOTIFICATIONS_HTTP_TIMEOUT_MS": "3000",
    "GAVEL_TELEGRAM_API_URL": "http://127.0.0.1:%d/telegram" % CHANNEL_RECEIVER_PORT,
    "GAVEL_TELEGRAM_BOT_TOKEN": "test-bot-token",
    "GAVEL_PUSH_URL": "http://127.0.0.1:%d/push" % CHANNEL_RECEIVER_PORT,
}


GATEWAY_TEST_ENV = {
    "GAVEL_GATEWAY_RATE_LIMITS": "off",
}


@pytest.fixture(scope="session")
def stack():
    run_dir = os.environ.get("GAVEL_TEST_RUN_DIR")
    if run_dir:
        yield h.Stack(run_dir)
        return
    s = h.Stack(os.environ.get("GAVEL_TEST_STACK_DIR", os.path.join(h.ROOT, ".run-test")))
    s.start_infra()
    try:
        yield s
    finally:
        s.stop()


def _serve(stack, svc, env=None, cls=h.Daemon):
    """Runs daemon svc for the session; after it stops, its log must hold
    no sanitizer report."""
    d = cls(stack, svc)
    d.env.update(env or {})
    d.start()
    _daemons.append(d)
    yield d
    _daemons.remove(d)
    try:
        if d.is_running():
            d.stop()
    finally:
        found = d.sanitizer_reports()
        assert not found, "sanitizer reports %s in %s" % (found, d.log_path)


# The session's accounts (admin, bidder, seller, the gateway's market) log
# in once; a suite runs longer than the default 15-minute access token.
SESSION_TOKEN_TTL_S = 7200


@pytest.fixture(scope="session")
def users(stack):
    """The users daemon under test (gavel-users of $GAVEL_TEST_BUILD)."""
    yield from _serve(stack, "users", {"GAVEL_ACCESS_TTL_S": str(SESSION_TOKEN_TTL_S)})


@pytest.fixture(scope="session")
def bids(stack, users):
    """The bids daemon under test (gavel-bids of $GAVEL_TEST_BUILD); it
    reserves funds through the users daemon above, so it starts after it
    and stops before it."""
    yield from _serve(stack, "bids")


@pytest.fixture(scope="session")
def auctions(stack, users, bids):
    """The auctions daemon under test; its scheduler drives the bids daemon
    above (OpenLot/CloseLot), so it starts after it and stops before it.
    Lots may be scheduled a second ahead and last a few seconds here, so
    the scheduler is tested in seconds, not the production minutes."""
    yield from _serve(stack, "auctions", AUCTIONS_TEST_ENV)


@pytest.fixture(scope="session")
def search(stack, users, auctions):
    """The search daemon under test; it indexes the auctions and bids
    events and rebuilds from the auctions daemon above."""
    yield from _serve(stack, "search")


@pytest.fixture(scope="session")
def sim(stack):
    """The card provider simulator (deploy/dev/provider_sim.py: the one
    stand-in, for a system outside Gavel) on a free port, with its own API
    key and webhook secret."""
    from payments.pay_kit import Simulator
    s = Simulator(os.path.join(stack.run_dir, "logs", "provider-sim.pytest.log"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def payments(stack, users, auctions, sim):
    """The payments daemon under test, on the stack's payments port, talking
    to the simulator above, to the users daemon and to the auctions daemon
    (a sold lot's fees). Not in the shared
    survival check: its crash tests kill and restart it on purpose
    (tests/payments/conftest.py checks it around each test)."""
    from payments.pay_kit import PAYMENTS_TEST_ENV
    d = h.Daemon(stack, "payments")
    d.env.update(PAYMENTS_TEST_ENV)
    d.env.update(GAVEL_PAYMENTS_PROVIDER_URL=sim.url, GAVEL_PAYMENTS_PROVIDER_KEY=sim.key,
                 GAVEL_PAYMENTS_WEBHOOK_SECRET=sim.secret)
    d.start()
    yield d
    if d.is_running():
        d.stop()
    found = d.sanitizer_reports()
    assert not found, "sanitizer reports %s in %s" % (found, d.log_path)


@pytest.fixture(scope="session")
def streaming(stack, users):
    """The streaming daemon under test; its loopback hook (the stack's
    GAVEL_STREAMING_HOOK_PORT) answers the ingest's callbacks."""
    yield from _serve(stack, "streaming")


@pytest.fixture(scope="session")
def ingest(stack, streaming):
    """The video ingest (nginx with the RTMP module and ffmpeg writing HLS,
    `stack.sh ingest`) calling the streaming daemon above. A dict: rtmp
    (publish to rtmp/<key>), live_dir (HLS under live_dir/<name>/), hls_url
    (nginx serving live_dir over HTTP) and control_url."""
    stack._stack("ingest")
    env = streaming.env
    yield {
        "rtmp": env["GAVEL_STREAMING_INGEST_URL"],
        "live_dir": env["GAVEL_STREAMING_LIVE_DIR"],
        "hls_url": "http://127.0.0.1:%d/live" % int(
            stack.env.get("GAVEL_NGINX_HLS_PORT") or int(stack.env["GAVEL_PORT_BASE_GRPC"]) + 937),
        "control_url": env["GAVEL_STREAMING_CONTROL_URL"],
    }
    stack._stack("ingest-stop", check=False)


@pytest.fixture(scope="session")
def mail_sink(stack):
    """The mail sink (deploy/dev/smtp_sink.py) on the port the stack gives
    the notifications daemon's GAVEL_SMTP_URL; messages land in
    <run dir>/mail-pytest/."""
    port = stack.daemon_env("notifications")["GAVEL_SMTP_URL"].rsplit(":", 1)[1]
    sink = h.SmtpSink(port, os.path.join(stack.run_dir, "mail-pytest"),
                      os.path.join(stack.run_dir, "logs", "smtp-sink.pytest.log"))
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def notifications(stack, users, mail_sink):
    """The notifications daemon under test; it learns users from the users
    daemon's events and mails through the sink above."""
    yield from _serve(stack, "notifications", NOTIFICATIONS_TEST_ENV)


@pytest.fixture(scope="session")
def gateway(stack, users, bids, auctions, notifications):
    """The gateway under test (gavel-gateway of $GAVEL_TEST_BUILD) in front
    of the users, bids, auctions and notifications daemons above (the
    stack's environment gives it their GAVEL_*_ADDR); gateway.base_url is its
    HTTP address. Started last, stopped first. Its rate limits are off, so
    the suites' traffic from one address is never throttled; the limits'
    own tests (tests/gateway/test_limits.py) start gateways of their own."""
    yield from _serve(stack, "gateway", GATEWAY_TEST_ENV, cls=h.Gateway)


@pytest.fixture(autouse=True)
def daemons_survive_each_test():
    """A test after which a daemon is dead (and the test did not restart it),
    or whose calls made a sanitizer speak, fails here: bad input must never
    crash a daemon."""
    marks = {id(d): d.log_size() for d in _daemons}
    yield
    problems = []
    for d in list(_daemons):
        found = d.sanitizer_reports(since=marks.get(id(d), d.log_start))
        if found:
            problems.append("%s: sanitizer reports %s (see %s)" % (d.svc, found, d.log_path))
        if not d.is_running():
            rc = d.proc.returncode if d.proc is not None else None
            problems.append("%s died during the test (exit %s):\n%s" % (d.svc, rc, d.log_tail()))
            d.start()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="session")
def users_stub(users):
    return users_pb2_grpc.UsersStub(users.channel)


@pytest.fixture(scope="session")
def wallet_stub(users):
    return users_pb2_grpc.WalletStub(users.channel)


@pytest.fixture(scope="session")
def admin_creds(users):
    env = h.read_env_file(users.env["GAVEL_BOOTSTRAP_ADMIN_FILE"])
    return env["GAVEL_ADMIN_EMAIL"], env["GAVEL_ADMIN_PASSWORD"]


@pytest.fixture(scope="session")
def admin(users_stub, admin_creds):
    email, password = admin_creds
    resp = h.login(users_stub, email, password)
    assert resp.profile.role == users_pb2.ROLE_ADMIN
    return h.Account(email, password, resp.profile, resp.tokens)


@pytest.fixture(scope="session")
def service_md(users, admin):
    """Metadata of a service identity (signed with GAVEL_SERVICE_KEY); the
    admin's when python3-cryptography is missing."""
    if not h.HAVE_CRYPTOGRAPHY:
        return admin.md
    return h.bearer(h.service_token(users.env["GAVEL_SERVICE_KEY"], ttl=SESSION_TOKEN_TTL_S))


@pytest.fixture(scope="session")
def bidder(users_stub):
    return h.register(users_stub, users_pb2.ROLE_BIDDER, company="Test Motors",
                      phone="+7 900 000-00-00", region="Moscow")


@pytest.fixture(scope="session")
def other_bidder(users_stub):
    return h.register(users_stub, users_pb2.ROLE_BIDDER)


@pytest.fixture(scope="session")
def seller(users_stub):
    return h.register(users_stub, users_pb2.ROLE_SELLER)


@pytest.fixture
def new_account(users_stub):
    """Registers and logs in a fresh user: new_account(role=..., **fields)."""
    def make(role=users_pb2.ROLE_BIDDER, **kw):
        return h.register(users_stub, role, **kw)
    return make


@pytest.fixture(scope="session")
def ledger(users):
    db = h.Ledger(users.env["GAVEL_PG_DSN"])
    yield db
    db.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack, users):
    return stack.kafka_bootstrap()
