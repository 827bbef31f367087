"""Bad input on the WebSocket gets error messages, never a crash: malformed
JSON, unknown types, oversized and binary messages, floods past the rate
limit; and a socket that never reads is cut off with 1008 while the others
keep receiving."""
import asyncio
import json
import socket
import time

import websockets

import gavel_harness as h
from ws_client import (bid_msg, connect, min_bid, of_type, recv, redis_command, run,
                       send, until)

BAD = [
    "nonsense", "{", "[]", "42", '{"type":7}', '{"type":"warp"}', '{"id":{},"type":"ping"}',
    '{"type":"subscribe","lots":"x"}', '{"type":"subscribe","lots":["-1"]}',
    '{"type":"subscribe","lots":[]}', '{"type":"place_bid","lotId":"1"}',
    '{"type":"auth"}', '{"type":"ping","type":"ping"}', "x" * 20000,
]


def test_a_thousand_bad_messages_get_errors_only(gateway):
    async def scenario():
        w = await connect(gateway)
        for i in range(1000):
            if i % 50 == 7:
                await w.send(b"\x00\x01binary")
            else:
                await w.send(BAD[i % len(BAD)])
        got = []
        while len(got) < 1000:
            got.append(await recv(w, 10))
        assert {m["type"] for m in got} == {"error"}, [m for m in got if m["type"] != "error"][:3]
        codes = {m["code"] for m in got}
        assert codes <= {"INVALID_ARGUMENT", "UNAUTHENTICATED", "RESOURCE_EXHAUSTED"}, codes
        assert "RESOURCE_EXHAUSTED" in codes  # the rate limit spoke
        await asyncio.sleep(2.5)  # the bucket refills
        await send(w, type="ping", id="after")
        assert await until(w, of_type("pong", id="after"))
        await w.close()

    run(scenario())
    assert gateway.is_running()


def test_oversized_message_is_skipped_with_an_error(gateway):
    async def scenario():
        w = await connect(gateway)
        await w.send(json.dumps({"type": "ping", "id": "big", "pad": "x" * 100000}))
        e = await until(w, of_type("error"))
        assert "larger than" in e["message"], e
        await send(w, type="ping", id="small")
        assert await until(w, of_type("pong", id="small"))
        await w.close()

    run(scenario())


def test_socket_that_never_reads_is_cut_off_while_others_receive(gateway, market):
    seller, slow_user, fast = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]
    before = h.metric_value(gateway, "gavel_gateway_ws_slow_closes_total") or 0

    async def scenario():
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((gateway.host, gateway.port))
        slow = await connect(gateway, slow_user.token, sock=raw)
        await until(slow, of_type("authenticated"))
        good = await connect(gateway, fast.token)
        await send(good, type="subscribe", lots=[lot])
        snap = await until(good, of_type("lot_snapshot"))
        # the slow socket's transport stops reading: the kernel buffers fill
        slow.transport.pause_reading()
        payload = json.dumps({"kind": "test", "pad": "n" * 16000})
        for _ in range(200):
            redis_command("PUBLISH", "gavel:user:%d" % slow_user.id, payload)
        await send(good, **bid_msg(lot, min_bid(snap["state"]), "g"))
        up = await until(good, of_type("lot_update"), timeout=5)
        assert up["seq"] == "1"

        def closed():
            v = h.metric_value(gateway, "gavel_gateway_ws_slow_closes_total") or 0
            return v > before
        h.wait_until(closed, 15, what="the slow socket closed")
        await send(good, type="ping", id="still")
        assert await until(good, of_type("pong", id="still"))
        slow.transport.abort()
        await good.close()

    run(scenario())
