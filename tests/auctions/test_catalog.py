"""ListLots, the catalog's JSON filter DSL, through the real auctions daemon:
golden queries answered with the right lots in the right order, paging with
cursors through every result exactly once, field masks, who sees which lot
and whose reserve, and malformed or hostile DSL refused with
INVALID_ARGUMENT naming the element, the lots table intact afterwards.

The lots of this module stand in one city of their own (a random city_id),
so every query filters on it and other tests' lots never interfere. A model
of those lots in Python (`Shelf`) says what each query must return; NULL in
a nullable column sorts as INT64_MAX, as services/auctions/dsl.h says."""
import json
import random
import time

import grpc
import pytest

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb

from auction_house import complete_lot, rub

IA = grpc.StatusCode.INVALID_ARGUMENT
S = apb.LotState
NULL_SORTS_AS = 2 ** 63 - 1
HOUR = 3600 * 10 ** 6
STATE_ORDER = ["draft", "in_review", "approved", "rejected", "scheduled", "live", "closed",
               "cancelled"]
VISIBLE_TO_ALL = {"scheduled", "live", "closed"}

# ---- the shelf of lots ------------------------------------------------------------------

# (owner "a"|"b", state, make, model, year, mileage, start, reserve, buy_now,
#  has_category, hours until the start when scheduled; equal hours tie on the
#  start time and fall back to id)
SPECS = [
    ("a", "scheduled", "Toyota", "Camry", 2019, 64000, 1000000, 1500000, None, True, 2),
    ("a", "scheduled", "Toyota", "Corolla", 2015, 120000, 500000, None, 900000, True, 2),
    ("b", "scheduled", "Lada", "Niva", 2021, 30000, 700000, None, None, True, 3),
    ("b", "scheduled", "Bmw", "Xfive", 2018, 90000, 3000000, 4000000, 6000000, True, 1),
    ("a", "scheduled", "Audi", "Afour", 2017, 150000, 1200000, None, None, True, 4),
    ("b", "scheduled", "Kia", "Rio", 2020, 45000, 400000, None, None, True, 5),
    ("a", "draft", "Toyota", "Rav", 2022, 1000, 2000000, 2500000, None, False, None),
    ("b", "draft", "Lada", "Vesta", 2023, 0, 600000, None, None, False, None),
    ("a", "in_review", "Mazda", "Cx", 2016, 99000, 800000, None, None, True, None),
    ("b", "approved", "Skoda", "Octavia", 2014, 200000, 350000, None, 700000, True, None),
    ("b", "rejected", "Kia", "Ceed", 2019, 70000, 450000, None, None, True, None),
]


class Shelf:
    """The module's lots as created, and the rules ListLots must follow."""

    def __init__(self, house, city, a, b, category):
        self.house, self.city, self.a, self.b, self.category = house, city, a, b, category
        self.lots = []          # dicts, in creation (id) order
        self.by_id = {}

    def add(self, lot_pb, owner, spec):
        _, state, make, model, year, mileage, start, reserve, buy_now, has_cat, hours = spec
        d = dict(id=lot_pb.id, seller_id=owner.id, state=state, make=make, model=model,
                 year=year, mileage_km=mileage, start_price=start, reserve=reserve,
                 buy_now_price=buy_now,
                 category_id=self.category.id if has_cat else None,
                 start_time=lot_pb.starts_at_us or None, end_time=lot_pb.ends_at_us or None,
                 title=lot_pb.title)
        self.lots.append(d)
        self.by_id[d["id"]] = d

    def visible(self, who):
        if who is self.house.admin or who is self.house.moderator:
            return list(self.lots)
        return [d for d in self.lots if d["state"] in VISIBLE_TO_ALL or d["seller_id"] == who.id]

    @staticmethod
    def ordered(lots, order):
        """lots sorted by [(field, is_desc)], id last in the last key's direction."""
        if not order or order[-1][0] != "id":
            order = list(order) + [("id", order[-1][1] if order else False)]
        out = list(lots)
        for field, is_desc in reversed(order):
            def key(d, field=field):
                if field == "state":
                    return STATE_ORDER.index(d["state"])
                v = d[field]
                return NULL_SORTS_AS if v is None else v
            out.sort(key=key, reverse=is_desc)
        return [d["id"] for d in out]


