"""The randomized run against a misbehaving provider: 1,000 operations
(300 under ASan+UBSan, whose daemons run several times slower) drawn from a
seeded generator and run by 6 concurrent clients while the simulator
answers 500s, 429 storms, timeouts after the charge was made, and sends
every webhook, many of them twice, to HandleProviderWebhook:

    sold lot closing     auction.closed with a real wallet hold: settled
    unsold lot closing   auction.closed with two holds: both released
    card deposit         Authorize + Capture (wallet top-up)
    declined card        Authorize with tok_decline: a FAILED payment
    voided card hold     Authorize + Void

At the end every lot is settled once (sold: a settlement and a payout txn;
unsold: none, its holds released), every seller paid once at the
simulator, every deposit in the wallet once and captured once at the
simulator, every voided hold cancelled there, and the ledger sums to zero,
agreeing with the wallet and the simulator."""
import collections
import concurrent.futures
import http.server
import random
import threading
import time

import grpc

import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id, payments_pb2 as pb

OPS = 300 if h.is_asan_build() else 1000
CLIENTS = 6
KINDS = (("sold", 45), ("unsold", 10), ("deposit", 30), ("decline", 5), ("void", 10))
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class WebhookRelay:
    """What the gateway's webhook route does, on a free port: each POST the
    simulator makes goes to HandleProviderWebhook with its signature; a
    refused delivery answers 500 so the simulator retries it."""

    def __init__(self, stub, md):
        relay = self
        self.accepted = collections.Counter()   # new, duplicate
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 200
                try:
                    r = stub.HandleProviderWebhook(pb.HandleProviderWebhookRequest(
                        body=body, signature=self.headers.get("Gavel-Signature", ""),
                        content_type="application/json"), metadata=md, timeout=10)
                    with relay.lock:
                        relay.accepted["duplicate" if r.is_duplicate else "new"] += 1
                except grpc.RpcError:
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", h.free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/webhook" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def retried(fn, *args):
    """A client retrying a call with the same request (so the same
    idempotency key) while the daemon answers UNAVAILABLE or times out."""
    for _ in range(200):
        try:
            return fn(*args)
        except grpc.RpcError as e:
            assert e.code() in RETRYABLE, e
            time.sleep(0.2)
    raise AssertionError("%s never went through" % fn)


