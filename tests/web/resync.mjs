// A lost connection: the page's WebSocket is cut (the test stands between
// the page and the gateway with page.routeWebSocket, closes both sides
// with 1001 and refuses reconnects for a while). The banner says the
// connection is lost; a bid placed meanwhile (through the API) is not on
// the page; once reconnects are let through, the page resubscribes, the
// snapshot brings the new price, and the banner says it is back, then
// goes away.
// ctx: {bidder, other, lotId}
import { ctx, run, newContext, url, check, shot, PHONE, SLOW } from './lib.mjs';

const T = 10000 * SLOW;

run(async (browser) => {
    const context = await newContext(browser, PHONE, { session: ctx.bidder });
    const page = await context.newPage();
    let blocked = false;
    let client = null;
    let server = null;
    let connections = 0;
    await page.routeWebSocket(/\/ws$/, (ws) => {
        connections++;
        if (blocked) {
            ws.close({ code: 1001, reason: 'test: gateway away' });
            return;
        }
        client = ws;
        server = ws.connectToServer();
    });
    await page.goto(url('#/lot/' + ctx.lotId));
    await page.waitForFunction(() => document.querySelector('#lot-countdown')?.dataset.endsAtUs, null, { timeout: T });
    const before = await page.textContent('#lot-bid-count');

    blocked = true;
    await server.close({ code: 1001, reason: 'test: gateway away' });
    await client.close({ code: 1001, reason: 'test: gateway away' });
    await page.waitForFunction(() => {
        const b = document.querySelector('#banner');
        return b && !b.hidden && b.classList.contains('banner-down');
    }, null, { timeout: T });
    const banner = await page.textContent('#banner');
    await shot(page, 'connection-lost');

    // Another dealer bids while this page is cut off.
    const st = await (await fetch(`${ctx.base}/api/v1/lots/${ctx.lotId}/state`, { headers: { Authorization: 'Bearer ' + ctx.other.tokens.accessToken } })).json();
    const bid = await fetch(`${ctx.base}/api/v1/lots/${ctx.lotId}/bids`, {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + ctx.other.tokens.accessToken, 'Content-Type': 'application/json', 'Idempotency-Key': 'resync-' + Date.now() },
        body: JSON.stringify({ amount: st.state.nextMinBid }),
    });
    check(bid.status === 200, `the other dealer's bid answered ${bid.status}`);
    await page.waitForTimeout(1000);
    check(await page.textContent('#lot-bid-count') === before, 'the page changed while it had no connection');
    const tries = connections;

    blocked = false;
    await page.waitForFunction((n) => document.querySelector('#lot-bid-count')?.textContent === String(n + 1),
        Number(before), { timeout: 30000 * SLOW });
    await page.waitForFunction(() => document.querySelector('#banner')?.classList.contains('banner-up'), null, { timeout: T });
    const back = await page.textContent('#banner');
    await page.waitForFunction(() => document.querySelector('#banner')?.hidden, null, { timeout: T });
    await context.close();
    return { banner, back, reconnectAttemptsWhileDown: tries - 1 };
});
