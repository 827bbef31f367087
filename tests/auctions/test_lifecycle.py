"""Lots and their lifecycle, through the real auctions daemon: who may do
what in which state, every transition recorded with actor and time, the
reserve hidden from bidders, idempotent creation, field checks that change
nothing, and the category tree."""
import threading

import grpc
import pytest

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb

from auction_house import complete_lot, now_us, rub

IA = grpc.StatusCode.INVALID_ARGUMENT
FP = grpc.StatusCode.FAILED_PRECONDITION
NF = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
S = apb.LotState


@pytest.fixture(scope="module")
def seller2(house):
    return house.new_seller()


def count_lots(db):
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM lots")
        return cur.fetchone()[0]


def lot_in_state(house, seller, category, state):
    """A fresh lot of seller's brought to state through the real RPCs."""
    if state == S.LOT_STATE_DRAFT:
        return house.create(seller, complete_lot(category.id))
    lot = house.create(seller, complete_lot(category.id))
    house.submit(seller, lot.id)
    if state == S.LOT_STATE_IN_REVIEW:
        return house.get(lot.id, seller)
    if state == S.LOT_STATE_REJECTED:
        return h.call(house.stub.ModerateLot, apb.ModerateLotRequest(
            lot_id=lot.id, decision=apb.MODERATION_DECISION_REJECT, reason="Photos blurred"),
            house.moderator.md).lot
    house.approve(lot.id)
    if state == S.LOT_STATE_APPROVED:
        return house.get(lot.id, seller)
    house.schedule(seller, lot.id, now_us() + 3600 * 10 ** 6)
    if state == S.LOT_STATE_SCHEDULED:
        return house.get(lot.id, seller)
    assert state == S.LOT_STATE_CANCELLED
    return h.call(house.stub.CancelLot, apb.CancelLotRequest(lot_id=lot.id, reason="Withdrawn"),
                  house.admin.md).lot


# ---- the transition matrix ---------------------------------------------------------------

STATES = [S.LOT_STATE_DRAFT, S.LOT_STATE_IN_REVIEW, S.LOT_STATE_APPROVED, S.LOT_STATE_REJECTED,
          S.LOT_STATE_SCHEDULED, S.LOT_STATE_CANCELLED]

# operation -> the states it may start from (everything else: FAILED_PRECONDITION
# with the current state named in the message)
ALLOWED = {
    "update": {S.LOT_STATE_DRAFT, S.LOT_STATE_REJECTED},
    "submit": {S.LOT_STATE_DRAFT, S.LOT_STATE_REJECTED},
    "approve": {S.LOT_STATE_IN_REVIEW},
    "schedule": {S.LOT_STATE_APPROVED, S.LOT_STATE_SCHEDULED},
    "cancel": {S.LOT_STATE_DRAFT, S.LOT_STATE_IN_REVIEW, S.LOT_STATE_APPROVED,
               S.LOT_STATE_REJECTED, S.LOT_STATE_SCHEDULED},
}
RESULT = {"update": None, "submit": S.LOT_STATE_IN_REVIEW, "approve": S.LOT_STATE_APPROVED,
          "schedule": S.LOT_STATE_SCHEDULED, "cancel": S.LOT_STATE_CANCELLED}


def run_op(house, seller, op, lot):
    if op == "update":
        return h.call(house.stub.UpdateLot, apb.UpdateLotRequest(
            lot_id=lot.id, update_mask=["mileage_km"], lot=apb.Lot(mileage_km=65000)),
            seller.md).lot
    if op == "submit":
        return house.submit(seller, lot.id)
    if op == "approve":
        return house.approve(lot.id)
    if op == "schedule":
        return house.schedule(seller, lot.id, now_us() + 7200 * 10 ** 6)
    return h.call(house.stub.CancelLot, apb.CancelLotRequest(lot_id=lot.id, reason="Test"),
                  house.admin.md).lot


