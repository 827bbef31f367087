"""Fixtures for the auctions system tests.

The real auctions daemon (tests/conftest.py starts it after users and bids,
with second-scale scheduler settings) is driven over gRPC as its users
would: sellers write lots, a moderator approves them, an admin manages
categories. tests/auction_house.py has the helpers.
"""
import time

import psycopg2
import pytest

import gavel_harness as h
from auction_house import House, complete_lot
from gavel_harness import bids_pb2_grpc, users_pb2


@pytest.fixture(scope="session")
def moderator(users_stub, admin):
    m = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=m.id, update_mask=["role"], role=users_pb2.ROLE_MODERATOR), admin.md)
    resp = h.login(users_stub, m.email, m.password)
    assert resp.profile.role == users_pb2.ROLE_MODERATOR
    return h.Account(m.email, m.password, resp.profile, resp.tokens)


@pytest.fixture(scope="session")
def house(auctions, admin, moderator, users_stub):
    return House(auctions, admin, moderator, users_stub)


@pytest.fixture(scope="session")
def category(house):
    return house.category(name="Passenger cars %d" % time.time_ns())


@pytest.fixture(scope="session")
def lots_db(auctions):
    """A connection to the auctions database, for checking that refused
    calls changed nothing (never for setting state up)."""
    conn = psycopg2.connect(auctions.env["GAVEL_PG_DSN"])
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def svc_key(users):
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is needed to mint a service token")
    return users.env["GAVEL_SERVICE_KEY"]


@pytest.fixture(scope="module")
def bids_stub(bids):
    return bids_pb2_grpc.BidsStub(bids.channel)


@pytest.fixture(scope="module")
def wallet(wallet_stub):
    return wallet_stub


@pytest.fixture
def tail(house, seller, category, kafka_bootstrap):
    """A TopicTail on gavel.auctions from now on (a new draft first makes
    sure the topic exists)."""
    house.create(seller, complete_lot(category.id))
    t = h.TopicTail(kafka_bootstrap, "gavel.auctions")
    yield t
    t.close()
