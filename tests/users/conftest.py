"""Fixtures of the users tests: more gavel-users daemons beside the
session's, as an operator runs replicas (same database, Redis and Kafka
unless a test says otherwise)."""

import pytest

import gavel_harness as h
from gavel_harness import users_pb2



@pytest.fixture(scope="module")
def spare_users(stack, users):
    """spare_users(tag, **env) starts another gavel-users on free ports with
    the session daemon's environment plus env, and returns its Daemon
    (metrics on int(d.env["GAVEL_METRICS_PORT"])). Those still running at
    the end of the module are stopped (exit 0 after the drain); no log may
    hold a sanitizer report."""
    spares = h.Spares(stack)
    yield lambda tag, **env: spares.start("users", tag, users.env, **env)
    spares.stop_all()


@pytest.fixture
def funded(new_account, wallet_stub, service_md):
    """funded(units): a new bidder whose RUB wallet holds units."""
    def make(units=100000, **kw):
        a = new_account(**kw)
        if units:
            h.call(wallet_stub.Deposit, users_pb2.DepositRequest(
                idempotency_key=h.idem(), user_id=a.id, amount=h.rub(units)), service_md)
        return a
    return make
