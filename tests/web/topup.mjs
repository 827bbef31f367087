// A card top-up on the wallet page, through the real payments service and
// the card provider simulator: the bidder adds 1 500 ₽ with the test card
// that succeeds (the button is busy meanwhile); the balance shown grows by
// exactly that, the ledger shows the deposit of that card payment and the
// payments list shows it captured. Then the test card that is declined:
// the decline's reason appears beside the card field, the balance shown
// does not change and the list shows the payment declined. At both widths
// the page keeps AA contrast and does not scroll sideways.
// ctx: {bidder}
import { ctx, run, newContext, url, check, shot, checkContrast, DESKTOP, PHONE, SLOW } from './lib.mjs';

const T = 15000 * SLOW;

async function api(path, token) {
    const r = await fetch(ctx.base + path, { headers: { Authorization: 'Bearer ' + token } });
    check(r.ok, `GET ${path} answered ${r.status}`);
    return r.json();
}

const totalUnits = async (token) => BigInt((await api('/api/v1/wallet', token)).balance?.total?.units || '0');

// The page's own formatting of minor units (the app's i18n module).
const shown = (page, units) => page.evaluate(async (u) => (await import('/js/i18n.js')).money(u, 'RUB'), String(units));

async function submit(page, amount, card) {
    await page.fill('#topup-form [name=amount]', amount);
    await page.selectOption('#topup-form [name=paymentMethodToken]', card);
    // The handler marks the button busy before its first await.
    return page.evaluate(() => {
        const b = document.querySelector('#topup-form button[type=submit]');
        b.click();
        return b.disabled && b.getAttribute('aria-busy') === 'true';
    });
}

run(async (browser) => {
    const context = await newContext(browser, DESKTOP, { session: ctx.bidder });
    const page = await context.newPage();
    await page.goto(url('#/wallet'));
    await page.waitForSelector('#topup-form', { timeout: T });
    await page.waitForFunction(() => /\d/.test(document.querySelector('#wallet-total')?.textContent || ''), null, { timeout: T });
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem('gavel.session')).access);
    const labels = await page.$$eval('#topup-form [name=paymentMethodToken] option', (os) => os.map((o) => [o.value, o.textContent]));
    check(labels.length === 2 && labels.every(([, l]) => /test card/i.test(l)), `the card choices are not labelled as test cards: ${JSON.stringify(labels)}`);

    // The succeeding test card.
    const before = await totalUnits(token);
    check((await page.textContent('#wallet-total')) === await shown(page, before), 'the balance shown is not the wallet total');
    check(await submit(page, '1 500', 'tok_visa'), 'the button shows no pending state');
    await page.waitForFunction(() => (document.querySelector('#topup-status')?.textContent || '') !== '', null, { timeout: T });
    const status = await page.textContent('#topup-status');
    const want = await shown(page, before + 150000n);
    await page.waitForFunction((w) => document.querySelector('#wallet-total').textContent === w, want, { timeout: T });
    const after = await totalUnits(token);
    check(after === before + 150000n, `the wallet grew by ${after - before} minor units, not 150000`);
    await page.waitForSelector('#wallet-payments tr[data-state=PAYMENT_STATE_CAPTURED]', { timeout: T });
    const paid = await page.getAttribute('#wallet-payments tr[data-state=PAYMENT_STATE_CAPTURED]', 'data-payment-id');
    await page.waitForFunction((id) => [...document.querySelectorAll('#wallet-ledger tr[data-kind=deposit]')]
        .some((r) => r.textContent.includes('card payment ' + id)), paid, { timeout: T });
    const ledgerRow = await page.evaluate((id) => [...document.querySelectorAll('#wallet-ledger tr[data-kind=deposit]')]
        .find((r) => r.textContent.includes('card payment ' + id)).textContent, paid);
    check(ledgerRow.includes(await shown(page, 150000)), `the ledger's deposit row does not show 1 500 ₽: ${ledgerRow}`);
    check(!(await page.$('#topup-form .field-error, #topup-form .form-error')), 'an error is shown after a top-up that worked');
    await shot(page, 'wallet-topup');
    await checkContrast(page, 'wallet after a top-up');

    // The declined test card: its reason beside the card field, no money.
    check(await submit(page, '1500', 'tok_decline'), 'the button shows no pending state');
    await page.waitForFunction(() => document.querySelector('#topup-form [name=paymentMethodToken]').getAttribute('aria-invalid') === 'true'
        && document.querySelector('#topup-form [name=paymentMethodToken]').closest('.field').querySelector('.field-error'), null, { timeout: T });
    const reason = await page.evaluate(() => {
        const sel = document.querySelector('#topup-form [name=paymentMethodToken]');
        const p = sel.closest('.field').querySelector('.field-error');
        return { text: p.textContent, described: (sel.getAttribute('aria-describedby') || '').split(' ').includes(p.id) };
    });
    check(/declined/i.test(reason.text) && reason.described, `the decline is not shown beside the card: ${JSON.stringify(reason)}`);
    check((await page.textContent('#topup-status')) === '', 'a success message stayed after a decline');
    await page.waitForSelector('#wallet-payments tr[data-state=PAYMENT_STATE_FAILED]', { timeout: T });
    check((await totalUnits(token)) === after, 'a declined card changed the wallet');
    check((await page.textContent('#wallet-total')) === want, 'a declined card changed the balance shown');
    await shot(page, 'wallet-declined');
    await checkContrast(page, 'wallet after a decline');

    // At phone width: no sideways scroll, AA contrast, the form usable.
    await page.setViewportSize(PHONE);
    await page.waitForTimeout(100);
    const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(over <= 0, `the wallet at 390 px scrolls sideways by ${over} px`);
    await checkContrast(page, 'wallet at 390 px');
    await shot(page, 'wallet-declined');
    await context.close();
    return { status, paid, ledgerRow, declined: reason.text, before: String(before), after: String(after) };
});
