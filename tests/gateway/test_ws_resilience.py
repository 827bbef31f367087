"""The WebSocket stream heals: a lost Redis connection (feeds published
meanwhile are lost) ends in a snapshot that matches GetLotState; a gateway
killed with -9 leaves clients that reconnect and resync; a drained gateway
closes its sockets with 1001."""
import asyncio

import pytest
import websockets

import gavel_harness as h
from ws_client import bid_msg, connect, min_bid, of_type, redis_command, run, send, until


def rest_bid(market, lot, bidder):
    st = market.state(lot, bidder.token)
    return market.rest.ok("POST", "/api/v1/lots/%s/bids" % lot, {"amount": st["nextMinBid"]},
                          bidder.token, headers={"Idempotency-Key": h.new_key()})


def test_lost_redis_connection_converges_to_get_lot_state(gateway, market):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]
    before = h.metric_value(gateway, "gavel_gateway_ws_redis_reconnects_total") or 0

    async def scenario():
        w = await connect(gateway, a.token)
        await send(w, type="subscribe", lots=[lot])
        await until(w, of_type("lot_snapshot", lotId=lot))
        # the gateway's subscriber connection dies; bids go on meanwhile
        assert b":" in redis_command("CLIENT", "KILL", "TYPE", "pubsub")
        rest_bid(market, lot, a)
        rest_bid(market, lot, b)
        want = market.state(lot, a.token)

        def converged(m):
            return m["type"] in ("lot_snapshot", "lot_update") and m["seq"] == want["seq"]
        m = await until(w, converged, timeout=10)
        assert m["state"]["currentPrice"] == want["currentPrice"]
        assert m["state"]["leaderId"] == str(b.id) and m["leader"] is False
        # and the stream carries on after the reconnect
        rest_bid(market, lot, a)
        up = await until(w, of_type("lot_update", seq=str(int(want["seq"]) + 1)), timeout=5)
        assert up["leader"] is True
        await w.close()

    run(scenario())
    assert (h.metric_value(gateway, "gavel_gateway_ws_redis_reconnects_total") or 0) > before


def test_gateway_kill9_clients_reconnect_and_resync(gateway, market):
    seller, a = market.seller(), market.bidder()
    lot = market.live(seller)["id"]

    async def first():
        w = await connect(gateway, a.token)
        await send(w, type="subscribe", lots=[lot])
        await until(w, of_type("lot_snapshot", lotId=lot))
        gateway.kill9()
        with pytest.raises(websockets.ConnectionClosed):
            await until(w, lambda m: False, timeout=5)

    run(first())
    gateway.start()
    rest_bid(market, lot, a)
    want = market.state(lot, a.token)

    async def again():
        w = await connect(gateway, a.token)
        await send(w, type="subscribe", lots=[lot])
        snap = await until(w, of_type("lot_snapshot", lotId=lot))
        assert snap["seq"] == want["seq"] and snap["leader"] is True
        await w.close()

    run(again())


def test_drain_closes_sockets_with_1001(gateway, market):
    async def scenario():
        w = await connect(gateway)
        await send(w, type="ping", id="p")
        await until(w, of_type("pong"))
        loop = asyncio.get_running_loop()
        stop = loop.run_in_executor(None, gateway.stop)
        with pytest.raises(websockets.ConnectionClosed) as ex:
            await until(w, lambda m: False, timeout=10)
        await stop
        assert ex.value.rcvd is None or ex.value.rcvd.code == 1001, ex.value

    run(scenario())
    gateway.start()
