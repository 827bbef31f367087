// The lot page's "Buy now" button. Who sees it: not the seller, not a
// signed-out visitor (the lot page sends them to log in), not on a lot
// without a buy-now price. The buyer opens the confirmation (keyboard:
// focus goes into the dialog, Escape backs out and nothing is sent); a
// first attempt lost to the network shows the error and leaves the lot
// live; the retry (double clicks on both buttons, the request held in
// flight by the test) sends the same Idempotency-Key and body once more
// and wins: the page shows the lot won, and a second dealer watching the
// lot loses the button through the WebSocket. A dealer whose wallet cannot
// cover the price is told so and the lot stays live; two dealers pressing
// at once: one wins, the other is told why.
// ctx: {buyer, watcher, seller, poor, racerA, racerB, lotId, plainLotId,
//       raceLotId, poorLotId, buyNowUnits}
import { ctx, run, newContext, url, check, shot, checkContrast, PHONE, DESKTOP, SLOW } from './lib.mjs';

const T = 10000 * SLOW;
// The browser logs each refused or aborted request; these scenarios
// provoke them on purpose (402: no funds; 409/400: the lot closed first).
const allow = [/Failed to load resource: the server responded with a status of 4\d\d/, /Failed to load resource: net::ERR_FAILED/];

async function openLot(context, lotId) {
    const page = await context.newPage();
    await page.goto(url('#/lot/' + lotId));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-price')?.textContent || ''), null, { timeout: T });
    return page;
}

// The POSTs of bids the page sends for a lot: {key, body}; hold(route)
// decides what happens to each (default: sent on).
async function recordBids(page, lotId, hold) {
    const posts = [];
    await page.route((u) => u.pathname === `/api/v1/lots/${lotId}/bids`, async (route) => {
        const req = route.request();
        if (req.method() !== 'POST') return route.continue();
        posts.push({ key: req.headers()['idempotency-key'], body: req.postDataJSON() });
        return hold ? hold(route, posts.length) : route.continue();
    });
    return posts;
}

const shown = (page, sel) => page.evaluate((s) => {
    const e = document.querySelector(s);
    return Boolean(e) && !e.hidden && e.getClientRects().length > 0;
}, sel);

async function errorText(page) {
    await page.waitForFunction(() => (document.querySelector('#buy-now-error')?.textContent || '') !== '', null, { timeout: T });
    return page.textContent('#buy-now-error');
}

async function confirmOnce(page) {
    await page.click('#buy-now');
    await page.waitForSelector('#buy-now-dialog[open]', { timeout: T });
    await page.click('#buy-now-confirm');
}

// Who does not see it.
async function notOffered(browser) {
    const out = {};
    const sc = await newContext(browser, DESKTOP, { session: ctx.seller });
    const sp = await openLot(sc, ctx.lotId);
    await sp.waitForSelector('#bid-next', { timeout: T });
    check(!(await shown(sp, '#buy-now')), 'the seller sees "Buy now" on their own lot');
    out.seller = false;
    await sc.close();

    const bc = await newContext(browser, DESKTOP, { session: ctx.buyer });
    const bp = await openLot(bc, ctx.plainLotId);
    await bp.waitForSelector('#bid-next', { state: 'visible', timeout: T });
    check(!(await shown(bp, '#buy-now')), '"Buy now" on a lot without a buy-now price');
    out.plain = false;
    await bc.close();

    // In Russian: the texts and the money of the page's language.
    const rc = await newContext(browser, PHONE, { session: ctx.racerA, lang: 'ru' });
    const rp = await openLot(rc, ctx.poorLotId);
    await rp.waitForSelector('#buy-now', { state: 'visible', timeout: T });
    out.ru = await rp.textContent('#buy-now');
    check(/^Купить сейчас за .*5\s?000,00\s?₽$/.test(out.ru), `the Russian button says "${out.ru}"`);
    await rp.click('#buy-now');
    out.ruConfirm = await rp.textContent('#buy-now-confirm');
    check(/^Купить за /.test(out.ruConfirm), `the Russian dialog says "${out.ruConfirm}"`);
    await rc.close();

    const ac = await newContext(browser, DESKTOP);
    const ap = await ac.newPage();
    await ap.goto(url('#/lot/' + ctx.lotId));
    await ap.waitForSelector('#login-form', { timeout: T });
    out.anonymous = await ap.evaluate(() => location.hash);
    check(!(await ap.$('#buy-now')), 'a signed-out visitor got the buy-now button');
    await ac.close();
    return out;
}

