"""Scale-out without draining: each lot's bids instance is chosen once, at
ScheduleLot, among the instances accepting new lots (a registry in Redis),
recorded by the auctions service and followed by every caller. With bids-0
(the session's) and bids-s1 running and bids being placed through the
gateway all along, bids-s2 starts and takes new lots at once while no
existing lot changes owner; bids-s1 is then drained and takes no new lot,
yet its live lots close with the right winner; no acknowledged bid is
lost. Also: bad instance names stop a daemon at start, OpenLot naming
another instance is refused, and a lot whose Redis record is gone is found
again through the auctions service."""
import random
import re
import subprocess
import threading
import time

import grpc
import psycopg2
import pytest
import redis

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc

SEC = 10 ** 6


def with_dbname(dsn, name):
    return re.sub(r"dbname=\S+", "dbname=" + name, dsn)


@pytest.fixture
def rds(bids):
    host, port = bids.env["GAVEL_REDIS_ADDR"].rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port), socket_timeout=10, decode_responses=True)
    yield r
    r.close()


@pytest.fixture
def spares(stack, bids, market):
    """Extra bids instances (each with its own database) and gateways."""
    s = h.Spares(stack)
    admin = psycopg2.connect(with_dbname(bids.env["GAVEL_PG_DSN"], "postgres"))
    admin.autocommit = True
    dbs = []

    def start_bids(name, **env):
        db = "gavel_bids_scale_" + name.replace("-", "_")
        with admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s" % db)
            cur.execute("CREATE DATABASE %s" % db)
        dbs.append(db)
        return s.start("bids", name, dict(GAVEL_PG_DSN=with_dbname(bids.env["GAVEL_PG_DSN"], db)),
                       GAVEL_BIDS_NAME=name, **env)
    s.start_bids = start_bids
    s.lots = []  # lots the test scheduled: cancelled at the end if still open
    try:
        yield s
    finally:
        for lot in s.lots:  # best effort: a CLOSED lot refuses, which is fine
            market.rest.call("POST", "/api/v1/lots/%d/cancel" % lot,
                             {"reason": "scale-out test cleanup"}, token=market.admin.token)
        s.stop_all()
        with admin.cursor() as cur:
            for db in dbs:
                cur.execute("DROP DATABASE IF EXISTS %s" % db)
        admin.close()


@pytest.fixture(scope="module")
def market(gateway, admin_creds):
    rest = h.Rest(gateway)
    admin = rest.login(*admin_creds)
    m = rest.register()
    rest.ok("PATCH", "/api/v1/users/%d" % m.id, {"updateMask": ["role"], "role": "ROLE_MODERATOR"},
            admin.token)
    n = time.time_ns()
    cat = rest.ok("POST", "/api/v1/categories", {"name": "Scale-out cars %d" % n,
                                                 "slug": "scale-cars-%d" % n}, admin.token)
    return h.Market(rest, admin, rest.login(m.email, m.password), cat["category"])


def alive(rds):
    return set(rds.zrangebyscore("gavel:bids:alive", int(time.time() * 1000) - 15000, "+inf"))


def wait_alive(rds, *names):
    h.wait_until(lambda: set(names) <= alive(rds), 10, what="%s registered" % (names,))


def schedule(market, seller, n, start_in_s, length_s):
    """n lots scheduled to open start_in_s from now for length_s; their ids."""
    lots = [market.approved(seller) for _ in range(n)]
    start = int(time.time() * SEC) + int(start_in_s * SEC)
    for lot in lots:
        market.rest.ok("POST", "/api/v1/lots/%s/schedule" % lot["id"],
                       {"startsAtUs": str(start), "endsAtUs": str(start + length_s * SEC)},
                       seller.token)
    return [int(lot["id"]) for lot in lots]


def owner_of(market, lot_id):
    return market.rest.ok("GET", "/api/v1/lots/%d" % lot_id,
                          token=market.admin.token)["lot"].get("bidsInstance", "")


