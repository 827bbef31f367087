"""Every route of the gateway's table, called through HTTP against the real
services: each one documented in /openapi.json is served (a happy path with
real data answers 200 with the response message), and every route the
test calls is documented, so the table, the document and the daemon
cannot drift apart.

The venue routes (floor bids, fair warning, hammer) go the whole way on a
venue lot when the bids and auctions services implement them; on a tree
without them they must reach the service and come back 501. The streaming
routes are called only when gavel-streaming is built (its daemon is
started here unless the session already runs one); without it they are
still checked against the document and docs/rest.md."""
import json
import os
import time
import urllib.parse

import pytest

import gavel_harness as h
from gavel_harness import GW_FUNDS as FUNDS, PASSWORD, new_key, rub_json as rub


def _implements(service, method):
    d = os.path.join(h.ROOT, "services", service)
    return any(method in open(os.path.join(d, n)).read() for n in os.listdir(d)
               if n.endswith(".c"))


HAS_VENUE = _implements("bids", "PlaceFloorBid") and _implements("auctions", "HammerLot")
HAS_STREAMING = os.access(os.path.join(h.build_dir(), "bin", "gavel-streaming"), os.X_OK)


@pytest.fixture(scope="module")
def streaming_svc(stack, request):
    """The streaming daemon when it is built: the session's, or one started
    here at the address the stack gives it (the gateway's too)."""
    if not HAS_STREAMING:
        yield None
        return
    try:
        yield request.getfixturevalue("streaming")
        return
    except pytest.FixtureLookupError:
        pass
    d = h.Daemon(stack, "streaming")
    d.start()
    yield d
    d.stop()
    assert not d.sanitizer_reports(), d.log_path


@pytest.fixture(scope="module")
def world(rest, market, gw_admin, gw_moderator, ledger, search, payments, sim, streaming_svc):
    w = {"admin": gw_admin, "moderator": gw_moderator, "ledger": ledger, "sim": sim,
         "market": market}
    w["seller"] = market.seller()
    w["bidder"] = market.bidder()
    w["bidder2"] = market.bidder()
    w["live"] = market.live(w["seller"])
    w["draft"] = market.draft(w["seller"])
    w["payer"] = market.bidder(funds=0)
    return w


def filter_q(lot_id):
    return urllib.parse.quote(json.dumps([["eq", "id", str(lot_id)]]))


def case_register(rest, w):
    a = rest.call("POST", "/api/v1/auth/register", {
        "email": h.unique_email("gwr"), "password": PASSWORD, "role": "ROLE_BIDDER",
        "displayName": "Route Test"})
    assert a.status == 200, a
    assert a.json["profile"]["role"] == "ROLE_BIDDER" and int(a.json["profile"]["userId"]) > 0
    w["new_email"] = a.json["profile"]["email"]
    return a


def case_login(rest, w):
    a = rest.call("POST", "/api/v1/auth/login", {"email": w["new_email"], "password": PASSWORD})
    assert a.status == 200, a
    assert a.json["tokens"]["accessToken"].count(".") == 2
    w["new_tokens"] = a.json["tokens"]
    return a


def case_refresh(rest, w):
    a = rest.call("POST", "/api/v1/auth/refresh",
                  {"refreshToken": w["new_tokens"]["refreshToken"]})
    assert a.status == 200, a
    assert a.json["tokens"]["refreshToken"] != w["new_tokens"]["refreshToken"]
    w["new_tokens"] = a.json["tokens"]
    return a


def case_logout(rest, w):
    a = rest.call("POST", "/api/v1/auth/logout",
                  {"refreshToken": w["new_tokens"]["refreshToken"]},
                  token=w["new_tokens"]["accessToken"])
    assert a.status == 200 and a.json == {}, a
    return a


def case_me(rest, w):
    a = rest.call("GET", "/api/v1/me", token=w["bidder"].token)
    assert a.status == 200 and int(a.json["profile"]["userId"]) == w["bidder"].id, a
    return a


def case_me_patch(rest, w):
    a = rest.call("PATCH", "/api/v1/me", {"updateMask": ["display_name"],
                                          "displayName": "Renamed Dealer"},
                  token=w["bidder"].token)
    assert a.status == 200 and a.json["profile"]["displayName"] == "Renamed Dealer", a
    return a


def case_me_participation(rest, w):
    a = rest.call("GET", "/api/v1/me/participation?page.pageSize=10", token=w["bidder"].token)
    assert a.status == 200 and "items" in a.json or a.json == {} or "page" in a.json, a
    return a


def case_user_get(rest, w):
    a = rest.call("GET", "/api/v1/users/%d" % w["bidder"].id, token=w["admin"].token)
    assert a.status == 200 and int(a.json["profile"]["userId"]) == w["bidder"].id, a
    return a


def case_user_patch(rest, w):
    a = rest.call("PATCH", "/api/v1/users/%d" % w["bidder"].id,
                  {"updateMask": ["region"], "region": "Kazan"}, token=w["admin"].token)
    assert a.status == 200 and a.json["profile"]["region"] == "Kazan", a
    return a


def case_user_participation(rest, w):
    a = rest.call("GET", "/api/v1/users/%d/participation" % w["bidder"].id,
                  token=w["admin"].token)
    assert a.status == 200, a
    return a


def case_wallet(rest, w):
    a = rest.call("GET", "/api/v1/wallet", token=w["bidder"].token)
    assert a.status == 200 and a.json["balance"]["total"]["units"] == str(FUNDS), a
    return a


def case_user_wallet(rest, w):
    a = rest.call("GET", "/api/v1/users/%d/wallet?currency=RUB" % w["bidder"].id,
                  token=w["admin"].token)
    assert a.status == 200 and int(a.json["balance"]["userId"]) == w["bidder"].id, a
    return a


