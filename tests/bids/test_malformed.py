"""Malformed and hostile requests to the bids daemon: no or bad tokens, a
forged principal field, huge and negative amounts, wrong currencies, huge
or invalid idempotency keys, invalid UTF-8, inconsistent lot rules, roles
that may not act, reused keys. Each gets a clear error and changes nothing;
the daemon survives all of it (the autouse fixture in tests/conftest.py
fails a test after which it is dead or a sanitizer spoke)."""
import time

import grpc
import pytest

import gavel_harness as h
from gavel_harness import bids_pb2, common_pb2, users_pb2

IA = grpc.StatusCode.INVALID_ARGUMENT
UNAUTH = grpc.StatusCode.UNAUTHENTICATED
PD = grpc.StatusCode.PERMISSION_DENIED
FP = grpc.StatusCode.FAILED_PRECONDITION
NF = grpc.StatusCode.NOT_FOUND
MB = 1024 * 1024
BIDS = "/gavel.bids.v1.Bids/"
BAD_UTF8 = b"\xc3\x28\xff"


# ---- protobuf wire bits for hand-made requests --------------------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def swap_once(raw, placeholder, replacement):
    assert raw.count(placeholder) == 1 and len(placeholder) == len(replacement)
    return raw.replace(placeholder, replacement)


@pytest.fixture
def scene(market):
    """A live lot where bidder `a` leads, an attacker `m` with money, and a
    check that neither the lot nor their wallets moved."""
    a, m = market.new_bidders(2)
    lot = market.open_lot()
    market.place(a, lot, 1000)

    def snap():
        st = market.state(lot)
        return (st.status, st.seq, st.bid_count, st.current_price, st.leader_id, st.head_hash,
                st.ends_at_us, [h.receipt(b) for b in market.log(lot)])
    before = (snap(), market.balance(a), market.balance(m))

    class Scene:
        pass
    s = Scene()
    s.a, s.m, s.lot = a, m, lot
    yield s
    market.wait_reserved({a: 1000, m: 0}, timeout=5)
    after = (snap(), market.balance(a), market.balance(m))
    assert after == before, "a refused request changed the lot or a wallet"


def raw(market, method, payload, md):
    return h.raw_method(market.daemon.channel, BIDS + method)(
        payload, metadata=md, timeout=h.RPC_TIMEOUT)


def expect_raw(code, market, method, payload, md):
    try:
        raw(market, method, payload, md)
    except grpc.RpcError as e:
        assert e.code() == code, "%s: expected %s, got %s %r" % (
            method, code, e.code(), e.details())
        assert e.details(), "%s: %s without a message" % (method, code)
        return e
    raise AssertionError("%s: expected %s, got OK" % (method, code))


# ---- authentication ----------------------------------------------------------------------

def bad_tokens(users, victim):
    now = int(time.time())
    out = {
        "none": None,
        "empty bearer": (("authorization", "Bearer "),),
        "garbage": h.bearer("not.a.jwt"),
    }
    if h.HAVE_CRYPTOGRAPHY:
        out["signed by another key"] = h.bearer(h.user_token(
            h.new_ed25519_key(), victim.id, "bidder", now, now + 900))
        out["expired"] = h.bearer(h.user_token(
            users.env["GAVEL_JWT_PRIVATE_KEY"], victim.id, "bidder", now - 1000, now - 100))
        out["service key posing as a user"] = h.bearer(h.user_token(
            users.env["GAVEL_SERVICE_KEY"], victim.id, "bidder", now, now + 900,
            iss="gavel-service"))
    return out


def every_call(market, lot):
    s = market.stub
    return {
        "PlaceBid": (s.PlaceBid, market.place_req(lot, 5000)),
        "SetAutoBid": (s.SetAutoBid, bids_pb2.SetAutoBidRequest(
            lot_id=lot, max_amount=h.rub(9000), idempotency_key=h.idem())),
        "CancelAutoBid": (s.CancelAutoBid, bids_pb2.CancelAutoBidRequest(
            lot_id=lot, idempotency_key=h.idem())),
        "GetLotState": (s.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot)),
        "ListBids": (s.ListBids, bids_pb2.ListBidsRequest(lot_id=lot)),
        "OpenLot": (s.OpenLot, market.lot_request()),
        "CloseLot": (s.CloseLot, bids_pb2.CloseLotRequest(lot_id=lot, cancel=True)),
    }


