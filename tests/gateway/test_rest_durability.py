"""What the gateway promises across retries and restarts: an Idempotency-Key
replayed on a wallet or bid call returns the first answer; a kill -9 of the
gateway loses no acknowledged bid (each answered 200 is in the lot's log);
SIGTERM answers the requests in flight before the gateway exits."""
import threading

import gavel_harness as h
from gavel_harness import new_key, rub_json as rub


def test_idempotency_key_replay_on_a_deposit_gives_the_first_answer(rest, market, gw_admin):
    b = market.bidder(funds=0)
    key = new_key()
    path = "/api/v1/users/%d/wallet/deposits" % b.id
    first = rest.ok("POST", path, {"amount": rub(700), "reference": "wire 1"}, gw_admin.token,
                    headers={"Idempotency-Key": key})
    again = rest.ok("POST", path, {"amount": rub(700), "reference": "wire 1"}, gw_admin.token,
                    headers={"Idempotency-Key": key})
    assert again == first
    assert rest.ok("GET", "/api/v1/wallet", token=b.token)["balance"]["total"]["units"] == "700"
    a = rest.call("POST", path, {"amount": rub(800), "reference": "wire 1"}, gw_admin.token,
                  headers={"Idempotency-Key": key})
    assert a.status == 409 and a.error["code"] == "failed_precondition", a
    # The key may also come in the body, the same as the header.
    a = rest.call("POST", path, {"amount": rub(700), "reference": "wire 1",
                                 "idempotencyKey": key}, gw_admin.token)
    assert a.status == 200 and a.json == first, a
    assert rest.ok("GET", "/api/v1/wallet", token=b.token)["balance"]["total"]["units"] == "700"


def test_idempotency_key_replay_on_a_bid_returns_the_same_receipt(rest, market):
    seller, b = market.seller(), market.bidder()
    lot = market.live(seller)["id"]
    st = market.state(lot, b.token)
    key = new_key()
    first = rest.ok("POST", "/api/v1/lots/%s/bids" % lot, {"amount": st["nextMinBid"]}, b.token,
                    headers={"Idempotency-Key": key})
    again = rest.ok("POST", "/api/v1/lots/%s/bids" % lot, {"amount": st["nextMinBid"]}, b.token,
                    headers={"Idempotency-Key": key})
    assert again["bid"] == first["bid"]
    bids = rest.ok("GET", "/api/v1/lots/%s/bids" % lot, token=b.token)["bids"]
    assert [x["bidId"] for x in bids] == [first["bid"]["bidId"]]


def test_gateway_kill_9_loses_no_acknowledged_bid(rest, market, gateway):
    seller = market.seller()
    bidders = [market.bidder(), market.bidder()]
    lot = market.live(seller)["id"]
    acked, stop, killed = [], threading.Event(), threading.Event()
    errors = []

    def bid_loop():
        nxt = market.state(lot, bidders[0].token)["nextMinBid"]
        i = 0
        while not stop.is_set():
            b = bidders[i % 2]
            try:
                a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, {"amount": nxt},
                              token=b.token, headers={"Idempotency-Key": new_key()},
                              timeout=5 * h.SLOW)
            except OSError:
                if killed.is_set():
                    return
                raise
            if a.status != 200:
                errors.append(a)
                return
            acked.append(a.json["bid"])
            nxt = a.json["state"]["nextMinBid"]
            i += 1

    t = threading.Thread(target=bid_loop)
    t.start()
    try:
        h.wait_until(lambda: len(acked) >= 20 or errors or not t.is_alive(), 30,
                     what="20 acknowledged bids")
        killed.set()
        gateway.kill9()
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    assert len(acked) >= 20
    gateway.start()
    log = rest.ok("GET", "/api/v1/lots/%s/bids?page.pageSize=1000" % lot,
                  token=bidders[0].token)["bids"]
    by_seq = {b["seq"]: b for b in log}
    for b in acked:
        assert by_seq.get(b["seq"]) == b, "acknowledged bid %s is not in the log" % b
    state = market.state(lot, bidders[0].token)
    assert int(state["seq"]) >= max(int(b["seq"]) for b in acked)


def test_sigterm_answers_requests_in_flight_then_exits(rest, market, gateway):
    b = market.bidder(funds=0)
    n = 4  # logins hash a password each: slow enough to be in flight, few enough for the drain
    answers = [None] * n
    connected = threading.Barrier(n + 1)

    def login(i):
        conn = gateway.connection(30 * h.SLOW)
        try:
            conn.connect()
            connected.wait(10 * h.SLOW)
            answers[i] = rest.call("POST", "/api/v1/auth/login",
                                   {"email": b.email, "password": h.PASSWORD},
                                   headers={"X-Request-Timeout-Ms": "9000"}, conn=conn)
        finally:
            conn.close()

    threads = [threading.Thread(target=login, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        connected.wait(10 * h.SLOW)
        # every login read by the gateway (in flight or answered) before the
        # SIGTERM: one still on its way would meet a closed port
        h.wait_until(lambda: h.metric_value(gateway, "gavel_gateway_http_in_flight") +
                     sum(a is not None for a in answers) >= n, 10,
                     interval=0.005, what="every login read")
        gateway.stop()  # SIGTERM; asserts exit 0 within the drain
    finally:
        for t in threads:
            t.join(60)
    assert all(a is not None and a.status == 200 for a in answers), answers
    assert not h.port_open("%s:%d" % (gateway.host, gateway.port))
    gateway.start()
    assert rest.call("GET", "/openapi.json").status == 200
