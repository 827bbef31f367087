"""Saved searches and dealer segments: a lot that is scheduled or goes live
is matched against every one of them in one pass, and each matching user
hears NEW_MATCH once per lot (inbox row and realtime message); a user whose
search or segment it fails hears nothing; a redelivered event or the lot's
next state tells nobody again; a filter or segment that cannot be read is
refused at Subscribe and nothing is stored."""
import random
import time
import uuid

import grpc

import gavel_harness as h
from gavel_harness import events_pb2, notifications_pb2 as npb

C = grpc.StatusCode
NEW_MATCH = "EVENT_KIND_NEW_MATCH"


def realtime_for_matches(stub, admin, user):
    """NEW_MATCH defaults to email; these users also want it realtime."""
    h.call(stub.SetPreferences, npb.SetPreferencesRequest(
        user_id=user.id, update_mask=["kinds"], preferences=npb.Preferences(kinds=[
            npb.KindPreference(kind=npb.EVENT_KIND_NEW_MATCH,
                               channels=[npb.CHANNEL_REALTIME])])), admin.md)


def segment(stub, admin, user, name):
    return h.call(stub.Subscribe, npb.SubscribeRequest(
        user_id=user.id, subscription=npb.Subscription(segment=name)), admin.md).subscription


def search(stub, user, name, query="", filter_json=""):
    return h.call(stub.Subscribe, npb.SubscribeRequest(subscription=npb.Subscription(
        saved_search=npb.SavedSearch(name=name, query=query, filter_json=filter_json))),
        user.md).subscription


def matches_of(stub, admin, user, lot_id):
    got = h.call(stub.ListInbox, npb.ListInboxRequest(user_id=user.id), admin.md)
    return [n for n in got.notifications
            if n.kind == npb.EVENT_KIND_NEW_MATCH and n.lot_id == lot_id]


def upserted(lot_id, state, make, event_id=None, year=2019, units=100000, seller_id=1):
    payload = events_pb2.LotUpserted(
        lot_id=lot_id, seller_id=seller_id, state=state, title="%s Roadster" % make,
        make=make, model="Roadster", year=year, region="Kazan",
        start_price=h.rub(units), updated_at_us=int(time.time() * 1e6))
    return events_pb2.Envelope(
        id=event_id or uuid.uuid4().hex, type="lot.upserted", occurred_at_us=1,
        aggregate_id=str(lot_id), source="tests",
        payload=payload.SerializeToString()).SerializeToString()


def send(kafka_bootstrap, lot_id, *values):
    """Sends envelopes on gavel.auctions keyed by lot_id (one partition, in order)."""
    p = h.producer(kafka_bootstrap)
    try:
        for value in values:
            p.send("gavel.auctions", key=str(lot_id).encode(), value=value).get(timeout=10)
    finally:
        p.close()


def other_lot():
    return 10 ** 12 + random.randrange(10 ** 9)


def unique_make():
    return "Matchcar%d" % random.randrange(10 ** 9)


def test_a_live_lot_tells_matching_searches_and_segments_once(
        notifications, notif_stub, admin, new_account, market, feed, kafka_bootstrap):
    make = unique_make()
    dealer, searcher, other_dealer, other_searcher, marker = (new_account() for _ in range(5))
    for u in (dealer, searcher, other_dealer, other_searcher, marker):
        realtime_for_matches(notif_stub, admin, u)
    f = feed(dealer.id, searcher.id, other_dealer.id, other_searcher.id, marker.id)
    low = make.lower()
    # the lot: year 2019, start price 1,000.00 RUB, region Moscow
    seg = segment(notif_stub, admin, dealer, "make:%s:year:2015-2020:price:500-2000" % low)
    srch = search(notif_stub, searcher, "camry like", query="CAMRY",
                  filter_json='[["eq","make","%s"],["gte","year",2018],'
                              '["eq","region","Moscow"]]' % make)
    segment(notif_stub, admin, other_dealer, "make:%s:year:2021-" % low)
    search(notif_stub, other_searcher, "cheap ones", query="camry",
           filter_json='[["eq","make","%s"],["lt","start_price",50000]]' % make)
    segment(notif_stub, admin, marker, "make:%s-marker" % low)

    lot = market.live(market.seller(), make=make, title="%s Camry 2.5" % make)
    lot_id = int(lot["id"])
    f.wait_for(lambda f: f.of(dealer.id, NEW_MATCH) and f.of(searcher.id, NEW_MATCH),
               what="both matches")
    # a marker behind the live lot's events on its partition: once the
    # marker is told, scheduled and live were both consumed
    send(kafka_bootstrap, lot_id, upserted(other_lot(), "live", make + "-marker"))
    f.wait_for(lambda f: f.of(marker.id, NEW_MATCH), what="the marker")
    f.poll(0.3)

    for user, sub in ((dealer, seg), (searcher, srch)):
        msgs = [m for m in f.of(user.id, NEW_MATCH)
                if int(m["notification"]["lotId"]) == lot_id]
        assert len(msgs) == 1, "told %d times in realtime: %s" % (len(msgs), msgs)
        rows = matches_of(notif_stub, admin, user, lot_id)
        assert len(rows) == 1, "inbox holds %d matches" % len(rows)
        assert rows[0].subscription_id == sub.id
        assert make in rows[0].title
    for user in (other_dealer, other_searcher):
        assert f.of(user.id, NEW_MATCH) == []
        assert matches_of(notif_stub, admin, user, lot_id) == []


