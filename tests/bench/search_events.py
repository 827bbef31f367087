"""Bid events for the search benchmark (tests/bench/search.sh), published
to gavel.bids as the bids daemon does (an Envelope keyed by the lot id,
occurred_at_us = when it is sent, each lot's seq growing from 1), so the
search daemon's consumer applies them as bids.

    search_events.py BOOTSTRAP FIRST_LOT LAST_LOT RATE SECONDS
        RATE bid.placed events a second, evenly paced, for SECONDS
    search_events.py BOOTSTRAP FIRST_LOT LAST_LOT 0 COUNT
        COUNT events as fast as the producer takes them, each lot's seq
        from 1001 (newer than any of a paced run before)

Prints "sent=N seconds=S"."""
import random
import sys
import time
import uuid

from kafka import KafkaProducer

from gavel.common.v1 import common_pb2
from gavel.events.v1 import events_pb2


def now_us():
    return int(time.time() * 1e6)


def main():
    bootstrap, first, last, rate, amount = sys.argv[1], *map(int, sys.argv[2:6])
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    rnd = random.Random(7)
    seqs = {}
    n = 0
    t0 = time.monotonic()
    total = amount if rate == 0 else rate * amount
    while n < total:
        if rate > 0:
            wait = t0 + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        lot = rnd.randint(first, last)
        seq = seqs[lot] = seqs.get(lot, 0 if rate > 0 else 1000) + 1
        t = now_us()
        bid = events_pb2.BidPlaced(lot_id=lot, bid_id=lot * 1000000 + seq, seq=seq,
                                   bidder_id=1 + seq % 64, placed_at_us=t,
                                   amount=common_pb2.Money(currency="RUB",
                                                           units=100000000 + seq * 500000))
        env = events_pb2.Envelope(id=uuid.uuid4().hex, type="bid.placed", occurred_at_us=t,
                                  aggregate_id=str(lot), source="bench",
                                  payload=bid.SerializeToString())
        p.send("gavel.bids", key=str(lot).encode(), value=env.SerializeToString())
        n += 1
    p.flush()
    print("sent=%d seconds=%.2f" % (n, time.monotonic() - t0))


if __name__ == "__main__":
    main()
