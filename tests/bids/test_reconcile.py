"""Hold reconciliation when the wallet is down at start-up: a hold that no
bid refers to (left by a crash between reservation and commit) is released
in the background once the users service answers again, while the
covering hold of a stored bid and a hold made after the start (a bid
landing) stay held."""
import contextlib
import time

import psycopg2

import gavel_harness as h
from gavel_harness import users_pb2


def hold_states(market, lot):
    """{hold_id: (user_id, amount, state)} of every hold on lot."""
    out = {}
    for state in ("held", "released"):
        r = h.call(market.wallet_stub.ListHolds,
                   users_pb2.ListHoldsRequest(lot_ids=[lot], state=state), market.svc_md())
        for x in r.holds:
            out[x.hold_id] = (x.user_id, x.amount.units, x.state)
    return out


def queued_releases(bids, lot):
    """hold_releases rows of lot: holds the bids daemon decided to give back
    that the wallet has not confirmed yet."""
    with contextlib.closing(psycopg2.connect(bids.env["GAVEL_PG_DSN"])) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM hold_releases WHERE lot_id = %s", (lot,))
            return cur.fetchone()[0]


def reserve(market, who, lot, units):
    return h.call(market.wallet_stub.ReserveFunds, users_pb2.ReserveFundsRequest(
        idempotency_key=h.idem(), user_id=who.id, lot_id=lot, amount=h.rub(units)),
        market.svc_md()).hold_id


def test_a_start_without_the_wallet_releases_orphans_later_and_keeps_live_holds(
        market, users, bids):
    a, b = market.new_bidders(2)
    lot = market.open_lot()
    market.place(a, lot, 1000)
    covering = [k for k, v in hold_states(market, lot).items() if v[0] == a.id]
    assert len(covering) == 1, hold_states(market, lot)
    orphan = reserve(market, b, lot, 5000)  # what a crash before the commit leaves
    users.stop()
    try:
        bids.kill9()
        bids.start()  # the start-up pass cannot reach the wallet
    finally:
        users.start()
    fresh = reserve(market, b, lot, 700)  # made after the start: like a bid landing
    deadline = time.monotonic() + 20 * h.SLOW
    while hold_states(market, lot)[orphan][2] != "released":
        assert time.monotonic() < deadline, (
            "the orphaned hold is still held: %s" % hold_states(market, lot))
        time.sleep(0.2)
    # The lot's candidates were judged in one step and queued in one commit:
    # once nothing of the lot is left queued, every release it decided on
    # has reached the wallet.
    h.wait_until(lambda: queued_releases(bids, lot) == 0, 10,
                 what="the releases queued for lot %d settled" % lot)
    states = hold_states(market, lot)
    assert states[covering[0]][2] == "held", states
    assert states[fresh][2] == "held", states
    # The stored bid still stands and bidding goes on.
    assert market.state(lot).leader_id == a.id
    market.place(b, lot, 1100)
    h.call(market.wallet_stub.ReleaseFunds, users_pb2.ReleaseFundsRequest(
        idempotency_key=h.idem(), hold_id=fresh), market.svc_md())
