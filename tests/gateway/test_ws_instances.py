"""One gateway in front of two bids instances (GAVEL_BIDS_ADDR lists both;
lot n belongs to instance n % 2): its sockets follow and bid on lots of
both, each call and state read going to the lot's own instance, and both
instances' feeds reach the same sockets through Redis."""
import random
import re
import time

import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc
from ws_client import bid_msg, connect, of_type, run, send, until


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)


@pytest.fixture
def two_instances(stack, bids, gateway, users):
    """Instance 1 of 2 (own database) and a second gateway routing to both."""
    b1 = h.Daemon(stack, "bids")
    b1.addr = "127.0.0.1:%d" % (int(b1.addr.rsplit(":", 1)[1]) + 100)
    b1.env["GAVEL_BIDS_ADDR"] = b1.addr
    b1.env["GAVEL_METRICS_PORT"] = str(int(b1.env["GAVEL_METRICS_PORT"]) + 100)
    b1.env.update(GAVEL_BIDS_INSTANCES="2", GAVEL_BIDS_INSTANCE="1")
    db = "gavel_bids_ws_instance_1"
    admin = psycopg2.connect(with_dbname(b1.env["GAVEL_PG_DSN"], "postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s" % db)
        cur.execute("CREATE DATABASE %s" % db)
    b1.env["GAVEL_PG_DSN"] = with_dbname(b1.env["GAVEL_PG_DSN"], db)
    b1.log_path = b1.log_path.replace(".pytest.log", ".ws-instance1.pytest.log")
    b1.log_start = b1.log_size()
    b1.start()
    gw2 = h.Gateway(stack)
    gw2.addr = "127.0.0.1:%d" % (int(gw2.addr.rsplit(":", 1)[1]) + 100)
    gw2.env["GAVEL_GATEWAY_ADDR"] = gw2.addr
    gw2.env["GAVEL_GATEWAY_PORT"] = str(gw2.port + 50)
    gw2.env["GAVEL_METRICS_PORT"] = str(int(gw2.env["GAVEL_METRICS_PORT"]) + 101)
    gw2.env["GAVEL_BIDS_ADDR"] = "%s,%s" % (bids.addr, b1.addr)
    gw2.log_path = gw2.log_path.replace(".pytest.log", ".two-bids.pytest.log")
    gw2.log_start = gw2.log_size()
    gw2.start()
    try:
        yield bids, b1, gw2
    finally:
        gw2.stop()
        b1.stop()
        found = b1.sanitizer_reports(since=b1.log_start) + gw2.sanitizer_reports()
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % db)
        admin.close()
        assert not found, "sanitizer reports %s" % found


def open_lot(daemon, lot_id, svc_md):
    now = int(time.time() * 1e6)
    req = bids_pb2.OpenLotRequest(lot_id=lot_id, seller_id=random.randint(10 ** 6, 10 ** 7),
                                  currency="RUB", start_price=h.rub(1000),
                                  starts_at_us=now - 10 ** 6, ends_at_us=now + 600 * 10 ** 6)
    req.increments.add(from_amount=h.rub(0), increment=h.rub(100))
    h.call(bids_pb2_grpc.BidsStub(daemon.channel).OpenLot, req, svc_md)


def test_one_gateway_two_bids_instances(two_instances, market, service_md):
    b0, b1, gw2 = two_instances
    even = random.randint(10 ** 9, 2 * 10 ** 9) * 2
    odd = even + 1
    open_lot(b0, even, service_md)
    open_lot(b1, odd, service_md)
    stub1 = bids_pb2_grpc.BidsStub(b1.channel)

    def opened():
        try:
            return h.call(stub1.GetLotState, bids_pb2.GetLotStateRequest(lot_id=odd),
                          service_md).state.lot_id == odd
        except Exception:
            return False
    h.wait_until(opened, 10, what="lot %d open on instance 1" % odd)
    assert gw2.env["GAVEL_BIDS_ADDR"].endswith(b1.addr)
    a = market.bidder()

    async def scenario():
        w = await connect(gw2, a.token)
        await send(w, type="subscribe", lots=[str(even), str(odd)])
        snaps, seen = {}, []
        while len(snaps) < 2:
            m = await until(w, of_type("lot_snapshot"), seen=seen)
            snaps[m["lotId"]] = m
        for lot in (even, odd):
            await send(w, **bid_msg(lot, 1000, "b%d" % lot))
        results, updates = {}, {}
        while len(results) < 2 or len(updates) < 2:
            m = await until(w, lambda m: m["type"] in ("bid_result", "lot_update"), seen=seen)
            if m["type"] == "bid_result":
                results[m["id"]] = m
            else:
                updates[m["lotId"]] = m
        for lot in (even, odd):
            res = results["b%d" % lot]
            assert res["bid"]["lotId"] == str(lot) and res["bid"]["seq"] == "1", res
            up = updates[str(lot)]
            assert up["seq"] == "1" and up["leader"] is True, up
        await w.close()

    run(scenario())