def create_and_move(house, owner, category, city, region, spec, base_us):
    _, state, make, model, year, mileage, start, reserve, buy_now, has_cat, hours = spec
    lot = complete_lot(category.id if has_cat else 0, title="%s %s lot" % (make, model),
                       make=make, model=model, year=year, mileage_km=mileage, city_id=city,
                       region=region, start_price=rub(start))
    if reserve is not None:
        lot.reserve_price.CopyFrom(rub(reserve))
    if buy_now is not None:
        lot.buy_now_price.CopyFrom(rub(buy_now))
    out = house.create(owner, lot)
    if state == "draft":
        return out
    out = house.submit(owner, out.id)
    if state == "in_review":
        return out
    if state == "rejected":
        return h.call(house.stub.ModerateLot, apb.ModerateLotRequest(
            lot_id=out.id, decision=apb.MODERATION_DECISION_REJECT, reason="Photos blurred"),
            house.moderator.md).lot
    out = house.approve(out.id)
    if state == "approved":
        return out
    return house.schedule(owner, out.id, base_us + hours * HOUR)


@pytest.fixture(scope="module")
def shelf(house, category):
    a, b = house.new_seller(), house.new_seller()
    city = random.SystemRandom().randint(10 ** 9, 2 * 10 ** 9)
    region = "Catalog-%d" % city
    base = (int(time.time()) + 3600) * 10 ** 6
    s = Shelf(house, city, a, b, category)
    for spec in SPECS:
        owner = a if spec[0] == "a" else b
        s.add(create_and_move(house, owner, category, city, region, spec, base), owner, spec)
    s.region = region
    s.base = base
    return s


# ---- calls --------------------------------------------------------------------------------

def dsl(*elements):
    return json.dumps(list(elements))


def list_lots(house, who, filter_json):
    return h.call(house.stub.ListLots, apb.ListLotsRequest(filter_json=filter_json), who.md)


def ids_of(house, who, *elements):
    resp = list_lots(house, who, dsl(*elements))
    return [lot.id for lot in resp.lots]


def walk(house, who, elements, limit):
    """Every page of a listing; returns (ids in order, number of pages)."""
    ids, pages, cursor = [], 0, None
    while True:
        els = list(elements) + [["limit", limit]]
        if cursor:
            els.append(["cursor", cursor])
        resp = list_lots(house, who, dsl(*els))
        pages += 1
        assert len(resp.lots) <= limit
        ids += [lot.id for lot in resp.lots]
        if not resp.next_cursor:
            return ids, pages
        assert len(resp.lots) == limit, "a short page that promises another"
        cursor = resp.next_cursor
        assert pages <= 100, "paging does not end"


def in_city(shelf):
    return ["eq", "city_id", shelf.city]


# ---- golden queries ------------------------------------------------------------------------

def test_the_seed_example_lists_upcoming_lots_latest_first_with_three_fields(house, shelf,
                                                                             bidder):
    resp = list_lots(house, bidder, dsl(
        ["fields", "id,title,start_time"], ["eq", "city_id", str(shelf.city)],
        ["gt", "start_time", "now() - interval 1 minute"], ["order", "start_time desc"],
        ["limit", "10"]))
    upcoming = [d for d in shelf.visible(bidder) if d["start_time"] is not None]
    assert [lot.id for lot in resp.lots] == Shelf.ordered(upcoming, [("start_time", True)])
    assert resp.next_cursor == ""
    for lot in resp.lots:
        d = shelf.by_id[lot.id]
        assert (lot.title, lot.starts_at_us) == (d["title"], d["start_time"])
        assert (lot.seller_id, lot.make, lot.year, lot.state, lot.ends_at_us) == (0, "", 0, 0, 0)
        assert not lot.HasField("start_price") and not lot.photo_urls


