"""Tokens on the WebSocket: without one a socket may follow lots read-only
but not bid; a bad or expired token is refused at connect (error, then
close 1008) and in an auth message (error, the socket stays as it was)."""
import json
import time

import pytest
import websockets

import gavel_harness as h
from ws_client import bid_msg, connect, min_bid, of_type, run, send, until


def test_anonymous_socket_reads_but_cannot_bid(gateway, market):
    seller = market.seller()
    lot = market.live(seller)["id"]

    async def scenario():
        w = await connect(gateway)
        await send(w, type="subscribe", id="s", lots=[lot])
        snap = await until(w, of_type("lot_snapshot", lotId=lot))
        assert snap["leader"] is False
        await send(w, **bid_msg(lot, min_bid(snap["state"]), "b"))
        e = await until(w, of_type("error", id="b"))
        assert e["code"] == "UNAUTHENTICATED", e
        await w.close()

    run(scenario())
    assert "seq" not in market.state(lot, seller.token)  # no bid was placed


@pytest.mark.parametrize("how", ["header", "query"])
def test_bad_token_at_connect_is_refused_with_1008(gateway, how):
    async def scenario():
        if how == "header":
            w = await connect(gateway, "not.a.token")
        else:
            w = await connect(gateway, query="?access_token=forged")
        e = await until(w, of_type("error"))
        assert e["code"] == "UNAUTHENTICATED", e
        with pytest.raises(websockets.ConnectionClosed) as ex:
            await until(w, lambda m: False, timeout=5)
        assert ex.value.rcvd is not None, "closed without a close frame: %r" % ex.value
        assert ex.value.rcvd.code == 1008 and ex.value.rcvd.reason == "invalid access token"

    run(scenario())


def test_expired_token_in_auth_message_is_refused(gateway, users, market):
    b = market.bidder(funds=0)
    if not h.HAVE_CRYPTOGRAPHY:
        pytest.skip("python3-cryptography is needed to sign an expired token")
    now = int(time.time())
    key = users.env.get("GAVEL_JWT_PRIVATE_KEY")
    if key is None:
        pytest.skip("no users signing key in the test environment")
    expired = h.user_token(key, b.id, "bidder", now - 3600, now - 60)

    async def scenario():
        w = await connect(gateway)
        await send(w, type="auth", id="a1", token=expired)
        e = await until(w, of_type("error", id="a1"))
        assert e["code"] == "UNAUTHENTICATED", e
        await send(w, type="auth", id="a2", token=b.token)
        ok = await until(w, of_type("authenticated", id="a2"))
        assert ok["userId"] == str(b.id)
        await w.close()

    run(scenario())


def test_messages_right_after_auth_are_read_as_the_users(gateway, market):
    """The token check runs on a worker; the messages a client sends without
    waiting for its answer are read after it, in order: a bid sent at once
    after connecting with a token, or after an auth message, is the user's
    (never refused as anonymous)."""
    seller = market.seller()
    bidders = [market.bidder() for _ in range(3)]
    lots = [market.live(seller)["id"] for _ in range(len(bidders))]

    async def scenario():
        for b, lot in zip(bidders, lots):
            units = min_bid(market.state(lot, b.token))
            # at connect: the first frame follows the handshake at once
            w = await connect(gateway, b.token)
            await send(w, **bid_msg(lot, units, "c"))
            r = await until(w, lambda m: m.get("id") == "c", timeout=10)
            assert r["type"] == "bid_result" and r["callerIsLeading"] is True, r
            await w.close()
            # an auth message and a bid in one write, the bid not waiting
            w = await connect(gateway)
            await w.send(json.dumps({"type": "auth", "id": "a", "token": b.token}))
            await send(w, type="ping", id="p")
            await send(w, **bid_msg(lot, units + 1000, "m"))
            seen = []
            r = await until(w, lambda m: m.get("id") == "m", timeout=10, seen=seen)
            assert [m.get("type") for m in seen if m.get("id") in ("a", "p")] == \
                ["authenticated", "pong"], seen
            # the user leads already: refused by the bids service, not the gateway
            assert r.get("code") == "FAILED_PRECONDITION", r
            await w.close()

    run(scenario())
