"""Paid-service pricing through the real auctions daemon: rules resolved by
priority, then specificity, then lowest id; category ancestors, year and
start-price ranges at their edges, case-insensitive region and make,
inactive rules, fixed prices and coefficients (rounded up), currencies,
defaults, quotes by lot and by attributes, who may quote and manage rules,
refused requests that change nothing, and quotes that stay consistent while
rules change under them.

Rules are global, so every test gives its rules a make (or region) nobody
else uses: rules of other tests never match its quotes."""
import itertools
import threading
import time
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb, bids_pb2, common_pb2, users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
NF = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
SRC = apb.QuoteSource

# The daemon's service table (pricing.c): base prices in minor units.
BASE = {
    "RUB": {"promotion": 150000, "inspection": 500000, "delivery": 1500000, "hot": 30000,
            "up": 20000, "color-red": 4500, "s": 9000, "paid-auto-re": 500, "re": 0,
            "unset-auto-re": 0},
    "EUR": {"promotion": 1500, "inspection": 6000, "delivery": 20000, "hot": 300, "up": 200,
            "color-red": 50, "s": 100, "paid-auto-re": 10, "re": 0, "unset-auto-re": 0},
}
SERVICES = list(BASE["RUB"])  # table order: what an empty quote lists
# The settlement fees that follow them in the table: rates per mille of a
# sold lot's hammer price, the same in every currency, quoted only for a
# lot that closed sold (an empty quote of anything else leaves them out).
FEES = {"buyer_premium": 0, "seller_commission": 50}

_n = itertools.count(1)


def money(units, currency="RUB"):
    return common_pb2.Money(currency=currency, units=units)


def ceil_permille(base, permille):
    return -(-base * permille // 1000)


def fresh(tag="Make"):
    """A make (or region, model) no other test uses."""
    return "%s-%d-%s" % (tag, next(_n), uuid.uuid4().hex[:8])


class Pricing:
    """Price rules and quotes against the running auctions daemon."""

    def __init__(self, house):
        self.house = house
        self.stub = house.stub
        self.admin = house.admin

    def rule(self, service="hot", coefficient=None, fixed=None, active=True, priority=0,
             **criteria):
        r = apb.PriceRule(service=service, priority=priority, is_active=active, **criteria)
        if fixed is not None:
            r.fixed_price.CopyFrom(fixed if isinstance(fixed, common_pb2.Money) else money(fixed))
        else:
            r.coefficient_permille = 1000 if coefficient is None else coefficient
        return h.call(self.stub.CreatePriceRule, apb.CreatePriceRuleRequest(rule=r),
                      self.admin.md).rule

    def update(self, rule_id, mask, who=None, **fields):
        return h.call(self.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
            rule_id=rule_id, update_mask=mask, rule=apb.PriceRule(**fields)),
            (who or self.admin).md).rule

    def quote(self, services=("hot",), who=None, lot_id=None, all_services=SERVICES, **attrs):
        if lot_id is not None:
            req = apb.QuoteServicesRequest(lot_id=lot_id, services=list(services))
        else:
            req = apb.QuoteServicesRequest(attributes=apb.LotAttributes(**attrs),
                                           services=list(services))
        resp = h.call(self.stub.QuoteServices, req, (who or self.admin).md)
        assert [l.service for l in resp.lines] == list(services or all_services)
        assert resp.quoted_at_us > 0
        return resp.lines

    def line(self, service="hot", **attrs):
        return self.quote((service,), **attrs)[0]


@pytest.fixture(scope="module")
def pricing(house):
    return Pricing(house)


def rules_state(db):
    """Everything about the rules table a refused request must leave alone
    (db: tests/auctions/conftest.py's read-only lots_db connection)."""
    with db.cursor() as cur:
        cur.execute("SELECT count(*), coalesce(max(id), 0), coalesce(sum(updated_at_us), 0), "
                    "coalesce(sum(hashtext(service || priority || is_active::text || "
                    "coalesce(coefficient_permille, -1) || coalesce(fixed_price, -1))), 0) "
                    "FROM price_rules")
        return cur.fetchone()


def assert_rule_line(line, rule, base, price, source):
    assert (line.rule_id, line.source, line.price.units, line.base_price.units) == (
        rule.id if rule is not None else 0, source, price, base), line


# ---- resolution order -------------------------------------------------------------------------

def test_priority_beats_specificity(pricing):
    mk, model, region = fresh(), fresh("Model"), fresh("Region")
    broad = pricing.rule(make=mk, priority=10, coefficient=1500)
    pricing.rule(make=mk, model=model, region=region, year_from=2000, priority=5,
                 coefficient=2000)
    line = pricing.line(make=mk, model=model, region=region, year=2010)
    assert_rule_line(line, broad, 30000, 45000, SRC.QUOTE_SOURCE_COEFFICIENT)
    assert line.coefficient_permille == 1500


