"""Several bids instances: lot n belongs to instance n % N. A second bids
daemon, instance 1 of 2 with its own database, opens only odd lots, names
the owner of an even one, and takes bids on its own lots through the same
users service."""
import re

import grpc
import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)


@pytest.fixture
def instance_1_of_2(stack, bids):
    d = h.Daemon(stack, "bids")
    port = int(d.addr.rsplit(":", 1)[1]) + 100
    d.addr = "127.0.0.1:%d" % port
    d.env["GAVEL_BIDS_ADDR"] = d.addr
    d.env["GAVEL_METRICS_PORT"] = str(int(d.env["GAVEL_METRICS_PORT"]) + 100)
    d.env.update(GAVEL_BIDS_INSTANCES="2", GAVEL_BIDS_INSTANCE="1")
    db = "gavel_bids_instance_1"
    admin = psycopg2.connect(with_dbname(d.env["GAVEL_PG_DSN"], "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s" % db)
        cur.execute("CREATE DATABASE %s" % db)
    d.env["GAVEL_PG_DSN"] = with_dbname(d.env["GAVEL_PG_DSN"], db)
    d.log_path = d.log_path.replace(".pytest.log", ".instance1.pytest.log")
    d.log_start = d.log_size()
    d.start()
    try:
        yield d
    finally:
        d.stop()
        found = d.sanitizer_reports(since=d.log_start)
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % db)
        admin.close()
        assert not found, "instance 1 sanitizer reports %s" % found


def test_instance_1_of_2_serves_odd_lots_only(market, instance_1_of_2):
    stub = bids_pb2_grpc.BidsStub(instance_1_of_2.channel)
    odd = market.unused_lot_id() | 1
    even = odd + 1
    e = h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.OpenLot,
                       market.lot_request(lot_id=even), market.svc_md())
    assert "belongs to bids instance 0 of 2" in e.details(), e.details()
    h.expect_error(grpc.StatusCode.NOT_FOUND, stub.GetLotState,
                   bids_pb2.GetLotStateRequest(lot_id=even), market.svc_md())
    h.call(stub.OpenLot, market.lot_request(lot_id=odd), market.svc_md())
    a = market.new_bidder()
    r = h.call(stub.PlaceBid, market.place_req(odd, 1000), a.md)
    assert r.bid.seq == 1 and r.caller_is_leading
    assert market.reserved(a) == 1000  # the hold came from the shared wallet
    # The first instance (one of one) knows nothing of the second's lot.
    h.expect_error(grpc.StatusCode.NOT_FOUND, market.stub.GetLotState,
                   bids_pb2.GetLotStateRequest(lot_id=odd), market.svc_md())


def test_instance_1_of_2_shows_commits_on_every_shard(market, instance_1_of_2):
    """With two instances and two shards, odd lots 4k+1 live on shard 0 and
    4k+3 on shard 1 of instance 1. Each committed bid must reach its own
    shard's view at once: GetLotState shows it, and a retry of the same
    PlaceBid is answered from memory with the same bid."""
    stub = bids_pb2_grpc.BidsStub(instance_1_of_2.channel)
    base = market.unused_lot_id() * 4
    for lot in (base + 1, base + 3):
        h.call(stub.OpenLot, market.lot_request(lot_id=lot), market.svc_md())
        a = market.new_bidder()
        req = market.place_req(lot, 1000)
        first = h.call(stub.PlaceBid, req, a.md)
        st = h.call(stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot), a.md)
        assert st.state.seq == first.bid.seq == 1 and st.caller_is_leading, (lot, st)
        again = h.call(stub.PlaceBid, req, a.md, timeout=3)
        assert again.bid.seq == first.bid.seq and again.bid.hash == first.bid.hash, lot
