"""The payments benchmark's load (tests/bench/payments.sh), through the
public APIs: the users daemon (accounts, deposits, wallet holds), the
payments daemon (Authorize), the card provider simulator over HTTP, and
auction.closed events on gavel.auctions as the auctions daemon writes them
(tests/payments/pay_kit.py's envelope).

    payments_bench.py auth direct|service USERS_ADDR PAY_ADDR SIM_URL SIM_KEY CONC SECONDS
        CONC clients calling back to back for SECONDS (after a 1 s warm-up):
        direct, the simulator's card hold (POST /v1/payment_intents, manual
        capture, a new Idempotency-Key per call, one kept-alive connection
        per client); service, Payments/Authorize of a wallet top-up (a new
        idempotency_key per call) as a new bidder, one channel per client.
        Prints "direct|service rps=… p50_ms=… p99_ms=… calls=… errors=…"
    payments_bench.py settle USERS_ADDR BOOTSTRAP PAY_DSN ADMIN_ENV SERVICE_KEY K AUCTIONS_DSN
        K sold lots of 8 funded buyers, each with a real wallet hold
        (ReserveFundsBatch), recorded as closed in gavel_auctions (payments
        asks the auctions daemon for their fees), closed at once: K auction.closed events
        published as fast as the producer takes them, then gavel_payments
        polled until every settlement is at a final step. Prints
        "lots=K publish_s=… seconds=… per_s=… p50_ms=… p99_ms=… done=… failed=…"
        (seconds: first publish to the last settlement done; p50/p99: a
        lot's close to its settlement done)
"""
import concurrent.futures
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import uuid

import grpc
import psycopg2

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "payments"),
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")]
import gavel_harness as h  # noqa: E402
from gavel_harness import users_pb2, users_pb2_grpc  # noqa: E402
from pay_kit import (AuctionsLots, closed_envelope, new_lot_id, payments_pb2,  # noqa: E402
                     payments_pb2_grpc, sold_event)

WARMUP_S = 1.0
BUYERS = 8


def quantile_ms(v, p):
    return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else 0.0


def line(name, lat, errors, seconds):
    lat.sort()
    return "%s rps=%.0f p50_ms=%.2f p99_ms=%.2f calls=%d errors=%d" % (
        name, len(lat) / seconds, quantile_ms(lat, 0.5), quantile_ms(lat, 0.99), len(lat), errors)


def load(conc, seconds, make_client):
    """conc threads, each with make_client() -> call(); a warm-up, then
    seconds of back-to-back calls timed. Returns (latencies, errors)."""
    lat, errs, lock = [], [0], threading.Lock()
    start = time.monotonic() + WARMUP_S
    end = start + seconds

    def worker():
        call = make_client()
        mine, bad = [], 0
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                break
            try:
                call()
                ok = True
            except Exception as e:  # counted; the first one told
                ok = False
                if bad == 0 and errs[0] == 0:
                    print("error: %r" % e, file=sys.stderr)
            t1 = time.monotonic()
            if t0 >= start:
                if ok:
                    mine.append(t1 - t0)
                else:
                    bad += 1
        with lock:
            lat.extend(mine)
            errs[0] += bad
    with concurrent.futures.ThreadPoolExecutor(max_workers=conc) as pool:
        for f in [pool.submit(worker) for _ in range(conc)]:
            f.result()
    return lat, errs[0]


def admin_md(users, admin_env):
    creds = dict(line.strip().split("=", 1) for line in open(admin_env) if "=" in line)
    admin = users.Login(users_pb2.LoginRequest(email=creds["GAVEL_ADMIN_EMAIL"],
                                               password=creds["GAVEL_ADMIN_PASSWORD"]))
    return [("authorization", "Bearer " + admin.tokens.access_token)]


def run_auth(how, users_addr, pay_addr, sim_url, sim_key, conc, seconds):
    users = users_pb2_grpc.UsersStub(grpc.insecure_channel(users_addr))
    bidder = h.register(users)
    md = [("authorization", "Bearer " + bidder.tokens.access_token)]
    url = urllib.parse.urlsplit(sim_url)
    body = json.dumps({"amount": 5000, "currency": "RUB", "payment_method": "tok_visa",
                       "capture_method": "manual", "description": "bench"})

    def direct_client():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)

        def call():
            conn.request("POST", "/v1/payment_intents", body=body, headers={
                "Authorization": "Bearer " + sim_key, "Content-Type": "application/json",
                "Idempotency-Key": "bench-" + uuid.uuid4().hex})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200 or json.loads(data)["status"] != "requires_capture":
                raise RuntimeError("simulator answered %d %s" % (r.status, data[:200]))
        return call

    # One channel per client, as each direct client has its own connection.
    def service_client():
        stub = payments_pb2_grpc.PaymentsStub(grpc.insecure_channel(pay_addr))

        def call():
            p = stub.Authorize(payments_pb2.AuthorizeRequest(
                idempotency_key=uuid.uuid4().hex, amount=h.rub(5000),
                payment_method_token="tok_visa", description="bench"),
                metadata=md, timeout=10).payment
            if p.state != payments_pb2.PAYMENT_STATE_AUTHORIZED:
                raise RuntimeError("payment %d in state %d" % (p.id, p.state))
        return call
    make = direct_client if how == "direct" else service_client
    print(line(how, *load(conc, seconds, make), seconds), flush=True)


