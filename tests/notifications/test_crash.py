"""kill -9 of the notifications daemon in the middle of a delivery round:
after the restart every notification reaches each of its channels, the
realtime channel exactly once, email at least once and again only for the
message each worker had in flight (the same Message-ID)."""
import collections
import os

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb


def test_kill9_mid_delivery_then_each_notification_once_per_channel(
        notifications, notif_stub, new_account, deposit, feed, inbox, mail_sink):
    users = [new_account() for _ in range(8)]
    for u in users:
        h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
            update_mask=["kinds"], preferences=npb.Preferences(kinds=[npb.KindPreference(
                kind=npb.EVENT_KIND_WALLET, channels=[npb.CHANNEL_REALTIME,
                                                      npb.CHANNEL_EMAIL])])), u.md)
    f = feed(*[u.id for u in users])
    # a slow mail server, so the kill lands while a round is sending
    mail_sink.stop()
    slow = h.SmtpSink(mail_sink.port, mail_sink.dir, mail_sink.log_path, delay_ms=250)
    slow.start()
    try:
        for u in users:
            for units in (1100, 2200, 3300):
                deposit(u, units)
        f.wait_for(lambda f: len(f.messages) >= 3, 20, what="the first realtime messages")
        notifications.kill9()
        seen_before = len(f.messages)
        notifications.start()
        want = 3 * len(users)

        missing = {}

        def all_delivered():
            missing.clear()
            for u in users:
                got = inbox(u).notifications
                if len(got) != 3:
                    missing[u.id] = "%d notifications" % len(got)
                for n in got:
                    if sorted(n.delivered_channels) != [npb.CHANNEL_REALTIME, npb.CHANNEL_EMAIL]:
                        missing[n.id] = list(n.delivered_channels)
            return not missing
        lease_s = int(notifications.env["GAVEL_NOTIFICATIONS_LEASE_MS"]) / 1000
        try:
            h.wait_until(all_delivered, lease_s + 30, interval=0.5,
                         what="every notification on both channels")
        except AssertionError as e:
            import psycopg2
            with psycopg2.connect(notifications.env["GAVEL_PG_DSN"]) as c, c.cursor() as cur:
                cur.execute("SELECT id, notification_id, channel, state, attempts, due_at_us, "
                            "last_error, sent_at_us FROM deliveries WHERE channel = 2 "
                            "ORDER BY id")
                rows = cur.fetchall()
            raise AssertionError("%s; missing %s; %s" % (e, missing, rows))
        assert seen_before < want, "the kill came after every delivery: the test proved nothing"
    finally:
        slow.stop()
        mail_sink.start()
    # the consumer flows again once the group has dropped the killed member
    # (GAVEL_KAFKA_SESSION_TIMEOUT_MS): a new event reaches its user
    marker = new_account()
    mf = feed(marker.id)
    deposit(marker, 999)
    mf.wait_for(lambda f: f.of(marker.id), 40, what="an event consumed after the restart")
    f.poll(1)
    ids = {n.id for u in users for n in inbox(u).notifications}
    assert len(ids) == want
    realtime = collections.Counter(int(m["notification"]["id"]) for _, m in f.messages)
    assert set(realtime) == ids
    twice = {i: c for i, c in realtime.items() if c != 1}
    assert not twice, "realtime messages published more than once: %s" % twice
    mails = collections.Counter()
    for u in users:
        for m in mail_sink.messages(to=u.email):
            mails[m["Message-ID"]] += 1
    assert set(mails) == {"<notification-%d@gavel>" % i for i in ids}
    again = sum(c - 1 for c in mails.values())
    workers = int(notifications.env.get("GAVEL_NOTIFICATIONS_WORKERS", 2))
    assert again <= workers, "%d emails went again after the crash (at most one per worker, %d)" % (
        again, workers)
    assert os.path.isdir(mail_sink.dir)