def golden_cases(shelf):
    """(elements after the city filter, expected model filter, order)."""
    a, cat = shelf.a, shelf.category.id
    half = shelf.base + 5 * HOUR // 2
    return [
        ([], lambda d: True, []),
        ([["eq", "make", "Toyota"]], lambda d: d["make"] == "Toyota", []),
        ([["in", "state", ["draft", "in_review"]], ["order", "year desc"]],
         lambda d: d["state"] in ("draft", "in_review"), [("year", True)]),
        ([["like", "title", "%CAMRY%"]], lambda d: "camry" in d["title"].lower(), []),
        ([["like", "model", "c_"]], lambda d: d["model"] == "Cx", []),
        ([["gte", "year", 2017], ["lt", "mileage_km", "100000"], ["order", "mileage_km"]],
         lambda d: d["year"] >= 2017 and d["mileage_km"] < 100000, [("mileage_km", False)]),
        ([["ne", "category_id", cat]], lambda d: d["category_id"] != cat, []),
        ([["eq", "category_id", cat], ["ne", "year", 2019]],
         lambda d: d["category_id"] == cat and d["year"] != 2019, []),
        ([["lte", "buy_now_price", 1000000]],
         lambda d: d["buy_now_price"] is not None and d["buy_now_price"] <= 1000000, []),
        ([["gt", "start_time", "now()"], ["order", "start_time, start_price desc"]],
         lambda d: d["start_time"] is not None,
         [("start_time", False), ("start_price", True)]),
        ([["lt", "start_time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(half / 1e6))]],
         lambda d: d["start_time"] is not None and d["start_time"] < half, []),
        ([["gte", "end_time", half], ["order", "end_time desc"]],
         lambda d: d["end_time"] is not None and d["end_time"] >= half, [("end_time", True)]),
        ([["order", "start_time desc"]], lambda d: True, [("start_time", True)]),
        ([["order", "category_id desc, make"]], lambda d: True,
         [("category_id", True), ("make", False)]),
        ([["order", "state, year desc"]], lambda d: True, [("state", False), ("year", True)]),
        ([["eq", "seller_id", a.id], ["in", "model", ["Camry", "Rav", "Niva"]]],
         lambda d: d["seller_id"] == a.id and d["model"] in ("Camry", "Rav", "Niva"), []),
        ([["eq", "region", shelf.region], ["in", "id", [shelf.lots[0]["id"], shelf.lots[-1]["id"]]]],
         lambda d: d["id"] in (shelf.lots[0]["id"], shelf.lots[-1]["id"]), []),
    ]


def test_golden_queries_return_the_right_lots_in_the_right_order(house, shelf, admin, bidder):
    for who in (admin, bidder, shelf.a):
        for elements, keep, order in golden_cases(shelf):
            want = Shelf.ordered([d for d in shelf.visible(who) if keep(d)], order)
            assert want or who is not admin, "a golden query that matches nothing: %s" % elements
            got = ids_of(house, who, in_city(shelf), *elements)
            assert got == want, "as %s: %s" % (who.email, elements)


def test_no_filter_is_valid_and_pages_by_fifty(house, admin):
    for text in ("", "[]"):
        resp = list_lots(house, admin, text)
        assert len(resp.lots) <= 50
        assert [l.id for l in resp.lots] == sorted(l.id for l in resp.lots)


# ---- paging ---------------------------------------------------------------------------------

ORDERS = [[], ["order", "start_time desc"], ["order", "make, year desc"],
          ["order", "category_id, start_price desc, mileage_km"], ["order", "state desc"],
          ["order", "buy_now_price desc, id"], ["order", "title"]]


@pytest.mark.parametrize("order", ORDERS, ids=[json.dumps(o) for o in ORDERS])
def test_cursors_walk_every_lot_once_in_order(house, shelf, admin, bidder, order):
    for who in (admin, bidder):
        els = [in_city(shelf)] + ([order] if order else [])
        whole = ids_of(house, who, *els)
        assert sorted(whole) == sorted(d["id"] for d in shelf.visible(who))
        for limit in (1, 2, 3, len(whole)):
            ids, pages = walk(house, who, els, limit)
            assert ids == whole, "limit %d as %s" % (limit, who.email)
            assert pages == max(1, -(-len(whole) // limit))


def test_a_cursor_with_a_relative_time_outlives_its_second(house, shelf, admin):
    """The cursor is bound to now() - interval …, not to the instant it
    meant, so the next page a while later is still the same query."""
    els = [in_city(shelf), ["gt", "start_time", "now() - interval 1 second"],
           ["order", "start_time"]]
    first = list_lots(house, admin, dsl(*els, ["limit", 2]))
    assert first.next_cursor
    time.sleep(1.5)
    rest = list_lots(house, admin, dsl(*els, ["limit", 200], ["cursor", first.next_cursor]))
    got = [l.id for l in first.lots] + [l.id for l in rest.lots]
    assert got == ids_of(house, admin, *els)


def test_a_cursor_serves_only_its_own_filters_and_order(house, shelf, admin):
    els = [in_city(shelf), ["order", "year"]]
    cursor = list_lots(house, admin, dsl(*els, ["limit", 1])).next_cursor
    assert cursor
    # page size and fields may change between pages
    list_lots(house, admin, dsl(*els, ["limit", 5], ["fields", "title"], ["cursor", cursor]))
    for other in ([in_city(shelf), ["order", "year desc"]],
                  [in_city(shelf), ["order", "mileage_km"]],
                  [["eq", "city_id", shelf.city + 1], ["order", "year"]],
                  [in_city(shelf), ["order", "year"], ["eq", "make", "Kia"]]):
        h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(
            filter_json=dsl(*other, ["cursor", cursor])), admin.md,
            field="cursor does not match these filters and order")
    tampered = cursor[:-1] + ("0" if cursor[-1] != "0" else "1")
    h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(
        filter_json=dsl(*els, ["cursor", tampered])), admin.md, field="cursor does not match")
    for junk in ("zz", cursor[:-2], cursor.upper(), cursor + "00", "x" * 5000):
        e = h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(
            filter_json=dsl(*els, ["cursor", junk])), admin.md, field="cursor")
        assert "element 2" in e.details() or "8192" in e.details()


# ---- fields and reserve ------------------------------------------------------------------------

def test_fields_return_only_what_was_asked_and_always_the_id(house, shelf, admin):
    resp = list_lots(house, admin, dsl(in_city(shelf),
                                       ["fields", "title, photo_urls,reserve_price"]))
    assert len(resp.lots) == len(shelf.lots)
    for lot in resp.lots:
        d = shelf.by_id[lot.id]
        assert lot.title == d["title"] and list(lot.photo_urls)
        assert lot.HasField("reserve_price") == (d["reserve"] is not None)
        assert (lot.seller_id, lot.make, lot.model, lot.year, lot.state, lot.city_id,
                lot.created_at_us, lot.has_reserve) == (0, "", "", 0, 0, 0, 0, False)
        assert not lot.HasField("start_price") and not lot.HasField("condition")
    whole = list_lots(house, admin, dsl(in_city(shelf))).lots
    for lot in whole:
        d = shelf.by_id[lot.id]
        assert (lot.seller_id, lot.make, lot.model, lot.year, lot.mileage_km, lot.city_id,
                lot.region) == (d["seller_id"], d["make"], d["model"], d["year"],
                                d["mileage_km"], shelf.city, shelf.region)
        assert S.Name(lot.state) == "LOT_STATE_" + d["state"].upper()
        assert lot.start_price.units == d["start_price"] and lot.created_at_us > 0


def test_reserve_is_shown_only_to_its_seller_and_staff(house, shelf, admin, moderator, bidder):
    with_reserve = [d for d in shelf.lots if d["reserve"] is not None]
    assert {d["seller_id"] for d in with_reserve} == {shelf.a.id, shelf.b.id}
    for who in (admin, moderator, bidder, shelf.a, shelf.b):
        for fields in ([], [["fields", "reserve_price,has_reserve"]]):
            for lot in list_lots(house, who, dsl(in_city(shelf), *fields)).lots:
                d = shelf.by_id[lot.id]
                sees = who in (admin, moderator) or who.id == d["seller_id"]
                if d["reserve"] is None:
                    assert not lot.HasField("reserve_price") and not lot.has_reserve
                    continue
                assert lot.has_reserve
                assert lot.HasField("reserve_price") == sees, (who.email, d)
                if sees:
                    assert lot.reserve_price.units == d["reserve"]


def test_the_reserve_cannot_be_probed_through_filters_or_order(house, shelf, bidder):
    for els in ([["gt", "reserve_price", 0]], [["order", "reserve_price desc"]],
                [["eq", "has_reserve", True]]):
        e = h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(
            filter_json=dsl(in_city(shelf), *els)), bidder.md, field="element 1")
        assert "reserve" in e.details()


