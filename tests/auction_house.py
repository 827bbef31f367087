"""Helpers of the auctions system tests (tests/auctions/): a complete lot,
money, and `House`, the calls the tests repeat against the real auctions
daemon. Kept out of conftest.py so test modules can import them."""
import itertools
import time

import gavel_harness as h
from gavel_harness import auctions_pb2 as apb, auctions_pb2_grpc, common_pb2, users_pb2

_slugs = itertools.count(1)


def rub(units):
    return common_pb2.Money(currency="RUB", units=units)


def now_us():
    return int(time.time() * 1e6)


def complete_lot(category_id, **over):
    """A lot with everything SubmitLot needs."""
    fields = dict(title="Toyota Camry 2.5 XLE", description="One owner, dealer serviced.",
                  make="Toyota", model="Camry", year=2019, mileage_km=64000,
                  vin="JTNB11HK0K3012345", region="Moscow", city_id=671,
                  category_id=category_id, photo_urls=["https://img.gavel.test/1.jpg"],
                  start_price=rub(100000000), soft_close_window_seconds=0, max_extensions=0)
    fields.update(over)
    return apb.Lot(**fields)


class House:
    """Calls against the running auctions daemon."""

    def __init__(self, daemon, admin, moderator, users_stub):
        self.daemon = daemon
        self.stub = auctions_pb2_grpc.AuctionsStub(daemon.channel)
        self.admin = admin
        self.moderator = moderator
        self.users_stub = users_stub

    def new_seller(self):
        return h.register(self.users_stub, users_pb2.ROLE_SELLER)

    def category(self, parent_id=0, name=None):
        n = next(_slugs)
        return h.call(self.stub.CreateCategory, apb.CreateCategoryRequest(
            parent_id=parent_id, name=name or "Category %d %d" % (n, now_us()),
            slug="cat-%d-%d" % (n, now_us())), self.admin.md).category

    def create(self, seller, lot, key=""):
        return h.call(self.stub.CreateLot, apb.CreateLotRequest(idempotency_key=key, lot=lot),
                      seller.md).lot

    def get(self, lot_id, who):
        return h.call(self.stub.GetLot, apb.GetLotRequest(lot_id=lot_id), who.md).lot

    def submit(self, seller, lot_id):
        return h.call(self.stub.SubmitLot, apb.SubmitLotRequest(lot_id=lot_id), seller.md).lot

    def approve(self, lot_id):
        return h.call(self.stub.ModerateLot, apb.ModerateLotRequest(
            lot_id=lot_id, decision=apb.MODERATION_DECISION_APPROVE), self.moderator.md).lot

    def approved(self, seller, category_id, **over):
        lot = self.create(seller, complete_lot(category_id, **over))
        self.submit(seller, lot.id)
        return self.approve(lot.id)

    def schedule(self, who, lot_id, starts_at_us, ends_at_us=0, session_id=0):
        return h.call(self.stub.ScheduleLot, apb.ScheduleLotRequest(
            lot_id=lot_id, starts_at_us=starts_at_us, ends_at_us=ends_at_us,
            session_id=session_id), who.md).lot

    def history(self, lot_id, who):
        return list(h.call(self.stub.GetLotHistory, apb.GetLotHistoryRequest(lot_id=lot_id),
                           who.md).transitions)

    def wait_state(self, lot_id, state, timeout=10):
        return h.wait_until(lambda: (lambda l: l if l.state == state else None)(
            self.get(lot_id, self.admin)), timeout, interval=0.05,
            what="lot %d in state %s" % (lot_id, apb.LotState.Name(state)))
