"""The language of a user's notifications (Preferences.language): a user
whose language is "ru" gets their emails in Russian (subject, plain text
and HTML, UTF-8, money as "1 234,56 ₽"), one with "en" or none in English
as before; the inbox, the realtime message and the webhook POST follow
the same language (the webhook's notification names it in "language"). The field is set through
SetPreferences and the gateway's PATCH, read back by GetPreferences, and
anything but "", "en" and "ru" is INVALID_ARGUMENT naming it, changing
nothing."""
import threading
import uuid

import grpc

import gavel_harness as h
from gavel_harness import notifications_pb2 as npb
from http_receiver import receiver_for

WALLET = npb.EVENT_KIND_WALLET
NBSP = "\u00a0"


def wallet_by_email(stub, user, language=None):
    mask = ["kinds", "email"] + (["language"] if language is not None else [])
    p = npb.Preferences(email=user.email, language=language or "", kinds=[
        npb.KindPreference(kind=WALLET, channels=[npb.CHANNEL_EMAIL])])
    return h.call(stub.SetPreferences, npb.SetPreferencesRequest(update_mask=mask,
                                                                 preferences=p), user.md)


def parts(msg):
    assert msg.get_content_type() == "multipart/alternative"
    got = {}
    for p in msg.iter_parts():
        assert p.get_content_charset() == "utf-8", p["Content-Type"]
        got[p.get_content_type()] = p.get_content()
    assert set(got) == {"text/plain", "text/html"}, got
    return got["text/plain"], got["text/html"]


def language_of(stub, user):
    return h.call(stub.GetPreferences, npb.GetPreferencesRequest(), user.md).preferences.language


def test_russian_user_gets_russian_email_english_user_unchanged(
        notifications, notif_stub, new_account, deposit, inbox, mail_sink):
    ru, en, unset = new_account(), new_account(), new_account()
    got = wallet_by_email(notif_stub, ru, "ru").preferences
    assert got.language == "ru"
    assert wallet_by_email(notif_stub, en, "en").preferences.language == "en"
    wallet_by_email(notif_stub, unset)
    assert language_of(notif_stub, ru) == "ru" and language_of(notif_stub, unset) == ""
    for u in (ru, en, unset):
        deposit(u, 123456)

    [msg] = h.wait_until(lambda: mail_sink.messages(to=ru.email), 10, what="ru's email")
    assert str(msg["Subject"]) == "Пополнение получено"
    assert msg["Content-Language"] == "ru"
    plain, html = parts(msg)
    money = "1%s234,56%s₽" % (NBSP, NBSP)
    for text in (plain, html):
        assert "Пополнение получено" in text and "зачислено" in text, text
        assert money in text, text
        assert "RUB" not in text and "Deposit" not in text, text
    # the inbox shows the same Russian texts
    [n] = inbox(ru).notifications
    assert n.title == "Пополнение получено" and money in n.body, n

    for u in (en, unset):
        [msg] = h.wait_until(lambda: mail_sink.messages(to=u.email), 10, what="the English one")
        assert str(msg["Subject"]) == "Deposit received"
        assert msg["Content-Language"] == "en"
        plain, html = parts(msg)
        for text in (plain, html):
            assert "1234.56 RUB" in text and "was added to your wallet" in text, text
            assert "₽" not in text and "зачислено" not in text, text


def test_switching_back_to_english_applies_to_the_next_email(
        notifications, notif_stub, new_account, deposit, mail_sink):
    u = new_account()
    wallet_by_email(notif_stub, u, "ru")
    deposit(u, 100)
    h.wait_until(lambda: mail_sink.messages(to=u.email), 10, what="the Russian email")
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["language"], preferences=npb.Preferences(language="en")), u.md)
    deposit(u, 250000)
    msgs = h.wait_until(lambda: mail_sink.messages(to=u.email)[1:], 10, what="the next email")
    assert str(msgs[0]["Subject"]) == "Deposit received"
    assert "2500.00 RUB" in parts(msgs[0])[0]
    # and changing other fields keeps the language
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["language"], preferences=npb.Preferences(language="ru")), u.md)
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["email"], preferences=npb.Preferences(email=u.email, language="en")),
        u.md)
    assert language_of(notif_stub, u) == "ru"