def test_missing_forged_expired_or_revoked_tokens_are_unauthenticated(market, users, scene):
    wrong = []
    tokens = bad_tokens(users, scene.a)
    # A real token, revoked by Logout: the daemon checks the revocation list.
    victim = market.new_bidder()
    h.call(market.users_stub.Logout, users_pb2.LogoutRequest(), victim.md)
    tokens["revoked by logout"] = victim.md
    for kind, md in tokens.items():
        for name, (method, req) in every_call(market, scene.lot).items():
            try:
                h.expect_error(UNAUTH, method, req, md)
            except AssertionError as e:
                wrong.append("%s with %s token: %s" % (name, kind, e))
        stream = market.stub.WatchLot(bids_pb2.WatchLotRequest(lot_id=scene.lot), metadata=md,
                                      timeout=h.RPC_TIMEOUT)
        try:
            first = next(stream)
            wrong.append("WatchLot with %s token: got %s" % (kind, first.WhichOneof("change")))
        except grpc.RpcError as e:
            if e.code() != UNAUTH:
                wrong.append("WatchLot with %s token: %s" % (kind, e.code()))
        finally:
            stream.cancel()
    assert not wrong, "\n".join(wrong)


def test_a_token_in_use_is_refused_within_a_second_of_its_logout(market, scene):
    """Daemons believe the revocation list's "not revoked" for a second
    (GAVEL_AUTH_REVOCATION_CACHE_MS): a logout reaches a busy bids daemon
    within that time, and the users daemon, which revokes, at once."""
    victim = market.new_bidder()
    req = bids_pb2.GetLotStateRequest(lot_id=scene.lot)
    for _ in range(5):  # in use: its "not revoked" is cached now
        h.call(market.stub.GetLotState, req, victim.md)
    h.call(market.users_stub.Logout, users_pb2.LogoutRequest(), victim.md)
    t0 = time.monotonic()
    h.expect_error(UNAUTH, market.users_stub.GetProfile, users_pb2.GetProfileRequest(),
                   victim.md)
    while True:
        try:
            h.call(market.stub.GetLotState, req, victim.md)
        except grpc.RpcError as e:
            assert e.code() == UNAUTH, e
            break
        assert time.monotonic() - t0 < 1.0 + 0.5 * h.SLOW, "still accepted after its logout"
        time.sleep(0.05)


def test_bidder_and_seller_may_not_open_or_close_lots(market, new_account, scene):
    seller = new_account(users_pb2.ROLE_SELLER)
    for who in (scene.m, seller):
        req = market.lot_request()
        h.expect_error(PD, market.stub.OpenLot, req, who.md)
        h.expect_error(NF, market.stub.GetLotState,
                       bids_pb2.GetLotStateRequest(lot_id=req.lot_id), market.svc_md())
        h.expect_error(PD, market.stub.CloseLot,
                       bids_pb2.CloseLotRequest(lot_id=scene.lot, cancel=True), who.md)


# ---- the principal is the token's, whatever the request says ----------------------------------

def test_a_forged_principal_field_is_ignored_and_the_bid_is_the_token_users(market):
    victim, m = market.new_bidders(2)
    lot = market.open_lot()
    market.place(victim, lot, 1000)
    victim_balance = market.balance(victim)
    req = market.place_req(lot, 2000)
    # Unknown fields naming the victim: numbered right after the real
    # fields, far away, at the largest field number, and as a nested message.
    forged = (req.SerializeToString() + field_varint(4, victim.id) +
              field_varint(99, victim.id) + field_bytes(5, field_varint(1, victim.id)) +
              field_varint(536870911, victim.id))
    resp = bids_pb2.PlaceBidResponse.FromString(raw(market, "PlaceBid", forged, m.md))
    assert (resp.bid.bidder_id, resp.bid.amount.units) == (m.id, 2000)
    assert resp.caller_is_leading and resp.state.leader_id == m.id
    assert [(b.bidder_id, b.amount.units) for b in market.log(lot)] == \
        [(victim.id, 1000), (m.id, 2000)]
    # The victim only lost the lead (and so their hold); m's money paid for m's bid.
    market.wait_reserved({victim: 0, m: 2000})
    assert market.balance(victim)[0] == victim_balance[0]


