"""Fixtures of the streaming system tests: the Streaming stub, a
moderator (the venue's clerk) and direct reads of gavel_streaming. The
streaming daemon and the ingest (nginx + ffmpeg) are tests/conftest.py's."""
import itertools
import os
import sys

import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import users_pb2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stream_kit import streaming_pb2_grpc  # noqa: E402

_sessions = itertools.count(int.from_bytes(os.urandom(3), "big") * 1000 + 1, 100)


@pytest.fixture(scope="session")
def strm_stub(streaming):
    return streaming_pb2_grpc.StreamingStub(streaming.channel)


@pytest.fixture(scope="session")
def clerk(users_stub, admin):
    """A moderator: the venue's clerk, who may create streams."""
    m = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(users_stub.UpdateProfile, users_pb2.UpdateProfileRequest(
        user_id=m.id, update_mask=["role"], role=users_pb2.ROLE_MODERATOR), admin.md)
    resp = h.login(users_stub, m.email, m.password)
    assert resp.profile.role == users_pb2.ROLE_MODERATOR
    return h.Account(m.email, m.password, resp.profile, resp.tokens)


@pytest.fixture
def session_id():
    """A venue session id no other test uses (nor the next 99)."""
    return next(_sessions)


@pytest.fixture(scope="session")
def strm_db(streaming):
    conn = psycopg2.connect(streaming.env["GAVEL_PG_DSN"])
    conn.autocommit = True
    yield conn
    conn.close()
