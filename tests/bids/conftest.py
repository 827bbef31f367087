"""Fixtures for the bids system tests.

`market` drives the real bids daemon (started by tests/conftest.py after
the users daemon it reserves funds through): fresh bidders are real users
(Register + Login, then a Deposit made with a service identity), lots are
opened with OpenLot under a service token, each with a fresh random 9-digit
id. Nothing here fakes a Gavel service.
"""
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc, common_pb2, users_pb2

FUNDS = 10 ** 9          # default deposit of a fresh bidder (minor units)
START = 1000             # default start price
BANDS = ((0, 100),)      # default increment table
_ids = random.SystemRandom()
_used_lots = set()
_lots_lock = threading.Lock()


def new_lot_id():
    with _lots_lock:
        while True:
            n = _ids.randint(10 ** 8, 10 ** 9 - 1)
            if n not in _used_lots:
                _used_lots.add(n)
                return n


def now_us():
    return int(time.time() * 1e6)


class Market:
    """Bidders, lots and calls against the running bids daemon."""

    def __init__(self, bids, users_stub, wallet_stub, service_key, admin):
        self.daemon = bids
        self.stub = bids_pb2_grpc.BidsStub(bids.channel)
        self.users_stub = users_stub
        self.wallet_stub = wallet_stub
        self.service_key = service_key
        self.admin = admin

    # ---- identities -------------------------------------------------------------
    def svc_md(self):
        """A fresh service token each time (long suites outlive one)."""
        if self.service_key is None:
            return self.admin.md
        return h.bearer(h.service_token(self.service_key))

    def new_bidder(self, funds=FUNDS, role=users_pb2.ROLE_BIDDER):
        a = h.register(self.users_stub, role)
        if funds:
            h.call(self.wallet_stub.Deposit, users_pb2.DepositRequest(
                idempotency_key=h.idem(), user_id=a.id, amount=h.rub(funds)), self.svc_md())
        return a

    def new_bidders(self, n, funds=FUNDS):
        with ThreadPoolExecutor(max_workers=min(n, 8)) as ex:
            return list(ex.map(lambda _: self.new_bidder(funds), range(n)))

    # ---- lots ---------------------------------------------------------------------
    def server_now_us(self):
        return h.call(self.stub.Ping, common_pb2.PingRequest()).server_time_us

    def lot_request(self, lot_id=None, seller_id=None, currency="RUB", start=START,
                    reserve=None, buy_now=None, bands=BANDS, starts_in_s=-1.0, ends_in_s=600.0,
                    soft_close_s=0, max_extensions=0):
        now = self.server_now_us()
        req = bids_pb2.OpenLotRequest(
            lot_id=lot_id or new_lot_id(), seller_id=seller_id or _ids.randint(10 ** 6, 10 ** 7),
            currency=currency, start_price=h.rub(start, currency),
            starts_at_us=now + int(starts_in_s * 1e6), ends_at_us=now + int(ends_in_s * 1e6),
            soft_close_window_seconds=soft_close_s, max_extensions=max_extensions)
        if reserve is not None:
            req.reserve_price.CopyFrom(h.rub(reserve, currency))
        if buy_now is not None:
            req.buy_now_price.CopyFrom(h.rub(buy_now, currency))
        for frm, inc in bands:
            req.increments.add(from_amount=h.rub(frm, currency), increment=h.rub(inc, currency))
        return req

    @staticmethod
    def unused_lot_id():
        """A fresh id no test opened (so NOT_FOUND here)."""
        return new_lot_id()

    def open_lot(self, **kw):
        """Opens a lot with the defaults above overridden by kw; returns its id."""
        req = self.lot_request(**kw)
        st = h.call(self.stub.OpenLot, req, self.svc_md()).state
        assert st.lot_id == req.lot_id
        return req.lot_id

    def close(self, lot_id, cancel=False):
        return h.call(self.stub.CloseLot, bids_pb2.CloseLotRequest(lot_id=lot_id, cancel=cancel),
                      self.svc_md())

    # ---- bidding --------------------------------------------------------------------
    @staticmethod
    def place_req(lot_id, units, key=None, currency="RUB"):
        return bids_pb2.PlaceBidRequest(lot_id=lot_id, amount=h.rub(units, currency),
                                        idempotency_key=key or h.idem())

    def place(self, who, lot_id, units, key=None, currency="RUB"):
        return h.call(self.stub.PlaceBid, self.place_req(lot_id, units, key, currency), who.md)

    def autobid(self, who, lot_id, max_units, key=None):
        return h.call(self.stub.SetAutoBid, bids_pb2.SetAutoBidRequest(
            lot_id=lot_id, max_amount=h.rub(max_units), idempotency_key=key or h.idem()), who.md)

    def cancel_autobid(self, who, lot_id, key=None):
        return h.call(self.stub.CancelAutoBid, bids_pb2.CancelAutoBidRequest(
            lot_id=lot_id, idempotency_key=key or h.idem()), who.md)

    def get(self, lot_id, who=None):
        """GetLotStateResponse, as who (default: a service identity)."""
        md = who.md if who is not None else self.svc_md()
        return h.call(self.stub.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot_id), md)

    def state(self, lot_id, who=None):
        return self.get(lot_id, who).state

    def log(self, lot_id):
        """The lot's bid log, after checking its hash chain."""
        bids = h.list_lot_bids(self.stub, lot_id, self.svc_md())
        h.verify_chain(bids, lot_id)
        return bids

    @staticmethod
    def outcome(fn):
        """(code, details, response) of fn(): OK or the status it raised."""
        try:
            return grpc.StatusCode.OK, "", fn()
        except grpc.RpcError as e:
            return e.code(), e.details(), None

    def tail(self, kafka_bootstrap):
        """A TopicTail on gavel.bids, from now on. A bid on a throw-away lot
        first makes sure the topic exists (the relay creates it on first use)."""
        warm = self.open_lot()
        self.place(self.new_bidder(), warm, START)
        return h.TopicTail(kafka_bootstrap, "gavel.bids")

    # ---- money ----------------------------------------------------------------------
    def balance(self, who):
        b = h.call(self.wallet_stub.GetBalance, users_pb2.GetBalanceRequest(), who.md).balance
        return h.balance_tuple(b)

    def reserved(self, who):
        return self.balance(who)[1]

    def wait_reserved(self, expected, timeout=15):
        """Polls GetBalance until every account's reserved units equal
        expected[account]; fails naming the ones that never got there."""
        accounts = list(expected)
        deadline = time.monotonic() + timeout * h.SLOW
        while True:
            wrong = {}
            for a in accounts:
                got = self.reserved(a)
                if got != expected[a]:
                    wrong[a.id] = (got, expected[a])
            if not wrong:
                return
            if time.monotonic() > deadline:
                raise AssertionError("after %.0fs, reserved (got, want) by user: %s"
                                     % (timeout * h.SLOW, wrong))
            time.sleep(0.2)

    def wait_until_past(self, ends_at_us, slack_s=0.05):
        """Sleeps until the server's clock is past ends_at_us."""
        while True:
            left = (ends_at_us - self.server_now_us()) / 1e6
            if left < -slack_s:
                return
            time.sleep(max(left + slack_s * 2, 0.02))


@pytest.fixture(scope="session")
def market(bids, users, users_stub, wallet_stub, admin):
    key = users.env["GAVEL_SERVICE_KEY"] if h.HAVE_CRYPTOGRAPHY else None
    return Market(bids, users_stub, wallet_stub, key, admin)


@pytest.fixture
def trio(market):
    """Three fresh funded bidders."""
    return market.new_bidders(3)