# ---- bad amounts, currencies, keys, ids ---------------------------------------------------

def test_bad_amounts_keys_and_ids_are_invalid_argument_and_change_nothing(market, scene):
    m, lot = scene.m, scene.lot
    s = market.stub

    def place(units=5000, currency="RUB", key=None, lot_id=lot, amount=True):
        r = bids_pb2.PlaceBidRequest(lot_id=lot_id, idempotency_key=h.idem() if key is None
                                     else key)
        if amount:
            r.amount.CopyFrom(h.rub(units, currency))
        return r

    def auto(units=9000, currency="RUB", key=None, lot_id=lot):
        return bids_pb2.SetAutoBidRequest(lot_id=lot_id, max_amount=h.rub(units, currency),
                                          idempotency_key=h.idem() if key is None else key)
    cases = [
        ("units 2^63-1", s.PlaceBid, place(2 ** 63 - 1), "amount"),
        ("units -1", s.PlaceBid, place(-1), "amount"),
        ("units -2^63", s.PlaceBid, place(-2 ** 63), "amount"),
        ("units 0", s.PlaceBid, place(0), "amount"),
        ("no amount", s.PlaceBid, place(amount=False), "amount"),
        ("wrong currency", s.PlaceBid, place(currency="USD"), "currency"),
        ("lower-case currency", s.PlaceBid, place(currency="rub"), "currency"),
        ("empty currency", s.PlaceBid, place(currency=""), "currency"),
        ("4-letter currency", s.PlaceBid, place(currency="RUBX"), "currency"),
        ("20 KB currency", s.PlaceBid, place(currency="R" * 20000), "currency"),
        ("20 KB key", s.PlaceBid, place(key="k" * 20000), "idempotency_key"),
        ("1 MB key", s.PlaceBid, place(key="k" * MB), "accepts at most 65536"),
        ("129-char key", s.PlaceBid, place(key="k" * 129), "idempotency_key"),
        ("empty key", s.PlaceBid, place(key=""), "idempotency_key"),
        ("key with a space", s.PlaceBid, place(key="a b"), "idempotency_key"),
        ("non-ASCII key", s.PlaceBid, place(key="ключ"), "idempotency_key"),
        ("lot 0", s.PlaceBid, place(lot_id=0), "lot_id"),
        ("lot -1", s.PlaceBid, place(lot_id=-1), "lot_id"),
        ("autobid max 2^63-1", s.SetAutoBid, auto(2 ** 63 - 1), "max_amount"),
        ("autobid max -5", s.SetAutoBid, auto(-5), "max_amount"),
        ("autobid max 0", s.SetAutoBid, auto(0), "max_amount"),
        ("autobid wrong currency", s.SetAutoBid, auto(currency="EUR"), "currency"),
        ("autobid 20 KB key", s.SetAutoBid, auto(key="k" * 20000), "idempotency_key"),
        ("autobid 1 MB key", s.SetAutoBid, auto(key="k" * MB), "accepts at most 65536"),
        ("cancel empty key", s.CancelAutoBid,
         bids_pb2.CancelAutoBidRequest(lot_id=lot), "idempotency_key"),
        ("state of lot -3", s.GetLotState, bids_pb2.GetLotStateRequest(lot_id=-3), "lot_id"),
    ]
    wrong = []
    for name, method, req, field in cases:
        try:
            h.expect_error(IA, method, req, m.md, field=field)
        except AssertionError as e:
            wrong.append("%s: %s" % (name, e))
    assert not wrong, "\n".join(wrong)


