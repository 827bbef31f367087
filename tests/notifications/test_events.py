"""Events that can never apply go to the dead-letter topic and the
partition keeps flowing; a redelivered event tells nobody twice."""
import uuid

import gavel_harness as h
from gavel_harness import events_pb2


def envelope(type_, key, payload, event_id=None):
    return events_pb2.Envelope(id=event_id or uuid.uuid4().hex, type=type_,
                               occurred_at_us=1, aggregate_id=key, source="tests",
                               payload=payload).SerializeToString()


def dlq_of_notifications(tail, key):
    return [r for r in tail.records if r.topic == "gavel.wallet.dlq" and r.key == key and
            dict(r.headers).get("gavel-dlq-group") == b"notifications"]


def test_malformed_wallet_events_are_dead_lettered_and_later_ones_apply(
        notifications, kafka_bootstrap, new_account, deposit, feed, inbox):
    a = new_account()
    f = feed(a.id)
    key = str(a.id).encode()
    # the DLQ topic exists once anything was dead-lettered: make sure of it
    p = h.producer(kafka_bootstrap)
    p.send("gavel.wallet.dlq", key=b"probe", value=b"probe").get(timeout=10)
    tail = h.TopicTail(kafka_bootstrap, "gavel.wallet.dlq")
    try:
        bad = [
            b"\xff\x00 not an envelope",
            envelope("wallet.deposit", str(a.id), b"\xff\xff\xff"),  # payload does not decode
            envelope("wallet.deposit", str(a.id), events_pb2.WalletChanged(
                user_id=0, kind="deposit", amount=h.rub(100)).SerializeToString()),  # no user
        ]
        for value in bad:  # same key as a's deposits: the same partition
            p.send("gavel.wallet", key=key, value=value).get(timeout=10)
        deposit(a, 4200)
        msg = f.wait_for(lambda f: f.of(a.id), what="the deposit after the bad events")[0]
        assert "42.00 RUB" in msg["notification"]["body"]
        got = tail.wait_for(lambda t: len(dlq_of_notifications(t, key)) >= len(bad) and
                            dlq_of_notifications(t, key), 15, what="three dead letters")
        assert sorted(r.value for r in got) == sorted(bad)
        assert len(inbox(a).notifications) == 1
    finally:
        tail.close()
        p.close()


def test_a_redelivered_event_tells_nobody_twice(
        notifications, kafka_bootstrap, new_account, feed, inbox):
    a = new_account()
    f = feed(a.id)
    ev = envelope("wallet.deposit", str(a.id), events_pb2.WalletChanged(
        user_id=a.id, kind="deposit", amount=h.rub(777)).SerializeToString())
    p = h.producer(kafka_bootstrap)
    try:
        for _ in range(3):
            p.send("gavel.wallet", key=str(a.id).encode(), value=ev).get(timeout=10)
        # a marker behind them on the same partition: once it is in, all were read
        marker = envelope("wallet.deposit", str(a.id), events_pb2.WalletChanged(
            user_id=a.id, kind="deposit", amount=h.rub(888)).SerializeToString())
        p.send("gavel.wallet", key=str(a.id).encode(), value=marker).get(timeout=10)
    finally:
        p.close()
    f.wait_for(lambda f: any("8.88 RUB" in m["notification"]["body"] for m in f.of(a.id)),
               what="the marker")
    f.poll(0.5)
    bodies = sorted(m["notification"]["body"] for m in f.of(a.id))
    assert bodies == ["7.77 RUB was added to your wallet.", "8.88 RUB was added to your wallet."], (
        "the redelivered event was told again: %s" % bodies)
    assert len(inbox(a).notifications) == 2


def test_email_waits_for_a_registration_that_arrives_after_the_event(
        notifications, notif_stub, kafka_bootstrap, admin, mail_sink):
    """Regression: user.registered (gavel.users) and the user's first events
    (other topics) have no order between them; an event applied first used
    to get no email delivery at all."""
    import random
    from gavel_harness import notifications_pb2 as npb
    uid = 10 ** 12 + random.randrange(10 ** 9)
    addr = "late-%d@test.gavel" % uid
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        user_id=uid, update_mask=["kinds"], preferences=npb.Preferences(kinds=[
            npb.KindPreference(kind=npb.EVENT_KIND_WALLET, channels=[npb.CHANNEL_EMAIL])])),
        admin.md)
    failed0 = h.metric_value(notifications, "gavel_notifications_failed_total",
                             'channel="email"')
    p = h.producer(kafka_bootstrap)
    try:
        p.send("gavel.wallet", key=str(uid).encode(), value=envelope(
            "wallet.deposit", str(uid), events_pb2.WalletChanged(
                user_id=uid, kind="deposit", amount=h.rub(4321)).SerializeToString())
        ).get(timeout=10)
        h.wait_until(lambda: h.metric_value(notifications, "gavel_notifications_failed_total",
                                            'channel="email"') > failed0, 10,
                     what="an attempt without an address")
        assert mail_sink.messages(to=addr) == []
        p.send("gavel.users", key=str(uid).encode(), value=envelope(
            "user.registered", str(uid), events_pb2.UserRegistered(
                user_id=uid, email=addr, role="bidder").SerializeToString())).get(timeout=10)
    finally:
        p.close()
    msg = h.wait_until(lambda: mail_sink.messages(to=addr), 15, what="the email once known")
    assert len(msg) == 1 and "43.21 RUB" in msg[0].get_body(("plain",)).get_content()