@pytest.mark.parametrize("op", sorted(ALLOWED))
@pytest.mark.parametrize("state", STATES, ids=[S.Name(s) for s in STATES])
def test_transition_matrix(house, seller, category, op, state):
    lot = lot_in_state(house, seller, category, state)
    assert lot.state == state
    before = house.history(lot.id, house.admin)
    if state in ALLOWED[op]:
        out = run_op(house, seller, op, lot)
        want = RESULT[op] or state
        assert out.state == want
        after = house.history(lot.id, house.admin)
        if RESULT[op] is not None:
            assert len(after) == len(before) + 1
            t = after[-1]
            assert (t.from_state, t.to_state) == (state, want)
            assert t.at_us >= before[-1].at_us and t.actor_role in ("seller", "moderator", "admin")
    else:
        with pytest.raises(grpc.RpcError) as e:
            run_op(house, seller, op, lot)
        assert e.value.code() == FP, e.value.details()
        assert S.Name(state).replace("LOT_STATE_", "") in e.value.details()
        assert house.get(lot.id, house.admin) == lot
        assert house.history(lot.id, house.admin) == before


# ---- who may act -----------------------------------------------------------------------------

def test_roles_that_may_not_create_lots(house, bidder, moderator, category):
    for who in (bidder, moderator):
        h.expect_error(DENIED, house.stub.CreateLot,
                       apb.CreateLotRequest(lot=complete_lot(category.id)), who.md)


def test_admin_creates_a_lot_for_a_seller_and_must_name_them(house, admin, seller, category):
    h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(
        lot=complete_lot(category.id)), admin.md, field="seller_id")
    lot = h.call(house.stub.CreateLot, apb.CreateLotRequest(
        lot=complete_lot(category.id, seller_id=seller.id)), admin.md).lot
    assert lot.seller_id == seller.id and lot.state == S.LOT_STATE_DRAFT
    t = house.history(lot.id, seller)
    assert [(x.to_state, x.actor_id, x.actor_role) for x in t] == [
        (S.LOT_STATE_DRAFT, admin.id, "admin")]


@pytest.mark.parametrize("who", ["bidder", "moderator", "admin"])
def test_admin_create_lot_refuses_a_seller_id_that_is_not_a_seller(
        house, admin, bidder, moderator, category, lots_db, who):
    not_seller = {"bidder": bidder, "moderator": moderator, "admin": admin}[who]
    before = count_lots(lots_db)
    e = h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(
        lot=complete_lot(category.id, seller_id=not_seller.id)), admin.md, field="seller_id")
    assert "not a seller" in e.details() and str(not_seller.id) in e.details()
    assert count_lots(lots_db) == before


def test_admin_create_lot_refuses_a_seller_id_of_no_user(house, admin, category, lots_db):
    before = count_lots(lots_db)
    nobody = 9 * 10 ** 15 + now_us() % 10 ** 6
    e = h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(
        idempotency_key=h.idem(), lot=complete_lot(category.id, seller_id=nobody)), admin.md,
        field="seller_id")
    assert "no such user" in e.details() and str(nobody) in e.details()
    assert count_lots(lots_db) == before


def test_admin_create_lot_while_users_is_down_is_unavailable_and_writes_nothing(
        house, admin, seller, category, lots_db, users):
    before = count_lots(lots_db)
    users.stop()
    try:
        h.expect_error(grpc.StatusCode.UNAVAILABLE, house.stub.CreateLot, apb.CreateLotRequest(
            lot=complete_lot(category.id, seller_id=seller.id)), admin.md, field="seller_id",
            timeout=20 * h.SLOW)
        assert count_lots(lots_db) == before
        # A seller's own lot needs no question to the users service.
        assert house.create(seller, complete_lot(category.id)).seller_id == seller.id
    finally:
        users.start()


def test_a_seller_sets_no_other_seller_id(house, seller, seller2, category):
    lot = house.create(seller, complete_lot(category.id, seller_id=seller2.id))
    assert lot.seller_id == seller.id