async function buy(browser) {
    const out = {};
    // A second dealer (phone width) watching the lot.
    const wc = await newContext(browser, PHONE, { session: ctx.watcher });
    const wp = await openLot(wc, ctx.lotId);
    await wp.waitForSelector('#buy-now', { state: 'visible', timeout: T });
    const over = await wp.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(over <= 0, `the lot page with "Buy now" scrolls sideways by ${over} px at 390 px`);
    await shot(wp, 'buy-now-offered');

    const context = await newContext(browser, DESKTOP, { session: ctx.buyer, allow });
    const page = await openLot(context, ctx.lotId);
    let lose = true;
    const posts = await recordBids(page, ctx.lotId, async (route) => {
        if (lose) return route.abort('failed');
        // Held in flight so that the second click of a double click lands
        // while the first purchase is on its way.
        await new Promise((r) => setTimeout(r, 1000 * SLOW));
        return route.continue();
    });
    await page.waitForSelector('#buy-now', { state: 'visible', timeout: T });
    const btn = await page.evaluate(() => {
        const b = document.querySelector('#buy-now');
        return { tag: b.tagName, type: b.type, text: b.textContent };
    });
    check(btn.tag === 'BUTTON' && btn.type === 'button', `the buy-now control is a ${btn.tag} of type ${btn.type}`);
    check(/^Buy now for .*5,000\.00/.test(btn.text), `the button says "${btn.text}"`);
    out.label = btn.text;
    await checkContrast(page, 'the lot page with "Buy now"');

    // Keyboard: Enter opens the dialog, the focus is inside it, Escape
    // backs out and gives the focus back; nothing is sent.
    await page.focus('#buy-now');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#buy-now-dialog[open]', { timeout: T });
    const dlg = await page.evaluate(() => ({
        modal: document.querySelector('#buy-now-dialog').matches(':modal'),
        focus: document.activeElement?.id, inside: Boolean(document.activeElement?.closest('#buy-now-dialog')),
        text: document.querySelector('#buy-now-text').textContent, yes: document.querySelector('#buy-now-confirm').textContent,
    }));
    check(dlg.modal && dlg.inside, `the dialog is not modal or the focus is outside it (${dlg.focus})`);
    check(/5,000\.00/.test(dlg.text) && /5,000\.00/.test(dlg.yes), `the dialog does not show the amount: "${dlg.text}" / "${dlg.yes}"`);
    out.dialog = dlg;
    await checkContrast(page, 'the buy-now dialog');
    await shot(page, 'buy-now-dialog');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#buy-now-dialog:not([open])', { state: 'attached', timeout: T });
    check((await page.evaluate(() => document.activeElement?.id)) === 'buy-now', 'Escape did not give the focus back to the button');
    check(posts.length === 0, 'backing out of the dialog sent a bid');

    // The network loses the first attempt: the page says so, the lot stays live.
    await confirmOnce(page);
    out.networkError = await errorText(page);
    check(/reach the server/.test(out.networkError), `a lost request shows "${out.networkError}"`);
    check(posts.length === 1, `${posts.length} requests for one attempt`);
    check(await shown(page, '#buy-now') && await page.isEnabled('#buy-now'), 'the button is gone or disabled after a network error');
    check(await shown(page, '#bid-form'), 'the lot looks closed after a lost request');

    // The retry, with double clicks on both buttons.
    lose = false;
    await page.dblclick('#buy-now');
    await page.waitForSelector('#buy-now-dialog[open]', { timeout: T });
    check(!(await page.textContent('#buy-now-error')), 'the old error stays in the new attempt');
    await page.dblclick('#buy-now-confirm');
    const busy = await page.evaluate(() => ({
        button: document.querySelector('#buy-now').disabled, confirm: document.querySelector('#buy-now-confirm').disabled,
        aria: document.querySelector('#buy-now').getAttribute('aria-busy'),
    }));
    check(busy.button && busy.confirm && busy.aria === 'true', `not disabled while in flight: ${JSON.stringify(busy)}`);
    await page.waitForFunction(() => /You won this lot for/.test(document.querySelector('#lot-outcome')?.textContent || ''), null, { timeout: T });
    out.outcome = await page.textContent('#lot-outcome');
    check(/5,000\.00/.test(out.outcome), `the outcome does not name the price: ${out.outcome}`);
    check(!(await shown(page, '#buy-now')) && !(await shown(page, '#bid-form')), 'the button or the bid form stays on the won lot');
    // /ws may show the lot won a moment before the answer closes the dialog.
    await page.waitForSelector('#buy-now-dialog:not([open])', { state: 'attached', timeout: T });
    // The dialog's close event (a task after close()) moves the focus.
    await page.waitForFunction(() => document.activeElement?.id === 'lot-outcome', null, { timeout: T })
        .catch(() => { throw new Error('the focus is not on the outcome after the purchase'); });
    await page.waitForSelector('#bid-history tr[data-seq]', { timeout: T });
    const rows = await page.$$eval('#bid-history tr[data-seq]', (r) => r.length);
    check(rows === 1, `${rows} bids in the history after one purchase`);
    out.posts = posts;
    await shot(page, 'buy-now-won');

    // The watcher: the button goes and the lot shows sold, live.
    await wp.waitForFunction(() => /Sold for/.test(document.querySelector('#lot-outcome')?.textContent || ''), null, { timeout: T });
    check(!(await shown(wp, '#buy-now')), 'the watcher still sees "Buy now" on a sold lot');
    out.watcher = await wp.textContent('#lot-outcome');
    await wc.close();

    // A reload of the sold lot: no button.
    await page.reload();
    await page.waitForFunction(() => /You won this lot/.test(document.querySelector('#lot-outcome')?.textContent || ''), null, { timeout: T });
    check(!(await shown(page, '#buy-now')), '"Buy now" on a closed lot after a reload');
    await context.close();
    return out;
}

