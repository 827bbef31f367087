"""A real auction from start to settlement: a seller's lot goes live in the
auctions daemon, two bidders bid through the gateway (the bids daemon holds
their funds in the users wallet), the auctions scheduler closes it and
publishes auction.closed, and payments charges the winner from the winning
hold, pays the seller out minus the commission at the simulator, and leaves
a balanced ledger; the loser's hold is released."""
import gavel_harness as h
from pay_kit import bid, payments_pb2 as pb

FUNDS = 10 ** 6


def test_closed_auction_is_settled_end_to_end(payments, paydb, sim, market, pay_stub, admin,
                                              closer):
    seller = market.seller()
    a, b = market.bidder(FUNDS), market.bidder(FUNDS)
    lot = market.live(seller, duration_s=4)
    lot_id = int(lot["id"])
    bid(market, lot_id, a)
    price = bid(market, lot_id, b)
    payouts = sim.state()["counts"]["payouts"]
    paydb.wait_step(lot_id, "done", timeout=30)
    fee = -(-price * 50 // 1000)

    class U:  # the wallet helper wants .id
        def __init__(self, i):
            self.id = i
    winner, loser = closer.balance(U(b.id)), closer.balance(U(a.id))
    assert (winner.total.units, winner.reserved.units) == (FUNDS - price, 0)
    assert (loser.total.units, loser.reserved.units) == (FUNDS, 0)
    got = h.call(pay_stub.ListPayments, pb.ListPaymentsRequest(lot_id=lot_id), admin.md).payments
    assert len(got) == 1
    assert (got[0].payer_id, got[0].payee_id, got[0].captured.units, got[0].net_payout.units) == (
        b.id, seller.id, price, price - fee)
    assert sim.state()["counts"]["payouts"] == payouts + 1
    assert [k for k, _ in paydb.txns(lot_id)] == ["settlement", "payout"]
    assert paydb.unbalanced_txns() == []
    assert all(v == 0 for v in paydb.ledger_sums().values())
