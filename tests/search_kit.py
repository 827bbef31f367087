"""Helpers of the search system tests (tests/search/): Finder (Search
calls that wait for the index), Events (events published as the auctions
and bids daemons publish them) and unique words and lot ids. Kept out of
conftest.py so test modules can import them."""
import random
import time
import uuid

import gavel_harness as h
from gavel_harness import events_pb2
from gavel.search.v1 import search_pb2 as spb  # noqa: E402

_rand = random.SystemRandom()


def now_us():
    return int(time.time() * 1e6)


def new_lot_id():
    """A lot id far above what the auctions daemon assigns in a test run."""
    return _rand.randint(10 ** 12, 10 ** 13)


def tag():
    """A word no other lot carries (letters only, so it stems as itself)."""
    return "zq" + "".join(_rand.choice("bcdfghjklmnpqrstvwxz") for _ in range(10))


class Finder:
    """Search calls as a bidder, with helpers that wait for the index."""

    def __init__(self, stub, who):
        self.stub = stub
        self.who = who

    def search(self, query="", filter_json="", sort=0, facets=(), page_size=0, token="",
               who=None):
        req = spb.SearchRequest(query=query, filter_json=filter_json, sort=sort)
        for f in facets:
            req.facets.add(**f)
        req.page.page_size = page_size
        req.page.page_token = token
        return h.call(self.stub.Search, req, (who or self.who).md)

    def ids(self, query="", filter_json="", **kw):
        return [hit.lot.lot_id for hit in self.search(query, filter_json, **kw).hits]

    def wait_hit(self, lot_id, query="", filter_json=None, pred=None, timeout=10, interval=0.02):
        """Polls until lot_id is a hit (and pred(hit) holds); returns the hit."""
        fj = filter_json if filter_json is not None else '[["eq","id",%d]]' % lot_id

        def probe():
            for hit in self.search(query, fj, page_size=200).hits:
                if hit.lot.lot_id == lot_id and (pred is None or pred(hit)):
                    return hit
            return None
        return h.wait_until(probe, timeout, interval=interval,
                            what="lot %d in the index" % lot_id)

    def all_pages(self, page_size, **kw):
        out, token, pages = [], "", 0
        while True:
            resp = self.search(page_size=page_size, token=token, **kw)
            out.extend(resp.hits)
            pages += 1
            token = resp.page.next_page_token
            if not token:
                return out, pages
            assert pages < 1000


def envelope(type_, lot_id, payload, event_id=None, occurred_at_us=None):
    return events_pb2.Envelope(
        id=event_id or uuid.uuid4().hex, type=type_,
        occurred_at_us=occurred_at_us or now_us(), aggregate_id=str(lot_id),
        source="tests", payload=payload.SerializeToString()).SerializeToString()


def upserted(lot_id, version, state="live", seller_id=7, **over):
    fields = dict(lot_id=lot_id, seller_id=seller_id, state=state, title="Toyota Camry",
                  description="One owner.", make="Toyota", model="Camry", year=2019,
                  mileage_km=64000, vin="JTNB11HK0K3012345", region="Moscow", city_id=671,
                  category_id=1, photo_urls=["https://img.gavel.test/c.jpg"],
                  start_price=h.rub(100000), starts_at_us=now_us() - 60 * 10 ** 6,
                  ends_at_us=now_us() + 3600 * 10 ** 6, created_at_us=version - 1,
                  updated_at_us=version)
    fields.update(over)
    return events_pb2.LotUpserted(**fields)


class Events:
    """Publishes events as the auctions and bids daemons do (keyed by lot)."""

    def __init__(self, bootstrap):
        self.p = h.producer(bootstrap)

    def lot(self, msg, event_id=None):
        v = envelope("lot.upserted", msg.lot_id, msg, event_id)
        self.p.send("gavel.auctions", key=str(msg.lot_id).encode(), value=v).get(timeout=10)
        return v

    def raw(self, topic, lot_id, value):
        self.p.send(topic, key=str(lot_id).encode(), value=value).get(timeout=10)

    def bid(self, lot_id, seq, units, event_id=None, ends_at_us=0):
        msg = events_pb2.BidPlaced(lot_id=lot_id, bid_id=seq, seq=seq, bidder_id=5,
                                   amount=h.rub(units), placed_at_us=now_us(),
                                   ends_at_us=ends_at_us)
        v = envelope("bid.placed", lot_id, msg, event_id)
        self.p.send("gavel.bids", key=str(lot_id).encode(), value=v).get(timeout=10)
        return v

    def close(self):
        self.p.close()
