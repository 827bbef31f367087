"""Fixtures of the payments system tests (the provider simulator and the
payments daemon itself are tests/conftest.py's, shared with the gateway's
route tests): a check that the daemon survives each test, direct reads of
gavel_payments, and a publisher of auction.closed events for lots with real
wallet holds (pay_kit.py)."""
import os
import sys

import pytest


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pay_kit import Closer, PayDb, payments_pb2_grpc  # noqa: E402


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