def run_settle(users_addr, bootstrap, pay_dsn, admin_env, service_key, k, auctions_dsn):
    ch = grpc.insecure_channel(users_addr)
    users, wallet = users_pb2_grpc.UsersStub(ch), users_pb2_grpc.WalletStub(ch)
    amd = admin_md(users, admin_env)
    smd = [("authorization", "Bearer " + h.service_token(service_key, ttl=3600))]
    seller = h.register(users, users_pb2.ROLE_SELLER, login=False)
    buyers = [h.register(users, login=False) for _ in range(BUYERS)]
    for b in buyers:
        wallet.Deposit(users_pb2.DepositRequest(
            idempotency_key=uuid.uuid4().hex, user_id=b.id, amount=h.rub(10 ** 12),
            reference="payments bench"), metadata=amd, timeout=30)
    lots = []   # (lot, buyer id, price, hold)
    for first in range(0, k, 256):
        batch = [(new_lot_id(), buyers[i % BUYERS].id, 1000 + i % 997)
                 for i in range(first, min(k, first + 256))]
        resp = wallet.ReserveFundsBatch(users_pb2.ReserveFundsBatchRequest(items=[
            users_pb2.ReserveFundsRequest(idempotency_key=uuid.uuid4().hex, user_id=b,
                                          lot_id=lot, amount=h.rub(price))
            for lot, b, price in batch]), metadata=smd, timeout=60)
        for (lot, b, price), r in zip(batch, resp.results):
            if r.status.code != 0:
                raise SystemExit("hold on lot %d refused: %s" % (lot, r.status.message))
            lots.append((lot, b, price, r.response.hold_id))
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    db = psycopg2.connect(pay_dsn)
    db.autocommit = True
    cur = db.cursor()
    ids = [lot for lot, _, _, _ in lots]
    # each lot closed in gavel_auctions first, as tests/payments do
    # (pay_kit.py): payments asks the auctions daemon for its fees
    events = [(lot, closed_envelope(lot, seller.id, b, price, hold)) for lot, b, price, hold in lots]
    auction_lots = AuctionsLots(auctions_dsn)
    for _, value in events:
        auction_lots.closed(sold_event(value))
    auction_lots.close()
    t0 = time.monotonic()
    for lot, value in events:
        producer.send("gavel.auctions", key=str(lot).encode(), value=value)
    producer.flush(timeout=60)
    publish_s = time.monotonic() - t0
    final = 0
    while time.monotonic() - t0 < 600:
        cur.execute("SELECT count(*) FROM settlements WHERE lot_id = ANY(%s) "
                    "AND step IN ('done', 'failed')", (ids,))
        final = cur.fetchone()[0]
        if final >= k:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    cur.execute("SELECT (updated_at_us - closed_at_us) / 1000.0, step FROM settlements "
                "WHERE lot_id = ANY(%s) AND step IN ('done', 'failed')", (ids,))
    rows = cur.fetchall()
    lat = sorted(r[0] / 1000 for r in rows if r[1] == "done")
    failed = sum(1 for r in rows if r[1] == "failed")
    print("lots=%d publish_s=%.2f seconds=%.2f per_s=%.0f p50_ms=%.0f p99_ms=%.0f done=%d "
          "failed=%d" % (k, publish_s, seconds, len(lat) / seconds, quantile_ms(lat, 0.5),
                         quantile_ms(lat, 0.99), len(lat), failed), flush=True)
    producer.close()
    db.close()
    if final < k:
        raise SystemExit("only %d of %d settlements final after %.0f s" % (final, k, seconds))


def main():
    a = sys.argv[1:]
    if len(a) == 8 and a[0] == "auth" and a[1] in ("direct", "service"):
        run_auth(a[1], a[2], a[3], a[4], a[5], int(a[6]), int(a[7]))
    elif len(a) == 8 and a[0] == "settle":
        run_settle(a[1], a[2], a[3], a[4], a[5], int(a[6]), a[7])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
