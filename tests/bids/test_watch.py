"""WatchLot: a snapshot first, then every change of the lot in order (bids
by seq, soft-close extensions), `closed` last and the stream ends OK;
NOT_FOUND for a lot that was never opened."""
import queue
import threading
import time

import grpc

import gavel_harness as h
from gavel_harness import bids_pb2, bids_pb2_grpc

WINDOW_S = 3 if h.SLOW == 1 else 6
END = object()


class Watcher:
    """Reads one WatchLot stream on its own channel into a queue; the
    stream's end is END (OK) or the RpcError it ended with."""

    def __init__(self, bids, lot_id, md, timeout=120):
        self.channel = h.make_channel(bids.addr)
        stub = bids_pb2_grpc.BidsStub(self.channel)
        self.stream = stub.WatchLot(bids_pb2.WatchLotRequest(lot_id=lot_id), metadata=md,
                                    timeout=timeout * h.SLOW)
        self.q = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for u in self.stream:
                self.q.put(u)
            self.q.put(END)
        except grpc.RpcError as e:
            self.q.put(e)

    def next(self, timeout=10, heartbeats=False):
        """The next update (heartbeats skipped unless asked for)."""
        deadline = time.monotonic() + timeout * h.SLOW
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no update from WatchLot within %ss" % (timeout * h.SLOW)
            try:
                u = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if heartbeats or u is END or isinstance(u, grpc.RpcError) or \
                    u.WhichOneof("change") != "heartbeat":
                return u

    def close(self):
        self.stream.cancel()
        self.thread.join(timeout=5)
        self.channel.close()


def test_watch_sends_snapshot_then_bids_in_seq_order_then_extension_and_closed_and_ends_ok(
        market, bids):
    a, b, c = market.new_bidders(3)
    lot = market.open_lot(ends_in_s=WINDOW_S / 2, soft_close_s=WINDOW_S, max_extensions=1)
    w = Watcher(bids, lot, a.md)
    try:
        first = w.next(heartbeats=True)
        assert first.WhichOneof("change") == "snapshot", "first update is %s" % first
        snap = first.snapshot
        assert (snap.lot_id, snap.status, snap.seq, snap.bid_count) == \
            (lot, bids_pb2.LOT_STATUS_LIVE, 0, 0)
        assert first.server_time_us > 0

        placed = []
        for who, units in ((a, 1000), (b, 1100), (c, 1200), (a, 1300), (b, 1400), (c, 1500)):
            placed.append(market.place(who, lot, units))
        end = placed[-1].state.ends_at_us

        # Bid 1 changed the leader inside the window: its bid, then the extension.
        got = [w.next() for _ in range(len(placed) + 1)]
        kinds = [u.WhichOneof("change") for u in got]
        assert kinds == ["bid_accepted", "extended"] + ["bid_accepted"] * (len(placed) - 1), kinds
        bids_seen = [u.bid_accepted for u in got if u.WhichOneof("change") == "bid_accepted"]
        assert [x.bid.seq for x in bids_seen] == list(range(1, len(placed) + 1))
        for x, r in zip(bids_seen, placed):
            assert h.receipt(x.bid) == h.receipt(r.bid)
            assert (x.state.seq, x.state.leader_id, x.state.current_price.units) == \
                (r.bid.seq, r.bid.bidder_id, r.bid.amount.units)
        ext = got[1].extended
        assert ext.old_ends_at_us == snap.ends_at_us
        assert ext.new_ends_at_us == placed[0].state.ends_at_us == end
        assert ext.state.extensions_used == 1
        times = [first.server_time_us] + [u.server_time_us for u in got]
        assert times == sorted(times), "server times go backwards"

        market.wait_until_past(end)
        cl = market.close(lot)
        assert cl.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
        last = w.next()
        assert last.WhichOneof("change") == "closed", "expected closed, got %s" % last
        assert last.closed.outcome == bids_pb2.CLOSE_OUTCOME_CLOSED_WITH_WINNER
        assert h.receipt(last.closed.winning_bid) == h.receipt(placed[-1].bid)
        assert last.closed.state.status == bids_pb2.LOT_STATUS_CLOSED
        tail = w.next(heartbeats=True)
        assert tail is END, "the stream did not end OK after closed: %r" % (tail,)
    finally:
        w.close()


def test_late_watcher_gets_the_current_snapshot_and_a_closed_lot_ends_at_once(market, bids):
    a, b = market.new_bidders(2)
    lot = market.open_lot()
    market.place(a, lot, 1000)
    r = market.place(b, lot, 1100)
    w = Watcher(bids, lot, b.md)
    try:
        snap = w.next(heartbeats=True)
        assert snap.WhichOneof("change") == "snapshot"
        assert (snap.snapshot.seq, snap.snapshot.head_hash, snap.snapshot.leader_id) == \
            (2, r.bid.hash, b.id)
        r3 = market.place(a, lot, 1200)
        u = w.next()
        assert h.receipt(u.bid_accepted.bid) == h.receipt(r3.bid)
        market.close(lot, cancel=True)
        u = w.next()
        assert u.WhichOneof("change") == "closed"
        assert u.closed.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED
        assert not u.closed.HasField("winning_bid")
        assert w.next(heartbeats=True) is END
    finally:
        w.close()
    # Watching a lot that is already closed: its snapshot, then the end.
    w = Watcher(bids, lot, a.md)
    try:
        snap = w.next(heartbeats=True)
        assert snap.WhichOneof("change") == "snapshot"
        assert snap.snapshot.status == bids_pb2.LOT_STATUS_CLOSED
        assert snap.snapshot.outcome == bids_pb2.CLOSE_OUTCOME_CANCELLED
        assert w.next(heartbeats=True) is END
    finally:
        w.close()


def test_watch_of_an_unknown_lot_is_not_found(market, bids):
    a, = market.new_bidders(1)
    w = Watcher(bids, market.unused_lot_id(), a.md)
    try:
        e = w.next(heartbeats=True)
        assert isinstance(e, grpc.RpcError), "expected NOT_FOUND, got %r" % (e,)
        assert e.code() == grpc.StatusCode.NOT_FOUND and e.details()
    finally:
        w.close()


def test_an_idle_watch_gets_heartbeats_with_the_last_seq_and_end(market, bids):
    a, = market.new_bidders(1)
    lot = market.open_lot()
    r = market.place(a, lot, 1000)
    w = Watcher(bids, lot, a.md)
    try:
        assert w.next(heartbeats=True).WhichOneof("change") == "snapshot"
        u = w.next(timeout=8, heartbeats=True)   # "about 5 s" of nothing else
        assert u.WhichOneof("change") == "heartbeat", "expected a heartbeat, got %s" % u
        assert (u.heartbeat.seq, u.heartbeat.ends_at_us) == (1, r.state.ends_at_us)
        assert u.server_time_us > 0
    finally:
        w.close()