def test_redelivery_and_the_next_state_tell_nobody_again(
        notifications, notif_stub, admin, new_account, feed, kafka_bootstrap):
    make = unique_make()
    dealer, marker = new_account(), new_account()
    for u in (dealer, marker):
        realtime_for_matches(notif_stub, admin, u)
    f = feed(dealer.id, marker.id)
    segment(notif_stub, admin, dealer, "make:%s:region:kazan" % make.lower())
    segment(notif_stub, admin, marker, "make:%s-marker" % make.lower())
    lot_id = other_lot()
    scheduled = upserted(lot_id, "scheduled", make)
    send(kafka_bootstrap, lot_id,
         upserted(lot_id, "approved", make),  # not yet: no match
         scheduled, scheduled,                  # redelivered
         upserted(lot_id, "live", make),        # the next state
         upserted(lot_id, "live", make),        # and an edit while live
         upserted(other_lot(), "live", make + "-marker"))
    f.wait_for(lambda f: f.of(marker.id, NEW_MATCH), what="the marker")
    f.poll(0.3)
    msgs = f.of(dealer.id, NEW_MATCH)
    assert len(msgs) == 1, "told %d times: %s" % (len(msgs), msgs)
    assert "the auction is scheduled" in msgs[0]["notification"]["body"]
    assert len(matches_of(notif_stub, admin, dealer, lot_id)) == 1


def test_a_change_of_subscriptions_reaches_the_index(
        notifications, notif_stub, admin, new_account, feed, kafka_bootstrap):
    """Subscribing after the index was built, and unsubscribing, both take
    effect for the next lot (the index rebuilds when match_version moves)."""
    make = unique_make()
    stays, leaves, marker = new_account(), new_account(), new_account()
    for u in (stays, leaves, marker):
        realtime_for_matches(notif_stub, admin, u)
    f = feed(stays.id, leaves.id, marker.id)
    segment(notif_stub, admin, stays, "make:%s" % make.lower())
    gone = search(notif_stub, leaves, "soon gone", filter_json='[["eq","make","%s"]]' % make)
    h.call(notif_stub.Unsubscribe, npb.UnsubscribeRequest(subscription_id=gone.id), leaves.md)
    segment(notif_stub, admin, marker, "make:%s-marker" % make.lower())
    lot_id = other_lot()
    send(kafka_bootstrap, lot_id, upserted(lot_id, "live", make),
         upserted(other_lot(), "live", make + "-marker"))
    # two delivery workers: the marker's message may go out before the
    # other lot's, so wait for both before reading what did not come
    f.wait_for(lambda f: f.of(marker.id, NEW_MATCH) and f.of(stays.id, NEW_MATCH),
               what="the marker and the subscriber who stayed")
    assert len(f.of(stays.id, NEW_MATCH)) == 1
    assert f.of(leaves.id, NEW_MATCH) == []


def test_the_seller_is_not_told_about_their_own_lot(
        notifications, notif_stub, admin, new_account, feed, kafka_bootstrap):
    make = unique_make()
    seller, marker = new_account(), new_account()
    for u in (seller, marker):
        realtime_for_matches(notif_stub, admin, u)
    f = feed(seller.id, marker.id)
    search(notif_stub, seller, "mine", filter_json='[["eq","make","%s"]]' % make)
    segment(notif_stub, admin, marker, "make:%s" % make.lower())
    lot_id = other_lot()
    send(kafka_bootstrap, lot_id, upserted(lot_id, "live", make, seller_id=seller.id))
    f.wait_for(lambda f: f.of(marker.id, NEW_MATCH), what="the other match")
    f.poll(0.3)
    assert f.of(seller.id, NEW_MATCH) == []


def test_a_filter_or_segment_that_cannot_be_read_is_refused_and_nothing_stored(
        notifications, notif_stub, admin, new_account):
    user = new_account()
    bad_filters = [
        ('[["eq","price",5]]', 'unknown field "price"'),
        ('[["gt","year","old"]]', "year needs a 64-bit integer"),
        ('[["order","year desc"]]', '"order" is not accepted here'),
        ('[["like","year","19%"]]', '"like" applies only to'),
        ('{"eq": 1}', "must be a JSON array"),
        ('[["eq","make"', "not valid JSON"),
    ]
    for text, why in bad_filters:
        e = h.expect_error(C.INVALID_ARGUMENT, notif_stub.Subscribe, npb.SubscribeRequest(
            subscription=npb.Subscription(saved_search=npb.SavedSearch(
                name="bad", filter_json=text))), user.md, field="filter_json")
        assert why in e.details(), "%s: %s" % (text, e.details())
    bad_segments = [
        ("make:bmw:price:x", "price needs a band"),
        ("make:bmw:year:2020-2010", "year needs a band"),
        ("make:bmw:colour:red", 'unknown key "colour"'),
        ("make:bmw:price:1-2:price:3-4", "a second price band"),
        ("make", "make needs a value"),
        ("make::bmw", "empty part"),
    ]
    for name, why in bad_segments:
        e = h.expect_error(C.INVALID_ARGUMENT, notif_stub.Subscribe, npb.SubscribeRequest(
            user_id=user.id, subscription=npb.Subscription(segment=name)), admin.md,
            field="segment")
        assert why in e.details(), "%s: %s" % (name, e.details())
    subs = h.call(notif_stub.ListSubscriptions, npb.ListSubscriptionsRequest(), user.md)
    assert list(subs.subscriptions) == []
