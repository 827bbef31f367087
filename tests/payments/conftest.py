"""Fixtures of the payments system tests: the provider simulator on a
free port, the real payments daemon talking to it and to the real users
daemon, direct reads of gavel_payments, and a publisher of auction.closed
events for lots with real wallet holds (pay_kit.py)."""
import os
import sys

import pytest

import gavel_harness as h

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pay_kit import PAYMENTS_TEST_ENV, Closer, PayDb, Simulator, payments_pb2_grpc  # noqa: E402


@pytest.fixture(scope="session")
def sim(stack):
    s = Simulator(os.path.join(stack.run_dir, "logs", "provider-sim.pytest.log"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def payments(stack, users, sim):
    """The payments daemon under test, on the stack's payments port, talking
    to the simulator above and to the users daemon."""
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


@pytest.fixture(autouse=True)
def payments_survives(request):
    """A test after which the payments daemon is dead (and the test did not
    restart it) or whose calls made a sanitizer speak fails here."""
    if "payments" not in request.fixturenames:
        yield
        return
    d = request.getfixturevalue("payments")
    mark = d.log_size()
    yield
    found = d.sanitizer_reports(since=mark)
    if not d.is_running():
        tail = d.log_tail()
        d.start()
        pytest.fail("payments died during the test:\n%s" % tail)
    assert not found, "sanitizer reports %s in %s" % (found, d.log_path)


@pytest.fixture(scope="session")
def pay_stub(payments):
    return payments_pb2_grpc.PaymentsStub(payments.channel)


@pytest.fixture(scope="session")
def paydb(payments):
    db = PayDb(payments.env["GAVEL_PG_DSN"])
    yield db
    db.close()


@pytest.fixture(scope="session")
def closer(kafka_bootstrap, wallet_stub, admin, service_md):
    return Closer(kafka_bootstrap, wallet_stub, admin, service_md)
