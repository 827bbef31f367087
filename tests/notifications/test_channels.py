"""Channels and preferences: what a user turns off is not sent, email goes
through SMTP to the mail sink (multipart text + HTML), a sink that is down
is retried until it is back, and a channel that always refuses ends in a
dead letter that is counted and published."""
import email.utils

import gavel_harness as h
from gavel_harness import events_pb2, notifications_pb2 as npb

WALLET = npb.EVENT_KIND_WALLET


def set_channels(stub, user, kind, channels, **prefs):
    mask = ["kinds"] + sorted(prefs)
    p = npb.Preferences(kinds=[npb.KindPreference(kind=kind, channels=channels)], **prefs)
    return h.call(stub.SetPreferences, npb.SetPreferencesRequest(update_mask=mask,
                                                                 preferences=p), user.md)


def email_sent(notifications):
    return h.metric_value(notifications, "gavel_notifications_sent_total", 'channel="email"')


def counter(notifications, name, channel="email"):
    return h.metric_value(notifications, name, 'channel="%s"' % channel)


def test_defaults_then_email_only_then_inbox_only(
        notifications, notif_stub, new_account, deposit, feed, inbox, mail_sink):
    a = new_account()
    f = feed(a.id)
    got = h.call(notif_stub.GetPreferences, npb.GetPreferencesRequest(), a.md).preferences
    wallet = [k for k in got.kinds if k.kind == WALLET]
    assert [list(k.channels) for k in wallet] == [[npb.CHANNEL_REALTIME]], got

    # email only: the mail comes, nothing on the realtime channel
    set_channels(notif_stub, a, WALLET, [npb.CHANNEL_EMAIL])
    deposit(a, 5000)
    msg = h.wait_until(lambda: mail_sink.messages(to=a.email), 10, what="a's email")[0]
    n = inbox(a).notifications[0]
    assert msg["Message-ID"] == "<notification-%d@gavel>" % n.id
    assert msg["X-Gavel-Kind"] == "wallet"
    assert str(msg["Subject"]) == n.title
    assert email.utils.parseaddr(str(msg["To"]))[1] == a.email
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "50.00 RUB" in parts["text/plain"] and "50.00 RUB" in parts["text/html"]
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_EMAIL], 5, what="email confirmed in the inbox")
    f.poll(0.5)
    assert f.of(a.id) == [], "realtime was turned off for WALLET but a message came"

    # no channel at all: inbox only
    set_channels(notif_stub, a, WALLET, [])
    deposit(a, 6000)
    h.wait_until(lambda: len(inbox(a).notifications) == 2, 10, what="the second notification")
    # a marker after it on a channel still on proves nothing was sent for it
    set_channels(notif_stub, a, WALLET, [npb.CHANNEL_REALTIME])
    deposit(a, 7000)
    f.wait_for(lambda f: f.of(a.id), what="the marker deposit")
    assert len(f.of(a.id)) == 1 and "70.00 RUB" in f.of(a.id)[0]["notification"]["body"]
    assert len(mail_sink.messages(to=a.email)) == 1
    assert len(inbox(a).notifications) == 3 and inbox(a).unread_count == 3


def test_sink_down_is_retried_and_delivered_once_when_it_returns(
        notifications, notif_stub, new_account, deposit, inbox, mail_sink):
    a = new_account()
    set_channels(notif_stub, a, WALLET, [npb.CHANNEL_EMAIL])
    failed0 = counter(notifications, "gavel_notifications_failed_total")
    retried0 = counter(notifications, "gavel_notifications_retried_total")
    mail_sink.stop()
    try:
        deposit(a, 8000)
        h.wait_until(lambda: counter(notifications, "gavel_notifications_failed_total")
                     >= failed0 + 2, 10, what="two failed SMTP attempts")
        assert counter(notifications, "gavel_notifications_retried_total") >= retried0 + 2
        assert mail_sink.messages(to=a.email) == []
    finally:
        mail_sink.start()
    msgs = h.wait_until(lambda: mail_sink.messages(to=a.email), 15, what="the retried email")
    h.wait_until(lambda: list(inbox(a).notifications[0].delivered_channels)
                 == [npb.CHANNEL_EMAIL], 5, what="email confirmed")
    assert len(mail_sink.messages(to=a.email)) == 1, "the retried email went twice"
    assert "80.00 RUB" in msgs[0].get_body(("plain",)).get_content()


def test_a_channel_that_always_refuses_is_dead_lettered_and_counted(
        notifications, notif_stub, kafka_bootstrap, new_account, deposit, inbox, mail_sink):
    a = new_account()
    bad = "nobody-%d@%s" % (a.id, h.SmtpSink.REJECT_DOMAIN)
    set_channels(notif_stub, a, WALLET, [npb.CHANNEL_EMAIL, npb.CHANNEL_REALTIME], email=bad)
    dead0 = counter(notifications, "gavel_notifications_dead_lettered_total")
    tail = h.TopicTail(kafka_bootstrap, "gavel.notifications") if _topic_exists(
        kafka_bootstrap) else None
    try:
        deposit(a, 9000)
        h.wait_until(lambda: counter(notifications, "gavel_notifications_dead_lettered_total")
                     >= dead0 + 1, 20, what="the email dead-lettered")
        n = inbox(a).notifications[0]
        assert list(n.delivered_channels) == [npb.CHANNEL_REALTIME]
        assert mail_sink.messages(to=bad) == []
        if tail is None:
            tail = h.TopicTail(kafka_bootstrap, "gavel.notifications")
            tail.consumer.seek_to_beginning()
        ev = tail.wait_for(lambda t: [e for _, e in t.envelopes("gavel.notifications")
                                      if e.type == "notification.dead_lettered" and
                                      e.aggregate_id == str(a.id)], 15,
                           what="notification.dead_lettered of a")[0]
        d = events_pb2.NotificationDeadLettered.FromString(ev.payload)
        assert (d.notification_id, d.user_id, d.kind, d.channel) == (n.id, a.id, "wallet",
                                                                     "email")
        assert d.attempts == int(notifications.env.get("GAVEL_NOTIFICATIONS_MAX_ATTEMPTS", 6))
        assert "smtp" in d.last_error and d.source_event_id == n.event_id
    finally:
        if tail is not None:
            tail.close()


def _topic_exists(bootstrap):
    from kafka import KafkaConsumer
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return "gavel.notifications" in c.topics()
    finally:
        c.close()