def test_specificity_breaks_priority_ties(pricing):
    mk, region = fresh(), fresh("Region")
    broad = pricing.rule(make=mk, priority=7, coefficient=1500)
    narrow = pricing.rule(make=mk, region=region, priority=7, coefficient=2000)
    assert_rule_line(pricing.line(make=mk, region=region), narrow, 30000, 60000,
                     SRC.QUOTE_SOURCE_COEFFICIENT)
    # Elsewhere the narrow rule does not match and the broad one wins.
    assert_rule_line(pricing.line(make=mk, region=fresh("Region")), broad, 30000, 45000,
                     SRC.QUOTE_SOURCE_COEFFICIENT)
    # A year range counts as two criteria when both ends are set.
    ranged = pricing.rule(make=mk, year_from=2001, year_to=2020, priority=7, coefficient=2500)
    assert_rule_line(pricing.line(make=mk, region=region, year=2010), ranged, 30000, 75000,
                     SRC.QUOTE_SOURCE_COEFFICIENT)


def test_lowest_id_breaks_full_ties(pricing):
    mk = fresh()
    first = pricing.rule(make=mk, priority=3, coefficient=1100)
    second = pricing.rule(make=mk, priority=3, coefficient=1200)
    assert first.id < second.id
    assert_rule_line(pricing.line(make=mk), first, 30000, 33000, SRC.QUOTE_SOURCE_COEFFICIENT)
    pricing.update(first.id, ["is_active"], is_active=False)
    assert_rule_line(pricing.line(make=mk), second, 30000, 36000, SRC.QUOTE_SOURCE_COEFFICIENT)


def test_each_service_resolves_on_its_own_rules(pricing):
    mk = fresh()
    hot = pricing.rule("hot", make=mk, coefficient=2000)
    up = pricing.rule("up", make=mk, fixed=12345)
    lines = pricing.quote(("up", "promotion", "hot"), make=mk)
    assert_rule_line(lines[0], up, 20000, 12345, SRC.QUOTE_SOURCE_FIXED)
    assert_rule_line(lines[1], None, 150000, 150000, SRC.QUOTE_SOURCE_DEFAULT)
    assert_rule_line(lines[2], hot, 30000, 60000, SRC.QUOTE_SOURCE_COEFFICIENT)


# ---- criteria ------------------------------------------------------------------------------

def test_category_matches_the_lots_category_or_an_ancestor(pricing, house):
    root = house.category(name="Pricing root %s" % fresh("c"))
    child = house.category(parent_id=root.id, name="Pricing child")
    grandchild = house.category(parent_id=child.id, name="Pricing grandchild")
    sibling = house.category(parent_id=root.id, name="Pricing sibling")
    mk = fresh()
    on_child = pricing.rule(make=mk, category_id=child.id, coefficient=1300)
    assert_rule_line(pricing.line(make=mk, category_id=grandchild.id), on_child, 30000, 39000,
                     SRC.QUOTE_SOURCE_COEFFICIENT)
    assert pricing.line(make=mk, category_id=child.id).rule_id == on_child.id
    for other in (root.id, sibling.id, 0):
        assert pricing.line(make=mk, category_id=other).source == SRC.QUOTE_SOURCE_DEFAULT
    e = h.expect_error(NF, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        attributes=apb.LotAttributes(category_id=10 ** 12), services=["hot"]), pricing.admin.md)
    assert str(10 ** 12) in e.details()


@pytest.mark.parametrize("year,matches", [(0, False), (2009, False), (2010, True),
                                          (2012, True), (2015, True), (2016, False)])
def test_year_range_includes_both_ends(pricing, year, matches):
    mk = fresh()
    rule = pricing.rule(make=mk, year_from=2010, year_to=2015, coefficient=1500)
    line = pricing.line(make=mk, year=year)
    assert line.rule_id == (rule.id if matches else 0)
    assert line.price.units == (45000 if matches else 30000)


def test_open_year_bounds(pricing):
    mk = fresh()
    since = pricing.rule(make=mk, region="since", year_from=2018, coefficient=1100)
    until = pricing.rule(make=mk, region="until", year_to=1999, coefficient=1200)
    assert pricing.line(make=mk, region="since", year=2100).rule_id == since.id
    assert pricing.line(make=mk, region="since", year=2017).rule_id == 0
    assert pricing.line(make=mk, region="until", year=1900).rule_id == until.id
    assert pricing.line(make=mk, region="until", year=2000).rule_id == 0
    assert pricing.line(make=mk, region="until").rule_id == 0  # unknown year: no bound holds


@pytest.mark.parametrize("start,matches", [(None, False), (99999, False), (100000, True),
                                           (150000, True), (199999, True), (200000, False)])
def test_start_price_range_min_inclusive_max_exclusive(pricing, start, matches):
    mk = fresh()
    rule = pricing.rule(make=mk, min_start_price=money(100000), max_start_price=money(200000),
                        coefficient=1500)
    attrs = {"make": mk}
    if start is not None:
        attrs["start_price"] = money(start)
    line = pricing.line(**attrs)
    assert line.rule_id == (rule.id if matches else 0)