def test_bad_language_is_invalid_argument_and_changes_nothing(
        notifications, notif_stub, new_account):
    u = new_account()
    h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
        update_mask=["language"], preferences=npb.Preferences(language="ru")), u.md)
    before = h.call(notif_stub.GetPreferences, npb.GetPreferencesRequest(), u.md).preferences
    for bad in ("de", "RU", "ru ", "en-US", "e", "р", "x" * 4000, "ru\n", "ru\x00"):
        h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, notif_stub.SetPreferences,
                       npb.SetPreferencesRequest(update_mask=["language", "email"],
                                                 preferences=npb.Preferences(
                                                     language=bad, email="new@example.com")),
                       u.md, field="language")
    # a request over the method's size limit is refused before the handler
    h.expect_error(grpc.StatusCode.INVALID_ARGUMENT, notif_stub.SetPreferences,
                   npb.SetPreferencesRequest(update_mask=["language"], preferences=npb.Preferences(
                       language="x" * 100000)), u.md)
    after = h.call(notif_stub.GetPreferences, npb.GetPreferencesRequest(), u.md).preferences
    assert after.language == "ru" and after.email == before.email
    assert after.updated_at_us == before.updated_at_us


def test_another_users_language_is_not_the_callers_to_change(
        notifications, notif_stub, new_account):
    a, b = new_account(), new_account()
    h.expect_error(grpc.StatusCode.PERMISSION_DENIED, notif_stub.SetPreferences,
                   npb.SetPreferencesRequest(user_id=b.id, update_mask=["language"],
                                             preferences=npb.Preferences(language="ru")), a.md)
    assert language_of(notif_stub, b) == ""


def test_concurrent_language_switches_end_in_one_of_them(
        notifications, notif_stub, new_account):
    u = new_account()
    errors = []

    def switch(lang):
        try:
            for _ in range(10):
                h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
                    update_mask=["language"], preferences=npb.Preferences(language=lang)),
                    u.md)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=switch, args=(lang,)) for lang in ("ru", "en", "")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert language_of(notif_stub, u) in ("ru", "en", "")


def test_language_through_the_gateway(notifications, rest, new_account):
    u = rest.register()
    a = rest.call("PATCH", "/api/v1/notifications/preferences",
                  {"updateMask": ["language"], "preferences": {"language": "ru"}}, token=u.token)
    assert a.status == 200 and a.json["preferences"]["language"] == "ru", a
    got = rest.ok("GET", "/api/v1/notifications/preferences", token=u.token)
    assert got["preferences"]["language"] == "ru", got
    bad = rest.call("PATCH", "/api/v1/notifications/preferences",
                    {"updateMask": ["language"], "preferences": {"language": "fr"}},
                    token=u.token)
    assert bad.status == 400 and "language" in str(bad.json), bad
    got = rest.ok("GET", "/api/v1/notifications/preferences", token=u.token)
    assert got["preferences"]["language"] == "ru", got


def test_inbox_realtime_and_webhook_follow_the_users_language(
        notifications, notif_stub, new_account, deposit, inbox, feed):
    receiver = receiver_for(notifications)
    try:
        ru, en = new_account(), new_account()
        h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
            update_mask=["language"], preferences=npb.Preferences(language="ru")), ru.md)
        h.call(notif_stub.SetPreferences, npb.SetPreferencesRequest(
            update_mask=["language"], preferences=npb.Preferences(language="en")), en.md)
        paths = {}
        for u in (ru, en):
            paths[u.id] = "/hook/%s" % uuid.uuid4().hex
            h.call(notif_stub.RegisterWebhook, npb.RegisterWebhookRequest(
                url=receiver.url(paths[u.id]), secret="s3cret-" + "k" * 34), u.md)
        f = feed(ru.id, en.id)
        for u in (ru, en):
            deposit(u, 123456)
        money = "1%s234,56%s₽" % (NBSP, NBSP)
        want = {ru.id: ("Пополнение получено", money, "ru"),
                en.id: ("Deposit received", "1234.56 RUB", "en")}
        for u in (ru, en):
            title, amount, lang = want[u.id]
            msg = f.wait_for(lambda f, u=u: f.of(u.id), what="the realtime message")[0]
            n = msg["notification"]
            assert n["title"] == title and amount in n["body"], n
            [x] = inbox(u).notifications
            assert x.title == title and amount in x.body and x.body == n["body"], x
            got = receiver.wait(paths[u.id])[0].json()["notification"]
            assert got["language"] == lang, got
            assert got["title"] == title and got["body"] == x.body, got
        # the other language's words appear nowhere
        assert "Deposit" not in inbox(ru).notifications[0].title
        assert "₽" not in inbox(en).notifications[0].body
    finally:
        receiver.close()
