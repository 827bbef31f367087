"""A small client of the gateway's WebSocket protocol (docs/websocket.md) for
the tests: asyncio websockets (Debian python3-websockets), JSON messages."""
import asyncio
import json
import os
import socket
import time

import websockets

import gavel_harness as h


def url(gw, query=""):
    return "ws://%s:%d/ws%s" % (gw.host, gw.port, query)


async def connect(gw, token=None, query="", sock=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    kw = {}
    if sock is not None:
        kw["sock"] = sock
        kw["host"] = None
    return await websockets.connect(url(gw, query), subprotocols=["gavel.v1"],
                                    extra_headers=headers, max_size=2 ** 24,
                                    open_timeout=10, **kw)


async def send(ws, **msg):
    await ws.send(json.dumps(msg))


async def recv(ws, timeout=5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    try:
        return json.loads(raw)
    except ValueError:
        raise AssertionError("not a JSON message: %r" % (raw[:300],))


async def until(ws, pred, timeout=5.0, seen=None):
    """Reads messages until pred(m); returns m (the others go to seen)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching message within %ss; saw %s"
                                 % (timeout, (seen or [])[-5:]))
        try:
            m = await recv(ws, left)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            raise AssertionError("no matching message within %ss; saw %s"
                                 % (timeout, (seen or [])[-5:]))
        if pred(m):
            return m
        if seen is not None:
            seen.append(m)


async def collect(ws, out):
    """Appends every message of ws to out until the socket closes or the
    task is cancelled. No per-message timeout: asyncio.wait_for in Python
    3.11 can swallow a cancel that meets a message arriving, leaving the
    task waiting on; the caller bounds its wait instead."""
    try:
        async for raw in ws:
            try:
                out.append(json.loads(raw))
            except ValueError:
                raise AssertionError("not a JSON message: %r" % (raw[:300],))
    except asyncio.CancelledError:
        pass


def of_type(t, **fields):
    return lambda m: m.get("type") == t and all(m.get(k) == v for k, v in fields.items())


def run(coro):
    return asyncio.run(coro)


def redis_command(*args):
    """One command to the test stack's Redis (RESP over a socket)."""
    host, port = os.environ.get("GAVEL_TEST_REDIS", "127.0.0.1:56379").rsplit(":", 1)
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(out)
        return s.recv(65536)


def min_bid(state):
    return int(state["nextMinBid"]["units"])


def bid_msg(lot_id, units, rid=None):
    return dict(type="place_bid", id=rid or h.new_key()[:20], lotId=str(lot_id),
                amount=h.rub_json(units), idempotencyKey=h.new_key())
