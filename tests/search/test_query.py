"""Filters (the shared DSL), facets equal to a brute-force count, every
sort with keyset paging that neither repeats nor skips, and malformed
requests refused with INVALID_ARGUMENT naming the problem."""
import collections
import json
import random

import grpc
import pytest

import gavel_harness as h
from search_kit import new_lot_id, upserted
from gavel.search.v1 import search_pb2 as spb

MAKES = [("Toyota", "Camry"), ("Lada", "Vesta"), ("Kia", "Rio"), ("BMW", "X5"),
         ("Hyundai", "Solaris")]
REGIONS = ["Moscow", "Kazan", "Tver"]


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap, search, finder):
    """40 lots of one seller with random makes, years, prices, bids and
    states, written as events; returns (seller, {lot_id: fields})."""
    from search_kit import Events
    rnd = random.Random(18)
    seller = new_lot_id()
    ev = Events(kafka_bootstrap)
    lots = {}
    now = h.time.time()
    try:
        for i in range(40):
            lot_id = new_lot_id()
            make, model = rnd.choice(MAKES)
            state = rnd.choice(["scheduled", "live", "live", "closed"])
            f = dict(make=make, model=model, year=rnd.randint(2005, 2023),
                     region=rnd.choice(REGIONS), mileage_km=rnd.randint(0, 300000),
                     start=rnd.randint(1, 50) * 10000, state=state,
                     starts=int((now + rnd.randint(-7200, 7200)) * 1e6),
                     ends=int((now + rnd.randint(600, 86400)) * 1e6),
                     bids=rnd.choice([0, 0, 1, 2, 5]))
            f["price"] = f["start"] + 1000 * f["bids"] if f["bids"] else f["start"]
            ev.lot(upserted(lot_id, 10 ** 15 + i, state=state, seller_id=seller,
                            title="%s %s" % (make, model), make=make, model=model,
                            year=f["year"], region=f["region"], mileage_km=f["mileage_km"],
                            start_price=h.rub(f["start"]), starts_at_us=f["starts"],
                            ends_at_us=f["ends"]))
            for s in range(1, f["bids"] + 1):
                ev.bid(lot_id, s, f["start"] + 1000 * s)
            lots[lot_id] = f
        def complete():
            hits = finder.search("", '[["eq","seller_id",%d]]' % seller, page_size=200).hits
            return len(hits) == 40 and all(x.lot.bid_count == lots[x.lot.lot_id]["bids"]
                                           for x in hits)
        h.wait_until(complete, 20, what="the 40 lots indexed with their bids")
    finally:
        ev.close()
    return seller, lots


def scoped(seller, *more):
    return json.dumps([["eq", "seller_id", seller]] + list(more))


def test_filters_use_the_shared_dsl(finder, catalog):
    seller, lots = catalog
    got = set(finder.ids("", scoped(seller, ["eq", "make", "Toyota"], ["gte", "year", 2015]),
                         page_size=200))
    want = {i for i, f in lots.items() if f["make"] == "Toyota" and f["year"] >= 2015}
    assert got == want
    got = set(finder.ids("", scoped(seller, ["lt", "current_price", 200000],
                                    ["gt", "bid_count", 0]), page_size=200))
    want = {i for i, f in lots.items() if f["price"] < 200000 and f["bids"] > 0}
    assert got == want
    got = set(finder.ids("", scoped(seller, ["in", "state", ["live"]]), page_size=200))
    assert got == {i for i, f in lots.items() if f["state"] == "live"}
    # "like" folds case (the ICU collation of the shared DSL): "toy%" finds Toyota
    got = set(finder.ids("", scoped(seller, ["like", "make", "toy%"], ["like", "model", "%AMR%"]),
                         page_size=200))
    assert got == {i for i, f in lots.items() if f["make"] == "Toyota"} and got


