// Two dealers in two browser contexts on one live lot. A bids: B's page
// shows the new price within 1 s; B outbids: A's page says "outbid" within
// 1 s. Then on a lot in its soft-close window a late bid moves the end:
// both pages' countdowns follow within 1 s.
// ctx: {a, b, lotId, closingLotId, softCloseS}
import { ctx, run, newContext, url, check, within, shot, DESKTOP, PHONE, SLOW } from './lib.mjs';

const T = 10000 * SLOW;
const BOUND = 1000;

async function open(browser, acc, lotId, viewport) {
    const context = await newContext(browser, viewport, { session: acc });
    const page = await context.newPage();
    await page.goto(url('#/lot/' + lotId));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    // The stream is followed once the socket delivered the lot's snapshot.
    await page.waitForFunction(() => document.querySelector('#lot-countdown')?.dataset.endsAtUs, null, { timeout: T });
    return { context, page };
}

async function endsOf(page) {
    return Number(await page.getAttribute('#lot-countdown', 'data-ends-at-us'));
}

run(async (browser) => {
    const A = await open(browser, ctx.a, ctx.lotId, DESKTOP);
    const B = await open(browser, ctx.b, ctx.lotId, PHONE);
    // Give B's socket a moment to be subscribed (the snapshot came over it).
    await B.page.waitForTimeout(300);

    // A bids the next minimum; B sees the new price.
    const aNext = await A.page.textContent('#lot-next-min');
    const t0 = Date.now();
    await A.page.click('#bid-next');
    await within(B.page, ([want]) => (document.querySelector('#lot-price')?.textContent || '') === want,
        [aNext], BOUND + 500, `B sees A's bid of ${aNext}`);
    const aToB = Date.now() - t0;
    check(aToB < BOUND, `B saw A's bid after ${aToB} ms (bound ${BOUND})`);
    await A.page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });

    // B outbids; A's page says so.
    await B.page.waitForFunction(() => !document.querySelector('#bid-next')?.hidden, null, { timeout: T });
    const t1 = Date.now();
    await B.page.click('#bid-next');
    await within(A.page, () => document.querySelector('#lot-leader')?.classList.contains('outbid'), null, BOUND + 500, 'A sees "outbid"');
    const bToA = Date.now() - t1;
    check(bToA < BOUND, `A saw "outbid" after ${bToA} ms (bound ${BOUND})`);
    const aLeader = await A.page.textContent('#lot-leader');
    check(/outbid/i.test(aLeader), `A's flag says "${aLeader}"`);
    await B.page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });
    await shot(A.page, 'realtime-a');
    await shot(B.page, 'realtime-b');
    // Both logs hold both bids.
    for (const p of [A.page, B.page]) {
        await p.waitForFunction(() => document.querySelectorAll('#bid-history tr[data-seq]').length === 2, null, { timeout: T });
    }
    await A.context.close();
    await B.context.close();

    // Soft close: wait for the lot's last seconds, then a late bid.
    const A2 = await open(browser, ctx.a, ctx.closingLotId, DESKTOP);
    const B2 = await open(browser, ctx.b, ctx.closingLotId, DESKTOP);
    const ends0 = await endsOf(A2.page);
    check(ends0 === await endsOf(B2.page), 'the two pages disagree on the end');
    const windowMs = ctx.softCloseS * 1000;
    // Wait until the countdown (server clock) is inside the window, with a
    // margin for the bid's round trip.
    await A2.page.waitForFunction(([e, w]) => {
        const txt = document.querySelector('#lot-countdown')?.textContent || '';
        const [m, s] = txt.split(':').map(Number);
        return (m * 60 + s) * 1000 < w - 2000 && Date.now() < e / 1000;
    }, [ends0, windowMs], { timeout: 60000 * SLOW, polling: 200 });
    const leftBefore = await A2.page.textContent('#lot-countdown');
    const t2 = Date.now();
    await A2.page.click('#bid-next');
    const ends = [];
    for (const p of [A2.page, B2.page]) {
        await within(p, (e) => Number(document.querySelector('#lot-countdown')?.dataset.endsAtUs) > e, ends0, BOUND + 500, 'the countdown follows the extension');
        ends.push(await endsOf(p));
    }
    const extendMs = Date.now() - t2;
    check(extendMs < BOUND, `the pages showed the extension after ${extendMs} ms (bound ${BOUND})`);
    check(ends[0] === ends[1], `the pages disagree on the new end: ${ends}`);
    const leftAfter = await B2.page.textContent('#lot-countdown');
    await shot(B2.page, 'realtime-extended');
    await A2.context.close();
    await B2.context.close();
    return { aToB, bToA, extendMs, leftBefore, leftAfter, extendedByMs: (ends[0] - ends0) / 1000 };
});