def test_another_seller_neither_sees_nor_changes_a_draft(house, seller, seller2, bidder,
                                                         category):
    lot = house.create(seller, complete_lot(category.id))
    for who in (seller2, bidder):
        h.expect_error(NF, house.stub.GetLot, apb.GetLotRequest(lot_id=lot.id), who.md)
    h.expect_error(NF, house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=["title"], lot=apb.Lot(title="Mine now")), seller2.md)
    h.expect_error(NF, house.stub.SubmitLot, apb.SubmitLotRequest(lot_id=lot.id), seller2.md)
    h.expect_error(NF, house.stub.GetLotHistory, apb.GetLotHistoryRequest(lot_id=lot.id),
                   seller2.md)
    h.expect_error(DENIED, house.stub.GetLotHistory, apb.GetLotHistoryRequest(lot_id=lot.id),
                   bidder.md)
    assert house.get(lot.id, seller) == lot


def test_only_moderators_and_admins_moderate(house, seller, bidder, admin, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_IN_REVIEW)
    for who in (seller, bidder):
        h.expect_error(DENIED, house.stub.ModerateLot, apb.ModerateLotRequest(
            lot_id=lot.id, decision=apb.MODERATION_DECISION_APPROVE), who.md)
    out = h.call(house.stub.ModerateLot, apb.ModerateLotRequest(
        lot_id=lot.id, decision=apb.MODERATION_DECISION_APPROVE), admin.md).lot
    assert out.state == S.LOT_STATE_APPROVED


def test_rejection_needs_a_reason_and_the_seller_may_fix_and_resubmit(house, seller, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_IN_REVIEW)
    h.expect_error(IA, house.stub.ModerateLot, apb.ModerateLotRequest(
        lot_id=lot.id, decision=apb.MODERATION_DECISION_REJECT), house.moderator.md,
        field="reason")
    h.expect_error(IA, house.stub.ModerateLot, apb.ModerateLotRequest(lot_id=lot.id),
                   house.moderator.md, field="decision")
    rej = h.call(house.stub.ModerateLot, apb.ModerateLotRequest(
        lot_id=lot.id, decision=apb.MODERATION_DECISION_REJECT, reason="VIN does not match"),
        house.moderator.md).lot
    assert rej.state == S.LOT_STATE_REJECTED and rej.rejection_reason == "VIN does not match"
    fixed = h.call(house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=["vin"], lot=apb.Lot(vin="jtnb11hk0k3054321")),
        seller.md).lot
    assert fixed.vin == "JTNB11HK0K3054321"
    again = house.submit(seller, lot.id)
    assert again.state == S.LOT_STATE_IN_REVIEW and again.rejection_reason == ""
    hist = house.history(lot.id, house.moderator)
    assert [t.to_state for t in hist] == [S.LOT_STATE_DRAFT, S.LOT_STATE_IN_REVIEW,
                                          S.LOT_STATE_REJECTED, S.LOT_STATE_IN_REVIEW]
    assert hist[2].reason == "VIN does not match" and hist[2].actor_role == "moderator"
    assert hist[2].actor_id == house.moderator.id


def test_submit_names_the_missing_field(house, seller, category):
    lot = house.create(seller, apb.Lot(title="Just a title", category_id=category.id))
    e = h.expect_error(FP, house.stub.SubmitLot, apb.SubmitLotRequest(lot_id=lot.id), seller.md)
    assert "make" in e.details()
    assert house.get(lot.id, seller).state == S.LOT_STATE_DRAFT


def test_admins_may_not_submit_for_a_seller(house, admin, seller, category):
    lot = house.create(seller, complete_lot(category.id))
    h.expect_error(DENIED, house.stub.SubmitLot, apb.SubmitLotRequest(lot_id=lot.id), admin.md)


def test_a_seller_cancels_only_before_scheduling(house, seller, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_SCHEDULED)
    h.expect_error(DENIED, house.stub.CancelLot, apb.CancelLotRequest(
        lot_id=lot.id, reason="Sold elsewhere"), seller.md)
    assert house.get(lot.id, seller).state == S.LOT_STATE_SCHEDULED
    draft = house.create(seller, complete_lot(category.id))
    h.expect_error(IA, house.stub.CancelLot, apb.CancelLotRequest(lot_id=draft.id), seller.md,
                   field="reason")
    out = h.call(house.stub.CancelLot, apb.CancelLotRequest(
        lot_id=draft.id, reason="Sold elsewhere"), seller.md).lot
    assert out.state == S.LOT_STATE_CANCELLED
    assert house.history(draft.id, seller)[-1].reason == "Sold elsewhere"