def test_invalid_utf8_and_garbage_bytes_are_invalid_argument(market, scene):
    m, lot = scene.m, scene.lot
    key_req = market.place_req(lot, 5000, key="k-\u2603QZ")
    bad_key = swap_once(key_req.SerializeToString(), "\u2603QZ".encode(), BAD_UTF8 + b"QZ")
    cur_req = market.place_req(lot, 5000, currency="\u2603")
    bad_cur = swap_once(cur_req.SerializeToString(), "\u2603".encode(), BAD_UTF8)
    auto = bids_pb2.SetAutoBidRequest(lot_id=lot, max_amount=h.rub(9000),
                                      idempotency_key="k-\u2603QZ").SerializeToString()
    bad_auto = swap_once(auto, "\u2603QZ".encode(), BAD_UTF8 + b"QZ")
    for method, payload in (("PlaceBid", bad_key), ("PlaceBid", bad_cur),
                            ("SetAutoBid", bad_auto),
                            ("PlaceBid", b"\xff\xff\xff\xff"),           # not protobuf
                            ("PlaceBid", field_bytes(2, b"\x08" * 5)),   # truncated Money
                            ("PlaceBid", field_varint(1, lot)[:-1]),     # cut mid-varint
                            ("OpenLot", b"\x0a\xff\xff\xff\xff\x0f")):   # length past the end
        md = market.svc_md() if method == "OpenLot" else m.md
        expect_raw(IA, market, method, payload, md)


def test_unknown_lots_are_not_found(market, scene):
    m = scene.m
    lot = market.unused_lot_id()
    s = market.stub
    for method, req, md in (
            (s.PlaceBid, market.place_req(lot, 5000), m.md),
            (s.SetAutoBid, bids_pb2.SetAutoBidRequest(lot_id=lot, max_amount=h.rub(9000),
                                                      idempotency_key=h.idem()), m.md),
            (s.CancelAutoBid, bids_pb2.CancelAutoBidRequest(lot_id=lot,
                                                            idempotency_key=h.idem()), m.md),
            (s.GetLotState, bids_pb2.GetLotStateRequest(lot_id=lot), m.md),
            (s.ListBids, bids_pb2.ListBidsRequest(lot_id=lot), m.md),
            (s.CloseLot, bids_pb2.CloseLotRequest(lot_id=lot), market.svc_md())):
        h.expect_error(NF, method, req, md)


# ---- lot rules ------------------------------------------------------------------------

def rules_cases(market):
    def r(**kw):
        return market.lot_request(**kw)

    def mix(field, currency):
        req = r(reserve=2000, buy_now=9000)
        getattr(req, field).currency = currency
        return req

    def band_currency():
        req = r(bands=((0, 100), (5000, 200)))
        req.increments[1].increment.currency = "USD"
        return req

    def no_start():
        req = r()
        req.ClearField("start_price")
        return req

    def times(start_s, end_s):
        return r(starts_in_s=start_s, ends_in_s=end_s)
    return [
        ("reserve below start", r(start=1000, reserve=500)),
        ("buy-now below start", r(start=1000, buy_now=900)),
        ("buy-now below reserve", r(start=1000, reserve=5000, buy_now=3000)),
        ("bands unsorted", r(bands=((0, 100), (5000, 250), (3000, 50)))),
        ("bands repeat a start", r(bands=((0, 100), (0, 200)))),
        ("first band not from 0", r(bands=((100, 100),))),
        ("zero increment", r(bands=((0, 0),))),
        ("negative increment", r(bands=((0, -100),))),
        ("no bands", r(bands=())),
        ("ends before it starts", times(60, 30)),
        ("ends when it starts", times(60, 60)),
        ("start price in another currency", mix("start_price", "USD")),
        ("reserve in another currency", mix("reserve_price", "EUR")),
        ("buy-now in another currency", mix("buy_now_price", "USD")),
        ("increment in another currency", band_currency()),
        ("lower-case currency", r(currency="rub")),
        ("empty currency", r(currency="")),
        ("4-letter currency", r(currency="RUBX")),
        ("zero start price", r(start=0)),
        ("negative start price", r(start=-1000)),
        ("no start price", no_start()),
        ("negative soft-close window", r(soft_close_s=-1)),
        ("negative max_extensions", r(soft_close_s=60, max_extensions=-1)),
        ("max_extensions over 1000", r(soft_close_s=60, max_extensions=1001)),
        ("negative lot id", r(lot_id=-1)),
        ("seller id -1", r(seller_id=-1)),
    ]


