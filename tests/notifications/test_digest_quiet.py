"""NEW_MATCH email digests and quiet hours.

Digests: while GAVEL_NOTIFICATIONS_DIGEST_S is on, a user's new-match
emails wait one window after the first match and go as one multipart
email listing every lot, recorded sent together (also after the mail
server was down for a while), never one email per lot.

Quiet hours: email, push and Telegram wait while the user's quiet hours
(in their time zone) hold, unless the kind is marked urgent; realtime and
the inbox never wait; changed quiet hours apply within
GAVEL_NOTIFICATIONS_QUIET_RECHECK_MS; a held delivery goes when they end
(quiet_until, the SQL function the workers use, is checked for the end
it computes)."""
import datetime
import random
import time
import uuid
import zoneinfo

import psycopg2
import pytest

import gavel_harness as h
from gavel_harness import events_pb2, notifications_pb2 as npb

DIGEST_S = 2


@pytest.fixture(scope="module")
def short_windows(notifications):
    """The daemon with a 2 s digest window and quiet hours looked at again
    every 300 ms; restored afterwards."""
    saved = dict(notifications.env)
    notifications.env.update({"GAVEL_NOTIFICATIONS_DIGEST_S": str(DIGEST_S),
                              "GAVEL_NOTIFICATIONS_QUIET_RECHECK_MS": "300"})
    notifications.restart()
    yield notifications
    notifications.env.clear()
    notifications.env.update(saved)
    notifications.restart()


def live_lot(lot_id, make, title):
    payload = events_pb2.LotUpserted(
        lot_id=lot_id, seller_id=1, state="live", title=title, make=make, model="Digest",
        year=2020, region="Kazan", start_price=h.rub(100000),
        updated_at_us=int(time.time() * 1e6))
    return events_pb2.Envelope(
        id=uuid.uuid4().hex, type="lot.upserted", occurred_at_us=int(time.time() * 1e6),
        aggregate_id=str(lot_id), source="tests",
        payload=payload.SerializeToString()).SerializeToString()


def send_lots(kafka_bootstrap, make, titles):
    """One live lot per title on gavel.auctions; returns their ids."""
    ids = [10 ** 12 + random.randrange(10 ** 9) for _ in titles]
    p = h.producer(kafka_bootstrap)
    try:
        for lot_id, title in zip(ids, titles):
            p.send("gavel.auctions", key=str(lot_id).encode(),
                   value=live_lot(lot_id, make, title)).get(timeout=10)
    finally:
        p.close()
    return ids


def dealer(notif_stub, admin, new_account, make):
    """A user with a segment on make and their address in preferences."""
    u = new_account()
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        user_id=u.id, update_mask=["email"], preferences=npb.Preferences(email=u.email)),
        admin.md)
    h.call(notif_stub.Subscribe, npb.SubscribeRequest(
        user_id=u.id, subscription=npb.Subscription(segment="make:%s" % make.lower())),
        admin.md)
    return u


def plain(msg):
    return msg.get_body(("plain",)).get_content()


def matches(inbox, user):
    return [n for n in inbox(user).notifications if n.kind == npb.EVENT_KIND_NEW_MATCH]