def case_deposit(rest, w):
    a = rest.call("POST", "/api/v1/users/%d/wallet/deposits" % w["bidder2"].id,
                  {"amount": rub(5000), "reference": "wire 42"}, token=w["admin"].token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["balance"]["total"]["units"] == str(FUNDS + 5000), a
    return a


def case_categories(rest, w):
    a = rest.call("GET", "/api/v1/categories", token=w["bidder"].token)
    assert a.status == 200 and a.json["categories"], a
    return a


def case_category_create(rest, w):
    n = time.time_ns()
    a = rest.call("POST", "/api/v1/categories", {"name": "Route %d" % n, "slug": "route-%d" % n},
                  token=w["admin"].token)
    assert a.status == 200 and a.json["category"]["slug"] == "route-%d" % n, a
    return a


def case_lots(rest, w):
    a = rest.call("GET", "/api/v1/lots?filterJson=" + filter_q(w["live"]["id"]),
                  token=w["bidder"].token)
    assert a.status == 200 and [x["id"] for x in a.json["lots"]] == [w["live"]["id"]], a
    return a


def case_lots_search(rest, w):
    a = rest.call("POST", "/api/v1/lots/search",
                  {"filterJson": json.dumps([["eq", "id", w["live"]["id"]]])},
                  token=w["bidder"].token)
    assert a.status == 200 and [x["id"] for x in a.json["lots"]] == [w["live"]["id"]], a
    return a


def case_lot_create(rest, w):
    a = rest.call("POST", "/api/v1/lots", h.complete_lot(w["draft"]["categoryId"]),
                  token=w["seller"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_DRAFT", a
    w["created"] = a.json["lot"]
    return a


def case_lot_get(rest, w):
    a = rest.call("GET", "/api/v1/lots/%s" % w["live"]["id"], token=w["bidder"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_LIVE", a
    return a


def case_lot_patch(rest, w):
    a = rest.call("PATCH", "/api/v1/lots/%s" % w["created"]["id"],
                  {"updateMask": ["title"], "lot": {"title": "Camry, new title"}},
                  token=w["seller"].token)
    assert a.status == 200 and a.json["lot"]["title"] == "Camry, new title", a
    return a


def case_lot_history(rest, w):
    a = rest.call("GET", "/api/v1/lots/%s/history" % w["live"]["id"], token=w["seller"].token)
    assert a.status == 200 and len(a.json["transitions"]) >= 5, a
    return a


def case_lot_submit(rest, w):
    a = rest.call("POST", "/api/v1/lots/%s/submit" % w["created"]["id"], token=w["seller"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_IN_REVIEW", a
    return a


def case_lot_moderate(rest, w):
    a = rest.call("POST", "/api/v1/lots/%s/moderation" % w["created"]["id"],
                  {"decision": "MODERATION_DECISION_APPROVE", "reason": "fine"},
                  token=w["moderator"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_APPROVED", a
    return a


def case_lot_schedule(rest, w):
    start = int(time.time() * 1e6) + 3_600_000_000
    a = rest.call("POST", "/api/v1/lots/%s/schedule" % w["created"]["id"],
                  {"startsAtUs": str(start)}, token=w["seller"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_SCHEDULED", a
    return a


def case_lot_cancel(rest, w):
    a = rest.call("POST", "/api/v1/lots/%s/cancel" % w["draft"]["id"],
                  {"reason": "withdrawn by the seller"}, token=w["seller"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_CANCELLED", a
    return a


def case_lot_quote(rest, w):
    a = rest.call("GET", "/api/v1/lots/%s/quote?services=promotion&services=inspection"
                  % w["live"]["id"], token=w["seller"].token)
    assert a.status == 200, a
    assert [x["service"] for x in a.json["lines"]] == ["promotion", "inspection"], a
    return a


def case_quotes(rest, w):
    a = rest.call("POST", "/api/v1/quotes",
                  {"attributes": {"make": "Toyota", "year": 2019, "startPrice": rub(100000)},
                   "services": ["promotion"]}, token=w["seller"].token)
    assert a.status == 200 and a.json["lines"][0]["service"] == "promotion", a
    return a


def case_rules(rest, w):
    a = rest.call("GET", "/api/v1/price-rules?includeInactive=true&page.pageSize=5",
                  token=w["admin"].token)
    assert a.status == 200, a
    return a


def case_rule_create(rest, w):
    a = rest.call("POST", "/api/v1/price-rules",
                  {"service": "promotion", "priority": 5, "coefficientPermille": 1200,
                   "make": "Gateway%d" % time.time_ns(), "isActive": True},
                  token=w["admin"].token)
    assert a.status == 200 and a.json["rule"]["coefficientPermille"] == 1200, a
    w["rule"] = a.json["rule"]
    return a


def case_rule_patch(rest, w):
    a = rest.call("PATCH", "/api/v1/price-rules/%s" % w["rule"]["id"],
                  {"updateMask": ["priority"], "rule": {"priority": 6}}, token=w["admin"].token)
    assert a.status == 200 and a.json["rule"]["priority"] == 6, a
    return a


def case_rule_delete(rest, w):
    a = rest.call("DELETE", "/api/v1/price-rules/%s" % w["rule"]["id"], token=w["admin"].token)
    assert a.status == 200, a
    return a


def case_bid(rest, w):
    lot = w["live"]["id"]
    st = rest.ok("GET", "/api/v1/lots/%s/state" % lot, token=w["bidder"].token)["state"]
    a = rest.call("POST", "/api/v1/lots/%s/bids" % lot, {"amount": st["nextMinBid"]},
                  token=w["bidder"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["bid"]["amount"] == st["nextMinBid"], a
    assert a.json["callerIsLeading"] is True
    return a


def case_bids(rest, w):
    a = rest.call("GET", "/api/v1/lots/%s/bids?page.pageSize=100" % w["live"]["id"],
                  token=w["bidder2"].token)
    assert a.status == 200 and len(a.json["bids"]) >= 1, a
    return a


def case_state(rest, w):
    a = rest.call("GET", "/api/v1/lots/%s/state" % w["live"]["id"], token=w["bidder"].token)
    assert a.status == 200 and a.json["state"]["status"] == "LOT_STATUS_LIVE", a
    assert a.json["callerIsLeading"] is True
    return a


def case_autobid_set(rest, w):
    a = rest.call("PUT", "/api/v1/lots/%s/autobid" % w["live"]["id"],
                  {"maxAmount": rub(10 ** 7)}, token=w["bidder2"].token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["autobid"]["status"] == "AUTO_BID_STATUS_ACTIVE", a
    return a


def case_autobid_cancel(rest, w):
    a = rest.call("DELETE", "/api/v1/lots/%s/autobid" % w["live"]["id"],
                  token=w["bidder2"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["autobid"]["status"] == "AUTO_BID_STATUS_CANCELLED", a
    return a


def venue_lot(rest, w):
    """A LIVE venue lot (no fixed end), made once."""
    if "venue" not in w:
        m = w["market"]
        lot = m.approved(w["seller"])
        start = int(time.time() * 1e6) + 1_000_000
        rest.ok("POST", "/api/v1/lots/%s/schedule" % lot["id"],
                {"startsAtUs": str(start), "venue": True}, w["seller"].token)
        m.wait_status(lot["id"], "LOT_STATUS_LIVE", w["seller"].token)
        w["venue"] = lot
    return w["venue"]


def unimplemented(a):
    """On a tree whose services lack the venue methods the route still
    reaches the service, which says so."""
    assert a.status == 501 and a.error["code"] == "unimplemented", a
    return a


def case_floor_bid(rest, w):
    if not HAS_VENUE:
        return unimplemented(rest.call(
            "POST", "/api/v1/lots/%s/floor-bids" % w["live"]["id"],
            {"floorPaddle": 12, "amount": rub(200000)}, token=w["moderator"].token,
            headers={"Idempotency-Key": new_key()}))
    lot = venue_lot(rest, w)
    st = rest.ok("GET", "/api/v1/lots/%s/state" % lot["id"], token=w["bidder"].token)["state"]
    assert st["venue"] is True
    body = {"floorPaddle": 12, "amount": st["nextMinBid"]}
    a = rest.call("POST", "/api/v1/lots/%s/floor-bids" % lot["id"], body,
                  token=w["bidder"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 403, a  # bidders may not speak for the room
    a = rest.call("POST", "/api/v1/lots/%s/floor-bids" % lot["id"], body)
    assert a.status == 401, a
    a = rest.call("POST", "/api/v1/lots/%s/floor-bids" % lot["id"], body,
                  token=w["moderator"].token)
    assert a.status == 400, a  # the key is required
    a = rest.call("POST", "/api/v1/lots/%s/floor-bids" % lot["id"], body,
                  token=w["moderator"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["bid"]["floorPaddle"] == 12, a
    assert a.json["state"]["leaderFloorPaddle"] == 12
    return a


def case_fair_warning(rest, w):
    if not HAS_VENUE:
        return unimplemented(rest.call("POST", "/api/v1/lots/%s/fair-warning" % w["live"]["id"],
                                       {}, token=w["moderator"].token))
    lot = venue_lot(rest, w)
    a = rest.call("POST", "/api/v1/lots/%s/fair-warning" % lot["id"], {},
                  token=w["bidder"].token)
    assert a.status == 403, a
    a = rest.call("POST", "/api/v1/lots/%s/fair-warning" % lot["id"], {},
                  token=w["moderator"].token)
    assert a.status == 200 and int(a.json["state"]["fairWarningAtUs"]) > 0, a
    return a


def case_hammer(rest, w):
    if not HAS_VENUE:
        return unimplemented(rest.call("POST", "/api/v1/lots/%s/hammer" % w["live"]["id"], {},
                                       token=w["moderator"].token))
    lot = venue_lot(rest, w)
    a = rest.call("POST", "/api/v1/lots/%s/hammer" % lot["id"], {}, token=w["bidder"].token)
    assert a.status == 403, a
    a = rest.call("POST", "/api/v1/lots/%s/hammer" % lot["id"], {}, token=w["moderator"].token)
    assert a.status == 200 and a.json["lot"]["state"] == "LOT_STATE_CLOSED", a
    again = rest.call("POST", "/api/v1/lots/%s/hammer" % lot["id"], {},
                      token=w["moderator"].token)
    assert again.status == 200 and again.json["lot"]["state"] == "LOT_STATE_CLOSED", again
    return a


def case_stream_create(rest, w):
    now = int(time.time() * 1e6)
    live = rest.ok("GET", "/api/v1/lots/%s" % w["live"]["id"], token=w["seller"].token)["lot"]
    w["session"] = live["sessionId"]
    body = {"sessionId": w["session"], "title": "Route test hall",
            "scheduledStartUs": str(now + 60 * 10 ** 6),
            "scheduledEndUs": str(now + 3 * 3600 * 10 ** 6)}
    a = rest.call("POST", "/api/v1/streams", body, token=w["bidder"].token)
    assert a.status == 403, a  # staff only
    a = rest.call("POST", "/api/v1/streams", body, token=w["moderator"].token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and len(a.json["streamKey"]) >= 32, a
    st = a.json["stream"]
    assert st["playbackUrl"] == "/live/%s/index.m3u8" % st["name"], st
    assert a.json["streamKey"] not in json.dumps(st)
    w["stream"] = st
    w["stream_key"] = a.json["streamKey"]
    return a


def case_streams_list(rest, w):
    a = rest.call("GET", "/api/v1/streams?sessionId=%s" % w["session"],
                  token=w["bidder"].token)
    assert a.status == 200, a
    assert w["stream"]["streamId"] in [s["streamId"] for s in a.json["streams"]], a
    return a


def case_stream_get(rest, w):
    a = rest.call("GET", "/api/v1/streams/%s" % w["stream"]["streamId"],
                  token=w["bidder"].token)
    assert a.status == 200 and a.json["stream"]["name"] == w["stream"]["name"], a
    return a


def case_stream_rotate(rest, w):
    path = "/api/v1/streams/%s/rotate-key" % w["stream"]["streamId"]
    assert rest.call("POST", path, {}, token=w["bidder"].token).status == 403
    a = rest.call("POST", path, {}, token=w["moderator"].token)
    assert a.status == 200 and a.json["streamKey"] not in ("", w["stream_key"]), a
    return a


def case_stream_revoke(rest, w):
    path = "/api/v1/streams/%s/revoke-key" % w["stream"]["streamId"]
    a = rest.call("POST", path, {}, token=w["moderator"].token)
    assert a.status == 200 and a.json["stream"]["status"] == "STREAM_STATUS_REVOKED", a
    return a


def case_live_file(rest, w):
    # the route itself; test_live.py serves a real stream through it
    a = rest.call("GET", "/live/no-such-stream/index.m3u8")
    assert a.status == 404 and a.error["code"] == "not_found", a
    return a


def case_hold(rest, w):
    holds = w["ledger"].holds(w["bidder2"].id)
    assert holds, "the autobid's bid left no hold"
    hold_id = max(holds)
    a = rest.call("GET", "/api/v1/wallet/holds/%d" % hold_id, token=w["bidder2"].token)
    assert a.status == 200 and a.json["hold"]["holdId"] == str(hold_id), a
    return a


def case_holds(rest, w):
    """The caller's own holds, exactly the held ones of the database; filters
    by lot and state; nobody else's."""
    held = {i for i, v in w["ledger"].holds(w["bidder2"].id).items() if v[2] == "held"}
    assert held, "the autobid's leading bid holds funds"
    a = rest.call("GET", "/api/v1/wallet/holds", token=w["bidder2"].token)
    assert a.status == 200, a
    got = a.json.get("holds", [])
    assert {int(x["holdId"]) for x in got} == held, (got, held)
    assert all(x["userId"] == str(w["bidder2"].id) and x["state"] == "held" for x in got), got
    other = rest.call("GET", "/api/v1/wallet/holds?lotIds=%d" % (10 ** 12),
                      token=w["bidder2"].token)
    assert other.status == 200 and other.json.get("holds", []) == [], other
    bad = rest.call("GET", "/api/v1/wallet/holds?state=stolen", token=w["bidder2"].token)
    assert bad.status == 400 and "state" in bad.json["error"]["message"], bad
    return a


def admin_reads_bidder2(rest, w, what):
    """GET /api/v1/users/{bidder2}/<what>: another bidder is refused, the
    admin answered."""
    path = "/api/v1/users/%d/%s" % (w["bidder2"].id, what)
    denied = rest.call("GET", path, token=w["bidder"].token)
    assert denied.status == 403, denied
    a = rest.call("GET", path, token=w["admin"].token)
    assert a.status == 200, a
    return a


def case_user_holds(rest, w):
    a = admin_reads_bidder2(rest, w, "wallet/holds")
    held = {i for i, v in w["ledger"].holds(w["bidder2"].id).items() if v[2] == "held"}
    assert {int(x["holdId"]) for x in a.json.get("holds", [])} == held, a
    return a


def case_ledger(rest, w):
    """The caller's history is exactly their ledger transactions, newest
    first, walked one page at a time; the changes add up to the balance."""
    want = [r[0] for r in w["ledger"].all(
        "SELECT id FROM ledger_tx WHERE user_id = %s ORDER BY id DESC", w["bidder2"].id)]
    assert len(want) >= 2, "a deposit and the autobid's hold are in the ledger"
    got, token, a = [], "", None
    for _ in range(len(want) + 1):
        a = rest.call("GET", "/api/v1/wallet/ledger?page.pageSize=1" +
                      ("&page.pageToken=" + token if token else ""), token=w["bidder2"].token)
        assert a.status == 200, a
        got += a.json.get("entries", [])
        token = a.json.get("page", {}).get("nextPageToken", "")
        if not token:
            break
    assert [int(e["txId"]) for e in got] == want, (got, want)
    assert got[-1]["kind"] == "deposit" and int(got[-1]["availableChange"]["units"]) > 0, got
    bal = rest.ok("GET", "/api/v1/wallet", token=w["bidder2"].token)["balance"]
    assert sum(int(e["availableChange"]["units"]) for e in got) == int(bal["available"]["units"])
    assert sum(int(e["heldChange"].get("units", 0)) for e in got) == int(bal["reserved"]["units"])
    reserve = [e for e in got if e["kind"] == "reserve"]
    assert reserve and int(reserve[0]["lotId"]) == int(w["live"]["id"]), reserve
    bad = rest.call("GET", "/api/v1/wallet/ledger?page.pageToken=x1", token=w["bidder2"].token)
    assert bad.status == 400 and "page_token" in bad.json["error"]["message"], bad
    return a


def case_user_ledger(rest, w):
    a = admin_reads_bidder2(rest, w, "wallet/ledger")
    assert a.json["entries"] and all(e["txId"] for e in a.json["entries"]), a
    return a


def case_subscribe(rest, w):
    """bidder2 follows the live lot; following it again returns the same
    subscription with the new kinds."""
    body = {"lotId": w["live"]["id"], "kinds": ["EVENT_KIND_BID_PLACED"]}

    def subscribe():
        a = rest.call("POST", "/api/v1/subscriptions", body, token=w["bidder2"].token)
        # 404 until the lot's event has reached the notifications service.
        return None if a.status == 404 else a
    a = h.wait_until(subscribe, 20, 0.2, "the notifications service to know the lot")
    assert a.status == 200, a
    sub = a.json["subscription"]
    assert sub["lotId"] == str(w["live"]["id"]) and sub["userId"] == str(w["bidder2"].id), a
    assert sub["kinds"] == ["EVENT_KIND_BID_PLACED"] and int(sub["id"]) > 0, a
    body["kinds"] = ["EVENT_KIND_BID_PLACED", "EVENT_KIND_LOT_EXTENDED"]
    again = rest.call("POST", "/api/v1/subscriptions", body, token=w["bidder2"].token)
    assert again.status == 200 and again.json["subscription"]["id"] == sub["id"], again
    assert again.json["subscription"]["kinds"] == body["kinds"], again
    bad = rest.call("POST", "/api/v1/subscriptions", {"kinds": []}, token=w["bidder2"].token)
    assert bad.status == 400, bad
    w["subscription"] = sub
    return a


def subscription_ids(rest, token):
    a = rest.call("GET", "/api/v1/subscriptions?page.pageSize=100", token=token)
    assert a.status == 200, a
    return a, [x["id"] for x in a.json.get("subscriptions", [])]


def case_subscriptions(rest, w):
    a, mine = subscription_ids(rest, w["bidder2"].token)
    assert mine == [w["subscription"]["id"]], a
    _, theirs = subscription_ids(rest, w["bidder"].token)
    assert w["subscription"]["id"] not in theirs
    return a


WEBHOOK_SECRET = "gateway-test-secret-" + "x" * 20 + "HINT"


def case_register_webhook(rest, w):
    """bidder2 registers a partner webhook; the secret is never echoed."""
    body = {"url": "https://erp.example.com/gavel", "secret": WEBHOOK_SECRET,
            "kinds": ["EVENT_KIND_PAYMENT"], "description": "ERP"}
    a = rest.call("POST", "/api/v1/webhooks", body, token=w["bidder2"].token)
    assert a.status == 200, a
    hook = a.json["webhook"]
    assert hook["secretHint"] == "HINT" and hook["isActive"], a
    assert WEBHOOK_SECRET not in json.dumps(a.json), a
    bad = rest.call("POST", "/api/v1/webhooks", dict(body, url="http://example.com/"),
                    token=w["bidder2"].token)
    assert bad.status == 400, bad
    w["webhook"] = hook
    return a


def case_webhooks(rest, w):
    a = rest.call("GET", "/api/v1/webhooks", token=w["bidder2"].token)
    assert a.status == 200 and [x["id"] for x in a.json["webhooks"]] == [w["webhook"]["id"]], a
    return a


def case_delete_webhook(rest, w):
    path = "/api/v1/webhooks/%s" % w["webhook"]["id"]
    denied = rest.call("DELETE", path, token=w["bidder"].token)
    assert denied.status == 404, denied
    a = rest.call("DELETE", path, token=w["bidder2"].token)
    assert a.status == 200 and a.json == {}, a
    return a


def case_unsubscribe(rest, w):
    """Another user cannot end bidder2's subscription (404, as if it did
    not exist, and it stays); its owner can, once."""
    path = "/api/v1/subscriptions/%s" % w["subscription"]["id"]
    denied = rest.call("DELETE", path, token=w["bidder"].token)
    assert denied.status == 404, denied
    assert subscription_ids(rest, w["bidder2"].token)[1] == [w["subscription"]["id"]]
    a = rest.call("DELETE", path, token=w["bidder2"].token)
    assert a.status == 200 and a.json == {}, a
    assert subscription_ids(rest, w["bidder2"].token)[1] == []
    gone = rest.call("DELETE", path, token=w["bidder2"].token)
    assert gone.status == 404, gone
    return a


def channels_of(prefs, kind):
    """The channels prefs (a Preferences as JSON) give kind."""
    found = [k.get("channels", []) for k in prefs.get("kinds", []) if k["kind"] == kind]
    assert len(found) == 1, (kind, prefs)
    return found[0]


def case_preferences(rest, w):
    """Never set: the platform defaults (outbid: realtime and push)."""
    a = rest.call("GET", "/api/v1/notifications/preferences", token=w["bidder"].token)
    assert a.status == 200 and a.json["preferences"]["userId"] == str(w["bidder"].id), a
    assert channels_of(a.json["preferences"], "EVENT_KIND_OUTBID") == [
        "CHANNEL_REALTIME", "CHANNEL_PUSH"], a
    return a


def case_preferences_patch(rest, w):
    """Outbids on realtime only, then read back; a bad mask changes nothing;
    another user's preferences are not the caller's to change."""
    kinds = [{"kind": "EVENT_KIND_OUTBID", "channels": ["CHANNEL_REALTIME"]}]
    a = rest.call("PATCH", "/api/v1/notifications/preferences",
                  {"updateMask": ["kinds"], "preferences": {"kinds": kinds}},
                  token=w["bidder"].token)
    assert a.status == 200, a
    assert channels_of(a.json["preferences"], "EVENT_KIND_OUTBID") == ["CHANNEL_REALTIME"], a
    bad = rest.call("PATCH", "/api/v1/notifications/preferences",
                    {"updateMask": ["no_such_field"], "preferences": {"kinds": []}},
                    token=w["bidder"].token)
    assert bad.status == 400, bad
    other = rest.call("PATCH", "/api/v1/notifications/preferences",
                      {"userId": str(w["bidder"].id), "updateMask": ["kinds"],
                       "preferences": {"kinds": []}}, token=w["bidder2"].token)
    assert other.status == 403, other
    got = rest.ok("GET", "/api/v1/notifications/preferences", token=w["bidder"].token)
    assert channels_of(got["preferences"], "EVENT_KIND_OUTBID") == ["CHANNEL_REALTIME"], got
    return a


def case_inbox(rest, w):
    """bidder led the live lot until bidder2's autobid outbid them: the
    outbid reaches bidder's inbox (through Kafka, so it is waited for)."""
    lot = str(w["live"]["id"])

    def outbid():
        a = rest.call("GET", "/api/v1/notifications?unreadOnly=true&page.pageSize=50",
                      token=w["bidder"].token)
        assert a.status == 200, a
        mine = [n for n in a.json.get("notifications", [])
                if n["kind"] == "EVENT_KIND_OUTBID" and n.get("lotId") == lot]
        return (a, mine) if mine else None
    a, outbid = h.wait_until(outbid, 20, 0.2, "bidder's outbid notification")
    assert all(n["userId"] == str(w["bidder"].id) for n in a.json["notifications"]), a
    assert int(a.json["unreadCount"]) >= len(outbid), a
    w["outbid"] = outbid[0]
    return a


def case_mark_read(rest, w):
    """Another user's ids are ignored (nothing marked); the owner marks it
    read once; no ids at all is refused."""
    body = {"notificationIds": [w["outbid"]["id"]]}
    other = rest.call("POST", "/api/v1/notifications/read", body, token=w["bidder2"].token)
    assert other.status == 200 and int(other.json.get("markedCount", 0)) == 0, other
    before = rest.ok("GET", "/api/v1/notifications?page.pageSize=1", token=w["bidder"].token)
    a = rest.call("POST", "/api/v1/notifications/read", body, token=w["bidder"].token)
    assert a.status == 200 and int(a.json["markedCount"]) == 1, a
    assert int(a.json.get("unreadCount", 0)) == int(before["unreadCount"]) - 1, (a, before)
    again = rest.call("POST", "/api/v1/notifications/read", body, token=w["bidder"].token)
    assert again.status == 200 and int(again.json.get("markedCount", 0)) == 0, again
    bad = rest.call("POST", "/api/v1/notifications/read", {}, token=w["bidder"].token)
    assert bad.status == 400, bad
    return a


# The smallest PNG: one black pixel.
PIXEL_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
                          "0000000c49444154789c63606060000000040001f61738550000000049454e44"
                          "ae426082")


def case_media_upload(rest, w):
    a = rest.call("POST", "/api/v1/media", raw=PIXEL_PNG, token=w["seller"].token,
                  headers={"Content-Type": "image/png"})
    assert a.status == 201 and a.json["contentType"] == "image/png", a
    w["media_url"] = a.json["url"]
    return a


def case_media_get(rest, w):
    a = rest.call("GET", w["media_url"])
    assert a.status == 200 and a.header("content-type") == "image/png", a
    return a


def case_openapi(rest, w):
    a = rest.call("GET", "/openapi.json")
    assert a.status == 200 and a.json["openapi"] == "3.1.0", a
    return a


# In the order they run: later ones use what earlier ones made.
def case_search_get(rest, w):
    q = urllib.parse.urlencode({"filterJson": json.dumps([["eq", "id", str(w["live"]["id"])]])})
    def found():
        a = rest.call("GET", "/api/v1/search?" + q, token=w["bidder"].token)
        assert a.status == 200, a
        return a if a.json.get("hits") else None
    a = h.wait_until(found, 10, what="the live lot in the search index")
    assert a.json["hits"][0]["lot"]["lotId"] == str(w["live"]["id"])
    return a


def case_search_post(rest, w):
    a = rest.call("POST", "/api/v1/search", {
        "filterJson": json.dumps([["eq", "id", str(w["live"]["id"])]]),
        "facets": [{"field": "state"}]}, token=w["bidder"].token)
    assert a.status == 200, a
    assert a.json["facets"][0]["buckets"][0]["count"] == "1", a
    return a


def case_suggest(rest, w):
    a = rest.call("GET", "/api/v1/search/suggest?prefix=to", token=w["bidder"].token)
    assert a.status == 200, a
    return a


def card_payment(rest, w, units):
    """A card hold of units for the payer's wallet (lot 0), through REST."""
    key = {"Idempotency-Key": new_key()}
    body = {"amount": rub(units), "paymentMethodToken": "tok_visa",
            "description": "Wallet top-up"}
    a = rest.call("POST", "/api/v1/payments", body, token=w["payer"].token, headers=key)
    assert a.status == 200 and a.json["payment"]["state"] == "PAYMENT_STATE_AUTHORIZED", a
    again = rest.call("POST", "/api/v1/payments", body, token=w["payer"].token, headers=key)
    assert again.json["payment"]["id"] == a.json["payment"]["id"], again
    return a


def case_payment_authorize(rest, w):
    no_key = rest.call("POST", "/api/v1/payments", {"amount": rub(1), "paymentMethodToken": "t"},
                       token=w["payer"].token)
    assert no_key.status == 400 and "Idempotency-Key" in no_key.json["error"]["message"], no_key
    w["card_void"] = card_payment(rest, w, 3000).json["payment"]
    a = card_payment(rest, w, 5000)
    w["card"] = a.json["payment"]
    assert w["card"]["payerId"] == str(w["payer"].id) and w["card"]["provider"], a
    return a


def case_payment_get(rest, w):
    path = "/api/v1/payments/%s" % w["card"]["id"]
    other = rest.call("GET", path, token=w["bidder"].token)
    assert other.status == 404, other
    a = rest.call("GET", path, token=w["payer"].token)
    assert a.status == 200 and a.json["payment"]["id"] == w["card"]["id"], a
    return a


def case_payments_list(rest, w):
    a = rest.call("GET", "/api/v1/payments?state=PAYMENT_STATE_AUTHORIZED", token=w["payer"].token)
    assert a.status == 200, a
    assert {p["id"] for p in a.json["payments"]} == {w["card"]["id"], w["card_void"]["id"]}, a
    theirs = rest.call("GET", "/api/v1/payments", token=w["bidder"].token)
    assert not [p for p in theirs.json.get("payments", []) if p["payerId"] == str(w["payer"].id)]
    return a


def case_payment_capture(rest, w):
    path = "/api/v1/payments/%s/capture" % w["card"]["id"]
    body = {"amount": rub(5000)}
    theirs = rest.call("POST", path, body, token=w["bidder"].token,
                       headers={"Idempotency-Key": new_key()})
    assert theirs.status == 404, theirs  # another's payment is not theirs to see
    # the payer captures their own wallet top-up (a lot payment is staff's)
    a = rest.call("POST", path, body, token=w["payer"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["payment"]["state"] == "PAYMENT_STATE_CAPTURED", a
    again = rest.call("POST", path, body, token=w["admin"].token,
                      headers={"Idempotency-Key": new_key()})
    assert again.status == 409, again  # captured once, whoever asks again
    wallet = rest.ok("GET", "/api/v1/wallet", token=w["payer"].token)
    assert wallet["balance"]["total"]["units"] == "5000", wallet
    return a


def case_payment_refund(rest, w):
    """Part of a wallet top-up goes back to the card: the amount leaves the
    wallet first (a withdrawal), then the provider refunds it. More than
    the wallet still holds is a clear 409 and changes nothing."""
    path = "/api/v1/payments/%s/refunds" % w["card"]["id"]
    a = rest.call("POST", path, {"amount": rub(1000), "reason": "Customer asked"},
                  token=w["admin"].token, headers={"Idempotency-Key": new_key()})
    assert a.status == 200, a
    assert a.json["payment"]["state"] == "PAYMENT_STATE_PARTIALLY_REFUNDED", a
    wallet = rest.ok("GET", "/api/v1/wallet", token=w["payer"].token)
    assert wallet["balance"]["total"]["units"] == "4000", wallet
    over = rest.call("POST", path, {"amount": rub(4500), "reason": "Customer asked"},
                     token=w["admin"].token, headers={"Idempotency-Key": new_key()})
    assert over.status in (400, 409), over
    assert rest.ok("GET", "/api/v1/wallet", token=w["payer"].token)["balance"] == wallet["balance"]
    return a


def case_payment_void(rest, w):
    a = rest.call("POST", "/api/v1/payments/%s/void" % w["card_void"]["id"],
                  {"reason": "Top-up abandoned"}, token=w["admin"].token,
                  headers={"Idempotency-Key": new_key()})
    assert a.status == 200 and a.json["payment"]["state"] == "PAYMENT_STATE_VOIDED", a
    return a


def case_payment_webhook(rest, w):
    """The provider's event, signed by the simulator, reaches the payments
    service byte for byte; a forged signature is a 401, a missing one 400."""
    body = json.dumps({"id": "evt_" + new_key(), "object": "event",
                       "type": "payment_intent.canceled", "created": int(time.time()),
                       "data": {"object": {"id": w["card_void"]["providerReference"],
                                           "object": "payment_intent"}}},
                      separators=(",", ":")).encode()
    raw = {"Content-Type": "application/json"}
    missing = rest.call("POST", "/api/v1/payments/webhook", raw=body, headers=raw)
    assert missing.status == 400 and "Gavel-Signature" in missing.json["error"]["message"], missing
    forged = rest.call("POST", "/api/v1/payments/webhook", raw=body,
                       headers=dict(raw, **{"Gavel-Signature": "t=%d,v1=%s" % (time.time(),
                                                                               "0" * 64)}))
    assert forged.status == 401, forged
    signed = dict(raw, **{"Gavel-Signature": w["sim"].sign(body)})
    a = rest.call("POST", "/api/v1/payments/webhook", raw=body, headers=signed)
    assert a.status == 200 and a.json["paymentId"] == w["card_void"]["id"], a
    assert a.json["eventType"] == "payment_intent.canceled" and not a.json.get("isDuplicate"), a
    again = rest.call("POST", "/api/v1/payments/webhook", raw=body, headers=signed)
    assert again.status == 200 and again.json["isDuplicate"] is True, again
    return a


CASES = [
    ("POST", "/api/v1/auth/register", case_register),
    ("POST", "/api/v1/auth/login", case_login),
    ("POST", "/api/v1/auth/refresh", case_refresh),
    ("GET", "/api/v1/me", case_me),
    ("PATCH", "/api/v1/me", case_me_patch),
    ("GET", "/api/v1/me/participation", case_me_participation),
    ("GET", "/api/v1/users/{user_id}", case_user_get),
    ("PATCH", "/api/v1/users/{user_id}", case_user_patch),
    ("GET", "/api/v1/users/{user_id}/participation", case_user_participation),
    ("GET", "/api/v1/wallet", case_wallet),
    ("GET", "/api/v1/users/{user_id}/wallet", case_user_wallet),
    ("POST", "/api/v1/users/{user_id}/wallet/deposits", case_deposit),
    ("GET", "/api/v1/categories", case_categories),
    ("POST", "/api/v1/categories", case_category_create),
    ("GET", "/api/v1/lots", case_lots),
    ("POST", "/api/v1/lots/search", case_lots_search),
    ("POST", "/api/v1/lots", case_lot_create),
    ("GET", "/api/v1/lots/{lot_id}", case_lot_get),
    ("PATCH", "/api/v1/lots/{lot_id}", case_lot_patch),
    ("GET", "/api/v1/lots/{lot_id}/history", case_lot_history),
    ("POST", "/api/v1/lots/{lot_id}/submit", case_lot_submit),
    ("POST", "/api/v1/lots/{lot_id}/moderation", case_lot_moderate),
    ("POST", "/api/v1/lots/{lot_id}/schedule", case_lot_schedule),
    ("POST", "/api/v1/lots/{lot_id}/cancel", case_lot_cancel),
    ("GET", "/api/v1/lots/{lot_id}/quote", case_lot_quote),
    ("POST", "/api/v1/quotes", case_quotes),
    ("GET", "/api/v1/price-rules", case_rules),
    ("POST", "/api/v1/price-rules", case_rule_create),
    ("PATCH", "/api/v1/price-rules/{rule_id}", case_rule_patch),
    ("DELETE", "/api/v1/price-rules/{rule_id}", case_rule_delete),
    ("POST", "/api/v1/lots/{lot_id}/bids", case_bid),
    ("GET", "/api/v1/lots/{lot_id}/bids", case_bids),
    ("GET", "/api/v1/lots/{lot_id}/state", case_state),
    ("PUT", "/api/v1/lots/{lot_id}/autobid", case_autobid_set),
    ("DELETE", "/api/v1/lots/{lot_id}/autobid", case_autobid_cancel),
    ("POST", "/api/v1/lots/{lot_id}/floor-bids", case_floor_bid),
    ("POST", "/api/v1/lots/{lot_id}/fair-warning", case_fair_warning),
    ("POST", "/api/v1/lots/{lot_id}/hammer", case_hammer),
    ("POST", "/api/v1/streams", case_stream_create),
    ("GET", "/api/v1/streams", case_streams_list),
    ("GET", "/api/v1/streams/{stream_id}", case_stream_get),
    ("POST", "/api/v1/streams/{stream_id}/rotate-key", case_stream_rotate),
    ("POST", "/api/v1/streams/{stream_id}/revoke-key", case_stream_revoke),
    ("GET", "/live/{stream}/{file}", case_live_file),
    ("GET", "/api/v1/search", case_search_get),
    ("POST", "/api/v1/search", case_search_post),
    ("GET", "/api/v1/search/suggest", case_suggest),
    ("POST", "/api/v1/payments", case_payment_authorize),
    ("GET", "/api/v1/payments/{payment_id}", case_payment_get),
    ("GET", "/api/v1/payments", case_payments_list),
    ("POST", "/api/v1/payments/{payment_id}/capture", case_payment_capture),
    ("POST", "/api/v1/payments/{payment_id}/refunds", case_payment_refund),
    ("POST", "/api/v1/payments/{payment_id}/void", case_payment_void),
    ("POST", "/api/v1/payments/webhook", case_payment_webhook),
    ("POST", "/api/v1/subscriptions", case_subscribe),
    ("GET", "/api/v1/subscriptions", case_subscriptions),
    ("DELETE", "/api/v1/subscriptions/{subscription_id}", case_unsubscribe),
    ("POST", "/api/v1/webhooks", case_register_webhook),
    ("GET", "/api/v1/webhooks", case_webhooks),
    ("DELETE", "/api/v1/webhooks/{webhook_id}", case_delete_webhook),
    ("GET", "/api/v1/notifications/preferences", case_preferences),
    ("PATCH", "/api/v1/notifications/preferences", case_preferences_patch),
    ("GET", "/api/v1/notifications", case_inbox),
    ("POST", "/api/v1/notifications/read", case_mark_read),
    ("GET", "/api/v1/wallet/holds/{hold_id}", case_hold),
    ("GET", "/api/v1/wallet/holds", case_holds),
    ("GET", "/api/v1/users/{user_id}/wallet/holds", case_user_holds),
    ("GET", "/api/v1/wallet/ledger", case_ledger),
    ("GET", "/api/v1/users/{user_id}/wallet/ledger", case_user_ledger),
    ("POST", "/api/v1/auth/logout", case_logout),
    ("POST", "/api/v1/media", case_media_upload),
    ("GET", "/media/{file}", case_media_get),
    ("GET", "/openapi.json", case_openapi),
]


def documented(rest):
    doc = rest.ok("GET", "/openapi.json")
    return doc, {(m.upper(), p) for p, item in doc["paths"].items() for m in item}


def test_every_documented_route_is_served_with_real_data(rest, world):
    _, ops = documented(rest)
    mine = {(m, p) for m, p, _ in CASES}
    assert ops == mine, ("documented but not called: %s; called but not documented: %s"
                         % (sorted(ops - mine), sorted(mine - ops)))
    for method, path, case in CASES:
        if path.startswith("/api/v1/streams") and not HAS_STREAMING:
            continue  # gavel-streaming is not built on this tree
        a = case(rest, world)
        want = "image/png" if path.startswith("/media/") else "application/json"
        assert a.header("content-type") == want, (method, path, a)


def test_openapi_document_is_consistent(rest):
    doc, ops = documented(rest)
    schemas = doc["components"]["schemas"]
    seen_ids = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["operationId"] not in seen_ids, op["operationId"]
            seen_ids.add(op["operationId"])
            names = {p["name"] for p in op["parameters"] if "name" in p}
            for seg in path.split("/"):
                if seg.startswith("{"):
                    assert seg[1:-1] in names, (path, method)
            refs = json.dumps(op)
            for ref in [r for r in refs.split('"') if r.startswith("#/components/schemas/")]:
                assert ref.split("/")[-1] in schemas, ref
            if path.startswith("/api/"):
                public = (path.startswith("/api/v1/auth/") and method == "post" and
                          not path.endswith("logout")) or path == "/api/v1/payments/webhook"
                assert op["security"] == ([] if public else [{"bearer": []}]), (path, method)
                assert "x-grpc-method" in op or op["tags"] == ["Gateway"], (path, method)
    for name, s in schemas.items():
        for ref in [r for r in json.dumps(s).split('"') if r.startswith("#/components/")]:
            assert ref.split("/")[-1] in schemas, (name, ref)


def test_docs_rest_lists_exactly_the_served_routes(rest):
    import os
    import re
    text = open(os.path.join(h.ROOT, "docs", "rest.md")).read()
    listed = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", text, re.M))
    _, ops = documented(rest)
    assert listed == ops, ("served but not in docs/rest.md: %s; listed but not served: %s"
                           % (sorted(ops - listed), sorted(listed - ops)))
