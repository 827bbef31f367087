"""SIGTERM while bidders stampede one lot. PlaceBid calls are answered by
the lot's shard (refusals) or after a wallet step on an rpc worker, with no
thread waiting per call: the drain must still answer every call in flight,
exit 0, and keep every acknowledged bid, exactly once. A bidder who leads
is refused when bidding again, and goes on bidding like any refused one."""
import random
import threading

import grpc

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc

THREADS = 16
ANSWERS_BEFORE_STOP = 400
OK = grpc.StatusCode.OK
IA = grpc.StatusCode.INVALID_ARGUMENT
FP = grpc.StatusCode.FAILED_PRECONDITION
LEADING = "refused: leading"   # FAILED_PRECONDITION "you already lead …"
# A call that reached a stopping server, or found it gone.
GONE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


def named_minimum(details):
    """The N of a refusal's "amount must be \u2265 N", or 0."""
    try:
        return int(details.split("\u2265 ")[1].split()[0].rstrip(":,"))
    except (IndexError, ValueError):
        return 0


def test_sigterm_answers_every_bid_in_flight_and_keeps_every_acknowledged_one(market, bids):
    bidders = market.new_bidders(THREADS)
    lot = market.open_lot()
    answers = []          # (request, code, response)
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        rng = random.Random(2000 + i)
        ch = h.make_channel(bids.addr)
        stub = bids_pb2_grpc.BidsStub(ch)
        next_min = 1000
        try:
            while not stop.is_set():
                req = bids_pb2.PlaceBidRequest(
                    lot_id=lot, amount=h.rub(next_min + 100 * rng.randint(0, 2)),
                    idempotency_key=h.idem())
                try:
                    resp = stub.PlaceBid(req, metadata=bidders[i].md, timeout=10 * h.SLOW)
                    code = OK
                    next_min = resp.state.next_min_bid.units
                except grpc.RpcError as e:
                    code, resp = e.code(), None
                    if code == IA:
                        next_min = max(next_min, named_minimum(e.details()))
                    elif code == FP and e.details().startswith("you already lead"):
                        code = LEADING
                with lock:
                    answers.append((req, code, resp))
                if code in GONE:
                    return
        finally:
            ch.close()

    try:
        with h.threads_until_stopped(THREADS, client, stop):
            h.wait_until(lambda: len(answers) >= ANSWERS_BEFORE_STOP, 60, interval=0.01,
                         what="%d answers" % ANSWERS_BEFORE_STOP)
            bids.stop()  # asserts exit 0 within the drain
    finally:
        if not bids.is_running():
            bids.start()

    codes = {}
    for _, code, _ in answers:
        codes[code] = codes.get(code, 0) + 1
    assert set(codes) <= {OK, IA, LEADING} | set(GONE), "unexpected answers: %s" % codes
    assert codes.get(OK, 0) > 0 and codes.get(IA, 0) > 0, codes

    stored = market.log(lot)
    acked = [(req, resp) for req, code, resp in answers if code == OK]
    for req, resp in acked:
        same = [b for b in stored if b.seq == resp.bid.seq]
        assert len(same) == 1 and same[0].amount.units == req.amount.units, (
            "acknowledged bid seq %d (%d) stored as %s" % (resp.bid.seq, req.amount.units,
                                                          same))
    assert len(stored) >= len(acked)
    seqs = [b.seq for b in stored]
    assert seqs == list(range(1, len(stored) + 1)), "seq gaps after the drain: %s" % seqs[:20]
