// Every buyer page at phone (390 px) and desktop (1280 px) width: each
// renders its content, has no horizontal scroll at 390 px, and is saved as
// <artifacts>/<page>-<width>.png. English and Russian: the switch changes
// the texts and the money format, and the choice survives a reload. Then
// the lot page's first load, with an empty cache: the bytes transferred.
// Accessibility: every control named, all text at WCAG AA contrast, and
// the lot page worked by keyboard alone (Tab order, focus rings, Enter).
// ctx: {bidder, lotId}
import { ctx, run, newContext, url, shot, check, login, checkContrast, PHONE, DESKTOP, SLOW } from './lib.mjs';

const T = 10000 * SLOW;

// Visible controls a screen reader could not name: inputs without a label
// or aria-label, buttons and links without text, images without alt, and
// one h1 per page.
function unlabelled() {
    const bad = [];
    const visible = (e) => e.offsetParent !== null || e.getClientRects().length > 0;
    for (const e of document.querySelectorAll('input, select, textarea')) {
        if (visible(e) && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')) bad.push(e.outerHTML.slice(0, 80));
    }
    for (const e of document.querySelectorAll('button, a[href]')) {
        if (visible(e) && !(e.textContent.trim() || e.getAttribute('aria-label') || e.getAttribute('aria-hidden') === 'true')) bad.push(e.outerHTML.slice(0, 80));
    }
    for (const e of document.querySelectorAll('img')) if (!e.hasAttribute('alt')) bad.push(e.outerHTML.slice(0, 80));
    if (document.querySelectorAll('h1').length !== 1) bad.push(document.querySelectorAll('h1').length + ' h1 elements');
    return bad;
}

// Tab through the page from the top: where the focus goes (ids or tags)
// and the focused elements that show no focus ring (no outline and no box
// shadow under :focus-visible).
async function tabWalk(page, steps) {
    await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
    const order = [];
    const unringed = [];
    for (let i = 0; i < steps; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
            const e = document.activeElement;
            if (!e || e === document.body) return null;
            const st = getComputedStyle(e);
            const ring = (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== 'none';
            return { name: e.id ? '#' + e.id : e.tagName.toLowerCase() + (e.getAttribute('href') ? '[href=' + e.getAttribute('href') + ']' : ''), ring };
        });
        if (!f) continue;
        if (order.length && order[0] === f.name && i > 2) break;  // wrapped round
        order.push(f.name);
        if (!f.ring) unringed.push(f.name);
    }
    return { order, unringed };
}