def test_open_lot_with_inconsistent_rules_is_invalid_argument_and_opens_nothing(market):
    md = market.svc_md()
    wrong = []
    for name, req in rules_cases(market):
        try:
            h.expect_error(IA, market.stub.OpenLot, req, md)
            if req.lot_id > 0:
                h.expect_error(NF, market.stub.GetLotState,
                               bids_pb2.GetLotStateRequest(lot_id=req.lot_id), md)
        except AssertionError as e:
            wrong.append("%s: %s" % (name, e))
    assert not wrong, "\n".join(wrong)


def test_open_lot_is_idempotent_and_refuses_new_rules_once_live(market):
    md = market.svc_md()
    a, = market.new_bidders(1)
    req = market.lot_request()
    first = h.call(market.stub.OpenLot, req, md).state
    again = h.call(market.stub.OpenLot, req, md).state
    assert (again.lot_id, again.status, again.ends_at_us, again.next_min_bid) == \
        (first.lot_id, first.status, first.ends_at_us, first.next_min_bid)
    market.place(a, req.lot_id, 1000)
    changed = bids_pb2.OpenLotRequest()
    changed.CopyFrom(req)
    changed.start_price.units = 500
    h.expect_error(FP, market.stub.OpenLot, changed, md)
    st = market.state(req.lot_id)
    assert (st.bid_count, st.current_price.units, st.next_min_bid.units) == (1, 1000, 1100)
    # The same rules again still answer with the current state.
    assert h.call(market.stub.OpenLot, req, md).state.seq == 1


def test_pending_lot_refuses_bids_and_its_rules_may_be_replaced(market):
    md = market.svc_md()
    a, = market.new_bidders(1)
    req = market.lot_request(starts_in_s=300, ends_in_s=900)
    st = h.call(market.stub.OpenLot, req, md).state
    assert st.status == bids_pb2.LOT_STATUS_PENDING
    h.expect_error(FP, market.stub.PlaceBid, market.place_req(req.lot_id, 1000), a.md)
    h.expect_error(FP, market.stub.SetAutoBid, bids_pb2.SetAutoBidRequest(
        lot_id=req.lot_id, max_amount=h.rub(5000), idempotency_key=h.idem()), a.md)
    changed = bids_pb2.OpenLotRequest()
    changed.CopyFrom(req)
    changed.start_price.units = 2000
    st = h.call(market.stub.OpenLot, changed, md).state
    assert (st.status, st.next_min_bid.units) == (bids_pb2.LOT_STATUS_PENDING, 2000)
    assert market.log(req.lot_id) == []
    assert market.reserved(a) == 0


def test_pending_lot_goes_live_at_its_start(market):
    a, = market.new_bidders(1)
    lot = market.open_lot(starts_in_s=1.0 * h.SLOW, ends_in_s=300)
    st = market.state(lot)
    assert st.status == bids_pb2.LOT_STATUS_PENDING
    h.expect_error(FP, market.stub.PlaceBid, market.place_req(lot, 1000), a.md)
    market.wait_until_past(st.starts_at_us)
    assert market.state(lot).status == bids_pb2.LOT_STATUS_LIVE
    assert market.place(a, lot, 1000).bid.seq == 1


# ---- ListBids -------------------------------------------------------------------------

