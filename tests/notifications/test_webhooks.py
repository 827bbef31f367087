"""Partner webhooks (docs/notifications-webhooks.md): RegisterWebhook,
ListWebhooks and DeleteWebhook for the owner only, the URL and input rules,
and the signed POST of each notification to a local receiver: a valid
HMAC-SHA256 over "<t>.<body>", the same X-Gavel-Event-Id and body on a
retry, kinds filtering, and a webhook turned off after failing too long."""
import concurrent.futures
import hashlib
import hmac
import json
import re
import time
import uuid

import grpc
import pytest

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb
from http_receiver import receiver_for

SECRET = "s3cret-" + "k" * 30 + "WXYZ"
E = grpc.StatusCode


@pytest.fixture(scope="module")
def receiver(notifications):
    r = receiver_for(notifications)
    yield r
    r.close()


def register(stub, user, url, secret=SECRET, **kw):
    return h.call(stub.RegisterWebhook, npb.RegisterWebhookRequest(
        url=url, secret=secret, **kw), user.md).webhook


def listed(stub, user, **kw):
    return list(h.call(stub.ListWebhooks, npb.ListWebhooksRequest(**kw), user.md).webhooks)


def hook_path():
    return "/hook/%s" % uuid.uuid4().hex


def check_signature(req, secret=SECRET, tolerance=300):
    """The partner's recipe of the docs: t and v1 from X-Gavel-Signature,
    HMAC-SHA256(secret, "<t>.<body>") compared in constant time, t within
    tolerance of now."""
    m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", req.headers["X-Gavel-Signature"])
    assert m, req.headers
    t, sig = m.group(1), m.group(2)
    want = hmac.new(secret.encode(), t.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(want, sig), "bad signature on %r" % req
    assert abs(time.time() - int(t)) <= tolerance
    assert req.headers["X-Gavel-Timestamp"] == t
    return int(t)


def test_register_list_replace_delete(notifications, notif_stub, new_account, receiver):
    a = new_account()
    url = receiver.url(hook_path())
    w = register(notif_stub, a, url, kinds=[npb.EVENT_KIND_OUTBID], description="ERP")
    assert w.id > 0 and w.user_id == a.id and w.url == url and w.is_active
    assert list(w.kinds) == [npb.EVENT_KIND_OUTBID] and w.description == "ERP"
    assert w.secret_hint == "WXYZ" and w.created_at_us > 0
    got = h.call(notif_stub.ListWebhooks, npb.ListWebhooksRequest(), a.md)
    assert [x.id for x in got.webhooks] == [w.id]
    assert SECRET.encode() not in got.SerializeToString(), "the secret was listed"
    assert SECRET[:20].encode() not in got.SerializeToString()
    # the same url again: the one webhook, secret and kinds replaced
    w2 = register(notif_stub, a, url, secret="n" * 40 + "ABCD", kinds=[])
    assert w2.id == w.id and w2.secret_hint == "ABCD" and list(w2.kinds) == []
    assert [x.secret_hint for x in listed(notif_stub, a)] == ["ABCD"]
    h.call(notif_stub.DeleteWebhook, npb.DeleteWebhookRequest(webhook_id=w.id), a.md)
    assert listed(notif_stub, a) == []
    h.expect_error(E.NOT_FOUND, notif_stub.DeleteWebhook,
                   npb.DeleteWebhookRequest(webhook_id=w.id), a.md)


def test_another_users_webhooks_are_out_of_reach(
        notifications, notif_stub, new_account, admin, receiver):
    a, b = new_account(), new_account()
    w = register(notif_stub, a, receiver.url(hook_path()))
    h.expect_error(E.NOT_FOUND, notif_stub.DeleteWebhook,
                   npb.DeleteWebhookRequest(webhook_id=w.id), b.md)
    h.expect_error(E.PERMISSION_DENIED, notif_stub.ListWebhooks,
                   npb.ListWebhooksRequest(user_id=a.id), b.md)
    h.expect_error(E.PERMISSION_DENIED, notif_stub.RegisterWebhook, npb.RegisterWebhookRequest(
        user_id=a.id, url=receiver.url(hook_path()), secret=SECRET), b.md)
    h.expect_error(E.UNAUTHENTICATED, notif_stub.ListWebhooks, npb.ListWebhooksRequest())
    assert [x.id for x in listed(notif_stub, a)] == [w.id], "b changed a's webhooks"
    assert listed(notif_stub, b) == []
    # an admin may list and delete anyone's
    assert [x.id for x in listed(notif_stub, admin, user_id=a.id)] == [w.id]
    h.call(notif_stub.DeleteWebhook, npb.DeleteWebhookRequest(webhook_id=w.id), admin.md)
    assert listed(notif_stub, a) == []


@pytest.mark.parametrize("url", [
    "", "ftp://example.com/hook", "http://example.com/hook", "https://10.0.0.7/hook",
    "https://192.168.1.1/", "https://172.16.5.4/", "https://169.254.169.254/latest",
    "https://[fe80::1]/", "https://[fd00::1]/", "https://0.0.0.0/", "https://intranet/hook",
    "https://printer.local/", "https://user:pw@example.com/hook", "https://example.com/a#frag",
    "https://example.com/a b", "not a url", "https://example.com/" + "a" * 2100,
    "http://192.168.1.1/",
])
def test_bad_urls_are_invalid_and_change_nothing(notifications, notif_stub, new_account, url):
    a = new_account()
    h.expect_error(E.INVALID_ARGUMENT, notif_stub.RegisterWebhook,
                   npb.RegisterWebhookRequest(url=url, secret=SECRET), a.md, field="url")
    assert listed(notif_stub, a) == []


def test_bad_secret_kinds_description_and_the_count_limit(
        notifications, notif_stub, new_account, receiver):
    a = new_account()
    url = receiver.url(hook_path())
    for secret in ("", "x" * 31, "x" * 257):
        h.expect_error(E.INVALID_ARGUMENT, notif_stub.RegisterWebhook,
                       npb.RegisterWebhookRequest(url=url, secret=secret), a.md, field="secret")
    for kinds in ([0], [99], [1] * 13):
        h.expect_error(E.INVALID_ARGUMENT, notif_stub.RegisterWebhook,
                       npb.RegisterWebhookRequest(url=url, secret=SECRET, kinds=kinds), a.md,
                       field="kinds")
    h.expect_error(E.INVALID_ARGUMENT, notif_stub.RegisterWebhook, npb.RegisterWebhookRequest(
        url=url, secret=SECRET, description="d" * 201), a.md, field="description")
    h.expect_error(E.INVALID_ARGUMENT, notif_stub.DeleteWebhook,
                   npb.DeleteWebhookRequest(webhook_id=0), a.md, field="webhook_id")
    assert listed(notif_stub, a) == []
    # public names and loopback (allowed in tests) are fine; ten at most
    urls = ["https://partner%d.example.com/hook" % i for i in range(9)] + [url]
    for u in urls:
        register(notif_stub, a, u)
    h.expect_error(E.RESOURCE_EXHAUSTED, notif_stub.RegisterWebhook,
                   npb.RegisterWebhookRequest(url=receiver.url(hook_path()), secret=SECRET),
                   a.md)
    register(notif_stub, a, url, description="replacing one at the limit is fine")
    assert sorted(x.url for x in listed(notif_stub, a)) == sorted(urls)


def test_a_notification_reaches_the_webhook_signed(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    a = new_account()
    path, outbid_only = hook_path(), hook_path()
    w = register(notif_stub, a, receiver.url(path))
    register(notif_stub, a, receiver.url(outbid_only), kinds=[npb.EVENT_KIND_OUTBID])
    deposit(a, 4321)
    req = receiver.wait(path)[0]
    check_signature(req)
    n = inbox(a).notifications[0]
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["X-Gavel-Event-Id"] == "notification-%d" % n.id
    assert req.headers["X-Gavel-Kind"] == "wallet"
    body = req.json()
    assert body["id"] == "notification-%d" % n.id and body["kind"] == "wallet"
    got = body["notification"]
    assert got["id"] == n.id and got["user_id"] == a.id and got["title"] == n.title
    assert got["body"] == n.body and "43.21 RUB" in got["body"]
    assert got["event_id"] == n.event_id and got["created_at_us"] == n.created_at_us
    # a wrong secret does not verify
    with pytest.raises(AssertionError):
        check_signature(req, secret="x" * 40)
    h.wait_until(lambda: npb.CHANNEL_WEBHOOK in inbox(a).notifications[0].delivered_channels,
                 5, what="webhook confirmed in the inbox")
    time.sleep(0.5)
    assert receiver.at(outbid_only) == [], "a webhook for outbids only got a wallet message"
    assert len(receiver.at(path)) == 1, "sent twice"
    assert listed(notif_stub, a)[0].id == w.id


def test_an_outbid_reaches_the_bidders_webhook(notifications, notif_stub, market, bid,
                                               receiver):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    path = hook_path()
    h.call(notif_stub.RegisterWebhook, npb.RegisterWebhookRequest(
        url=receiver.url(path), secret=SECRET, kinds=[npb.EVENT_KIND_OUTBID]),
        h.bearer(a.token))
    lot = market.live(seller)["id"]
    bid(lot, a)
    price = int(bid(lot, b)["bid"]["amount"]["units"])
    req = receiver.wait(path)[0]
    check_signature(req)
    body = req.json()
    assert body["kind"] == "outbid" and body["notification"]["lot_id"] == int(lot)
    assert "%d.%02d RUB" % (price // 100, price % 100) in body["notification"]["body"]
    assert body["notification"]["link"] == "/lots/%s" % lot


def test_a_failed_post_is_retried_with_the_same_event_id(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    retried0 = h.metric_value(notifications, "gavel_notifications_retried_total",
                              'channel="webhook"')
    a = new_account()
    path = hook_path()
    receiver.script(path, 500, 200)
    register(notif_stub, a, receiver.url(path))
    deposit(a, 1500)
    first, second = receiver.wait(path, 2)[:2]
    for r in (first, second):
        check_signature(r)
    assert first.headers["X-Gavel-Event-Id"] == second.headers["X-Gavel-Event-Id"]
    assert first.headers["X-Gavel-Delivery-Id"] == second.headers["X-Gavel-Delivery-Id"]
    assert first.body == second.body, "a retry must carry the same body"
    h.wait_until(lambda: npb.CHANNEL_WEBHOOK in inbox(a).notifications[0].delivered_channels,
                 5, what="webhook confirmed after the retry")
    time.sleep(0.5)
    assert len(receiver.at(path)) == 2
    assert h.metric_value(notifications, "gavel_notifications_retried_total",
                          'channel="webhook"') >= retried0 + 1
    assert listed(notif_stub, a)[0].is_active


def test_a_429_with_retry_after_is_honoured(
        notifications, notif_stub, new_account, deposit, receiver):
    a = new_account()
    path = hook_path()
    receiver.script(path, (429, {"Retry-After": "1"}), 200)
    register(notif_stub, a, receiver.url(path))
    deposit(a, 1600)
    first, second = receiver.wait(path, 2)[:2]
    # the backoff alone is 100..300 ms here; Retry-After asked for a second
    assert second.at - first.at >= 0.9, second.at - first.at


def test_a_webhook_failing_too_long_is_turned_off_and_revived_by_registering(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    off0 = h.metric_value(notifications, "gavel_notifications_webhooks_disabled_total")
    a = new_account()
    path = hook_path()
    receiver.script(path, 500)
    register(notif_stub, a, receiver.url(path))
    deposit(a, 1700)
    # GAVEL_WEBHOOK_DISABLE_AFTER_MS is 2 s under test
    h.wait_until(lambda: not listed(notif_stub, a)[0].is_active, 15, what="webhook off")
    assert h.metric_value(notifications, "gavel_notifications_webhooks_disabled_total") \
        == off0 + 1
    n = len(receiver.at(path))
    deposit(a, 1800)  # an inactive webhook gets nothing
    h.wait_until(lambda: len(inbox(a).notifications) == 2, 10, what="second notification")
    time.sleep(1)
    assert len(receiver.at(path)) == n
    receiver.script(path, 200)
    w = register(notif_stub, a, receiver.url(path))
    assert w.is_active
    deposit(a, 1900)
    h.wait_until(lambda: any(b"19.00 RUB" in r.body for r in receiver.at(path)), 10,
                 what="the revived webhook's message")


def test_rest_routes_for_webhooks(notifications, rest, receiver):
    a, b = rest.register(), rest.register()
    url = receiver.url(hook_path())
    got = rest.ok("POST", "/api/v1/webhooks", {"url": url, "secret": SECRET,
                                               "kinds": ["EVENT_KIND_OUTBID"]}, a.token)
    w = got["webhook"]
    assert w["url"] == url and w["secretHint"] == "WXYZ" and "secret" not in w
    listed_ = rest.ok("GET", "/api/v1/webhooks", token=a.token)["webhooks"]
    assert [x["id"] for x in listed_] == [w["id"]]
    assert SECRET not in json.dumps(listed_)
    bad = rest.call("POST", "/api/v1/webhooks", {"url": "http://example.com/", "secret": SECRET},
                    token=a.token)
    assert bad.status == 400, bad
    other = rest.call("DELETE", "/api/v1/webhooks/%s" % w["id"], token=b.token)
    assert other.status == 404, other
    rest.ok("DELETE", "/api/v1/webhooks/%s" % w["id"], token=a.token)
    assert rest.ok("GET", "/api/v1/webhooks", token=a.token).get("webhooks", []) == []


def test_concurrent_registrations_never_pass_the_limit(notifications, notif_stub, new_account):
    a = new_account()
    urls = ["https://race%d.example.com/hook" % i for i in range(16)]

    def one(url):
        return h.code_of(lambda: register(notif_stub, a, url))
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, urls))
    assert codes.count(E.OK) == 10, codes
    assert codes.count(E.RESOURCE_EXHAUSTED) == 6, codes
    assert len(listed(notif_stub, a)) == 10