def test_region_make_and_model_match_case_insensitively(pricing):
    tag = fresh("x").lower()
    rule = pricing.rule(region="Москва-" + tag, make="Škoda-" + tag, model="Octavia-" + tag,
                        coefficient=1250)
    line = pricing.line(region="МОСКВА-" + tag.upper(), make="šKODA-" + tag,
                        model="OCTAVIA-" + tag)
    assert line.rule_id == rule.id and line.price.units == 37500
    # Exact otherwise: neither prefixes nor extra spaces match.
    assert pricing.line(region="Москва-" + tag, make="Škoda-" + tag, model="Octavia").rule_id == 0
    assert pricing.line(region="Москва-" + tag + " ", make="Škoda-" + tag,
                        model="Octavia-" + tag).rule_id == 0


def test_inactive_rules_never_match(pricing):
    mk = fresh()
    rule = pricing.rule(make=mk, priority=1000, coefficient=5000, active=False)
    assert pricing.line(make=mk).source == SRC.QUOTE_SOURCE_DEFAULT
    pricing.update(rule.id, ["is_active"], is_active=True)
    assert pricing.line(make=mk).rule_id == rule.id
    pricing.update(rule.id, ["is_active"], is_active=False)
    assert pricing.line(make=mk).source == SRC.QUOTE_SOURCE_DEFAULT


# ---- adjustments, currencies, defaults -----------------------------------------------------------

def test_coefficients_round_up_and_fixed_prices_replace_the_base(pricing):
    mk = fresh()
    odd = pricing.rule("paid-auto-re", make=mk, coefficient=1333)       # 500 * 1.333 = 666.5
    cheap = pricing.rule("color-red", make=mk, coefficient=1)          # 4500 * 0.001 = 4.5
    free = pricing.rule("promotion", make=mk, fixed=0)
    paid = pricing.rule("re", make=mk, fixed=4990)                     # the base is 0
    lines = pricing.quote(("paid-auto-re", "color-red", "promotion", "re"), make=mk)
    assert_rule_line(lines[0], odd, 500, 667, SRC.QUOTE_SOURCE_COEFFICIENT)
    assert lines[0].coefficient_permille == 1333
    assert_rule_line(lines[1], cheap, 4500, 5, SRC.QUOTE_SOURCE_COEFFICIENT)
    assert_rule_line(lines[2], free, 150000, 0, SRC.QUOTE_SOURCE_FIXED)
    assert lines[2].coefficient_permille == 0
    assert_rule_line(lines[3], paid, 0, 4990, SRC.QUOTE_SOURCE_FIXED)
    assert all(l.price.currency == "RUB" and l.base_price.currency == "RUB" for l in lines)


def test_fixed_prices_apply_only_in_their_currency(pricing):
    mk = fresh()
    fixed_rub = pricing.rule("hot", make=mk, fixed=money(25000, "RUB"), priority=5)
    coef = pricing.rule("hot", make=mk, coefficient=2000)
    assert_rule_line(pricing.line(make=mk), fixed_rub, 30000, 25000, SRC.QUOTE_SOURCE_FIXED)
    eur = pricing.line(make=mk, start_price=money(5000000, "EUR"))
    assert_rule_line(eur, coef, 300, 600, SRC.QUOTE_SOURCE_COEFFICIENT)
    assert eur.price.currency == "EUR" and eur.base_price.currency == "EUR"
    bounded = pricing.rule("up", make=mk, min_start_price=money(1, "EUR"), coefficient=3000)
    assert pricing.line("up", make=mk, start_price=money(10, "EUR")).rule_id == bounded.id
    assert pricing.line("up", make=mk, start_price=money(10, "RUB")).rule_id == 0


def test_defaults_when_nothing_matches(pricing):
    lines = pricing.quote((), make=fresh(), region=fresh("Region"), year=2001)
    assert [l.service for l in lines] == SERVICES
    for l in lines:
        assert_rule_line(l, None, BASE["RUB"][l.service], BASE["RUB"][l.service],
                         SRC.QUOTE_SOURCE_DEFAULT)
        assert l.coefficient_permille == 0
    eur = pricing.quote((), start_price=money(1, "EUR"), make=fresh())
    assert [(l.price.currency, l.price.units) for l in eur] == [
        ("EUR", BASE["EUR"][s]) for s in SERVICES]


# ---- the subject: a lot or attributes ------------------------------------------------------------