def test_list_bids_arguments_and_rights(market, admin, scene):
    a, m, lot = scene.a, scene.m, scene.lot
    s = market.stub
    for req in (bids_pb2.ListBidsRequest(),
                bids_pb2.ListBidsRequest(lot_id=-1),
                bids_pb2.ListBidsRequest(bidder_id=-1),
                bids_pb2.ListBidsRequest(lot_id=lot, page=common_pb2.PageRequest(page_size=1001)),
                bids_pb2.ListBidsRequest(lot_id=lot, page=common_pb2.PageRequest(page_size=-1)),
                bids_pb2.ListBidsRequest(lot_id=lot, page=common_pb2.PageRequest(
                    page_token="garbage")),
                bids_pb2.ListBidsRequest(lot_id=lot, page=common_pb2.PageRequest(
                    page_token="x" * MB))):
        h.expect_error(IA, s.ListBids, req, m.md)
    # Another bidder's bids across lots: not for a bidder; fine for admin.
    h.expect_error(PD, s.ListBids, bids_pb2.ListBidsRequest(bidder_id=a.id), m.md)
    mine = h.call(s.ListBids, bids_pb2.ListBidsRequest(bidder_id=a.id), a.md).bids
    theirs = h.call(s.ListBids, bids_pb2.ListBidsRequest(bidder_id=a.id), admin.md).bids
    assert [h.receipt(b) for b in mine] == [h.receipt(b) for b in theirs]
    assert [(b.lot_id, b.bidder_id, b.amount.units) for b in mine] == [(lot, a.id, 1000)]
    assert len(h.call(s.ListBids, bids_pb2.ListBidsRequest(bidder_id=m.id), m.md).bids) == 0


def test_list_bids_pages_through_a_lot_and_across_lots_newest_first(market):
    a, b = market.new_bidders(2)
    lots = [market.open_lot() for _ in range(2)]
    placed = []
    for lot in lots:
        for i in range(5):
            placed.append(market.place(a if i % 2 == 0 else b, lot, 1000 + 100 * i).bid)
    whole = market.log(lots[0])
    paged = h.list_lot_bids(market.stub, lots[0], a.md, page_size=2)
    assert [h.receipt(x) for x in paged] == [h.receipt(x) for x in whole]
    assert len(whole) == 5
    # a's bids across lots, newest first, paged.
    got, token = [], ""
    while True:
        r = h.call(market.stub.ListBids, bids_pb2.ListBidsRequest(
            bidder_id=a.id, page=common_pb2.PageRequest(page_size=2, page_token=token)), a.md)
        got += list(r.bids)
        token = r.page.next_page_token
        if not token:
            break
    want = sorted((x for x in placed if x.bidder_id == a.id), key=lambda x: x.placed_at_us,
                  reverse=True)
    assert [(x.lot_id, x.seq) for x in got] == [(x.lot_id, x.seq) for x in want], (
        "bids across lots are not newest first")
    assert [h.receipt(x) for x in got] == [h.receipt(x) for x in want]


# ---- idempotency keys ---------------------------------------------------------------------

def test_idempotency_key_reused_for_another_amount_is_failed_precondition(market):
    a, b = market.new_bidders(2)
    lot, other = market.open_lot(), market.open_lot()
    key = h.idem()
    first = market.place(a, lot, 1000, key=key)
    assert market.place(a, lot, 1000, key=key) == first   # a retry: the first answer
    for units in (1100, 999):
        before = market.state(lot)
        h.expect_error(FP, market.stub.PlaceBid, market.place_req(lot, units, key=key), a.md,
                       field="idempotency_key")
        after = market.state(lot)
        assert (after.seq, after.current_price, after.head_hash) == \
            (before.seq, before.current_price, before.head_hash)
    # The key is scoped to (caller, lot): another lot or another caller may use it.
    assert market.place(a, other, 1000, key=key).bid.lot_id == other
    r = market.place(b, lot, 1100, key=key)
    assert (r.bid.bidder_id, r.bid.seq) == (b.id, 2)
    # Outbid, a's amount is now below the minimum: its retry still gets the
    # first answer, and a new key with that amount is refused as too low.
    assert market.place(a, lot, 1000, key=key) == first
    e = h.expect_error(IA, market.stub.PlaceBid, market.place_req(lot, 1000), a.md)
    assert e.details() == "amount must be ≥ 1200 (current 1100 + increment 100), got 1000"
    assert [(x.bidder_id, x.amount.units) for x in market.log(lot)] == [(a.id, 1000), (b.id, 1100)]
    market.wait_reserved({a: 1000, b: 1100})
