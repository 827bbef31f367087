"""Failed calls are logged as docs/operations.md says: every call that ends
in an error other than NOT_FOUND gets a line with its method, status and
message under the caller's request id, and a flood of bad calls cannot
fill the disk (GAVEL_RPC_LOG_FAILED_PER_S lines a second, then one line
saying how many were dropped).

Before this, a GetProfile without a token and a malformed ListLots, each
with its x-request-id, appeared in no log at all.
"""
import json
import time
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import auctions_pb2, auctions_pb2_grpc, users_pb2


def log_lines(daemon, since):
    out = []
    for line in daemon.log_text(since).splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def wait_for_line(daemon, since, pred, timeout=5):
    deadline = time.monotonic() + timeout * h.SLOW
    while time.monotonic() < deadline:
        found = [l for l in log_lines(daemon, since) if pred(l)]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("no such log line in %s" % daemon.log_path)


def rid():
    return "logtest-" + uuid.uuid4().hex[:16]


def test_a_call_without_a_token_is_logged_with_its_request_id(users, users_stub):
    since, request_id = users.log_size(), rid()
    with pytest.raises(grpc.RpcError) as e:
        users_stub.GetProfile(users_pb2.GetProfileRequest(),
                              metadata=[("x-request-id", request_id)], timeout=h.RPC_TIMEOUT)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    (line,) = wait_for_line(users, since, lambda l: l.get("request_id") == request_id)
    assert line["level"] == "info"
    assert line["msg"].startswith("/gavel.users.v1.Users/GetProfile -> 16 UNAUTHENTICATED: ")


def test_a_malformed_listlots_is_logged_with_its_request_id(auctions, admin):
    stub = auctions_pb2_grpc.AuctionsStub(auctions.channel)
    since, request_id = auctions.log_size(), rid()
    with pytest.raises(grpc.RpcError) as e:
        stub.ListLots(auctions_pb2.ListLotsRequest(filter_json='[["eq","price"'),
                      metadata=list(admin.md) + [("x-request-id", request_id)],
                      timeout=h.RPC_TIMEOUT)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (line,) = wait_for_line(auctions, since, lambda l: l.get("request_id") == request_id)
    assert line["msg"].startswith("/gavel.auctions.v1.Auctions/ListLots -> 3 INVALID_ARGUMENT: ")


def test_not_found_is_not_logged(users, wallet_stub, new_account):
    who = new_account()
    since, request_id = users.log_size(), rid()
    with pytest.raises(grpc.RpcError) as e:
        wallet_stub.GetHold(users_pb2.GetHoldRequest(hold_id=10 ** 15),
                            metadata=list(who.md) + [("x-request-id", request_id)],
                            timeout=h.RPC_TIMEOUT)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    # A later failed call of the same caller is logged; the NOT_FOUND before it is not.
    marker = rid()
    with pytest.raises(grpc.RpcError):
        wallet_stub.GetHold(users_pb2.GetHoldRequest(hold_id=0),
                            metadata=[("x-request-id", marker)], timeout=h.RPC_TIMEOUT)
    wait_for_line(users, since, lambda l: l.get("request_id") == marker)
    assert not [l for l in log_lines(users, since) if l.get("request_id") == request_id]


def test_a_flood_of_bad_calls_writes_a_bounded_number_of_lines(users, users_stub):
    since = users.log_size()
    ids = [rid() for _ in range(600)]
    t0 = time.monotonic()
    for request_id in ids:
        with pytest.raises(grpc.RpcError):
            users_stub.GetProfile(users_pb2.GetProfileRequest(),
                                  metadata=[("x-request-id", request_id)], timeout=h.RPC_TIMEOUT)
    seconds = time.monotonic() - t0
    # One more bad call a second later opens a new second, whose first line
    # reports what the flood's seconds dropped.
    time.sleep(1.1)
    last = rid()
    with pytest.raises(grpc.RpcError):
        users_stub.GetProfile(users_pb2.GetProfileRequest(),
                              metadata=[("x-request-id", last)], timeout=h.RPC_TIMEOUT)
    wait_for_line(users, since, lambda l: l.get("request_id") == last)
    wanted = set(ids)
    lines = log_lines(users, since)
    logged = [l for l in lines if l.get("request_id") in wanted]
    budget = 20 * (int(seconds) + 2)  # GAVEL_RPC_LOG_FAILED_PER_S default 20
    assert 0 < len(logged) <= budget, "%d lines for 600 bad calls in %.1f s" % (
        len(logged), seconds)
    dropped = sum(int(l["msg"].split()[0]) for l in lines
                  if "failed-call lines were dropped" in l["msg"])
    assert len(logged) + dropped >= len(ids)
