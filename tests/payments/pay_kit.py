"""Helpers of the payments system tests: the card provider simulator
(deploy/dev/provider_sim.py, the one fake: it stands for a system outside
Gavel), direct reads of gavel_payments, and auction.closed events put on
gavel.auctions as the auctions daemon writes them, for lots with real
wallet holds.

Payments asks the real auctions daemon for a sold lot's fees
(QuoteServices), so every sold lot these events close must be known there
with its hammer price. Running each through a whole auction (lot,
moderation, schedule, bids) would take seconds a lot, and the randomized
run and the benchmark close hundreds; instead `Closer.publish` first
records the lot in gavel_auctions as the auctions daemon records a lot it
closed (state closed, the winner, the hammer price, the winning hold),
exactly as the event says, then publishes the event. The auctions daemon
then answers for that lot as for any other it closed. test_end_to_end.py
and test_fees.py's price-rule test close real auctions end to end."""
import itertools
import json
import os
import secrets
import subprocess
import time
import urllib.request
import uuid

import psycopg2

import gavel_harness as h
from gavel_harness import events_pb2, users_pb2

h._build_py_path(h.build_dir())
from gavel.payments.v1 import payments_pb2, payments_pb2_grpc  # noqa: E402,F401  (re-exported)

__all__ = ["payments_pb2", "payments_pb2_grpc"]

SIM = os.path.join(h.ROOT, "deploy", "dev", "provider_sim.py")

# Short enough that retries, leases of a dead worker and the ledger check
# play out in seconds (production: 30 s leases, 0.5 s .. 60 s retries).
PAYMENTS_TEST_ENV = {
    "GAVEL_PAYMENTS_LEASE_MS": "1500",
    "GAVEL_PAYMENTS_RETRY_BASE_MS": "100",
    "GAVEL_PAYMENTS_RETRY_MAX_MS": "1000",
    "GAVEL_PAYMENTS_POLL_MS": "100",
    "GAVEL_PAYMENTS_LEDGER_CHECK_MS": "300",
    "GAVEL_PAYMENTS_PROVIDER_TIMEOUT_MS": "2000",
    "GAVEL_PAYMENTS_PROVIDER_BUDGET_MS": "4000",
    # a killed daemon's consumer leaves the group this soon (production: 10 s)
    "GAVEL_KAFKA_SESSION_TIMEOUT_MS": "3000",
}


