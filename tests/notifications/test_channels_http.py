"""Telegram and push: the Bot API's sendMessage at GAVEL_TELEGRAM_API_URL
with the bot token and the user's chat id, and the push gateway's POST at
GAVEL_PUSH_URL with the user's push tokens, both to a local receiver; a
user without a chat id or tokens is skipped, not failed; a refusing
gateway is retried."""
import time

import grpc
import pytest

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb
from http_receiver import receiver_for

WALLET = npb.EVENT_KIND_WALLET
TELEGRAM_PATH = "/telegram/bottest-bot-token/sendMessage"


@pytest.fixture(scope="module")
def receiver(notifications):
    r = receiver_for(notifications)
    yield r
    r.close()


def set_prefs(stub, user, channels, **prefs):
    mask = ["kinds"] + sorted(prefs)
    p = npb.Preferences(kinds=[npb.KindPreference(kind=WALLET, channels=channels)], **prefs)
    h.call(stub.SetPreferences, npb.SetPreferencesRequest(update_mask=mask, preferences=p),
           user.md)


def metric(notifications, name, channel):
    return h.metric_value(notifications, name, 'channel="%s"' % channel)


def mine(receiver, path, needle):
    return [r for r in receiver.at(path) if needle.encode() in r.body]


def test_telegram_message_to_the_users_chat(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    a = new_account()
    chat = "-100%d" % a.id
    set_prefs(notif_stub, a, [npb.CHANNEL_TELEGRAM], telegram_chat_id=chat)
    deposit(a, 2468)
    req = h.wait_until(lambda: mine(receiver, TELEGRAM_PATH, chat), 10,
                       what="the Telegram message")[0]
    body = req.json()
    n = inbox(a).notifications[0]
    assert body["chat_id"] == chat
    assert body["text"].startswith(n.title + "\n\n" + n.body)
    assert "24.68 RUB" in body["text"]
    assert req.headers["Content-Type"] == "application/json"
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_TELEGRAM], 5, what="Telegram confirmed in the inbox")


def test_push_carries_the_users_tokens_and_the_notification(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    a = new_account()
    tokens = ['{"endpoint":"https://push.example/%d"}' % a.id, "fcm-token-%d" % a.id]
    set_prefs(notif_stub, a, [npb.CHANNEL_PUSH], push_tokens=tokens)
    deposit(a, 1357)
    req = h.wait_until(lambda: mine(receiver, "/push", "fcm-token-%d" % a.id), 10,
                       what="the push request")[0]
    body = req.json()
    n = inbox(a).notifications[0]
    assert body["tokens"] == tokens
    assert body["notification"]["id"] == n.id and body["notification"]["kind"] == "wallet"
    assert body["notification"]["title"] == n.title and "13.57 RUB" in body["notification"]["body"]
    assert req.headers["X-Gavel-Event-Id"] == "notification-%d" % n.id
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_PUSH], 5, what="push confirmed in the inbox")


def test_no_chat_id_and_no_tokens_are_skipped_not_failed(
        notifications, notif_stub, new_account, deposit, inbox, feed, receiver):
    failed = {c: metric(notifications, "gavel_notifications_failed_total", c)
              for c in ("push", "telegram")}
    a = new_account()
    f = feed(a.id)
    set_prefs(notif_stub, a, [npb.CHANNEL_TELEGRAM, npb.CHANNEL_PUSH, npb.CHANNEL_REALTIME])
    deposit(a, 1111)
    f.wait_for(lambda f: f.of(a.id), what="the realtime message")
    time.sleep(1)
    assert mine(receiver, TELEGRAM_PATH, "11.11 RUB") == []
    assert [r for r in receiver.at("/push") if b'"user_id":%d' % a.id in r.body] == []
    assert list(inbox(a).notifications[0].delivered_channels) == [npb.CHANNEL_REALTIME]
    for c in ("push", "telegram"):
        assert metric(notifications, "gavel_notifications_failed_total", c) == failed[c]


def test_a_refusing_push_gateway_is_retried(
        notifications, notif_stub, new_account, deposit, inbox, receiver):
    retried0 = metric(notifications, "gavel_notifications_retried_total", "push")
    a = new_account()
    token = "retry-token-%d" % a.id
    set_prefs(notif_stub, a, [npb.CHANNEL_PUSH], push_tokens=[token])
    receiver.script("/push", 503, 200)
    try:
        deposit(a, 2222)
        got = h.wait_until(lambda: len(mine(receiver, "/push", token)) >= 2 and
                           mine(receiver, "/push", token), 10, what="the retried push")
    finally:
        receiver.script("/push", 200)
    assert got[0].body == got[1].body
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_PUSH], 5, what="push confirmed after the retry")
    assert metric(notifications, "gavel_notifications_retried_total", "push") >= retried0 + 1


def test_oversized_and_malformed_channel_preferences_are_refused(
        notifications, notif_stub, new_account):
    a = new_account()
    for prefs in ({"push_tokens": ["t"] * 11}, {"push_tokens": ["x" * 4097]},
                  {"push_tokens": [""]}, {"telegram_chat_id": "@channel; rm"},
                  {"telegram_chat_id": "1" * 65}):
        mask = sorted(prefs)
        h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, notif_stub.SetPreferences,
                       npb.SetPreferencesRequest(update_mask=mask,
                                                 preferences=npb.Preferences(**prefs)), a.md)