def test_new_matches_go_as_one_digest_email(
        short_windows, notif_stub, admin, new_account, inbox, kafka_bootstrap, mail_sink):
    make = "Digestcar%d" % random.randrange(10 ** 9)
    u = dealer(notif_stub, admin, new_account, make)
    titles = ["%s Alpha %d" % (make, i) for i in range(3)]
    t0 = time.monotonic()
    lots = send_lots(kafka_bootstrap, make, titles)
    h.wait_until(lambda: len(matches(inbox, u)) == 3, 15, what="three matches in the inbox")
    # the window runs from the match: nothing can have gone yet
    if time.monotonic() - t0 < DIGEST_S - 0.5:
        assert mail_sink.messages(to=u.email) == []
    got = h.wait_until(lambda: mail_sink.messages(to=u.email), 15, what="the digest")
    time.sleep(1.5)  # a second email would have come by now
    got = mail_sink.messages(to=u.email)
    assert len(got) == 1, [m["Subject"] for m in got]
    msg = got[0]
    assert msg["Message-ID"].startswith("<digest-")
    assert msg["X-Gavel-Digest-Count"] == "3"
    assert "3 new lots" in str(msg["Subject"])
    body = plain(msg)
    html = msg.get_body(("html",)).get_content()
    for title, lot in zip(titles, lots):
        assert title in body and "/lots/%d" % lot in body and title in html
    h.wait_until(lambda: all(list(n.delivered_channels) == [npb.CHANNEL_EMAIL]
                             for n in matches(inbox, u)), 10,
                 what="each match recorded sent by email")

    # the next match opens a new window: a second digest with that lot only
    [lot4] = send_lots(kafka_bootstrap, make, [make + " Beta"])
    got = h.wait_until(lambda: mail_sink.messages(to=u.email)[1:], 20, what="the next digest")
    assert len(got) == 1 and got[0]["X-Gavel-Digest-Count"] == "1"
    assert make + " Beta" in plain(got[0]) and titles[0] not in plain(got[0])
    assert got[0]["Message-ID"] != msg["Message-ID"]
    assert "/lots/%d" % lot4 in plain(got[0])


def test_digest_waits_out_a_mail_server_outage_and_goes_once(
        short_windows, notif_stub, admin, new_account, inbox, kafka_bootstrap, mail_sink):
    make = "Outagecar%d" % random.randrange(10 ** 9)
    u = dealer(notif_stub, admin, new_account, make)
    failed0 = h.metric_value(short_windows, "gavel_notifications_failed_total",
                             'channel="email"')
    mail_sink.stop()
    try:
        send_lots(kafka_bootstrap, make, [make + " One", make + " Two"])
        h.wait_until(lambda: h.metric_value(short_windows, "gavel_notifications_failed_total",
                                            'channel="email"') > failed0, 20,
                     what="a digest attempt while the server is down")
    finally:
        mail_sink.start()
    got = h.wait_until(lambda: mail_sink.messages(to=u.email), 20, what="the digest after it")
    time.sleep(1.5)
    got = mail_sink.messages(to=u.email)
    assert len(got) == 1, [m["Message-ID"] for m in got]
    assert got[0]["X-Gavel-Digest-Count"] == "2"
    assert make + " One" in plain(got[0]) and make + " Two" in plain(got[0])
    h.wait_until(lambda: all(list(n.delivered_channels) == [npb.CHANNEL_EMAIL]
                             for n in matches(inbox, u)) and len(matches(inbox, u)) == 2, 10,
                 what="both matches recorded sent")


def test_digest_in_russian_for_a_russian_dealer(
        short_windows, notif_stub, admin, new_account, inbox, kafka_bootstrap, mail_sink):
    make = "Rusdigest%d" % random.randrange(10 ** 9)
    u = dealer(notif_stub, admin, new_account, make)
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        user_id=u.id, update_mask=["language"], preferences=npb.Preferences(language="ru")),
        admin.md)
    titles = [make + " Один", make + " Два"]
    send_lots(kafka_bootstrap, make, titles)
    [msg] = h.wait_until(lambda: mail_sink.messages(to=u.email), 15, what="the digest")
    assert str(msg["Subject"]) == "Новых лотов по вашим поискам: 2"
    assert msg["X-Gavel-Digest-Count"] == "2" and msg["Content-Language"] == "ru"
    html = msg.get_body(("html",))
    for part in (msg.get_body(("plain",)), html):
        assert part.get_content_charset() == "utf-8"
        text = part.get_content()
        assert "Новых лотов по вашим поискам: 2" in text and "Новое совпадение" in text, text
        assert "от 1\u00a0000,00\u00a0₽" in text and "аукцион идёт" in text, text
        assert all(t in text for t in titles) and "New match" not in text, text
    # the inbox is in Russian too
    assert all(n.title.startswith("Новое совпадение: ") for n in matches(inbox, u))


def quiet_around_now(zone, before=30, after=30, urgent=()):
    now = datetime.datetime.now(zoneinfo.ZoneInfo(zone))
    m = now.hour * 60 + now.minute
    return npb.QuietHours(start_minute=(m - before) % 1440, end_minute=(m + after) % 1440,
                          time_zone=zone, urgent_kinds=list(urgent))


