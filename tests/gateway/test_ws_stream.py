"""The WebSocket endpoint's stream: subscribers of a lot get a snapshot, then
every accepted bid as a lot_update in seq order, within a second, with
their own leader and outbid flags; place_bid over the socket answers with
bid_result."""
import time

import pytest

import gavel_harness as h
from ws_client import bid_msg, connect, min_bid, of_type, recv, run, send, until


@pytest.mark.latency
def test_two_clients_see_each_others_bids_in_seq_order(gateway, market):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]

    async def scenario():
        wa = await connect(gateway, a.token)
        wb = await connect(gateway, query="?access_token=" + b.token)
        for w in (wa, wb):
            await send(w, type="subscribe", id="s1", lots=[lot])
            sub = await until(w, of_type("subscribed", id="s1"))
            assert sub["lots"] == [lot]
        snap_a = await until(wa, of_type("lot_snapshot", lotId=lot))
        snap_b = await until(wb, of_type("lot_snapshot", lotId=lot))
        assert snap_a["seq"] == snap_b["seq"] == "0"
        assert snap_a["leader"] is False and "serverTime" in snap_a
        first = min_bid(snap_a["state"])

        t0 = time.monotonic()
        await send(wa, **bid_msg(lot, first, "a1"))
        seen_a = []
        res = await until(wa, of_type("bid_result", id="a1"), seen=seen_a)
        assert res["bid"]["seq"] == "1" and res["callerIsLeading"] is True
        up_b = await until(wb, of_type("lot_update", lotId=lot), timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        assert up_b["seq"] == "1" and up_b["leader"] is False
        assert [x["seq"] for x in up_b["bids"]] == ["1"]
        assert up_b["bids"][0]["bidderId"] == str(a.id)

        t1 = time.monotonic()
        await send(wb, **bid_msg(lot, min_bid(up_b["state"]), "b1"))
        seen_b = []
        res_b = await until(wb, of_type("bid_result", id="b1"), seen=seen_b)
        assert res_b["bid"]["seq"] == "2"
        ups_a = [m for m in seen_a if m["type"] == "lot_update"]
        while not ups_a or ups_a[-1]["seq"] != "2":
            m = await until(wa, of_type("lot_update", lotId=lot), timeout=1.0)
            ups_a.append(m)
        assert time.monotonic() - t1 < 1.0
        seqs = [m["seq"] for m in ups_a]
        assert seqs == sorted(seqs, key=int) and seqs[-1] == "2" and seqs[0] == "1"
        last = ups_a[-1]
        assert last["leader"] is False and last["outbid"] is True
        assert last["state"]["leaderId"] == str(b.id)
        # b's own update may come before or after its bid_result
        early = [m for m in seen_b if of_type("lot_update", seq="2")(m)]
        up_b2 = early[0] if early else await until(wb, of_type("lot_update", seq="2"),
                                                   timeout=1.0)
        assert up_b2["leader"] is True and up_b2["outbid"] is False
        # the socket's state agrees with GetLotState
        st = market.state(lot, a.token)
        assert st["seq"] == last["seq"] and st["currentPrice"] == last["state"]["currentPrice"]
        await wa.close()
        await wb.close()

    run(scenario())


def test_ping_pong_and_unsubscribe(gateway, market):
    seller, a = market.seller(), market.bidder()
    lot = market.live(seller)["id"]

    async def scenario():
        w = await connect(gateway, a.token)
        await send(w, type="ping", id="p1")
        assert await until(w, of_type("pong")) == {"type": "pong", "id": "p1"}
        await send(w, type="subscribe", lots=[lot])
        await until(w, of_type("lot_snapshot", lotId=lot))
        await send(w, type="unsubscribe", id="u1", lots=[lot])
        m = await until(w, of_type("unsubscribed", id="u1"))
        assert m["lots"] == [lot]
        # a bid after unsubscribing reaches nobody here
        market.rest.ok("POST", "/api/v1/lots/%s/bids" % lot,
                       {"amount": market.state(lot, a.token)["nextMinBid"]}, a.token,
                       headers={"Idempotency-Key": h.new_key()})
        await send(w, type="ping", id="p2")
        m = await recv(w)
        assert m == {"type": "pong", "id": "p2"}, m
        await w.close()

    run(scenario())


def test_set_autobid_answers_and_unknown_lot_is_an_error(gateway, market):
    seller, a = market.seller(), market.bidder()
    lot = market.live(seller)["id"]

    async def scenario():
        w = await connect(gateway, a.token)
        st = market.state(lot, a.token)
        await send(w, type="set_autobid", id="ab", lotId=lot,
                   maxAmount=h.rub_json(min_bid(st) * 3), idempotencyKey=h.new_key())
        m = await until(w, lambda m: m.get("id") == "ab")
        assert m["type"] == "autobid_result", m
        await send(w, type="subscribe", id="x", lots=["999999999"])
        await until(w, of_type("subscribed", id="x"))
        e = await until(w, of_type("error"))
        assert e["code"] == "NOT_FOUND" and "999999999" in e["message"], e
        await w.close()

    run(scenario())