# ---- visibility ---------------------------------------------------------------------------------

def test_bidders_see_no_drafts_and_sellers_see_their_own(house, shelf, bidder, moderator):
    drafts = [in_city(shelf), ["in", "state", ["draft", "in_review", "approved", "rejected"]]]
    assert ids_of(house, bidder, *drafts) == []
    assert ids_of(house, bidder, in_city(shelf), ["eq", "state", "draft"]) == []
    for seller in (shelf.a, shelf.b):
        own = [d["id"] for d in shelf.lots
               if d["seller_id"] == seller.id and d["state"] not in VISIBLE_TO_ALL]
        assert own and ids_of(house, seller, *drafts) == own
        got = ids_of(house, seller, in_city(shelf))
        assert got == [d["id"] for d in shelf.visible(seller)]
        other = shelf.b if seller is shelf.a else shelf.a
        assert ids_of(house, seller, in_city(shelf), ["eq", "seller_id", other.id]) == [
            d["id"] for d in shelf.lots
            if d["seller_id"] == other.id and d["state"] in VISIBLE_TO_ALL]
    assert len(ids_of(house, moderator, *drafts)) == sum(
        d["state"] not in VISIBLE_TO_ALL for d in shelf.lots)


def test_a_new_account_sees_only_public_lots(house, shelf, new_account, service_md):
    fresh = new_account()
    assert ids_of(house, fresh, in_city(shelf)) == [d["id"] for d in shelf.lots
                                                    if d["state"] in VISIBLE_TO_ALL]
    resp = h.call(house.stub.ListLots, apb.ListLotsRequest(filter_json=dsl(in_city(shelf))),
                  service_md)
    assert [l.id for l in resp.lots] == [d["id"] for d in shelf.lots]