# ---- scheduling rules ----------------------------------------------------------------------

def test_schedule_defaults_to_thirty_minutes_and_checks_times(house, seller, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_APPROVED)
    start = now_us() + 3600 * 10 ** 6
    h.expect_error(IA, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=now_us() - 10 ** 6), seller.md, field="starts_at_us")
    h.expect_error(IA, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=now_us() + 400 * 86400 * 10 ** 6), seller.md)
    h.expect_error(IA, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=start, ends_at_us=start + 10), seller.md, field="ends_at_us")
    h.expect_error(IA, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=start, ends_at_us=start + 31 * 86400 * 10 ** 6), seller.md)
    h.expect_error(NF, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=start, session_id=2 ** 60), seller.md, field="session")
    assert house.get(lot.id, seller).state == S.LOT_STATE_APPROVED
    out = house.schedule(seller, lot.id, start)
    assert out.state == S.LOT_STATE_SCHEDULED and out.session_id > 0
    assert (out.starts_at_us, out.ends_at_us) == (start, start + 30 * 60 * 10 ** 6)
    # a second lot joins the first one's session; the first moves later
    other = lot_in_state(house, seller, category, S.LOT_STATE_APPROVED)
    joined = house.schedule(seller, other.id, start, session_id=out.session_id)
    assert joined.session_id == out.session_id
    moved = house.schedule(seller, lot.id, start + 60 * 10 ** 6, start + 120 * 10 ** 6,
                           session_id=out.session_id)
    assert (moved.starts_at_us, moved.ends_at_us) == (start + 60 * 10 ** 6, start + 120 * 10 ** 6)


def test_a_moderator_may_schedule_what_they_approved(house, seller, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_APPROVED)
    start = now_us() + 3600 * 10 ** 6
    out = h.call(house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=start, ends_at_us=start + 600 * 10 ** 6), house.moderator.md).lot
    assert out.state == S.LOT_STATE_SCHEDULED and out.starts_at_us == start


def test_bidders_may_not_schedule(house, seller, bidder, category):
    lot = lot_in_state(house, seller, category, S.LOT_STATE_APPROVED)
    h.expect_error(DENIED, house.stub.ScheduleLot, apb.ScheduleLotRequest(
        lot_id=lot.id, starts_at_us=now_us() + 3600 * 10 ** 6), bidder.md)


# ---- visibility ------------------------------------------------------------------------------

def test_bidders_see_scheduled_lots_without_the_reserve(house, seller, bidder, category):
    lot = house.create(seller, complete_lot(category.id, reserve_price=rub(150000000)))
    assert lot.reserve_price.units == 150000000 and lot.has_reserve
    h.expect_error(NF, house.stub.GetLot, apb.GetLotRequest(lot_id=lot.id), bidder.md)
    house.submit(seller, lot.id)
    house.approve(lot.id)
    house.schedule(seller, lot.id, now_us() + 3600 * 10 ** 6)
    seen = house.get(lot.id, bidder)
    assert seen.has_reserve and not seen.HasField("reserve_price")
    assert house.get(lot.id, seller).reserve_price.units == 150000000
    assert house.get(lot.id, house.moderator).reserve_price.units == 150000000


def test_unknown_lot_is_not_found(house, admin):
    for lot_id in (0, -1, 2 ** 62):
        h.expect_error(NF, house.stub.GetLot, apb.GetLotRequest(lot_id=lot_id), admin.md)


# ---- UpdateLot -------------------------------------------------------------------------------

def test_update_changes_only_the_masked_fields(house, seller, category):
    lot = house.create(seller, complete_lot(category.id))
    out = h.call(house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=["title", "photo_urls"],
        lot=apb.Lot(title="Camry, new tyres", model="Corolla",
                    photo_urls=["https://img.gavel.test/a.jpg", "https://img.gavel.test/b.jpg"])),
        seller.md).lot
    assert out.title == "Camry, new tyres" and out.model == "Camry"
    assert list(out.photo_urls) == ["https://img.gavel.test/a.jpg", "https://img.gavel.test/b.jpg"]
    assert out.updated_at_us > lot.updated_at_us


