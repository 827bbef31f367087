"""Fan-out to many sockets on ONE lot: a few hundred sockets (anonymous and
the two bidders' own) follow a lot while the bidders outbid each other;
every socket gets a snapshot, then updates in increasing seq whose bids
cover every seq once (no gap, no repeat), ending in the final state, with
its own leader and outbid flags. Sockets that subscribe half-way get a
snapshot and carry on from it the same way."""
import asyncio

import gavel_harness as h
from ws_client import collect, connect, run, send

ANON = 280          # anonymous sockets on the lot from the start
OWN = 5             # sockets of each bidder
LATE = 20           # anonymous sockets that subscribe after half the bids
BIDS = 24


def rest_bid(market, lot, bidder):
    st = market.state(lot, bidder.token)
    market.rest.ok("POST", "/api/v1/lots/%s/bids" % lot, {"amount": st["nextMinBid"]},
                   bidder.token, headers={"Idempotency-Key": h.new_key()})


def check_stream(msgs, final, user_id=None):
    """The lot messages one socket got, checked; returns the last one."""
    lot_msgs = [m for m in msgs if m["type"] in ("lot_snapshot", "lot_update")]
    assert lot_msgs and lot_msgs[0]["type"] == "lot_snapshot", msgs[:3]
    assert [m["type"] for m in lot_msgs[1:]] == ["lot_update"] * (len(lot_msgs) - 1), \
        "a second snapshot without a gap: %s" % [m["type"] for m in lot_msgs]
    prev = lot_msgs[0]
    for m in lot_msgs:
        assert m["state"].get("seq", "0") == m["seq"], m
        is_leader = user_id is not None and m["state"].get("leaderId") == str(user_id)
        assert m["leader"] is is_leader, m
    for m in lot_msgs[1:]:
        want = list(range(int(prev["seq"]) + 1, int(m["seq"]) + 1))
        assert want, "seq %s after %s" % (m["seq"], prev["seq"])
        assert [int(b["seq"]) for b in m["bids"]] == want, (prev["seq"], m)
        assert m["outbid"] is (prev["leader"] and not m["leader"]), (prev, m)
        prev = m
    last = lot_msgs[-1]
    assert last["seq"] == final["seq"], (last["seq"], final["seq"])
    assert last["state"]["currentPrice"] == final["currentPrice"]
    return last


def test_hundreds_of_sockets_on_one_lot_get_every_bid_in_order(gateway, market):
    seller, a, b = market.seller(), market.bidder(), market.bidder()
    lot = market.live(seller)["id"]

    async def open_all(specs, sem):
        async def one(token):
            async with sem:
                w = await connect(gateway, token)
                await send(w, type="subscribe", id="s", lots=[lot])
                return w
        return await asyncio.gather(*(one(t) for t in specs))

    async def scenario():
        sem = asyncio.Semaphore(50)
        specs = [None] * ANON + [a.token] * OWN + [b.token] * OWN
        owners = [None] * ANON + [a.id] * OWN + [b.id] * OWN
        socks = await open_all(specs, sem)
        got = [[] for _ in socks]
        tasks = [asyncio.create_task(collect(w, g)) for w, g in zip(socks, got)]

        def has_snapshot(g):
            return any(m["type"] == "lot_snapshot" for m in g)
        await wait_all(got, has_snapshot, 30)

        loop = asyncio.get_running_loop()
        for i in range(BIDS // 2):
            await loop.run_in_executor(None, rest_bid, market, lot, a if i % 2 == 0 else b)
        late = await open_all([None] * LATE, sem)
        late_got = [[] for _ in late]
        tasks += [asyncio.create_task(collect(w, g)) for w, g in zip(late, late_got)]
        for i in range(BIDS // 2, BIDS):
            await loop.run_in_executor(None, rest_bid, market, lot, a if i % 2 == 0 else b)
        final = market.state(lot, a.token)
        assert final["seq"] == str(BIDS)

        def has_final(g):
            return any(m.get("seq") == final["seq"] for m in g)
        await wait_all(got + late_got, has_final, 30)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks)
        for g, owner in zip(got, owners):
            check_stream(g, final, owner)
        for g in late_got:
            first = next(m for m in g if m["type"] == "lot_snapshot")
            assert int(first["seq"]) >= BIDS // 2, first
            check_stream(g, final)
        await asyncio.gather(*(w.close() for w in socks + late))

    run(scenario())


async def wait_all(lists, pred, timeout):
    """Waits until pred holds for every list (they fill in the background)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not all(pred(g) for g in lists):
        missing = sum(1 for g in lists if not pred(g))
        assert loop.time() < end, "%d of %d sockets still waiting" % (missing, len(lists))
        await asyncio.sleep(0.05)
