"""Fixtures of the deployment checks: what the daemons declare and the
ports the guide gives them, read once per session. No stack is started."""
import pytest

import gavel_deploy as d


@pytest.fixture(scope="session")
def describes():
    """{daemon: describe()} of every daemon in services/."""
    return {svc: d.describe(svc) for svc in d.DAEMONS}


@pytest.fixture(scope="session")
def ports():
    """{daemon: (grpc, metrics, http)} from docs/operations.md's Ports table."""
    return d.doc_ports()
