"""Reindex: a full rebuild from the auctions service, swapped in while
queries are served and events keep applying; nothing is lost."""
import re
import threading

import grpc
import psycopg2

import gavel_harness as h
from auction_house import now_us
from search_kit import new_lot_id, upserted
from gavel.search.v1 import search_pb2 as spb


def _docs_indexes(search):
    """The index definitions of the live docs table, names left out (the
    rebuilt table's indexes are named after docs_new)."""
    conn = psycopg2.connect(search.env["GAVEL_PG_DSN"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_get_indexdef(indexrelid) FROM pg_index "
                        "WHERE indrelid = 'docs'::regclass AND indisvalid")
            return sorted(re.sub(r"INDEX \S+ ON \S+", "INDEX ON docs", d) for (d,) in cur)
    finally:
        conn.close()


def test_reindex_under_queries_and_events_loses_nothing(house, category, finder, events,
                                                        search_stub, admin, bidder, search):
    seller = house.new_seller()
    real = []
    for i in range(5):
        lot = house.approved(seller, category.id, title="Reindexed %d" % i)
        start = now_us() + 3600 * 10 ** 6
        house.schedule(house.admin, lot.id, start, start + 3600 * 10 ** 6)
        real.append(lot.id)
    for lot_id in real:
        finder.wait_hit(lot_id)
    events.bid(real[0], 1, 100000001)
    finder.wait_hit(real[0], pred=lambda hit: hit.lot.bid_count == 1)
    stray = new_lot_id()  # known only from events: the catalog does not have it
    events.lot(upserted(stray, 10 ** 15))
    finder.wait_hit(stray)

    indexes = _docs_indexes(search)
    assert len(indexes) > 10, indexes
    scoped = '[["eq","seller_id",%d]]' % seller.id
    stop = threading.Event()
    seen, errors = [], []

    def query():
        while not stop.is_set():
            try:
                seen.append(len(finder.search("", scoped, page_size=50).hits))
            except grpc.RpcError as e:  # pragma: no cover - reported below
                errors.append(e)
    t = threading.Thread(target=query)
    t.start()
    try:
        job = h.call(search_stub.Reindex, spb.ReindexRequest(reason="test"), admin.md).job_id
        assert job > 0
        # events while the rebuild runs: more bids on one lot, a new content version
        for seq in range(2, 6):
            events.bid(real[0], seq, 100000000 + seq)
        def done():
            st = h.call(search_stub.GetIndexStatus, spb.GetIndexStatusRequest(job_id=job),
                        admin.md)
            if st.reindex.status == spb.REINDEX_STATUS_FAILED:
                raise AssertionError("reindex failed: %s" % st.reindex.error)
            return st if st.reindex.status == spb.REINDEX_STATUS_DONE else None
        st = h.wait_until(done, 60, interval=0.1, what="the reindex to finish")
    finally:
        stop.set()
        t.join()
    assert not errors, errors[:3]
    assert seen and min(seen) == 5, "a query saw %d of the 5 lots" % min(seen)
    assert st.reindex.documents_done >= 5
    assert st.reindex.finished_at_us >= st.reindex.started_at_us > 0
    assert st.reindex.requested_by == admin.profile.user_id
    # the rebuilt table was filled first and indexed after: every index is back
    assert _docs_indexes(search) == indexes
    hit = finder.wait_hit(real[0], pred=lambda hit: hit.lot.bid_count == 5)
    assert hit.lot.current_price.units == 100000005
    assert sorted(finder.ids("", scoped)) == sorted(real)
    assert finder.ids("", '[["eq","id",%d]]' % stray) == []
    # the index keeps applying events after the swap
    events.bid(real[1], 1, 100000001)
    finder.wait_hit(real[1], pred=lambda hit: hit.lot.bid_count == 1)
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, search_stub.Reindex,
                   spb.ReindexRequest(reason="x"), bidder.md)
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, search_stub.Reindex,
                   spb.ReindexRequest(reason="x" * 501), admin.md)
