"""A first search benchmark (not yet part of `make bench`): run alone with
`/usr/bin/python3 -m pytest tests/search_bench/bench_search.py -s` (tests/
conftest.py starts the stack; the file name keeps it out of the system
suite). N generated lots (realistic makes,
models, regions, prices) go in as lot.upserted events; it prints indexing
events/s, Search p50/p99 and queries/s at 16 concurrent clients (text + 3
filters + 3 facets), Suggest p99, and the index lag p99 from the daemon's
histogram while bids flow. GAVEL_SEARCH_BENCH_LOTS sets N (100000)."""
import json
import os
import random
import threading
import time

import gavel_harness as h
from gavel_harness import events_pb2
from gavel.search.v1 import search_pb2 as spb, search_pb2_grpc  # noqa: E402
from search_kit import envelope

N = int(os.environ.get("GAVEL_SEARCH_BENCH_LOTS", "100000"))
MAKES = {"Toyota": ["Camry", "Corolla", "RAV4", "Land Cruiser"], "Lada": ["Vesta", "Granta",
         "Niva"], "Kia": ["Rio", "Sportage", "Ceed"], "Hyundai": ["Solaris", "Creta", "Tucson"],
         "BMW": ["X5", "3 Series", "5 Series"], "Volkswagen": ["Polo", "Tiguan", "Passat"],
         "Skoda": ["Octavia", "Rapid", "Kodiaq"], "Mercedes-Benz": ["E-Class", "GLC"],
         "Renault": ["Logan", "Duster"], "Nissan": ["Qashqai", "X-Trail"]}
REGIONS = ["Moscow", "Saint Petersburg", "Kazan", "Novosibirsk", "Yekaterinburg", "Tver",
           "Samara", "Krasnodar"]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else 0


def lag_p99(search):
    buckets = []
    for line in h.metrics_text(search).splitlines():
        if line.startswith("gavel_search_index_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le),
                            float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    for le, n in buckets:
        if n >= 0.99 * total:
            return le
    return None


def test_bench(search, kafka_bootstrap, bidder, admin):
    rnd = random.Random(42)
    stub = search_pb2_grpc.SearchStub(search.channel)
    p = h.producer(kafka_bootstrap)
    base = 10 ** 12
    now = int(time.time() * 1e6)
    t0 = time.monotonic()
    for i in range(N):
        make = rnd.choice(list(MAKES))
        model = rnd.choice(MAKES[make])
        year = rnd.randint(2005, 2024)
        lot = events_pb2.LotUpserted(
            lot_id=base + i, seller_id=rnd.randint(1, 5000), state=rnd.choice(
                ["scheduled", "live", "live", "closed"]),
            title="%s %s %d" % (make, model, year), make=make, model=model, year=year,
            description="%s %s, %d km, %s" % (make, model, rnd.randint(0, 300000),
                                               rnd.choice(["one owner", "dealer serviced",
                                                           "после ДТП", "без ДТП"])),
            mileage_km=rnd.randint(0, 300000), vin="X%016d" % i,
            region=rnd.choice(REGIONS), city_id=rnd.randint(1, 500), category_id=1,
            start_price=h.rub(rnd.randint(20, 800) * 1000000),
            starts_at_us=now - rnd.randint(0, 86400) * 10 ** 6,
            ends_at_us=now + rnd.randint(60, 7 * 86400) * 10 ** 6,
            created_at_us=now, updated_at_us=now + i)
        p.send("gavel.auctions", key=str(base + i).encode(),
               value=envelope("lot.upserted", base + i, lot))
    p.flush()
    produced = time.monotonic() - t0

    def count():
        return h.call(stub.GetIndexStatus, spb.GetIndexStatusRequest(), admin.md).document_count
    h.wait_until(lambda: count() >= N, 1200, interval=1, what="%d documents" % N)
    indexed = time.monotonic() - t0
    print("\nBENCH lots=%d produced in %.1f s; indexed %.0f events/s (%.1f s)"
          % (N, produced, N / indexed, indexed))

    req = spb.SearchRequest(
        query="toyota camry", filter_json=json.dumps([["gte", "year", 2012],
                                                      ["lt", "current_price", 600000000],
                                                      ["in", "state", ["live", "scheduled"]]]),
        facets=[spb.FacetRequest(field="region"), spb.FacetRequest(field="year", interval=5),
                spb.FacetRequest(field="current_price", interval=100000000)])
    req.page.page_size = 20
    # one client alone first: where the time goes
    for name, r in (("no text, no facets", spb.SearchRequest()),
                    ("text only", spb.SearchRequest(query="toyota camry")),
                    ("text + filters", spb.SearchRequest(query="toyota camry",
                                                         filter_json=req.filter_json)),
                    ("text + filters + facets", req)):
        one = []
        for _ in range(20):
            t = time.monotonic()
            got = h.call(stub.Search, r, bidder.md)
            one.append(time.monotonic() - t)
        print("BENCH alone, %s: p50 %.1f ms (%d hits)" % (name, pct(one, 0.5) * 1e3,
                                                          got.total_hits))
    lat, stop = [], threading.Event()

    # bids flowing meanwhile, at most ~1000/s from one producer thread
    bids_sent = [0]

    def bidding():
        bp = h.producer(kafka_bootstrap)
        seq = {}
        while not stop.is_set():
            t = time.monotonic()
            for _ in range(100):
                lot_id = base + rnd.randrange(N)
                seq[lot_id] = seq.get(lot_id, 0) + 1
                msg = events_pb2.BidPlaced(lot_id=lot_id, bid_id=seq[lot_id], seq=seq[lot_id],
                                           bidder_id=5, amount=h.rub(10 ** 9 + seq[lot_id]),
                                           placed_at_us=int(time.time() * 1e6))
                bp.send("gavel.bids", key=str(lot_id).encode(),
                        value=envelope("bid.placed", lot_id, msg))
                bids_sent[0] += 1
            time.sleep(max(0, 0.1 - (time.monotonic() - t)))
        bp.flush()
        bp.close()

    def client():
        while not stop.is_set():
            t = time.monotonic()
            h.call(stub.Search, req, bidder.md)
            lat.append(time.monotonic() - t)
    threads = [threading.Thread(target=client) for _ in range(16)]
    bt = threading.Thread(target=bidding)
    t1 = time.monotonic()
    bt.start()
    for t in threads:
        t.start()
    time.sleep(15)
    stop.set()
    for t in threads + [bt]:
        t.join()
    took = time.monotonic() - t1
    print("BENCH search: %d queries, %.0f q/s, p50 %.1f ms, p99 %.1f ms (16 clients, text + "
          "3 filters + 3 facets; %d bids sent meanwhile, %.0f/s)"
          % (len(lat), len(lat) / took, pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3,
             bids_sent[0], bids_sent[0] / took))
    sl = []
    for i in range(300):
        t = time.monotonic()
        h.call(stub.Suggest, spb.SuggestRequest(prefix=rnd.choice(["to", "la", "ki", "sko",
                                                                   "mer", "ca"])), bidder.md)
        sl.append(time.monotonic() - t)
    print("BENCH suggest: p50 %.1f ms, p99 %.1f ms" % (pct(sl, 0.5) * 1e3, pct(sl, 0.99) * 1e3))
    print("BENCH index lag p99 bucket (whole run): <= %s s" % lag_p99(search))