# ---- malformed and hostile DSL ---------------------------------------------------------------------

MALFORMED = [
    ('[["eq","city_id",1],["limit",5],["eq","price",1]]', 'element 2: unknown field "price"'),
    ('[["eq","city_id",1]', "not valid JSON"),
    ('{"eq":["city_id",1]}', "must be a JSON array"),
    ('[["eq","city_id"]]', "element 0: \"eq\" takes 2 items"),
    ('[["between","year",1,2]]', 'element 0: unknown operator "between"'),
    ('[["eq","year",1],"limit"]', "element 1: must be an array"),
    ('[["eq","year","nineteen"]]', "element 0: year needs a 64-bit integer"),
    ('[["eq","year",2019.5]]', "element 0: year needs a 64-bit integer"),
    ('[["eq","city_id","99999999999999999999"]]', "element 0: city_id needs a 64-bit integer"),
    ('[["lt","start_price",-5]]', "element 0: start_price must not be negative"),
    ('[["eq","state","sold"]]', "element 0: state must be one of"),
    ('[["gt","state","draft"]]', 'element 0: "gt" does not apply to state'),
    ('[["like","vin","%1%"]]', 'element 0: "like" applies only to'),
    (r'[["like","title","50\\"]]', "element 0: title pattern ends in a lone \\"),
    ('[["in","year",[]]]', "element 0: \"in\" needs an array of 1 to 100 values"),
    ('[["in","year",%s]]' % json.dumps(list(range(101))), "got 101 values"),
    ('[["gt","start_time","tomorrow"]]', "element 0: start_time needs unix microseconds"),
    ('[["gt","start_time","2024-02-30T00:00:00Z"]]', "element 0: start_time needs"),
    ('[["gt","end_time","now() - interval 1 week"]]', "element 0: end_time needs"),
    ('[["fields","id,price"]]', 'element 0: unknown field "price"'),
    ('[["fields","title,title"]]', 'element 0: field "title" is listed twice'),
    ('[["order","year,make,model,title"]]', "element 0: at most 3 order keys"),
    ('[["order","year sideways"]]', "element 0: order key"),
    ('[["order","description"]]', 'element 0: cannot order by "description"'),
    ('[["order","year"],["order","make"]]', 'element 1: a second "order"'),
    ('[["limit",0]]', "element 0: limit must be an integer from 1 to 200"),
    ('[["limit","500"]]', "element 0: limit must be an integer from 1 to 200"),
    (json.dumps([["gt", "year", 1]] * 33), "33 elements; at most 32"),
    ('[' + ' ' * 8200 + ']', "at most 8192"),
]


