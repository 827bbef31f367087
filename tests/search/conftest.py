"""Fixtures of the search system tests: the real search daemon
(tests/conftest.py starts it after users, bids and auctions), lots written
through the real auctions daemon (auction_house.House) and, for the cases
only the event stream can produce (out of order, repeated), events
published to gavel.auctions and gavel.bids as those daemons publish them
(search_kit.Events)."""
import time

import pytest

import gavel_harness as h
from auction_house import House
from gavel_harness import users_pb2
from gavel.search.v1 import search_pb2_grpc  # noqa: E402
from search_kit import Events, Finder, new_lot_id, upserted


@pytest.fixture(scope="session")
def search_stub(search):
    return search_pb2_grpc.SearchStub(search.channel)


@pytest.fixture(scope="session")
def moderator(users_stub, admin):
    m = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=m.id, update_mask=["role"], role=users_pb2.ROLE_MODERATOR), admin.md)
    resp = h.login(users_stub, m.email, m.password)
    return h.Account(m.email, m.password, resp.profile, resp.tokens)


@pytest.fixture(scope="session")
def house(auctions, admin, moderator, users_stub):
    return House(auctions, admin, moderator, users_stub)


@pytest.fixture(scope="session")
def category(house):
    return house.category(name="Searched cars %d" % time.time_ns())


@pytest.fixture(scope="session")
def finder(search_stub, bidder, kafka_bootstrap):
    """Search as a bidder, once the consumer has joined its group (the
    first event after start waits for that; later ones do not)."""
    f = Finder(search_stub, bidder)
    e = Events(kafka_bootstrap)
    try:
        lot_id = new_lot_id()
        e.lot(upserted(lot_id, 10 ** 15))
        e.bid(lot_id, 1, 100000)
        f.wait_hit(lot_id, timeout=30, pred=lambda hit: hit.lot.bid_count == 1)
    finally:
        e.close()
    return f


@pytest.fixture
def events(kafka_bootstrap, search):
    e = Events(kafka_bootstrap)
    yield e
    e.close()