def test_quote_by_lot_equals_quote_by_attributes(pricing, house, seller, moderator, service_md,
                                                 category):
    mk, model = fresh(), fresh("Model")
    r1 = pricing.rule("inspection", make=mk, model=model, coefficient=1200)
    r2 = pricing.rule("delivery", make=mk, category_id=category.id, region="Kazan",
                      min_start_price=money(1000000), fixed=990000)
    lot = house.create(seller, apb.Lot(title="Quote me", make=mk, model=model, year=2020,
                                       region="kazan", category_id=category.id,
                                       start_price=money(2500000)))
    services = ("inspection", "delivery", "hot")
    by_lot = pricing.quote(services, who=seller, lot_id=lot.id)
    by_attrs = pricing.quote(services, make=mk, model=model, year=2020, region="kazan",
                             category_id=category.id, start_price=money(2500000))
    assert by_lot == by_attrs
    assert [l.rule_id for l in by_lot] == [r1.id, r2.id, 0]
    assert by_lot[1].price.units == 990000
    for who in (moderator, pricing.admin):
        assert pricing.quote(services, who=who, lot_id=lot.id) == by_lot
    resp = h.call(pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=lot.id, services=list(services)), service_md)
    assert list(resp.lines) == list(by_lot)


def test_a_seller_quotes_only_own_lots(pricing, house, seller, bidder, category):
    other = house.new_seller()
    draft = house.create(seller, apb.Lot(title="Draft", make=fresh()))
    # Someone else's draft is invisible: NOT_FOUND, as GetLot says.
    h.expect_error(NF, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=draft.id, services=["hot"]), other.md)
    # A scheduled lot is visible to everyone, but still not theirs to quote.
    lot = house.approved(seller, category.id)
    house.schedule(seller, lot.id, int(time.time() * 1e6) + 3600 * 10 ** 6)
    e = h.expect_error(DENIED, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=lot.id, services=["hot"]), other.md)
    assert str(lot.id) in e.details()
    assert pricing.quote(("hot",), who=seller, lot_id=lot.id)[0].base_price.units == 30000
    # Bare attributes are every seller's to quote; bidders quote only lots
    # they see (the all-in price beside the bid button), never attributes.
    assert pricing.quote(("hot",), who=other, make=fresh())[0].price.units == 30000
    assert pricing.quote(("hot",), who=bidder, lot_id=lot.id)[0].base_price.units == 30000
    h.expect_error(DENIED, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        attributes=apb.LotAttributes(), services=["hot"]), bidder.md)
    h.expect_error(NF, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=draft.id, services=["hot"]), bidder.md)
    h.expect_error(NF, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=10 ** 12, services=["hot"]), seller.md)


# ---- settlement fees: per mille of the hammer price --------------------------------------------

HAMMER = 100000000  # complete_lot's start price, the lot's only bid


def live_lot_with_a_bid(house, seller, category, bids_stub, users_stub, wallet, svc_key, **over):
    """A lot that will really close sold at HAMMER: scheduled, one bid
    through the bids daemon; the scheduler closes it 1.5 s after it opens."""
    lot = house.approved(seller, category.id, **over)
    start = int(time.time() * 1e6) + 600000
    house.schedule(seller, lot.id, start, start + 1500000)
    house.wait_state(lot.id, apb.LotState.Value("LOT_STATE_LIVE"), timeout=5 * h.SLOW)
    b = h.register(users_stub, users_pb2.ROLE_BIDDER)
    h.call(wallet.Deposit, users_pb2.DepositRequest(
        idempotency_key=h.idem(), user_id=b.id, amount=money(HAMMER)),
        h.bearer(h.service_token(svc_key)))
    h.call(bids_stub.PlaceBid, bids_pb2.PlaceBidRequest(
        lot_id=lot.id, amount=money(HAMMER), idempotency_key=h.idem()), b.md)
    return lot