class Simulator:
    """provider_sim.py on a free port with its own key and webhook secret."""

    def __init__(self, log_path):
        self.port = h.free_port()
        self.key = "sk_test_" + secrets.token_hex(8)
        self.secret = "whsec_" + secrets.token_hex(16)
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, GAVEL_PROVIDER_API_KEY=self.key,
                   GAVEL_PROVIDER_WEBHOOK_SECRET=self.secret)
        env.pop("GAVEL_PROVIDER_WEBHOOK_URL", None)
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(["/usr/bin/python3", SIM, "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        h.wait_until(lambda: h.port_open("127.0.0.1:%d" % self.port), 15,
                     what="the provider simulator listening")

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": "Bearer " + self.key, "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def faults(self, spec):
        return self.request("POST", "/_control/faults", spec)

    def state(self):
        return self.request("GET", "/_control/state")

    def sign(self, body, t=None):
        req = {"body": body.decode()}
        if t is not None:
            req["t"] = t
        return self.request("POST", "/_control/sign", req)["signature"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class PayDb:
    """Read-only looks into gavel_payments."""

    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def rows(self, sql, *args):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def one(self, sql, *args):
        r = self.rows(sql, *args)
        return r[0] if r else None

    def settlement(self, lot_id):
        return self.one("SELECT step, payment_id, attempts, last_error FROM settlements "
                        "WHERE lot_id = %s", lot_id)

    def wait_step(self, lot_id, step, timeout=15):
        def probe():
            s = self.settlement(lot_id)
            return s if s is not None and s[0] == step else None
        return h.wait_until(probe, timeout * h.SLOW,
                            what="settlement of lot %d at step %s (now %r)"
                            % (lot_id, step, self.settlement(lot_id)))

    def ledger_sums(self):
        """{currency: sum of all entries}; every value must be 0."""
        return dict(self.rows("SELECT currency, sum(amount) FROM ledger_entries "
                              "GROUP BY currency"))

    def unbalanced_txns(self):
        return self.rows("SELECT txn_id, currency, sum(amount) FROM ledger_entries "
                         "GROUP BY txn_id, currency HAVING sum(amount) <> 0")

    def txns(self, lot_id):
        return self.rows("SELECT kind, ref FROM ledger_txns WHERE lot_id = %s ORDER BY id", lot_id)

    def account(self, account, owner, currency="RUB"):
        r = self.one("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account = %s "
                     "AND owner_id = %s AND currency = %s", account, owner, currency)
        return int(r[0])

    def close(self):
        self.conn.close()


# Lot ids no real lot of this stack uses (the auctions daemon counts from
# 1): far above them, from a base that moves with the clock so sessions on
# one stack do not meet, then one by one (itertools.count is thread-safe).
_lot_ids = itertools.count(10 ** 12 + int(time.time()) % 10 ** 7 * 10 ** 4)


def new_lot_id():
    return next(_lot_ids)


def closed_envelope(lot_id, seller_id, winner_id=0, price=0, hold_id=0, event_id=None,
                    currency="RUB", floor_paddle=0):
    ev = events_pb2.AuctionClosed(lot_id=lot_id, seller_id=seller_id, winner_id=winner_id,
                                  price=h.rub(price, currency), reserve_met=winner_id > 0,
                                  closed_at_us=int(time.time() * 1e6), winning_hold_id=hold_id,
                                  floor_paddle=floor_paddle)
    return events_pb2.Envelope(id=event_id or uuid.uuid4().hex, type="auction.closed",
                               occurred_at_us=int(time.time() * 1e6), aggregate_id=str(lot_id),
                               source="tests", payload=ev.SerializeToString()).SerializeToString()


# The auctions daemon's record of a lot it closed (services/auctions:
# closing.c writes these columns at the close); nothing else of the lot
# matters to a quote but its category, make, region and year, which a
# price rule may match on.
_CLOSED_LOT_SQL = (
    "INSERT INTO lots (id, seller_id, state, title, make, region, year, category_id, "
    "currency, start_price, winner_id, final_price, reserve_met, winning_bid_id, "
    "winning_hold_id, bid_count, closed_at_us, starts_at_us, ends_at_us, created_at_us, "
    "updated_at_us) VALUES (%s, %s, 'closed', 'Settled by the payments tests', %s, %s, %s, "
    "%s, %s, %s, %s, %s, true, %s, %s, 1, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")


class AuctionsLots:
    """Closed lots recorded in gavel_auctions as the auctions daemon records
    them (see the module's docstring)."""

    def __init__(self, dsn):
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def closed(self, e, category_id=None, make="", region="", year=0, sold=True):
        """Lot e.lot_id closed as event e says (sold=False: unsold there)."""
        now = int(time.time() * 1e6)
        with self.conn.cursor() as cur:
            cur.execute(_CLOSED_LOT_SQL, (
                e.lot_id, e.seller_id, make, region, year, category_id, e.price.currency,
                e.price.units, e.winner_id if sold else 0, e.price.units, None,
                e.winning_hold_id if sold else 0,
                e.closed_at_us or now, now - 10 ** 6, now, now, now))

    def close(self):
        self.conn.close()


class PriceRules:
    """An admin's price rules in the auctions daemon (the fees' source)."""

    def __init__(self, channel, admin):
        from gavel_harness import auctions_pb2, auctions_pb2_grpc
        self.pb = auctions_pb2
        self.stub = auctions_pb2_grpc.AuctionsStub(channel)
        self.admin = admin

    def _adjust(self, r, fixed, coefficient):
        if fixed is not None:
            r.fixed_price.CopyFrom(h.rub(fixed))
        else:
            r.coefficient_permille = coefficient

    def create(self, service, fixed=None, coefficient=None, priority=0, **criteria):
        r = self.pb.PriceRule(service=service, priority=priority, is_active=True, **criteria)
        self._adjust(r, fixed, coefficient)
        return h.call(self.stub.CreatePriceRule, self.pb.CreatePriceRuleRequest(rule=r),
                      self.admin.md).rule

    def update(self, rule_id, fixed=None, coefficient=None):
        r = self.pb.PriceRule()
        self._adjust(r, fixed, coefficient)
        return h.call(self.stub.UpdatePriceRule, self.pb.UpdatePriceRuleRequest(
            rule_id=rule_id, update_mask=["adjustment"], rule=r), self.admin.md).rule

    def delete(self, rule_id):
        h.call(self.stub.DeletePriceRule, self.pb.DeletePriceRuleRequest(rule_id=rule_id),
               self.admin.md)


class Closer:
    """Publishes auction.closed for lots with real wallet holds; a sold
    lot is first recorded in gavel_auctions as closed (AuctionsLots)."""

    def __init__(self, bootstrap, wallet_stub, admin, service_md, lots):
        self.producer = h.producer(bootstrap)
        self.wallet = wallet_stub
        self.admin = admin
        self.service_md = service_md
        self.lots = lots

    def fund(self, user, units):
        h.call(self.wallet.Deposit, users_pb2.DepositRequest(
            idempotency_key=h.idem(), user_id=user.id, amount=h.rub(units),
            reference="payments test"), self.admin.md)

    def hold(self, user, lot_id, units):
        return h.call(self.wallet.ReserveFunds, users_pb2.ReserveFundsRequest(
            idempotency_key=h.idem(), user_id=user.id, lot_id=lot_id, amount=h.rub(units)),
            self.service_md).hold_id

    def balance(self, user):
        return h.call(self.wallet.GetBalance, users_pb2.GetBalanceRequest(user_id=user.id),
                      self.admin.md).balance

    def publish(self, lot_id, value, known=True, **lot):
        """Puts value on gavel.auctions under lot_id's key. An auction.closed
        of a sold lot (known=False: one the auctions daemon never closed)
        first records the lot as closed in gavel_auctions, with the
        attributes in lot (category_id, make, region, year)."""
        e = sold_event(value)
        if known and e is not None:
            self.lots.closed(e, **lot)
        self.producer.send("gavel.auctions", key=str(lot_id).encode(), value=value).get(timeout=10)


def sold_event(value):
    """The AuctionClosed in value when it closes a lot sold online, else None."""
    try:
        env = events_pb2.Envelope.FromString(value)
    except Exception:  # noqa: BLE001 (the tests' malformed values)
        return None
    if env.type != "auction.closed":
        return None
    e = events_pb2.AuctionClosed.FromString(env.payload)
    if e.lot_id <= 0 or e.winner_id <= 0 or e.floor_paddle > 0 or e.price.units <= 0 or \
            e.winning_hold_id <= 0:
        return None
    return e


def bid(market, lot_id, bidder):
    """The next minimum bid on a live lot through the gateway; its units."""
    units = int(market.state(lot_id, bidder.token)["nextMinBid"]["units"])
    market.rest.ok("POST", "/api/v1/lots/%s/bids" % lot_id, {"amount": h.rub_json(units)},
                   bidder.token, headers={"Idempotency-Key": h.new_key()})
    return units