// The wallet cannot cover the buy-now price: the message, the lot stays
// live, and each confirmed attempt has a key of its own.
async function poor(browser) {
    const context = await newContext(browser, DESKTOP, { session: ctx.poor, allow });
    const page = await openLot(context, ctx.poorLotId);
    const posts = await recordBids(page, ctx.poorLotId);
    await page.waitForSelector('#buy-now', { state: 'visible', timeout: T });
    await confirmOnce(page);
    const first = await errorText(page);
    check(/top it up/.test(first), `no funds shows "${first}"`);
    check(await shown(page, '#buy-now') && await shown(page, '#bid-form'), 'the lot looks closed after a refused purchase');
    check((await page.textContent('#lot-bid-count')) === '0', 'a refused purchase was counted');
    await shot(page, 'buy-now-no-funds');
    await confirmOnce(page);
    await errorText(page);
    check(posts.length === 2, `${posts.length} requests for two attempts`);
    check(posts[0].key !== posts[1].key, 'two confirmed purchases sent one Idempotency-Key');
    await context.close();
    return { error: first, posts };
}

// Two dealers confirm at once, each with two clicks in one task.
async function race(browser) {
    const pages = [];
    const posts = [];
    for (const acc of [ctx.racerA, ctx.racerB]) {
        const c = await newContext(browser, DESKTOP, { session: acc, allow });
        const p = await openLot(c, ctx.raceLotId);
        posts.push(await recordBids(p, ctx.raceLotId));
        await p.click('#buy-now');
        await p.waitForSelector('#buy-now-dialog[open]', { timeout: T });
        pages.push(p);
    }
    await Promise.all(pages.map((p) => p.evaluate(() => {
        const b = document.querySelector('#buy-now-confirm');
        b.click();
        b.click();
    })));
    const out = [];
    for (const [i, p] of pages.entries()) {
        await p.waitForFunction(() => /You won this lot|Sold for/.test(document.querySelector('#lot-outcome')?.textContent || ''), null, { timeout: T });
        const won = /You won/.test(await p.textContent('#lot-outcome'));
        // The loser's answer may come after the lot closed on its page.
        const error = won ? await p.textContent('#buy-now-error') : await errorText(p);
        check(posts[i].length === 1, `racer ${i}: ${posts[i].length} requests for a double click`);
        out.push({ won, error });
    }
    check(out.filter((r) => r.won).length === 1, `winners: ${JSON.stringify(out)}`);
    for (const p of pages) await p.context().close();
    return out;
}

run(async (browser) => ({
    notOffered: await notOffered(browser),
    poor: await poor(browser),
    buy: await buy(browser),
    race: await race(browser),
}));