def test_fees_are_per_mille_of_a_sold_lots_hammer_price(
        pricing, house, seller, category, bids_stub, users_stub, wallet, svc_key, service_md):
    mk = fresh()
    lot = live_lot_with_a_bid(house, seller, category, bids_stub, users_stub, wallet, svc_key,
                              make=mk)
    fees = tuple(FEES)
    # no hammer price yet: named fees are refused, an empty quote leaves them out
    e = h.expect_error(grpc.StatusCode.FAILED_PRECONDITION, pricing.stub.QuoteServices,
                       apb.QuoteServicesRequest(lot_id=lot.id, services=list(fees)), service_md)
    assert "lot %d has no hammer price" % lot.id in e.details()
    assert "buyer_premium" in e.details()
    assert [l.service for l in pricing.quote((), lot_id=lot.id)] == SERVICES
    e = h.expect_error(IA, pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        attributes=apb.LotAttributes(make=mk), services=["hot", "seller_commission"]),
        service_md)
    assert "services[1]: seller_commission is priced per mille of a lot's hammer price" in (
        e.details())
    house.wait_state(lot.id, apb.LotState.Value("LOT_STATE_CLOSED"), timeout=8 * h.SLOW)

    # the base rates: 0 and 50 per mille, rounded up
    lines = pricing.quote(fees, lot_id=lot.id)
    for l, (svc, rate) in zip(lines, FEES.items()):
        fee = ceil_permille(HAMMER, rate)
        assert_rule_line(l, None, fee, fee, SRC.QUOTE_SOURCE_DEFAULT)
        assert l.price.currency == "RUB"
    everything = pricing.quote((), lot_id=lot.id, all_services=SERVICES + list(FEES))
    assert [l.price.units for l in everything[-2:]] == [0, HAMMER * 50 // 1000]
    # the service identity (payments) quotes it as the admin does
    resp = h.call(pricing.stub.QuoteServices, apb.QuoteServicesRequest(
        lot_id=lot.id, services=list(fees)), service_md)
    assert list(resp.lines) == list(lines)

    # a coefficient scales the rate (600 of 50 = 3 %), a fixed price sets a
    # flat fee, and a 0 rate stays 0 under any coefficient
    commission = pricing.rule("seller_commission", make=mk, coefficient=600)
    premium = pricing.rule("buyer_premium", make=mk, coefficient=100000)
    lines = pricing.quote(fees, lot_id=lot.id)
    assert_rule_line(lines[0], premium, 0, 0, SRC.QUOTE_SOURCE_COEFFICIENT)
    assert_rule_line(lines[1], commission, HAMMER * 50 // 1000, HAMMER * 30 // 1000,
                     SRC.QUOTE_SOURCE_COEFFICIENT)
    assert lines[1].coefficient_permille == 600
    flat = pricing.rule("buyer_premium", make=mk, fixed=12345, priority=5)
    odd = pricing.rule("seller_commission", make=mk, coefficient=333, priority=5)
    lines = pricing.quote(fees, lot_id=lot.id)
    assert_rule_line(lines[0], flat, 0, 12345, SRC.QUOTE_SOURCE_FIXED)
    # 10^8 * 50 * 333 / 10^6 = 1,665,000 exactly; the rate is scaled, not
    # the rounded base fee
    assert_rule_line(lines[1], odd, HAMMER * 50 // 1000, 1665000, SRC.QUOTE_SOURCE_COEFFICIENT)
    for r in (commission, premium, flat, odd):
        h.call(pricing.stub.DeletePriceRule, apb.DeletePriceRuleRequest(rule_id=r.id),
               pricing.admin.md)


def test_fee_rules_are_checked_like_the_others(pricing):
    mk = fresh()
    h.expect_error(IA, pricing.stub.CreatePriceRule, apb.CreatePriceRuleRequest(
        rule=apb.PriceRule(service="seller_commission", make=mk, coefficient_permille=100001)),
        pricing.admin.md)
    h.expect_error(IA, pricing.stub.CreatePriceRule, apb.CreatePriceRuleRequest(
        rule=apb.PriceRule(service="seller_comission", make=mk, coefficient_permille=500)),
        pricing.admin.md)
    r = pricing.rule("seller_commission", make=mk, fixed=money(5, "EUR"))
    assert (r.service, r.fixed_price.currency, r.fixed_price.units) == (
        "seller_commission", "EUR", 5)
    h.call(pricing.stub.DeletePriceRule, apb.DeletePriceRuleRequest(rule_id=r.id),
           pricing.admin.md)


# ---- rule administration ------------------------------------------------------------------------

def test_rules_are_managed_by_admins_and_listed_by_staff(pricing, seller, bidder, moderator,
                                                         service_md, lots_db):
    rule = pricing.rule(make=fresh(), coefficient=1100)
    before = rules_state(lots_db)
    create = apb.CreatePriceRuleRequest(rule=apb.PriceRule(service="hot", make=fresh(),
                                                           coefficient_permille=1000))
    update = apb.UpdatePriceRuleRequest(rule_id=rule.id, update_mask=["priority"],
                                        rule=apb.PriceRule(priority=99))
    delete = apb.DeletePriceRuleRequest(rule_id=rule.id)
    for who in (seller.md, bidder.md, moderator.md, service_md):
        if who is service_md and not h.HAVE_CRYPTOGRAPHY:
            continue  # service_md is the admin's then
        h.expect_error(DENIED, pricing.stub.CreatePriceRule, create, who)
        h.expect_error(DENIED, pricing.stub.UpdatePriceRule, update, who)
        h.expect_error(DENIED, pricing.stub.DeletePriceRule, delete, who)
    for method, req in ((pricing.stub.CreatePriceRule, create),
                        (pricing.stub.ListPriceRules, apb.ListPriceRulesRequest()),
                        (pricing.stub.QuoteServices, apb.QuoteServicesRequest(lot_id=1))):
        h.expect_error(UNAUTH, method, req)
    h.expect_error(DENIED, pricing.stub.ListPriceRules, apb.ListPriceRulesRequest(), seller.md)
    assert rules_state(lots_db) == before
    for who in (moderator.md, service_md, pricing.admin.md):
        h.call(pricing.stub.ListPriceRules, apb.ListPriceRulesRequest(service="hot"), who)


def test_create_returns_the_stored_rule(pricing, admin):
    mk = fresh()
    t0 = int(time.time() * 1e6)
    r = pricing.rule("delivery", make=mk, model="Vesta", region="Samara", category_id=0,
                     year_from=2015, year_to=2024, min_start_price=money(10, "USD"),
                     max_start_price=money(1000, "USD"), priority=-40,
                     fixed=money(777, "USD"), note="Volga promo\nQ3")
    assert r.id > 0 and r.created_by == admin.id
    assert r.created_at_us == r.updated_at_us and r.created_at_us >= t0 - 10 ** 6
    assert (r.service, r.make, r.model, r.region, r.year_from, r.year_to, r.priority,
            r.note) == ("delivery", mk, "Vesta", "Samara", 2015, 2024, -40, "Volga promo\nQ3")
    assert r.WhichOneof("adjustment") == "fixed_price" and r.fixed_price == money(777, "USD")
    assert r.min_start_price == money(10, "USD") and r.max_start_price == money(1000, "USD")
    assert r.is_active
    listed = list_rules(pricing, "delivery")
    assert r in listed


def test_update_changes_only_the_masked_fields(pricing):
    mk = fresh()
    r = pricing.rule("up", make=mk, region="Omsk", priority=1, coefficient=1500, note="a")
    u = pricing.update(r.id, ["priority", "note"], priority=50, note="b", make="ignored",
                       coefficient_permille=9999)
    assert (u.priority, u.note, u.make, u.region, u.coefficient_permille) == (
        50, "b", mk, "Omsk", 1500)
    assert u.updated_at_us > r.updated_at_us and u.created_at_us == r.created_at_us
    u2 = pricing.update(r.id, ["adjustment", "region"], fixed_price=money(100), region="")
    assert u2.WhichOneof("adjustment") == "fixed_price" and u2.region == ""
    assert_rule_line(pricing.line("up", make=mk), u2, 20000, 100, SRC.QUOTE_SOURCE_FIXED)
    u3 = pricing.update(r.id, ["adjustment"], coefficient_permille=500)
    assert u3.WhichOneof("adjustment") == "coefficient_permille" and not u3.HasField(
        "fixed_price")
    assert pricing.line("up", make=mk).price.units == 10000


def test_delete_falls_back_to_the_default(pricing, lots_db):
    mk = fresh()
    r = pricing.rule(make=mk, coefficient=3000)
    assert pricing.line(make=mk).rule_id == r.id
    h.call(pricing.stub.DeletePriceRule, apb.DeletePriceRuleRequest(rule_id=r.id),
           pricing.admin.md)
    assert pricing.line(make=mk).source == SRC.QUOTE_SOURCE_DEFAULT
    before = rules_state(lots_db)
    h.expect_error(NF, pricing.stub.DeletePriceRule, apb.DeletePriceRuleRequest(rule_id=r.id),
                   pricing.admin.md)
    h.expect_error(NF, pricing.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
        rule_id=r.id, update_mask=["priority"], rule=apb.PriceRule(priority=1)),
        pricing.admin.md)
    assert rules_state(lots_db) == before


def list_rules(pricing, service="", include_inactive=True, page_size=7):
    out, token, pages = [], "", 0
    while True:
        resp = h.call(pricing.stub.ListPriceRules, apb.ListPriceRulesRequest(
            service=service, include_inactive=include_inactive,
            page=common_pb2.PageRequest(page_size=page_size, page_token=token)),
            pricing.admin.md)
        assert len(resp.rules) <= page_size
        out.extend(resp.rules)
        token = resp.page.next_page_token
        pages += 1
        if not token:
            return out
        assert pages < 10000


def test_list_pages_by_service_then_priority_then_id(pricing):
    mk = fresh()
    made = [pricing.rule(s, make=mk, priority=p, coefficient=1000, active=a)
            for s, p, a in (("s", 5, True), ("s", 5, True), ("s", -5, True), ("re", 0, True),
                            ("s", 900, False))]
    everything = list_rules(pricing)
    keys = [(r.service, -r.priority, r.id) for r in everything]
    assert keys == sorted(keys) and len(set(r.id for r in everything)) == len(everything)
    only_s = list_rules(pricing, "s")
    assert {r.service for r in only_s} == {"s"}
    mine = [r.id for r in only_s if r.make == mk]
    assert mine == [made[4].id, made[0].id, made[1].id, made[2].id]
    active = [r.id for r in list_rules(pricing, "s", include_inactive=False) if r.make == mk]
    assert active == [made[0].id, made[1].id, made[2].id]


# ---- refused requests change nothing -------------------------------------------------------------

def bad_rule(**over):
    fields = dict(service="hot", make="Refused", coefficient_permille=1000, is_active=True)
    fields.update(over)
    return apb.PriceRule(**fields)


BAD_RULES = [
    ("unknown service", bad_rule(service="boost"), "boost"),
    ("empty service", bad_rule(service=""), "service"),
    ("no adjustment", apb.PriceRule(service="hot", make="Refused"), "adjustment"),
    ("coefficient 0", bad_rule(coefficient_permille=0), "coefficient_permille"),
    ("coefficient too big", bad_rule(coefficient_permille=100001), "coefficient_permille"),
    ("negative fixed", bad_rule(fixed_price=money(-1)), "fixed_price"),
    ("huge fixed", bad_rule(fixed_price=money(10 ** 15 + 1)), "fixed_price"),
    ("fixed currency", bad_rule(fixed_price=money(100, "GBP")), "currency"),
    ("lower-case currency", bad_rule(fixed_price=money(100, "rub")), "currency"),
    ("mixed currencies", bad_rule(fixed_price=money(100, "EUR"),
                                  min_start_price=money(1, "RUB")), "one currency"),
    ("model without make", bad_rule(make="", model="Camry"), "model needs make"),
    ("years inverted", bad_rule(year_from=2015, year_to=2010), "year_from"),
    ("year too old", bad_rule(year_from=1850), "year"),
    ("year too new", bad_rule(year_to=2500), "year"),
    ("empty price range", bad_rule(min_start_price=money(500), max_start_price=money(500)),
     "max_start_price"),
    ("negative min", bad_rule(min_start_price=money(-1)), "min_start_price"),
    ("zero max", bad_rule(max_start_price=money(0)), "max_start_price"),
    ("priority too high", bad_rule(priority=1001), "priority"),
    ("priority too low", bad_rule(priority=-1001), "priority"),
    ("negative category", bad_rule(category_id=-3), "category_id"),
    ("region too long", bad_rule(region="r" * 101), "region"),
    ("make too long", bad_rule(make="m" * 65), "make"),
    ("control characters", bad_rule(make="BM\x07W"), "make"),
    ("note too long", bad_rule(note="n" * 501), "note"),
    ("service code too long", bad_rule(service="x" * 5000), "service"),
]


@pytest.mark.parametrize("rule,field", [(r, f) for _, r, f in BAD_RULES],
                         ids=[n for n, _, _ in BAD_RULES])
def test_bad_rules_are_refused_and_change_nothing(pricing, lots_db, rule, field):
    before = rules_state(lots_db)
    h.expect_error(IA, pricing.stub.CreatePriceRule, apb.CreatePriceRuleRequest(rule=rule),
                   pricing.admin.md, field=field)
    assert rules_state(lots_db) == before


def test_missing_rule_or_category_is_not_found(pricing, lots_db):
    before = rules_state(lots_db)
    e = h.expect_error(NF, pricing.stub.CreatePriceRule, apb.CreatePriceRuleRequest(
        rule=bad_rule(category_id=10 ** 12)), pricing.admin.md)
    assert "category" in e.details()
    h.expect_error(IA, pricing.stub.CreatePriceRule, apb.CreatePriceRuleRequest(),
                   pricing.admin.md, field="rule")
    assert rules_state(lots_db) == before


def test_bad_updates_are_refused_and_change_nothing(pricing, lots_db):
    mk = fresh()
    rule = pricing.rule(make=mk, model="Golf", year_from=2000, year_to=2010, coefficient=1500)
    before = rules_state(lots_db)
    cases = [
        ([], apb.PriceRule(), "update_mask"),
        (["id"], apb.PriceRule(id=5), "id"),
        (["coefficient_permille"], apb.PriceRule(coefficient_permille=5), "adjustment"),
        (["make"], apb.PriceRule(make=""), "model needs make"),
        (["year_from"], apb.PriceRule(year_from=2011), "year_from"),
        (["adjustment"], apb.PriceRule(), "adjustment"),
        (["service"], apb.PriceRule(service="boost"), "boost"),
        (["min_start_price", "fixed_price"], apb.PriceRule(), "fixed_price"),
    ]
    for mask, new, field in cases:
        h.expect_error(IA, pricing.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
            rule_id=rule.id, update_mask=mask, rule=new), pricing.admin.md, field=field)
    h.expect_error(IA, pricing.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
        rule_id=0, update_mask=["priority"], rule=apb.PriceRule()), pricing.admin.md,
        field="rule_id")
    h.expect_error(IA, pricing.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
        rule_id=rule.id, update_mask=["priority"]), pricing.admin.md, field="rule")
    h.expect_error(NF, pricing.stub.UpdatePriceRule, apb.UpdatePriceRuleRequest(
        rule_id=rule.id, update_mask=["category_id"], rule=apb.PriceRule(category_id=10 ** 12)),
        pricing.admin.md)
    assert rules_state(lots_db) == before
    assert pricing.line(make=mk, model="golf", year=2005).rule_id == rule.id