async function pagesAt(browser, viewport) {
    const context = await newContext(browser, viewport);
    const page = await context.newPage();
    const seen = {};
    await login(page, ctx.bidder);

    // Newest first: on a database other tests fill with live lots, the
    // default order (live lots by end, then upcoming) may page past ours.
    await page.goto(url('#/?sort=newest'));
    await page.waitForSelector(`#lot-list li.lot-card[data-lot-id="${ctx.lotId}"]`, { timeout: T });
    seen.catalog = await shot(page, 'catalog');
    if (viewport.width === DESKTOP.width) {
        // Filters through the DSL: a make that matches, one that does not,
        // and a year that is not a number (said beside the field).
        const card = `#lot-list li.lot-card[data-lot-id="${ctx.lotId}"]`;
        await page.goto(url('#/?make=toy&yearFrom=2019&mileageMax=70000&sort=newest'));
        await page.waitForSelector(card, { timeout: T });
        await page.goto(url('#/?make=Zzz'));
        await page.waitForSelector('#lot-list:not([aria-busy]) li.empty', { timeout: T });
        check(!(await page.$(card)), 'a make filter that should exclude the lot did not');
        await page.goto(url('#/?sort=newest'));
        await page.waitForSelector(card, { timeout: T });
        // Free text through the search service: a word of the title finds
        // the lot (and the count says so); the make counts narrow the filter.
        await page.goto(url('#/?q=' + encodeURIComponent(ctx.word)));
        await page.waitForSelector(card, { timeout: T });
        const count = await page.textContent('#catalog-count');
        check(count === '1 lot', `the match count for a word only one lot has says "${count}"`);
        check((await page.$$('#lot-list li.lot-card')).length === 1, 'a word only one lot has found other lots');
        await page.goto(url('#/?sort=newest'));
        await page.waitForSelector(card, { timeout: T });
        const chip = await page.waitForSelector('#catalog-summary .facet[data-facet=make] a.chip[data-key=Toyota]', { timeout: T });
        await chip.click();
        await page.waitForFunction(() => location.hash.includes('make=Toyota'), null, { timeout: T });
        await page.waitForSelector(card, { timeout: T });
        check(!(await page.$('#catalog-summary .facet[data-facet=make]')), 'the make counts stay once a make is chosen');
        await page.goto(url('#/?sort=newest'));
        await page.waitForSelector(card, { timeout: T });
        await page.fill('#catalog-filters [name=yearFrom]', 'abc');
        await page.click('#catalog-filters button[type=submit]');
        await page.waitForSelector('#catalog-filters [name=yearFrom][aria-invalid=true]', { timeout: T });
    }

    await page.goto(url('#/lot/' + ctx.lotId));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    await page.waitForSelector('#allin-total', { timeout: T });
    if (viewport.width === DESKTOP.width) {
        // Keyboard only: Tab reaches the bid controls in reading order,
        // every stop shows a focus ring, and Enter on the one-click button
        // places the bid, so that "my bids" and the wallet have something
        // to show.
        const walk = await tabWalk(page, 80);
        for (const id of ['#lang-select', '#bid-next', '#bid-amount', '#autobid-max']) {
            check(walk.order.includes(id), `Tab never reaches ${id} on the lot page: ${walk.order.join(' ')}`);
        }
        check(walk.order.indexOf('#bid-next') < walk.order.indexOf('#autobid-max'), `the bid button comes after the autobid in Tab order: ${walk.order.join(' ')}`);
        check(!walk.unringed.length, `focused without a visible focus ring: ${walk.unringed.join(', ')}`);
        await page.focus('#bid-next');
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });
        await page.waitForSelector('#bid-history tr[data-seq]', { timeout: T });
    }
    seen.lot = await shot(page, 'lot');

    // The participation list follows the bid through the events: give it
    // a few seconds (reloading) before it must show.
    for (let i = 0; ; i++) {
        await page.goto(url('#/my-bids'));
        try {
            await page.waitForSelector(`#my-bids tr[data-lot-id="${ctx.lotId}"]`, { timeout: 2000 * SLOW });
            break;
        } catch (e) {
            if (i >= 4) throw e;
            await page.reload();
        }
    }
    seen.myBids = await shot(page, 'my-bids');

    await page.goto(url('#/wallet'));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#wallet-total')?.textContent || ''), null, { timeout: T });
    await page.waitForSelector(`#wallet-holds tr[data-lot-id="${ctx.lotId}"]`, { timeout: T });
    seen.wallet = await shot(page, 'wallet');

    await page.goto(url('#/inbox'));
    await page.waitForFunction(() => (document.querySelector('#inbox-unread')?.textContent || '') !== '', null, { timeout: T });
    seen.inbox = await shot(page, 'inbox');

    for (const name of ['catalog', 'lot', 'my-bids', 'wallet', 'inbox']) {
        const hash = { catalog: '#/', lot: '#/lot/' + ctx.lotId, 'my-bids': '#/my-bids', wallet: '#/wallet', inbox: '#/inbox' }[name];
        await page.goto(url(hash));
        await page.waitForSelector('#app h1', { timeout: T });
        await page.waitForLoadState('networkidle');
        const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        check(over <= 0, `${name} at ${viewport.width} px scrolls sideways by ${over} px`);
        const unnamed = await page.evaluate(unlabelled);
        check(!unnamed.length, `${name}: controls without an accessible name: ${unnamed.join(', ')}`);
        await checkContrast(page, `${name} at ${viewport.width} px`);
    }

    // Log out from the menu: the login and sign-up pages.
    await page.click('#logout-button');
    await page.waitForSelector('#login-form', { timeout: T });
    seen.login = await shot(page, 'login');
    await checkContrast(page, `login at ${viewport.width} px`);
    await page.goto(url('#/signup'));
    await page.waitForSelector('#signup-form', { timeout: T });
    seen.signup = await shot(page, 'signup');
    await checkContrast(page, `signup at ${viewport.width} px`);
    await context.close();
    return seen;
}

async function languages(browser) {
    const context = await newContext(browser, DESKTOP, { session: ctx.bidder });
    const page = await context.newPage();
    await page.goto(url('#/lot/' + ctx.lotId));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    const enPrice = await page.textContent('#lot-next-min');
    await page.selectOption('#lang-select', 'ru');
    await page.waitForFunction(() => document.querySelector('#nav a')?.textContent === 'Каталог', null, { timeout: T });
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    const ruPrice = await page.textContent('#lot-next-min');
    check(ruPrice.includes('₽') && ruPrice !== enPrice, `money not in Russian format: ${enPrice} / ${ruPrice}`);
    check((await page.getAttribute('html', 'lang')) === 'ru', 'html lang is not ru');
    await page.reload();
    await page.waitForSelector('#lot-next-min', { timeout: T });
    check((await page.textContent('#nav a')) === 'Каталог', 'the language choice did not survive a reload');
    await shot(page, 'lot-ru');
    await page.selectOption('#lang-select', 'en');
    await page.waitForFunction(() => document.querySelector('#nav a')?.textContent === 'Catalog', null, { timeout: T });
    await context.close();
    return { en: enPrice, ru: ruPrice };
}

// The lot page's first load in a fresh context (empty cache): every HTTP
// response's encoded bytes (headers and body as transferred), counted by
// the browser (CDP Network.loadingFinished), until the page is idle.
async function firstLoad(browser) {
    const context = await newContext(browser, DESKTOP, { session: ctx.bidder });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const sizes = new Map();
    const urls = new Map();
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
    cdp.on('Network.loadingFinished', (e) => sizes.set(e.requestId, e.encodedDataLength));
    await page.goto(url('#/lot/' + ctx.lotId));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(300);
    let total = 0;
    const parts = [];
    for (const [id, n] of sizes) { total += n; parts.push([urls.get(id), n]); }
    await context.close();
    return { bytes: total, requests: parts.length, parts };
}

run(async (browser) => {
    // The injected session first: logging out below revokes its tokens.
    const load = await firstLoad(browser);
    const lang = await languages(browser);
    const desktop = await pagesAt(browser, DESKTOP);
    const phone = await pagesAt(browser, PHONE);
    check(load.bytes < 300 * 1024, `first load of the lot page transferred ${load.bytes} bytes (limit 300 KB)`);
    return { screenshots: [...Object.values(desktop), ...Object.values(phone)], lang, firstLoad: load };
});
