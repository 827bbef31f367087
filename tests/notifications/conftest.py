"""Fixtures of the notifications system tests: the real notifications
daemon (tests/conftest.py starts it with the mail sink) behind its gRPC
API, Redis subscriptions to users' realtime channels, deposits that make
a WALLET notification without any lot, and live lots built through the
gateway's REST API (gavel_harness.Market) for the bid-driven kinds."""
import pytest

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb, notifications_pb2_grpc, users_pb2


@pytest.fixture(scope="session")
def notif_stub(notifications):
    return notifications_pb2_grpc.NotificationsStub(notifications.channel)


@pytest.fixture
def feed(notifications):
    """feed(*user_ids): a UserFeed on their gavel:user:<id> channels, closed
    after the test."""
    made = []

    def make(*user_ids):
        f = h.UserFeed(notifications.env["GAVEL_REDIS_ADDR"], *user_ids)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


@pytest.fixture
def deposit(wallet_stub, admin):
    """deposit(user, units): a deposit by the admin, which makes the
    user's WALLET notification."""
    def do(user, units=100000):
        h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=user.id, amount=h.rub(units),
            reference="notifications test"), admin.md)
    return do


@pytest.fixture
def inbox(notif_stub):
    """inbox(user, **request fields): the user's ListInbox answer."""
    def read(user, **kw):
        return h.call(notif_stub.ListInbox, npb.ListInboxRequest(**kw), user.md)
    return read


@pytest.fixture(scope="session")
def rest(gateway):
    return h.Rest(gateway)


@pytest.fixture(scope="session")
def market(rest, admin_creds):
    """Sellers, funded bidders and live lots through the gateway's REST API."""
    return h.Market.open(rest, admin_creds, "Notified")


@pytest.fixture
def bid(market):
    """bid(lot_id, bidder[, units]): a bid through REST at the lot's next
    minimum (or units); returns the PlaceBid answer."""
    def place(lot_id, bidder, units=None):
        if units is None:
            units = int(market.state(lot_id, bidder.token)["nextMinBid"]["units"])
        return market.rest.ok("POST", "/api/v1/lots/%s/bids" % lot_id,
                              {"amount": h.rub_json(units)}, bidder.token,
                              headers={"Idempotency-Key": h.new_key()})
    return place