def quote_req(services=("hot",), **attrs):
    return apb.QuoteServicesRequest(attributes=apb.LotAttributes(**attrs),
                                    services=list(services))


BAD_QUOTES = [
    ("subject missing", apb.QuoteServicesRequest(services=["hot"]), "subject"),
    ("lot_id zero", apb.QuoteServicesRequest(lot_id=0, services=["hot"]), "lot_id"),
    ("lot_id negative", apb.QuoteServicesRequest(lot_id=-4, services=["hot"]), "lot_id"),
    ("unknown service", quote_req(("hot", "teleport")), "services[1]: unknown service"),
    ("duplicate service", quote_req(("up", "hot", "up")), "listed twice"),
    ("51 services", quote_req(["hot"] * 51), "at most 50"),
    ("huge service code", quote_req(("z" * 30000,)), "unknown service"),
    ("year too old", quote_req(year=1850), "year"),
    ("year too new", quote_req(year=99999), "year"),
    ("negative category", quote_req(category_id=-1), "category_id"),
    ("zero start price", quote_req(start_price=money(0)), "start_price"),
    ("negative start price", quote_req(start_price=money(-100)), "start_price"),
    ("huge start price", quote_req(start_price=money(2 ** 62)), "start_price"),
    ("unknown currency", quote_req(start_price=money(100, "ZZZ")), "currency"),
    ("empty currency", quote_req(start_price=money(100, "")), "currency"),
    ("region too long", quote_req(region="r" * 101), "region"),
    ("model too long", quote_req(model="m" * 65), "model"),
]


