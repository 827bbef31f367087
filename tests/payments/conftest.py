"""Fixtures of the payments system tests (the provider simulator and the
payments daemon itself are tests/conftest.py's, shared with the gateway's
route tests): a check that the daemon survives each test, direct reads of
gavel_payments, and a publisher of auction.closed events for lots with real
wallet holds, known to the auctions daemon (pay_kit.py)."""
import os
import sys

import pytest

import gavel_harness as h


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pay_kit import AuctionsLots, Closer, PayDb, PriceRules, payments_pb2_grpc  # noqa: E402


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
def auction_lots(auctions):
    lots = AuctionsLots(auctions.env["GAVEL_PG_DSN"])
    yield lots
    lots.close()


@pytest.fixture(scope="session")
def closer(kafka_bootstrap, wallet_stub, admin, service_md, auction_lots):
    return Closer(kafka_bootstrap, wallet_stub, admin, service_md, auction_lots)


@pytest.fixture(scope="session")
def price_rules(auctions, admin):
    return PriceRules(auctions.channel, admin)


@pytest.fixture(scope="module")
def market(gateway, admin_creds):
    """Real auctions through the gateway: a seller's lot goes live in the
    auctions daemon, bidders bid through the bids daemon, the scheduler
    closes it. Each module gets a category of its own."""
    return h.Market.open(h.Rest(gateway), admin_creds, "Paid")
