"""Who may do what: a user reads and changes only their own inbox,
subscriptions and preferences; staff roles as the method table says; no
token is UNAUTHENTICATED; bad input is INVALID_ARGUMENT with a message and
changes nothing."""
import grpc
import pytest

import gavel_harness as h
from gavel_harness import common_pb2, notifications_pb2 as npb

C = grpc.StatusCode


@pytest.fixture
def two(notifications, notif_stub, new_account, deposit, feed, inbox):
    """Two bidders; `a` has one unread notification and one subscription."""
    a, b = new_account(), new_account()
    f = feed(a.id)
    deposit(a, 1000)
    f.wait_for(lambda f: f.of(a.id), what="a's notification")
    seller = new_account()  # a seller the service knows from user.registered
    sub = h.wait_until(lambda: _subscribe(notif_stub, a, seller.id), 10,
                       what="a subscription to a known seller")
    return a, b, sub


def _subscribe(stub, who, seller_id):
    try:
        return h.call(stub.Subscribe, npb.SubscribeRequest(
            subscription=npb.Subscription(seller_id=seller_id)), who.md).subscription
    except grpc.RpcError as e:
        if e.code() == C.NOT_FOUND:  # the registration event has not arrived yet
            return None
        raise


def state_of(stub, user, admin):
    """Everything of user's that a refused call must leave as it was."""
    inbox = h.call(stub.ListInbox, npb.ListInboxRequest(user_id=user.id), admin.md)
    subs = h.call(stub.ListSubscriptions, npb.ListSubscriptionsRequest(user_id=user.id),
                  admin.md)
    prefs = h.call(stub.GetPreferences, npb.GetPreferencesRequest(user_id=user.id), admin.md)
    return (inbox.SerializeToString(deterministic=True),
            subs.SerializeToString(deterministic=True),
            prefs.SerializeToString(deterministic=True))


def test_another_users_data_is_denied_and_left_alone(notif_stub, two, admin):
    a, b, sub = two
    before = state_of(notif_stub, a, admin)
    calls = [
        (notif_stub.ListInbox, npb.ListInboxRequest(user_id=a.id)),
        (notif_stub.MarkRead, npb.MarkReadRequest(user_id=a.id, up_to_id=2 ** 62)),
        (notif_stub.ListSubscriptions, npb.ListSubscriptionsRequest(user_id=a.id)),
        (notif_stub.Subscribe, npb.SubscribeRequest(
            user_id=a.id, subscription=npb.Subscription(seller_id=b.id))),
        (notif_stub.GetPreferences, npb.GetPreferencesRequest(user_id=a.id)),
        (notif_stub.SetPreferences, npb.SetPreferencesRequest(
            user_id=a.id, update_mask=["email"], preferences=npb.Preferences(email="x@y.test"))),
    ]
    for method, req in calls:
        h.expect_error(C.PERMISSION_DENIED, method, req, b.md)
    # dealers are placed in segments by staff only
    h.expect_error(C.PERMISSION_DENIED, notif_stub.Subscribe, npb.SubscribeRequest(
        subscription=npb.Subscription(segment="premium")), a.md)
    # a's subscription id and notification ids named by b: not b's to touch
    h.expect_error(C.NOT_FOUND, notif_stub.Unsubscribe,
                   npb.UnsubscribeRequest(subscription_id=sub.id), b.md)
    ids = [n.id for n in h.call(notif_stub.ListInbox, npb.ListInboxRequest(), a.md).notifications]
    r = h.call(notif_stub.MarkRead, npb.MarkReadRequest(notification_ids=ids), b.md)
    assert r.marked_count == 0
    assert state_of(notif_stub, a, admin) == before, "a refused call changed a's data"


def test_admin_reads_but_does_not_mark_another_users_inbox(notif_stub, two, admin):
    a, _, _ = two
    got = h.call(notif_stub.ListInbox, npb.ListInboxRequest(user_id=a.id), admin.md)
    assert got.unread_count == 1 and got.notifications[0].user_id == a.id
    h.expect_error(C.PERMISSION_DENIED, notif_stub.MarkRead,
                   npb.MarkReadRequest(user_id=a.id, up_to_id=2 ** 62), admin.md)
    assert h.call(notif_stub.ListInbox, npb.ListInboxRequest(), a.md).unread_count == 1