@pytest.mark.parametrize("req,field", [(r, f) for _, r, f in BAD_QUOTES],
                         ids=[n for n, _, _ in BAD_QUOTES])
def test_bad_quotes_are_refused_with_a_clear_message(pricing, seller, req, field):
    h.expect_error(IA, pricing.stub.QuoteServices, req, seller.md, field=field)


def test_a_quote_over_the_request_size_limit_is_refused_before_it_is_read(pricing, seller):
    """QuoteServices takes at most 64 KiB (the runtime's default limit)."""
    h.expect_error(IA, pricing.stub.QuoteServices,
                   quote_req(("z" * 100000,)), seller.md, field="accepts at most 65536")


def test_bad_list_requests(pricing):
    for req, field in (
            (apb.ListPriceRulesRequest(service="teleport"), "teleport"),
            (apb.ListPriceRulesRequest(page=common_pb2.PageRequest(page_size=201)), "page_size"),
            (apb.ListPriceRulesRequest(page=common_pb2.PageRequest(page_size=-1)), "page_size"),
            (apb.ListPriceRulesRequest(page=common_pb2.PageRequest(page_token="nope")),
             "page_token"),
            (apb.ListPriceRulesRequest(page=common_pb2.PageRequest(page_token="hot:1:x")),
             "page_token"),
            (apb.ListPriceRulesRequest(page=common_pb2.PageRequest(page_token="hot:5000:1")),
             "page_token")):
        h.expect_error(IA, pricing.stub.ListPriceRules, req, pricing.admin.md, field=field)