def test_update_with_a_stale_token_is_aborted_and_changes_nothing(house, seller, category):
    lot = house.create(seller, complete_lot(category.id))
    fresh = h.call(house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=["title"], lot=apb.Lot(title="First"),
        expected_updated_at_us=lot.updated_at_us), seller.md).lot
    h.expect_error(grpc.StatusCode.ABORTED, house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=["title"], lot=apb.Lot(title="Second"),
        expected_updated_at_us=lot.updated_at_us), seller.md)
    assert house.get(lot.id, seller) == fresh


@pytest.mark.parametrize("mask", [[], ["id"], ["state"], ["seller_id"], ["nope"], [""]])
def test_update_mask_must_name_editable_fields(house, seller, category, mask):
    lot = house.create(seller, complete_lot(category.id))
    h.expect_error(IA, house.stub.UpdateLot, apb.UpdateLotRequest(
        lot_id=lot.id, update_mask=mask, lot=apb.Lot(title="x")), seller.md)
    assert house.get(lot.id, seller) == lot


def test_concurrent_updates_with_the_same_token_let_exactly_one_win(house, seller, category):
    lot = house.create(seller, complete_lot(category.id))
    codes = []

    def go(i):
        try:
            h.call(house.stub.UpdateLot, apb.UpdateLotRequest(
                lot_id=lot.id, update_mask=["title"], lot=apb.Lot(title="Writer %d" % i),
                expected_updated_at_us=lot.updated_at_us), seller.md)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    ts = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(c.name for c in codes) == ["ABORTED"] * 7 + ["OK"]


# ---- bad input changes nothing ---------------------------------------------------------------

BAD = [
    ("vin", dict(vin="JTNB11HK0K301234O")),           # O is not a VIN character
    ("vin", dict(vin="SHORT")),
    ("year", dict(year=1850)),
    ("year", dict(year=2999)),
    ("mileage_km", dict(mileage_km=-1)),
    ("title", dict(title="x" * 201)),
    ("title", dict(title="tab\there")),
    ("description", dict(description="d" * 20001)),
    ("photo_urls", dict(photo_urls=["http://plain.test/a.jpg"])),
    ("photo_urls", dict(photo_urls=["https://img.test/%d.jpg" % i for i in range(51)])),
    ("buy_now_price", dict(buy_now_price=rub(100))),
    ("reserve_price", dict(reserve_price=rub(5))),
    ("start_price", dict(start_price=rub(0))),
    ("start_price", dict(start_price=rub(10 ** 16))),
    ("soft_close_window_seconds", dict(soft_close_window_seconds=3601)),
    ("max_extensions", dict(max_extensions=1001)),
]


@pytest.mark.parametrize("field,over", BAD, ids=["%s-%d" % (b[0], i) for i, b in enumerate(BAD)])
def test_bad_lot_fields_are_named_and_nothing_is_created(house, seller, category, lots_db,
                                                         field, over):
    before = count_lots(lots_db)
    h.expect_error(IA, house.stub.CreateLot,
                   apb.CreateLotRequest(lot=complete_lot(category.id, **over)), seller.md,
                   field=field)
    assert count_lots(lots_db) == before


def test_prices_in_two_currencies_are_refused(house, seller, category, lots_db):
    from gavel_harness import common_pb2
    before = count_lots(lots_db)
    h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(lot=complete_lot(
        category.id, buy_now_price=common_pb2.Money(currency="EUR", units=10 ** 9))),
        seller.md, field="currency")
    assert count_lots(lots_db) == before