def test_randomized_run_under_injected_faults(payments, paydb, closer, sim, pay_stub, new_account,
                                              admin, service_md):
    rnd = random.Random(20261206)
    kinds = [k for k, w in KINDS for _ in range(w)]
    ops = [rnd.choice(kinds) for _ in range(OPS)]
    buyers = [new_account() for _ in range(4)]
    depositor = new_account()
    sellers = [new_account(users_pb2.ROLE_SELLER) for _ in range(4)]
    for b in buyers:
        closer.fund(b, 10 ** 9)
    lots = []       # (lot, seller, winner or None, price, [holds])
    for op in ops:
        if op == "sold":
            lot, b, price = new_lot_id(), rnd.choice(buyers), rnd.randint(1000, 90000)
            lots.append((lot, rnd.choice(sellers), b, price, [closer.hold(b, lot, price)]))
        elif op == "unsold":
            lot = new_lot_id()
            lots.append((lot, rnd.choice(sellers), None, 0,
                         [closer.hold(b, lot, rnd.randint(500, 5000)) for b in buyers[:2]]))
    cards = [(op, 100 + i, rnd.random()) for i, op in enumerate(ops)
             if op in ("deposit", "decline", "void")]
    before = sim.state()["counts"]
    dup_before = h.metric_value(payments, "gavel_payments_webhooks_total", 'result="duplicate"')
    relay = WebhookRelay(pay_stub, service_md)
    sim.request("POST", "/_control/config", {"webhook_url": relay.url})
    # 500s and duplicate webhooks throughout; timeouts after the charge
    # rarely (each costs a worker the 2 s provider timeout), but surely the
    # next call at the start and at each of 3 points where a 429 storm
    # starts (5 answers in a row, Retry-After 1 s, every worker paused)
    faults = {"error_500": {"probability": 0.08},
              "timeout_after_effect": {"next": 1, "probability": 0.004, "sleep_ms": 2300},
              "duplicate_webhooks": {"probability": 0.3}}
    sim.faults(faults)
    done = collections.defaultdict(list)   # kind -> [(payment id, units)]
    lock = threading.Lock()

    def card(item):
        op, units, _ = item
        key = h.idem()
        token = "tok_decline" if op == "decline" else "tok_visa"
        p = retried(lambda: h.call(pay_stub.Authorize, pb.AuthorizeRequest(
            idempotency_key=key, amount=h.rub(units), payment_method_token=token),
            depositor.md).payment)
        if op == "decline":
            assert p.state == pb.PAYMENT_STATE_FAILED, p
        elif op == "void":
            assert p.state == pb.PAYMENT_STATE_AUTHORIZED, p
            v = retried(lambda: h.call(pay_stub.Void, pb.VoidRequest(
                idempotency_key=key + "-v", payment_id=p.id), admin.md).payment)
            assert v.state == pb.PAYMENT_STATE_VOIDED, v
        else:
            assert p.state == pb.PAYMENT_STATE_AUTHORIZED, p
            c = retried(lambda: h.call(pay_stub.Capture, pb.CaptureRequest(
                idempotency_key=key + "-c", payment_id=p.id, amount=h.rub(units)),
                admin.md).payment)
            assert c.state == pb.PAYMENT_STATE_CAPTURED, c
        with lock:
            done[op].append((p.id, p.provider_reference, units))

    def close(item):
        lot, seller, winner, price, holds = item
        closer.publish(lot, closed_envelope(lot, seller.id, winner.id if winner else 0, price,
                                            holds[0] if winner else 0))

    work = [(close, x) for x in lots] + [(card, x) for x in cards]
    rnd.shuffle(work)
    storms = {len(work) * i // 4 for i in (1, 2, 3)}
    t0 = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            futures = []
            for i, (fn, x) in enumerate(work):
                if i in storms:
                    sim.faults(dict(faults, rate_limit={"next": 5, "retry_after": 1}))
                futures.append(pool.submit(fn, x))
            for f in futures:
                f.result()
        for lot, _, _, _, _ in lots:
            paydb.wait_step(lot, "done", timeout=120)
    finally:
        sim.faults({})
    # the webhooks of the last calls still on their way
    time.sleep(1)
    sim.request("POST", "/_control/config", {"webhook_url": None})
    relay.close()
    elapsed = time.monotonic() - t0
    after = sim.state()

    counts = after["counts"]
    fired = {k: counts[k] - before[k] for k in ("errors_500", "rate_limited", "timeouts")}
    assert all(fired.values()), "a fault never fired: %r" % fired
    assert relay.accepted["duplicate"] > 0 and h.metric_value(
        payments, "gavel_payments_webhooks_total", 'result="duplicate"') > dup_before, \
        "no duplicate webhook arrived: %r" % relay.accepted
    sold = [x for x in lots if x[2] is not None]
    unsold = [x for x in lots if x[2] is None]
    # every lot settled exactly once
    for lot, _, winner, _, _ in lots:
        assert [k for k, _ in paydb.txns(lot)] == (["settlement", "payout"] if winner else [])
    # the simulator paid each seller exactly its net, once per sold lot
    assert counts["payouts"] - before["payouts"] == len(sold)
    paid = collections.Counter()
    for po in after["payouts"].values():
        paid[po["destination"]] += po["amount"]
    for s in sellers:
        gross = sum(price for _, seller, w, price, _ in sold if seller is s)
        fee = sum(-(-price * 50 // 1000) for _, seller, w, price, _ in sold if seller is s)
        assert paid["seller:%d" % s.id] == gross - fee, s.id
        assert paydb.account("seller", s.id) == 0
    # buyers: charged exactly their won lots, wallet and ledger alike; the
    # unsold lots' holds all released
    for b in buyers:
        won = sum(price for _, _, w, price, _ in sold if w is b)
        bal = closer.balance(b)
        assert bal.total.units == 10 ** 9 - won, b.id
        assert bal.reserved.units == 0, b.id
        assert paydb.account("buyer", b.id) == -won
    # card deposits: wallet = ledger = the simulator's captures; voids
    # cancelled at the simulator; declines never charged
    deposited = sum(u for _, _, u in done["deposit"])
    assert closer.balance(depositor).total.units == deposited
    assert paydb.account("buyer", depositor.id) == deposited
    refs = ["deposit:%d" % pid for pid, _, _ in done["deposit"]]
    assert paydb.one("SELECT count(*) FROM ledger_txns WHERE ref = ANY(%s)", refs)[0] == len(refs)
    intents = after["intents"]
    for _, ref, units in done["deposit"]:
        it = intents[ref]
        assert (it["status"], it["amount_captured"]) == ("succeeded", units), it
    for _, ref, _ in done["void"]:
        assert intents[ref]["status"] == "canceled", intents[ref]
    for _, ref, _ in done["decline"]:
        assert ref == "" or intents[ref]["status"] == "failed"
    assert len(done["deposit"]) + len(done["void"]) + len(done["decline"]) == len(cards)
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())
    print("%d operations (%d sold, %d unsold, %d cards) in %.1f s; faults %r"
          % (OPS, len(sold), len(unsold), len(cards), elapsed, fired))