# ---- concurrency -------------------------------------------------------------------------------

def test_quotes_stay_consistent_while_rules_change(pricing):
    """One writer keeps flipping three rules (coefficient <-> fixed price,
    active <-> inactive) while four clients quote: no quote fails, and every
    line is exactly what one committed version of its rule gives."""
    mk = fresh()
    services = ("hot", "up", "delivery")
    rules = {s: pricing.rule(s, make=mk, coefficient=1500) for s in services}
    ids = {r.id: s for s, r in rules.items()}
    stop = threading.Event()
    errors, seen = [], set()

    def writer():
        for i in itertools.count():
            if stop.is_set():
                return
            r = rules[services[i % 3]]
            try:
                if i % 4 == 0:
                    pricing.update(r.id, ["is_active"], is_active=(i // 4) % 2 == 1)
                elif i % 2 == 0:
                    pricing.update(r.id, ["adjustment"], fixed_price=money(777))
                else:
                    pricing.update(r.id, ["adjustment", "is_active"], coefficient_permille=2500,
                                   is_active=True)
            except grpc.RpcError as e:
                errors.append("update: %s %s" % (e.code(), e.details()))

    def quoter():
        while not stop.is_set():
            try:
                lines = pricing.quote(services, make=mk)
            except grpc.RpcError as e:
                errors.append("quote: %s %s" % (e.code(), e.details()))
                continue
            except AssertionError as e:
                errors.append("quote: %s" % e)
                continue
            for l in lines:
                base = BASE["RUB"][l.service]
                seen.add(l.source)
                if l.source == SRC.QUOTE_SOURCE_DEFAULT:
                    ok = l.rule_id == 0 and l.price.units == base
                elif l.source == SRC.QUOTE_SOURCE_FIXED:
                    ok = ids.get(l.rule_id) == l.service and l.price.units == 777
                else:
                    ok = (ids.get(l.rule_id) == l.service and l.coefficient_permille in (1500, 2500)
                          and l.price.units == ceil_permille(base, l.coefficient_permille))
                if not ok:
                    errors.append("inconsistent line: %s" % l)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=quoter)
                                                   for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(4 * h.SLOW)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert seen == {SRC.QUOTE_SOURCE_DEFAULT, SRC.QUOTE_SOURCE_FIXED,
                    SRC.QUOTE_SOURCE_COEFFICIENT}, seen
