// The bid-log check on a real lot: "verify" passes on the log as the
// server keeps it, and fails when one bid in the data the page receives is
// altered (the test rewrites the ListBids answer on its way into the page:
// no hook in the page is needed), and when one bid is left out. Each
// receipt in the history shows the bid's hash as the server gave it.
// ctx: {bidder, lotId, bids: the log as the API gave it to the test}
import { ctx, run, newContext, url, check, shot, DESKTOP, SLOW } from './lib.mjs';

const T = 10000 * SLOW;

function hexOf(b64) {
    return Buffer.from(b64, 'base64').toString('hex');
}

async function verify(page) {
    await page.click('#verify-button');
    await page.waitForFunction(() => {
        const r = document.querySelector('#verify-result');
        return r && (r.classList.contains('ok') || r.classList.contains('bad'));
    }, null, { timeout: T });
    const res = await page.evaluate(() => {
        const r = document.querySelector('#verify-result');
        return { ok: r.classList.contains('ok'), text: r.textContent };
    });
    // Ready for the next check.
    await page.evaluate(() => { document.querySelector('#verify-result').className = 'verify-result'; });
    return res;
}

run(async (browser) => {
    const context = await newContext(browser, DESKTOP, { session: ctx.bidder });
    const page = await context.newPage();
    await page.goto(url('#/lot/' + ctx.lotId));
    const n = ctx.bids.length;
    await page.waitForFunction((k) => document.querySelectorAll('#bid-history tr[data-seq]').length === k, n, { timeout: T });

    // Each receipt shows the server's hash and the previous one.
    for (const b of ctx.bids) {
        const shown = await page.evaluate((seq) => Array.from(document.querySelectorAll(`#bid-history tr[data-seq="${seq}"] .hash`), (e) => e.textContent), b.seq);
        check(shown[1] === hexOf(b.hash) && shown[2] === hexOf(b.prevHash), `receipt ${b.seq} shows ${shown}`);
    }

    const intact = await verify(page);
    check(intact.ok, `the real log did not verify: ${intact.text}`);
    await shot(page, 'verify-ok');

    // One bid's amount altered in the data the page receives.
    const victim = ctx.bids[1];
    let mode = 'amount';
    await page.route(`**/api/v1/lots/${ctx.lotId}/bids*`, async (route) => {
        const resp = await route.fetch();
        const body = await resp.json();
        if (mode === 'amount') {
            const b = body.bids.find((x) => x.seq === victim.seq);
            b.amount.units = String(BigInt(b.amount.units) + 100n);
        } else {
            body.bids = body.bids.filter((x) => x.seq !== victim.seq);
        }
        await route.fulfill({ response: resp, json: body });
    });
    const altered = await verify(page);
    check(!altered.ok && altered.text.includes('#' + victim.seq), `an altered bid passed: ${altered.text}`);
    await shot(page, 'verify-tampered');

    mode = 'drop';
    const dropped = await verify(page);
    check(!dropped.ok, `a log without bid ${victim.seq} passed: ${dropped.text}`);

    // The real log again.
    await page.unroute(`**/api/v1/lots/${ctx.lotId}/bids*`);
    const again = await verify(page);
    check(again.ok, `the real log did not verify after the tampering stopped: ${again.text}`);
    await context.close();
    return { intact: intact.text, altered: altered.text, dropped: dropped.text };
});
