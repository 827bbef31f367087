"""kill -9 between a settlement step's remote call and its record: the
daemon dies right after the wallet capture (or the provider payout) took
effect, before writing it down; after a restart the step is repeated with
the same key and the lot is settled exactly once."""
import gavel_harness as h
from gavel_harness import users_pb2
from pay_kit import closed_envelope, new_lot_id


def _crash_at(payments, step, publish, closer, paydb):
    payments.stop()
    payments.env["GAVEL_PAYMENTS_FAULT_EXIT_AFTER"] = step
    try:
        payments.start()
        publish()
        rc = payments.proc.wait(timeout=30 * h.SLOW)
        assert rc == 137, "exit %s:\n%s" % (rc, payments.log_tail())
    finally:
        del payments.env["GAVEL_PAYMENTS_FAULT_EXIT_AFTER"]
    payments.start()
    # the consumer flows again once the group dropped the killed member
    marker = new_lot_id()
    closer.publish(marker, closed_envelope(marker, 1))
    paydb.wait_step(marker, "done", timeout=40)


def test_crash_after_the_wallet_capture_settles_once(payments, paydb, closer, sim, new_account):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 300000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 120000)
    payouts = sim.state()["counts"].get("payouts", 0)
    _crash_at(payments, "capture", lambda: closer.publish(
        lot, closed_envelope(lot, seller.id, buyer.id, 120000, hold)), closer, paydb)
    # captured before the crash but not recorded then: the log says so
    assert "GAVEL_PAYMENTS_FAULT_EXIT_AFTER=capture" in payments.log_text()
    paydb.wait_step(lot, "done")
    assert closer.balance(buyer).total.units == 180000
    assert paydb.settlement(lot)[2] >= 2  # taken again after the crash
    assert [k for k, _ in paydb.txns(lot)] == ["settlement", "payout"]
    assert paydb.one("SELECT count(*) FROM payments WHERE lot_id = %s", lot)[0] == 1
    assert sim.state()["counts"]["payouts"] == payouts + 1
    assert all(v == 0 for v in paydb.ledger_sums().values())


def test_crash_after_the_payout_pays_the_seller_once(payments, paydb, closer, sim, new_account):
    buyer, seller = new_account(), new_account(users_pb2.ROLE_SELLER)
    closer.fund(buyer, 300000)
    lot = new_lot_id()
    hold = closer.hold(buyer, lot, 80000)
    before = sim.state()["counts"]
    _crash_at(payments, "payout", lambda: closer.publish(
        lot, closed_envelope(lot, seller.id, buyer.id, 80000, hold)), closer, paydb)
    paydb.wait_step(lot, "done")
    after = sim.state()["counts"]
    assert after["payouts"] == before.get("payouts", 0) + 1        # never a second payout
    assert paydb.settlement(lot)[2] >= 2
    assert after["idempotent_replays"] > before.get("idempotent_replays", 0)
    assert [k for k, _ in paydb.txns(lot)] == ["settlement", "payout"]
    assert closer.balance(buyer).total.units == 220000
    assert paydb.account("seller", seller.id) == 0
