// Two dealers in two browser contexts on one live lot. A bids: B's page
// shows the new price within 1 s; B outbids: A's page says "outbid" within
// 1 s. Then on a lot in its soft-close window a late bid moves the end:
// both pages' countdowns follow within 1 s.
// ctx: {a, b, lotId, closingLotId, softCloseS}
import { ctx, run, newContext, url, check, clickAt, watchFor, shot, DESKTOP, PHONE, SLOW } from './lib.mjs';

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
    const unreadA = Number(await A.page.textContent('#unread-badge') || 0);
    // Where B's panel is drawn before the price ticks (it must not move).
    const PANEL = ['#lot-price', '#lot-leader', '#lot-bid-count', '#lot-next-min', '#lot-countdown', '#bid-next', '#bid-amount', '#autobid-max'];
    const rects = (sels) => sels.map((sel) => {
        const r = document.querySelector(sel).getBoundingClientRect();
        return [sel, Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)].join(' ');
    });
    const before = await B.page.evaluate(rects, PANEL);
    const aNext = await A.page.textContent('#lot-next-min');
    const count = Number(await B.page.textContent('#lot-bid-count'));
    const seenB = watchFor(B.page, ([want, n]) => (document.querySelector('#lot-price')?.textContent || '') === want
        && document.querySelector('#lot-bid-count')?.textContent === String(n + 1),
    [aNext, count], 5000 * SLOW, `B sees A's bid of ${aNext}`);
    const t0 = await clickAt(A.page, '#bid-next');
    const aToB = (await seenB) - t0;
    check(aToB < BOUND, `B saw A's bid ${aToB} ms after A clicked (bound ${BOUND})`);
    const after = await B.page.evaluate(rects, PANEL);
    check(JSON.stringify(before) === JSON.stringify(after), `B's panel moved when the price ticked:\n  ${before.join('\n  ')}\n->\n  ${after.join('\n  ')}`);
    await A.page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });

    // B outbids; A's page says so.
    await B.page.waitForFunction(() => !document.querySelector('#bid-next')?.hidden, null, { timeout: T });
    const seenA = watchFor(A.page, () => document.querySelector('#lot-leader')?.classList.contains('outbid'), null,
        5000 * SLOW, 'A sees "outbid"');
    const t1 = await clickAt(B.page, '#bid-next');
    const bToA = (await seenA) - t1;
    check(bToA < BOUND, `A saw "outbid" ${bToA} ms after B clicked (bound ${BOUND})`);
    const aLeader = await A.page.textContent('#lot-leader');
    check(/outbid/i.test(aLeader), `A's flag says "${aLeader}"`);
    await B.page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });
    // The outbid notification reaches A's inbox badge live (/ws notification).
    await A.page.waitForFunction((n) => Number(document.querySelector('#unread-badge')?.textContent || 0) > n,
        unreadA, { timeout: T });
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
    }, [ends0, windowMs], { timeout: 100000 * SLOW, polling: 200 });
    const leftBefore = await A2.page.textContent('#lot-countdown');
    const ext = [A2.page, B2.page].map((p) => watchFor(p,
        (e) => Number(document.querySelector('#lot-countdown')?.dataset.endsAtUs) > e, ends0, 5000 * SLOW,
        'the countdown follows the extension'));
    const t2 = await clickAt(A2.page, '#bid-next');
    const extendMs = Math.max(...(await Promise.all(ext))) - t2;
    check(extendMs < BOUND, `both pages showed the extension ${extendMs} ms after the bid (bound ${BOUND})`);
    const ends = [await endsOf(A2.page), await endsOf(B2.page)];
    check(ends[0] === ends[1], `the pages disagree on the new end: ${ends}`);
    const leftAfter = await B2.page.textContent('#lot-countdown');
    await shot(B2.page, 'realtime-extended');
    await A2.context.close();
    await B2.context.close();
    return { aToB, bToA, extendMs, leftBefore, leftAfter, extendedByMs: (ends[0] - ends0) / 1000 };
});
