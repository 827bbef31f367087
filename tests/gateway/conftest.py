"""Fixtures of the gateway's REST tests: a client speaking JSON over HTTP to
the real gateway (tests/conftest.py starts it in front of the real users,
auctions and bids daemons), accounts made through the REST API itself, and
live lots built through the lot lifecycle (create, submit, approve,
schedule; the auctions scheduler opens them in bids). The helpers live in
gavel_harness (Rest, Market)."""
import time

import pytest

import gavel_harness as h


@pytest.fixture(scope="session")
def rest(gateway):
    return h.Rest(gateway)


@pytest.fixture(scope="session")
def gw_admin(rest, admin_creds):
    email, password = admin_creds
    return rest.login(email, password)


@pytest.fixture(scope="session")
def gw_moderator(rest, gw_admin):
    m = rest.register()
    rest.ok("PATCH", "/api/v1/users/%d" % m.id, {"updateMask": ["role"],
                                                 "role": "ROLE_MODERATOR"}, gw_admin.token)
    return rest.login(m.email, m.password)


@pytest.fixture(scope="session")
def gw_category(rest, gw_admin):
    n = time.time_ns()
    return rest.ok("POST", "/api/v1/categories", {"name": "Gateway cars %d" % n,
                                                  "slug": "gw-cars-%d" % n},
                   gw_admin.token)["category"]


@pytest.fixture(scope="session")
def market(rest, gw_admin, gw_moderator, gw_category):
    return h.Market(rest, gw_admin, gw_moderator, gw_category)