class Bidders:
    """Two bidders bidding the next minimum on every live lot in turn
    through the gateway until stopped; every acknowledged bid is kept."""

    def __init__(self, market, gw=None):
        self.market = market
        self.rest = h.Rest(gw) if gw is not None else market.rest
        self.accounts = [market.bidder(), market.bidder()]
        self.lots = []
        self.acked = {}  # lot -> [(seq, bidId, bidderId, units)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(a,)) for a in self.accounts]

    def run(self, who):
        while not self.stop.is_set():
            for lot in list(self.lots):
                if self.stop.is_set():
                    break
                st = self.rest.call("GET", "/api/v1/lots/%d/state" % lot, token=who.token)
                if st.status != 200 or st.json["state"].get("status") != "LOT_STATUS_LIVE":
                    continue
                a = self.rest.call("POST", "/api/v1/lots/%d/bids" % lot,
                                   {"amount": st.json["state"]["nextMinBid"]}, token=who.token,
                                   headers={"Idempotency-Key": h.new_key()})
                if a.status == 200:
                    b = a.json["bid"]
                    self.acked.setdefault(lot, []).append(
                        (int(b["seq"]), b["bidId"], int(b["bidderId"]), int(b["amount"]["units"])))
            time.sleep(0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def lot_bids(market, lot_id):
    a = market.rest.ok("GET", "/api/v1/lots/%d/bids?page.pageSize=1000" % lot_id,
                       token=market.admin.token)
    return {b["bidId"] for b in a.get("bids", [])}


def state_on(daemon, lot_id, service_md):
    """'ok' when the instance holds the lot, else the refusal's code name."""
    try:
        h.call(bids_pb2_grpc.BidsStub(daemon.channel).GetLotState,
               bids_pb2.GetLotStateRequest(lot_id=lot_id), service_md)
        return "ok"
    except grpc.RpcError as e:
        return e.code().name


def test_a_third_instance_takes_new_lots_and_a_drained_one_finishes_its_own(
        bids, auctions, gateway, market, spares, rds, service_md):
    b1 = spares.start_bids("bids-s1")
    wait_alive(rds, "bids-0", "bids-s1")
    instances = {"bids-0": bids, "bids-s1": b1}
    seller = market.seller()
    first = schedule(market, seller, 6, 1.0, 30)
    spares.lots.extend(first)
    owners = {lot: owner_of(market, lot) for lot in first}
    assert set(owners.values()) == {"bids-0", "bids-s1"}, owners
    with Bidders(market) as bidders:
        bidders.lots.extend(first)
        time.sleep(2.5)
        b2 = spares.start_bids("bids-s2")
        instances["bids-s2"] = b2
        wait_alive(rds, "bids-s2")
        second = schedule(market, seller, 6, 1.0, 20)
        spares.lots.extend(second)
        owners.update({lot: owner_of(market, lot) for lot in second})
        assert "bids-s2" in {owners[lot] for lot in second}, owners
        bidders.lots.extend(second)
        # A lot whose Redis record is gone (after the scheduler wrote it
        # again at OpenLot) is found through GetLot by a gateway that never
        # saw it; its legacy rule would have sent it to bids-0.
        lost = next(lot for lot in second if owners[lot] == "bids-s2")
        market.wait_status(lost, "LOT_STATUS_LIVE", seller.token)
        rds.delete("gavel:lot:%d:bids" % lost)
        gw2 = spares.start("gateway", "scale-gw2", gateway.env)
        st = h.Rest(gw2).ok("GET", "/api/v1/lots/%d/state" % lost, token=seller.token)
        assert st["state"]["status"] == "LOT_STATUS_LIVE", st
        # Drain bids-1: no new lot goes there; its lots go on.
        rds.srem("gavel:bids:accepting", "bids-s1")
        third = schedule(market, seller, 4, 1.0, 12)
        spares.lots.extend(third)
        owners.update({lot: owner_of(market, lot) for lot in third})
        assert "bids-s1" not in {owners[lot] for lot in third}, owners
        time.sleep(6)  # a refresh of bids-1's registration passes: still drained
        assert "bids-s1" not in rds.smembers("gavel:bids:accepting")
        bidders.lots.extend(third)
        for lot in first + second + third:
            assert owner_of(market, lot) == owners[lot], lot
            assert rds.get("gavel:lot:%d:bids" % lot) in (owners[lot], None), lot
            for name, d in instances.items():
                got = state_on(d, lot, service_md)
                assert got == ("ok" if name == owners[lot] else "NOT_FOUND"), (lot, name, got)
        for lot in first + second + third:
            market.wait_status(lot, "LOT_STATUS_CLOSED", seller.token, timeout=40)
    assert sum(len(v) for v in bidders.acked.values()) > 20, bidders.acked
    assert {owners[lot] for lot in bidders.acked} == {"bids-0", "bids-s1", "bids-s2"}
    for lot in first + second + third:
        acked = bidders.acked.get(lot, [])
        listed = lot_bids(market, lot)
        missing = [b for b in acked if b[1] not in listed]
        assert not missing, (lot, missing)
        h.wait_until(lambda: market.rest.ok("GET", "/api/v1/lots/%d" % lot,
                                            token=market.admin.token)["lot"]["state"]
                     == "LOT_STATE_CLOSED", 15, what="lot %d CLOSED" % lot)
        got = market.rest.ok("GET", "/api/v1/lots/%d" % lot, token=market.admin.token)["lot"]
        if acked:
            top = max(acked, key=lambda b: b[0])
            assert int(got["result"]["winnerId"]) == top[2], (lot, got["result"], top)
            assert int(got["result"]["finalPrice"]["units"]) == top[3], (lot, got["result"])


@pytest.mark.parametrize("name", ["Bids-1", "bids_1", "-bids", "b" * 32, "bids 1"])
def test_a_bad_instance_name_stops_the_daemon_at_start(stack, bids, name):
    d = h.Daemon(stack, "bids")
    env = d._proc_env()
    env.update(GAVEL_BIDS_NAME=name, GAVEL_BIDS_ADDR="127.0.0.1:%d" % h.free_port(),
               GAVEL_METRICS_PORT=str(h.free_port()))
    p = subprocess.run([d.binary], env=env, capture_output=True, timeout=30)
    assert p.returncode != 0
    assert b"GAVEL_BIDS_NAME" in p.stdout + p.stderr, p.stderr[-500:]


def test_open_lot_naming_another_instance_is_refused(bids, service_md):
    stub = bids_pb2_grpc.BidsStub(bids.channel)
    now = int(time.time() * SEC)
    lot = random.randint(10 ** 11, 8 * 10 ** 12)
    req = bids_pb2.OpenLotRequest(lot_id=lot, seller_id=77, currency="RUB",
                                  start_price=h.rub(1000), starts_at_us=now - SEC,
                                  ends_at_us=now + 60 * SEC, bids_instance="bids-9")
    req.increments.add(from_amount=h.rub(0), increment=h.rub(100))
    e = h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, stub.OpenLot, req, service_md)
    assert "bids-9" in e.details() and "bids-0" in e.details(), e.details()
    assert state_on(bids, lot, service_md) == "NOT_FOUND"
    req.bids_instance = "bids-0"
    h.call(stub.OpenLot, req, service_md)
    assert state_on(bids, lot, service_md) == "ok"
    h.call(stub.CloseLot, bids_pb2.CloseLotRequest(lot_id=lot, cancel=True), service_md)