def test_bad_increment_tables_and_condition_reports(house, seller, category, lots_db):
    before = count_lots(lots_db)
    cases = [
        ("increments", [apb.IncrementBand(from_amount=rub(100), increment=rub(10))]),
        ("increments", [apb.IncrementBand(from_amount=rub(0), increment=rub(10)),
                        apb.IncrementBand(from_amount=rub(0), increment=rub(20))]),
        ("increment", [apb.IncrementBand(from_amount=rub(0), increment=rub(0))]),
    ]
    for field, bands in cases:
        h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(lot=complete_lot(
            category.id, increments=bands)), seller.md, field=field)
    bad_reports = [
        ("damages", apb.ConditionReport(damages=[apb.DamagePoint(
            location="hood", kind=apb.DAMAGE_KIND_DENT)])),
        ("location", apb.ConditionReport(damages=[apb.DamagePoint(
            location="Hood; DROP TABLE lots", kind=apb.DAMAGE_KIND_DENT,
            severity=apb.DAMAGE_SEVERITY_MINOR)])),
        ("damages", apb.ConditionReport(damages=[apb.DamagePoint(
            location="hood", kind=apb.DAMAGE_KIND_DENT, severity=apb.DAMAGE_SEVERITY_MINOR)] * 201)),
        ("tyres", apb.ConditionReport(tyres=[apb.TyreReport(position=apb.TYRE_POSITION_SPARE)] * 2)),
        ("tread", apb.ConditionReport(tyres=[apb.TyreReport(
            position=apb.TYRE_POSITION_FRONT_LEFT, tread_depth_tenths_mm=301)])),
        ("inspected_at_us", apb.ConditionReport(inspected_at_us=now_us() + 86400 * 10 ** 6)),
    ]
    for field, report in bad_reports:
        h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(lot=complete_lot(
            category.id, condition=report)), seller.md, field=field)
    h.expect_error(NF, house.stub.CreateLot, apb.CreateLotRequest(
        lot=complete_lot(2 ** 60)), seller.md, field="category")
    assert count_lots(lots_db) == before


def test_a_full_condition_report_round_trips(house, seller, category):
    report = apb.ConditionReport(
        damages=[apb.DamagePoint(location="front_bumper", kind=apb.DAMAGE_KIND_SCRATCH,
                                 severity=apb.DAMAGE_SEVERITY_MINOR, note="12 cm")],
        tyres=[apb.TyreReport(position=apb.TYRE_POSITION_FRONT_LEFT, tread_depth_tenths_mm=65,
                              brand="Nokian", season=apb.TYRE_SEASON_WINTER,
                              manufactured_year=2022)],
        documents=[apb.DocumentCheck(kind=apb.DOCUMENT_KIND_VEHICLE_PASSPORT, is_present=True)],
        inspection_notes="Engine dry.\nGearbox smooth.", inspector_name="I. Petrov",
        inspected_at_us=now_us() - 86400 * 10 ** 6)
    bands = [apb.IncrementBand(from_amount=rub(0), increment=rub(50000)),
             apb.IncrementBand(from_amount=rub(50000000), increment=rub(100000))]
    lot = house.create(seller, complete_lot(category.id, condition=report, increments=bands))
    got = house.get(lot.id, seller)
    assert got.condition == report and list(got.increments) == bands


# ---- idempotent creation -------------------------------------------------------------------

def test_create_with_a_key_returns_the_first_lot_and_refuses_a_different_one(house, seller,
                                                                           category):
    key = h.idem()
    a = house.create(seller, complete_lot(category.id), key)
    b = house.create(seller, complete_lot(category.id), key)
    assert a == b
    h.expect_error(FP, house.stub.CreateLot, apb.CreateLotRequest(
        idempotency_key=key, lot=complete_lot(category.id, title="Another car")), seller.md)


def test_concurrent_creates_with_one_key_make_one_lot(house, seller, category, lots_db):
    key = h.idem()
    before = count_lots(lots_db)
    ids = []

    def go():
        ids.append(house.create(seller, complete_lot(category.id), key).id)
    ts = [threading.Thread(target=go) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert count_lots(lots_db) == before + 1


def test_bad_idempotency_keys(house, seller, category):
    for key in ("x" * 129, "with space", "ключ"):
        h.expect_error(IA, house.stub.CreateLot, apb.CreateLotRequest(
            idempotency_key=key, lot=complete_lot(category.id)), seller.md,
            field="idempotency_key")


def test_calls_without_a_token_are_unauthenticated(house, category):
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, house.stub.CreateLot,
                   apb.CreateLotRequest(lot=complete_lot(category.id)))
    h.expect_error(grpc.StatusCode.UNAUTHENTICATED, house.stub.GetLot, apb.GetLotRequest(lot_id=1))


# ---- categories ------------------------------------------------------------------------------

