"""From an event to a user: the realtime message on Redis gavel:user:<id>
(docs/websocket.md gives its schema), the inbox (ListInbox, MarkRead, the
unread count), and the same message through the gateway's WebSocket."""
import asyncio

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb
from ws_client import connect, of_type, run, until


def test_deposit_reaches_the_wallet_owner_in_realtime_and_in_the_inbox(
        notifications, new_account, deposit, feed, inbox):
    a, other = new_account(), new_account()
    f = feed(a.id, other.id)
    deposit(a, 123456)
    msg = f.wait_for(lambda f: f.of(a.id), what="a's wallet message")[0]
    assert msg["type"] == "notification"
    n = msg["notification"]
    assert n["kind"] == "EVENT_KIND_WALLET"
    assert n["userId"] == str(a.id)
    assert "1234.56 RUB" in n["body"], n
    assert msg["unreadCount"] == "1"
    got = inbox(a)
    assert [x.id for x in got.notifications] == [int(n["id"])]
    assert got.unread_count == 1
    x = got.notifications[0]
    assert x.kind == npb.EVENT_KIND_WALLET and x.title == n["title"] and x.read_at_us == 0
    assert x.event_id == n["eventId"] and x.created_at_us == int(n["createdAtUs"])
    # realtime confirmed; no other channel is on for WALLET by default
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_REALTIME], 5, what="delivered_channels")
    f.poll(0.5)
    assert f.of(other.id) == [], "another user heard of a's deposit"
    assert len(inbox(other).notifications) == 0 and inbox(other).unread_count == 0


def test_mark_read_by_id_and_up_to_id_and_the_unread_count(
        notifications, notif_stub, new_account, deposit, feed, inbox):
    a = new_account()
    f = feed(a.id)
    for units in (1000, 2000, 3000):
        deposit(a, units)
    f.wait_for(lambda f: len(f.of(a.id)) == 3, what="three wallet messages")
    ids = [n.id for n in inbox(a).notifications]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)
    r = h.call(notif_stub.MarkRead, npb.MarkReadRequest(notification_ids=[ids[0]]), a.md)
    assert (r.marked_count, r.unread_count) == (1, 2)
    r = h.call(notif_stub.MarkRead, npb.MarkReadRequest(notification_ids=[ids[0]]), a.md)
    assert (r.marked_count, r.unread_count) == (0, 2), "marking twice changed something"
    unread = inbox(a, unread_only=True)
    assert [n.id for n in unread.notifications] == ids[1:] and unread.unread_count == 2
    r = h.call(notif_stub.MarkRead, npb.MarkReadRequest(up_to_id=ids[0]), a.md)
    assert (r.marked_count, r.unread_count) == (2, 0)
    assert all(n.read_at_us > 0 for n in inbox(a).notifications)
    # the next realtime message carries the new count
    deposit(a, 4000)
    last = f.wait_for(lambda f: len(f.of(a.id)) == 4 and f.of(a.id)[3])
    assert last["unreadCount"] == "1"


def test_inbox_pages_newest_first(notifications, new_account, deposit, feed, inbox):
    a = new_account()
    f = feed(a.id)
    for i in range(5):
        deposit(a, 100 + i)
    f.wait_for(lambda f: len(f.of(a.id)) == 5, what="five wallet messages")
    seen, token = [], ""
    while True:
        page = inbox(a, page=h.common_pb2.PageRequest(page_size=2, page_token=token))
        assert len(page.notifications) <= 2 and page.unread_count == 5
        seen += [n.id for n in page.notifications]
        token = page.page.next_page_token
        if not token:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


def test_outbid_reaches_the_outbid_bidder_on_redis_and_in_the_inbox(
        notifications, market, bid, feed, notif_stub):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]
    f = feed(a.id, b.id)
    bid(lot, a)
    second = bid(lot, b)
    msg = f.wait_for(lambda f: f.of(a.id, "EVENT_KIND_OUTBID"), what="a's outbid")[0]
    n = msg["notification"]
    assert n["lotId"] == lot and n["link"] == "/lots/%s" % lot
    price = int(second["bid"]["amount"]["units"])
    assert "%d.%02d RUB" % (price // 100, price % 100) in n["body"], n
    got = h.call(notif_stub.ListInbox, npb.ListInboxRequest(), h.bearer(a.token))
    outbids = [x for x in got.notifications if x.kind == npb.EVENT_KIND_OUTBID]
    assert [x.id for x in outbids] == [int(n["id"])] and outbids[0].lot_id == int(lot)
    assert got.unread_count >= 1
    f.poll(0.5)
    assert f.of(b.id, "EVENT_KIND_OUTBID") == [], "the leader was told it was outbid"


def test_outbid_arrives_on_the_gateway_websocket(notifications, gateway, market, bid):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]

    async def scenario():
        w = await connect(gateway, a.token)
        # the gateway subscribes gavel:user:<id> for an authenticated socket;
        # a ping answered means the socket is set up
        await w.send('{"type":"ping","id":"p"}')
        await until(w, of_type("pong"), 5 * h.SLOW)
        await asyncio.sleep(0.3)
        bid(lot, a)
        bid(lot, b)
        m = await until(w, lambda m: m.get("type") == "notification" and
                        m["notification"]["kind"] == "EVENT_KIND_OUTBID", 10 * h.SLOW)
        assert m["notification"]["lotId"] == lot
        assert m["notification"]["userId"] == str(a.id)
        assert int(m["unreadCount"]) >= 1
        await w.close()

    run(scenario())