@pytest.mark.parametrize("text,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_dsl_is_invalid_argument_naming_the_element(house, bidder, text, message):
    e = h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(filter_json=text), bidder.md)
    assert message in e.details(), e.details()


def lots_in_table(lots_db):
    with lots_db.cursor() as cur:
        cur.execute("SELECT count(*) FROM lots")
        return cur.fetchone()[0]


HOSTILE_REFUSED = [
    [["eq", "city_id", "1; DROP TABLE lots"]],
    [["eq", "city_id", "1 OR 1=1"]],
    [["eq", "title\" OR 1=1 --", "x"]],
    [["eq", "title; DELETE FROM lots", "x"]],
    [["eq", "l.reserve_price", 1]],
    [["eq", "Title", "x"]],
    [["eq", "title ", "x"]],
    [["eq", "тайтл", "x"]],
    [["order", "id; DROP TABLE lots"]],
    [["order", "(SELECT max(reserve_price) FROM lots) desc"]],
    [["order", "start_time desc nulls first"]],
    [["fields", "id,(SELECT reserve_price FROM lots)"]],
    [["in", "state", ["live", "draft' OR 'x'='x"]]],
    [["gt", "start_time", "now() - interval 1 minute; DROP TABLE lots"]],
    [["gt", "start_time", "now() - interval '1 minute'"]],
    [["limit", "10; DROP TABLE lots"]],
]


def test_injection_attempts_are_refused_or_bound_and_the_table_survives(house, shelf, bidder,
                                                                        lots_db):
    before = lots_in_table(lots_db)
    for els in HOSTILE_REFUSED:
        e = h.expect_error(IA, house.stub.ListLots, apb.ListLotsRequest(
            filter_json=dsl(in_city(shelf), *els)), bidder.md)
        assert "element 1" in e.details(), e.details()
    bound = [
        [["eq", "title", "' OR 1=1 --"]],
        [["like", "title", "%' OR '1'='1"]],
        [["like", "description", "%'; DELETE FROM lots; --"]],
        [["in", "make", ["Toyota') OR ('1'='1", "x\" OR \"1\"=\"1"]]],
        [["eq", "region", "x' OR seller_id <> 0 OR 'a'='a"]],
        [["eq", "vin", "$1"]],
        [["like", "title", "100\\% \\_ \\\\"]],
        [["ne", "model", "') OR state = 'draft' --"], ["eq", "state", "draft"]],
    ]
    for els in bound:
        assert ids_of(house, bidder, in_city(shelf), *els) == [], els
    assert lots_in_table(lots_db) == before
    assert ids_of(house, house.admin, in_city(shelf)) == [d["id"] for d in shelf.lots]


def test_like_folds_case_in_every_script(house, category):
    seller = house.new_seller()
    lada = house.create(seller, complete_lot(category.id, title="Лада Веста СВ Кросс",
                                             make="Лада", model="Веста"))
    for pattern in ("%ВЕСТА%", "%веста сВ%", "лада%"):
        resp = list_lots(house, seller, dsl(["eq", "seller_id", seller.id],
                                            ["like", "title", pattern]))
        assert [lot.id for lot in resp.lots] == [lada.id], pattern
    resp = list_lots(house, seller, dsl(["eq", "seller_id", seller.id], ["like", "make", "ЛАДА"]))
    assert [lot.id for lot in resp.lots] == [lada.id]