def test_category_tree_is_listed_depth_first_by_sort_order(house, admin, bidder):
    root = house.category(name="Trucks %d" % now_us())
    b = h.call(house.stub.CreateCategory, apb.CreateCategoryRequest(
        parent_id=root.id, name="Heavy", slug="heavy-%d" % now_us(), sort_order=2),
        admin.md).category
    a = h.call(house.stub.CreateCategory, apb.CreateCategoryRequest(
        parent_id=root.id, name="Light", slug="light-%d" % now_us(), sort_order=1),
        admin.md).category
    a1 = h.call(house.stub.CreateCategory, apb.CreateCategoryRequest(
        parent_id=a.id, name="Vans", slug="vans-%d" % now_us()), admin.md).category
    got = h.call(house.stub.ListCategories, apb.ListCategoriesRequest(root_id=root.id),
                 bidder.md).categories
    assert [(c.id, c.depth) for c in got] == [(root.id, 0), (a.id, 1), (a1.id, 2), (b.id, 1)]
    whole = h.call(house.stub.ListCategories, apb.ListCategoriesRequest(), bidder.md).categories
    ids = [c.id for c in whole]
    assert ids.index(root.id) < ids.index(a.id) < ids.index(a1.id) < ids.index(b.id)


def test_category_rules(house, admin, seller):
    root = house.category()
    h.expect_error(grpc.StatusCode.ALREADY_EXISTS, house.stub.CreateCategory,
                   apb.CreateCategoryRequest(name="Other", slug=root.slug), admin.md)
    h.expect_error(grpc.StatusCode.ALREADY_EXISTS, house.stub.CreateCategory,
                   apb.CreateCategoryRequest(name=root.name.upper(), slug="x-%d" % now_us()),
                   admin.md)
    h.expect_error(NF, house.stub.CreateCategory, apb.CreateCategoryRequest(
        parent_id=2 ** 60, name="Orphan", slug="orphan-%d" % now_us()), admin.md)
    for slug in ("Upper", "with space", "", "x" * 65):
        h.expect_error(IA, house.stub.CreateCategory, apb.CreateCategoryRequest(
            name="Bad slug", slug=slug), admin.md, field="slug")
    h.expect_error(DENIED, house.stub.CreateCategory, apb.CreateCategoryRequest(
        name="Mine", slug="mine-%d" % now_us()), seller.md)
    parent = root
    for depth in range(1, 7):
        parent = house.category(parent_id=parent.id)
        assert parent.depth == depth
    h.expect_error(IA, house.stub.CreateCategory, apb.CreateCategoryRequest(
        parent_id=parent.id, name="Too deep", slug="deep-%d" % now_us()), admin.md)
    h.expect_error(NF, house.stub.ListCategories, apb.ListCategoriesRequest(root_id=2 ** 60),
                   admin.md)


# ---- events -----------------------------------------------------------------------------------

def test_transitions_are_published_in_order(house, seller, category, kafka_bootstrap):
    from gavel_harness import events_pb2
    house.create(seller, complete_lot(category.id))  # the topic exists from here on
    tail = h.TopicTail(kafka_bootstrap, "gavel.auctions")
    try:
        lot = lot_in_state(house, seller, category, S.LOT_STATE_APPROVED)
        key = str(lot.id).encode()

        def changes(t):
            out = [events_pb2.LotStateChanged.FromString(e.payload)
                   for _, e in t.envelopes("gavel.auctions", key) if e.type == "lot.state_changed"]
            return out if len(out) >= 3 else None
        got = tail.wait_for(changes, what="three lot.state_changed of lot %d" % lot.id)
        assert [(c.from_state, c.to_state) for c in got] == [
            ("", "draft"), ("draft", "in_review"), ("in_review", "approved")]
        assert got[2].actor_id == house.moderator.id
        ups = [events_pb2.LotUpserted.FromString(e.payload)
               for _, e in tail.envelopes("gavel.auctions", key) if e.type == "lot.upserted"]
        assert [u.state for u in ups][-1] == "approved" and not any(u.state == "draft" for u in ups)
        assert all(u.has_reserve is False and u.title == lot.title for u in ups)
    finally:
        tail.close()