def test_no_token_or_a_forged_one_is_unauthenticated(notif_stub, two):
    a, _, sub = two
    forged = h.bearer(h.user_token(h.new_ed25519_key(), a.id, "bidder", 0, 2 ** 40))
    calls = [
        (notif_stub.ListInbox, npb.ListInboxRequest()),
        (notif_stub.MarkRead, npb.MarkReadRequest(up_to_id=1)),
        (notif_stub.Subscribe, npb.SubscribeRequest(subscription=npb.Subscription(lot_id=1))),
        (notif_stub.Unsubscribe, npb.UnsubscribeRequest(subscription_id=sub.id)),
        (notif_stub.ListSubscriptions, npb.ListSubscriptionsRequest()),
        (notif_stub.GetPreferences, npb.GetPreferencesRequest()),
        (notif_stub.SetPreferences, npb.SetPreferencesRequest(update_mask=["email"])),
    ]
    for md in (None, forged):
        for method, req in calls:
            h.expect_error(C.UNAUTHENTICATED, method, req, md)
    subs = h.call(notif_stub.ListSubscriptions, npb.ListSubscriptionsRequest(), a.md)
    assert [s.id for s in subs.subscriptions] == [sub.id]


BAD = [
    ("ListInbox", npb.ListInboxRequest(page=common_pb2.PageRequest(page_size=201)),
     "page_size"),
    ("ListInbox", npb.ListInboxRequest(page=common_pb2.PageRequest(page_token="abc")),
     "page_token"),
    ("ListInbox", npb.ListInboxRequest(user_id=-1), "user_id"),
    ("MarkRead", npb.MarkReadRequest(), "up_to_id"),
    ("MarkRead", npb.MarkReadRequest(notification_ids=[0]), "notification_ids"),
    ("MarkRead", npb.MarkReadRequest(notification_ids=list(range(1, 502))), "notification_ids"),
    ("MarkRead", npb.MarkReadRequest(up_to_id=-5), "up_to_id"),
    ("Subscribe", npb.SubscribeRequest(), "subscription"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription()), "target"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription(lot_id=-3)), "lot_id"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription(
        saved_search=npb.SavedSearch(name=""))), "name"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription(
        saved_search=npb.SavedSearch(name="cars", filter_json='{"eq": 1}'))), "filter_json"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription(
        saved_search=npb.SavedSearch(name="cars", filter_json='[["limit", 5]]'))), "filter"),
    ("Subscribe", npb.SubscribeRequest(subscription=npb.Subscription(
        lot_id=1, kinds=[99])), "kinds"),
    ("Unsubscribe", npb.UnsubscribeRequest(subscription_id=0), "subscription_id"),
    ("SetPreferences", npb.SetPreferencesRequest(), "update_mask"),
    ("SetPreferences", npb.SetPreferencesRequest(update_mask=["colour"]), "update_mask"),
    ("SetPreferences", npb.SetPreferencesRequest(
        update_mask=["email"], preferences=npb.Preferences(email="not an address")), "email"),
    ("SetPreferences", npb.SetPreferencesRequest(update_mask=["kinds"], preferences=npb.Preferences(
        kinds=[npb.KindPreference(kind=0)])), "kind"),
    ("SetPreferences", npb.SetPreferencesRequest(update_mask=["kinds"], preferences=npb.Preferences(
        kinds=[npb.KindPreference(kind=1, channels=[9])])), "channels"),
    ("SetPreferences", npb.SetPreferencesRequest(update_mask=["quiet_hours"],
                                                 preferences=npb.Preferences(
        quiet_hours=npb.QuietHours(start_minute=1440))), "quiet_hours"),
    ("SetPreferences", npb.SetPreferencesRequest(update_mask=["quiet_hours"],
                                                 preferences=npb.Preferences(
        quiet_hours=npb.QuietHours(time_zone="../../etc/passwd"))), "time_zone"),
]


@pytest.mark.parametrize("method,req,field", BAD, ids=["%s-%s" % (m, f) for m, _, f in BAD])
def test_bad_input_is_invalid_argument_and_changes_nothing(notif_stub, two, admin, method, req,
                                                           field):
    a, _, _ = two
    before = state_of(notif_stub, a, admin)
    h.expect_error(C.INVALID_ARGUMENT, getattr(notif_stub, method), req, a.md, field=field)
    assert state_of(notif_stub, a, admin) == before


def test_subscribing_twice_keeps_one_subscription(notif_stub, two):
    a, _, sub = two
    again = h.call(notif_stub.Subscribe, npb.SubscribeRequest(subscription=npb.Subscription(
        seller_id=sub.seller_id, kinds=[npb.EVENT_KIND_AUCTION_STARTING])), a.md).subscription
    assert again.id == sub.id and list(again.kinds) == [npb.EVENT_KIND_AUCTION_STARTING]
    subs = h.call(notif_stub.ListSubscriptions, npb.ListSubscriptionsRequest(), a.md)
    assert [s.id for s in subs.subscriptions] == [sub.id]
    h.call(notif_stub.Unsubscribe, npb.UnsubscribeRequest(subscription_id=sub.id), a.md)
    h.expect_error(C.NOT_FOUND, notif_stub.Unsubscribe,
                   npb.UnsubscribeRequest(subscription_id=sub.id), a.md)