def test_facets_equal_a_brute_force_count(finder, catalog):
    seller, lots = catalog
    flt = scoped(seller, ["gte", "year", 2008])
    match = {i: f for i, f in lots.items() if f["year"] >= 2008}
    resp = finder.search("", flt, page_size=5, facets=[
        dict(field="make", size=3), dict(field="year", interval=5),
        dict(field="current_price", interval=100000), dict(field="region"),
        dict(field="state")])
    assert resp.total_hits == len(match) and not resp.total_is_lower_bound
    make, year, price, region, state = resp.facets
    counts = collections.Counter(f["make"] for f in match.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(b.key, b.count) for b in make.buckets] == top
    assert make.other_count == len(match) - sum(c for _, c in top)
    hist = collections.Counter(f["year"] // 5 * 5 for f in match.values())
    assert [(b.range_from, b.range_to, b.count) for b in year.buckets] == \
        [(k, k + 5, hist[k]) for k in sorted(hist)]
    assert [b.key for b in year.buckets] == [str(k) for k in sorted(hist)]
    hist = collections.Counter(f["price"] // 100000 * 100000 for f in match.values())
    assert [(b.range_from, b.count) for b in price.buckets] == sorted(hist.items())
    assert price.other_count == 0
    counts = collections.Counter(f["region"] for f in match.values())
    assert {b.key: b.count for b in region.buckets} == dict(counts)
    counts = collections.Counter(f["state"] for f in match.values())
    assert {b.key: b.count for b in state.buckets} == dict(counts)


def facet_pages(finder, query, flt, facets, page_size):
    """Every page of a ranked search with facets: (hits, [response, …])."""
    hits, resps, token = [], [], ""
    while True:
        resp = finder.search(query, flt, sort=spb.SORT_ORDER_RANK, facets=facets,
                             page_size=page_size, token=token)
        hits.extend(resp.hits)
        resps.append(resp)
        token = resp.page.next_page_token
        if not token:
            return hits, resps
        assert len(resps) < 100


@pytest.mark.parametrize("query", ["toyota", "Toyta"])
def test_ranked_text_with_facets_counts_every_match_on_every_page(finder, catalog, query):
    """A ranked text search with facets reads its matches once for the page
    and the facets: each page still carries the total and the facets of all
    matches (a brute-force count), and the pages are those of the same
    search without facets. "Toyta" takes the typo path the same way."""
    seller, lots = catalog
    flt = scoped(seller, ["gte", "year", 2008])
    match = {i: f for i, f in lots.items() if f["make"] == "Toyota" and f["year"] >= 2008}
    assert len(match) >= 3
    facets = [dict(field="region"), dict(field="year", interval=5), dict(field="make", size=2)]
    plain, _ = finder.all_pages(200, filter_json=flt, sort=spb.SORT_ORDER_RANK, query=query)
    hits, resps = facet_pages(finder, query, flt, facets, 2)
    assert [(x.lot.lot_id, x.score) for x in hits] == [(x.lot.lot_id, x.score) for x in plain]
    assert {x.lot.lot_id for x in hits} == set(match)
    assert len(resps) == (len(match) + 1) // 2
    regions = collections.Counter(f["region"] for f in match.values())
    years = collections.Counter(f["year"] // 5 * 5 for f in match.values())
    for resp in resps:
        assert resp.total_hits == len(match) and not resp.total_is_lower_bound
        region, year, make = resp.facets
        assert {b.key: b.count for b in region.buckets} == dict(regions)
        assert [(b.range_from, b.count) for b in year.buckets] == sorted(years.items())
        assert [(b.key, b.count) for b in make.buckets] == [("Toyota", len(match))]
        assert (region.other_count, year.other_count, make.other_count) == (0, 0, 0)
    if query == "toyota":
        assert all("<em>" in x.highlights[0] for x in hits), hits[0].highlights


def test_ranked_text_with_facets_and_no_match_is_empty(finder, catalog):
    seller, _ = catalog
    resp = finder.search("zzqxw", scoped(seller), sort=spb.SORT_ORDER_RANK, page_size=5,
                         facets=[dict(field="make"), dict(field="year", interval=5)])
    assert (len(resp.hits), resp.total_hits, resp.page.next_page_token) == (0, 0, "")
    assert [len(f.buckets) for f in resp.facets] == [0, 0]
    assert [f.other_count for f in resp.facets] == [0, 0]


def expected_order(lots, sort):
    def key(item):
        i, f = item
        if sort == spb.SORT_ORDER_PRICE_ASC:
            return (f["price"], i)
        if sort == spb.SORT_ORDER_PRICE_DESC:
            return (-f["price"], -i)
        if sort == spb.SORT_ORDER_ENDING_SOON:
            g = {"live": 0, "scheduled": 1}.get(f["state"], 2)
            t = f["ends"] if g == 0 else f["starts"] if g == 1 else -f["ends"]
            return (g, t, i)
        raise AssertionError(sort)
    return [i for i, _ in sorted(lots.items(), key=key)]


@pytest.mark.parametrize("sort", [spb.SORT_ORDER_PRICE_ASC, spb.SORT_ORDER_PRICE_DESC,
                                  spb.SORT_ORDER_ENDING_SOON, spb.SORT_ORDER_UNSPECIFIED])
def test_sorts_page_without_gaps_or_repeats(finder, catalog, sort):
    seller, lots = catalog
    hits, pages = finder.all_pages(7, filter_json=scoped(seller), sort=sort)
    got = [x.lot.lot_id for x in hits]
    assert pages == 6
    assert len(got) == len(set(got)) == 40
    want_sort = spb.SORT_ORDER_ENDING_SOON if sort == spb.SORT_ORDER_UNSPECIFIED else sort
    assert got == expected_order(lots, want_sort)


@pytest.mark.parametrize("sort", [spb.SORT_ORDER_RANK, spb.SORT_ORDER_NEWEST])
def test_rank_and_newest_page_without_gaps_or_repeats(finder, catalog, sort):
    seller, lots = catalog
    one, _ = finder.all_pages(200, filter_json=scoped(seller), sort=sort, query="toyota")
    hits, pages = finder.all_pages(3, filter_json=scoped(seller), sort=sort, query="TOYOTA")
    assert [x.lot.lot_id for x in hits] == [x.lot.lot_id for x in one]
    assert len({x.lot.lot_id for x in hits}) == len(hits)
    assert {x.lot.lot_id for x in hits} == {i for i, f in lots.items() if f["make"] == "Toyota"}
    if sort == spb.SORT_ORDER_RANK:
        scores = [x.score for x in hits]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("req,words", [
    (dict(filter_json="[[\"eq\",\"price\",1]]"), "unknown field"),
    (dict(filter_json="not json"), "filter_json"),
    (dict(filter_json="[[\"fields\",\"id\"]]"), "fields"),
    (dict(filter_json="[[\"limit\",\"5\"]]"), "limit"),
    (dict(filter_json="[[\"eq\",\"year\",\"new\"]]"), "year"),
    (dict(query="x" * 501), "500 bytes"),
    (dict(sort=99), "sort"),
    # three full "in"s bind more values than one search takes (the daemon
    # used to stop on it)
    (dict(filter_json="[%s]" % ",".join(['["in","id",[%s]]' % ",".join(
        str(i) for i in range(1, 101))] * 3)), "at most"),
])
def test_malformed_requests_are_refused_naming_the_problem(finder, search_stub, bidder, req,
                                                           words):
    e = h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, search_stub.Search,
                       spb.SearchRequest(**req), bidder.md)
    assert words in e.details(), e.details()


def test_bad_facets_pages_and_tokens_are_refused(finder, search_stub, bidder, catalog):
    seller, _ = catalog
    bad = [
        (spb.SearchRequest(facets=[spb.FacetRequest(field="vin")]), "facets[0].field"),
        (spb.SearchRequest(facets=[spb.FacetRequest(field="make", interval=5)]), "numeric"),
        (spb.SearchRequest(facets=[spb.FacetRequest(field="year", size=101)]), "size"),
        (spb.SearchRequest(facets=[spb.FacetRequest(field="make")] * 11), "at most 10"),
        (spb.SearchRequest(page=h.common_pb2.PageRequest(page_size=201)), "page_size"),
        (spb.SearchRequest(page=h.common_pb2.PageRequest(page_token="garbage")), "page_token"),
    ]
    for req, words in bad:
        e = h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, search_stub.Search, req, bidder.md)
        assert words in e.details(), e.details()
    token = finder.search("", scoped(seller), page_size=5).page.next_page_token
    assert token
    e = h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, search_stub.Search, spb.SearchRequest(
        filter_json=scoped(seller, ["eq", "make", "Kia"]),
        page=h.common_pb2.PageRequest(page_size=5, page_token=token)), bidder.md)
    assert "another query" in e.details()
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, search_stub.Search, spb.SearchRequest())