def wallet_by_email(notif_stub, user, quiet):
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["kinds", "quiet_hours", "email"], preferences=npb.Preferences(
            email=user.email, quiet_hours=quiet, kinds=[npb.KindPreference(
                kind=npb.EVENT_KIND_WALLET,
                channels=[npb.CHANNEL_REALTIME, npb.CHANNEL_EMAIL])])), user.md)


def test_quiet_hours_hold_email_but_not_realtime_until_they_change(
        short_windows, notif_stub, new_account, deposit, feed, inbox, mail_sink):
    u = new_account()
    # an hour around Tokyo's time of day, nine hours from UTC's: held only
    # when the zone is honoured
    wallet_by_email(notif_stub, u, quiet_around_now("Asia/Tokyo"))
    f = feed(u.id)
    deposit(u, 1234)
    f.wait_for(lambda f: f.of(u.id, "EVENT_KIND_WALLET"), 10, what="the realtime message")
    time.sleep(2)
    assert mail_sink.messages(to=u.email) == [], "email went during quiet hours"
    [n] = inbox(u).notifications
    assert list(n.delivered_channels) == [npb.CHANNEL_REALTIME]

    # quiet hours off: the held email goes within the recheck interval
    t0 = time.monotonic()
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["quiet_hours"], preferences=npb.Preferences()), u.md)
    msg = h.wait_until(lambda: mail_sink.messages(to=u.email), 10, what="the held email")
    assert time.monotonic() - t0 < 5
    assert len(msg) == 1 and "12.34 RUB" in plain(msg[0])
    h.wait_until(lambda: sorted(inbox(u).notifications[0].delivered_channels)
                 == [npb.CHANNEL_REALTIME, npb.CHANNEL_EMAIL], 10, what="email recorded")


def test_urgent_kinds_and_other_hours_are_not_held(
        short_windows, notif_stub, new_account, deposit, mail_sink):
    urgent, elsewhere = new_account(), new_account()
    wallet_by_email(notif_stub, urgent, quiet_around_now(
        "UTC", urgent=[npb.EVENT_KIND_WALLET]))
    # quiet hours that start in an hour and end in two: not now
    wallet_by_email(notif_stub, elsewhere, quiet_around_now("Europe/Moscow", -60, 120))
    deposit(urgent, 2000)
    deposit(elsewhere, 3000)
    for u in (urgent, elsewhere):
        h.wait_until(lambda: mail_sink.messages(to=u.email), 10, what="the email, not held")


def test_quiet_until_ends_where_the_window_ends(short_windows):
    def until(at, qs, qe, tz):
        with psycopg2.connect(short_windows.env["GAVEL_PG_DSN"]) as c, c.cursor() as cur:
            cur.execute("SELECT quiet_until(%s, %s, %s, %s)", (at, qs, qe, tz))
            return cur.fetchone()[0]

    def us(s):
        return int(datetime.datetime.fromisoformat(s).timestamp() * 1e6)
    # 22:00-07:00 in Moscow (UTC+3): 23:30 local holds until 07:00 next day
    assert until(us("2026-03-10T20:30:00+00:00"), 1320, 420, "Europe/Moscow") == \
        us("2026-03-11T04:00:00+00:00")
    # 01:00 local, after midnight, same window: the same morning
    assert until(us("2026-03-10T22:00:00+00:00"), 1320, 420, "Europe/Moscow") == \
        us("2026-03-11T04:00:00+00:00")
    # 12:00 local: outside
    assert until(us("2026-03-10T09:00:00+00:00"), 1320, 420, "Europe/Moscow") == 0
    # a window within one day, UTC by default
    assert until(us("2026-03-10T13:15:00+00:00"), 780, 840, "") == \
        us("2026-03-10T14:00:00+00:00")
    assert until(us("2026-03-10T14:00:00+00:00"), 780, 840, "") == 0
    # equal ends: no quiet hours; a zone PostgreSQL does not know: UTC
    assert until(us("2026-03-10T13:15:00+00:00"), 600, 600, "") == 0
    assert until(us("2026-03-10T13:15:00+00:00"), 780, 840, "Nowhere/Atlantis") == \
        us("2026-03-10T14:00:00+00:00")
