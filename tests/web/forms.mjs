// Bad input in the sign-up, log-in and bid forms: the server's own message
// appears beside the field that caused it (the same words the API answers
// to the same request, asked here directly), the field is marked invalid,
// and nothing is created. Then a session revoked elsewhere (its tokens
// logged out through the API) sends the user to the login page, which
// brings them back after logging in; a refused access token with a live
// refresh token is refreshed without the user noticing.
// ctx: {bidder, poor, lotId}
import { ctx, run, newContext, url, check, login, shot, sessionOf, DESKTOP, PHONE, SLOW } from './lib.mjs';

const T = 10000 * SLOW;
// The browser itself logs each refused request ("Failed to load resource:
// ... status of 400"); this scenario provokes them on purpose.
const allow = [/Failed to load resource: the server responded with a status of 40[01239]/];

async function apiCall(method, path, body, token, headers = {}) {
    const r = await fetch(ctx.base + path, {
        method,
        headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: await r.json().catch(() => ({})) };
}

// The error shown beside the input, after waiting for it.
async function errorBeside(page, inputSel) {
    await page.waitForFunction((sel) => {
        const i = document.querySelector(sel);
        return i && i.getAttribute('aria-invalid') === 'true' && i.closest('.field')?.querySelector('.field-error');
    }, inputSel, { timeout: T });
    return page.evaluate((sel) => {
        const i = document.querySelector(sel);
        const p = i.closest('.field').querySelector('.field-error');
        return { text: p.textContent, described: (i.getAttribute('aria-describedby') || '').split(' ').includes(p.id), focused: document.activeElement === i };
    }, inputSel);
}

async function signup(browser) {
    const context = await newContext(browser, PHONE, { allow });
    const page = await context.newPage();
    await page.goto(url('#/signup'));
    const email = `web-${Date.now()}@test.gavel`;
    await page.fill('#signup-form [name=email]', email);
    await page.fill('#signup-form [name=password]', 'short');
    await page.fill('#signup-form [name=displayName]', 'Web Test');
    await page.click('#signup-form button[type=submit]');
    const shown = await errorBeside(page, '#signup-form [name=password]');
    const server = await apiCall('POST', '/api/v1/auth/register', { email, password: 'short', displayName: 'Web Test', role: 'ROLE_BIDDER' });
    check(server.status === 400, `the server answered ${server.status} to a short password`);
    check(shown.text === server.json.error.message, `shown "${shown.text}", the server says "${server.json.error.message}"`);
    check(shown.described && shown.focused, 'the message is not tied to the field or the field has no focus');
    await shot(page, 'signup-error');
    // A taken email: beside the email field.
    await page.fill('#signup-form [name=email]', ctx.bidder.email);
    await page.fill('#signup-form [name=password]', 'correct-horse-42');
    await page.click('#signup-form button[type=submit]');
    const taken = await errorBeside(page, '#signup-form [name=email]');
    check(/exists/.test(taken.text), `a taken email shows "${taken.text}"`);
    check(!(await page.$('#signup-form [name=password][aria-invalid]')), 'the password error stayed after a new submit');
    // Nothing was created.
    const login = await apiCall('POST', '/api/v1/auth/login', { email, password: 'short' });
    check(login.status === 401, 'the refused account exists');
    await context.close();
    return { signup: shown.text, taken: taken.text };
}

async function badLogin(browser) {
    const context = await newContext(browser, DESKTOP, { allow });
    const page = await context.newPage();
    await page.goto(url('#/login'));
    await page.fill('#login-form [name=email]', ctx.bidder.email);
    await page.fill('#login-form [name=password]', 'not-the-password-1');
    await page.click('#login-form button[type=submit]');
    const shown = await errorBeside(page, '#login-form [name=password]');
    check(/wrong/.test(shown.text), `a wrong password shows "${shown.text}"`);
    check(page.url().includes('#/login'), 'a failed login left the login page');
    await shot(page, 'login-error');
    await context.close();
    return shown.text;
}

async function badBid(browser) {
    const context = await newContext(browser, DESKTOP, { allow });
    const page = await context.newPage();
    await login(page, ctx.bidder, '#/lot/' + ctx.lotId);
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    // Not an amount: the page's own words.
    await page.fill('#bid-amount', 'abc');
    await page.click('#bid-submit');
    const local = await errorBeside(page, '#bid-amount');
    // Below the minimum: the server's words.
    await page.fill('#bid-amount', '1');
    await page.click('#bid-submit');
    await page.waitForFunction((prev) => document.querySelector('#bid-amount').closest('.field').querySelector('.field-error')?.textContent !== prev,
        local.text, { timeout: T });
    const shown = await errorBeside(page, '#bid-amount');
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem('gavel.session')).access);
    const server = await apiCall('POST', `/api/v1/lots/${ctx.lotId}/bids`, { amount: { units: '100', currency: 'RUB' } }, token,
        { 'Idempotency-Key': 'forms-' + Date.now() });
    check(server.status >= 400, `the server accepted a bid of 1.00: ${server.status}`);
    check(shown.text === server.json.error.message, `shown "${shown.text}", the server says "${server.json.error.message}"`);
    check(await page.textContent('#lot-bid-count') === '0', 'a refused bid was counted');
    await shot(page, 'bid-error');
    await context.close();
    return { local: local.text, server: shown.text };
}

// A dealer with an empty wallet bids the minimum: the page says to top up
// (the gateway's 402 insufficient_funds), not the server's raw amounts.
async function poorBid(browser) {
    const context = await newContext(browser, DESKTOP, { allow });
    const page = await context.newPage();
    await login(page, ctx.poor, '#/lot/' + ctx.lotId);
    await page.waitForFunction(() => /\d/.test(document.querySelector('#lot-next-min')?.textContent || ''), null, { timeout: T });
    await page.click('#bid-next');
    const shown = await errorBeside(page, '#bid-amount');
    check(/top it up/.test(shown.text), `an empty wallet shows "${shown.text}"`);
    check(await page.textContent('#lot-bid-count') === '0', 'a refused bid was counted');
    await shot(page, 'bid-no-funds');
    await context.close();
    return shown.text;
}

async function revoked(browser) {
    const fresh = await apiCall('POST', '/api/v1/auth/login', { email: ctx.bidder.email, password: ctx.bidder.password });
    check(fresh.status === 200, 'cannot log in through the API');
    const acc = { ...ctx.bidder, tokens: fresh.json.tokens };
    const context = await newContext(browser, DESKTOP, { allow, session: acc });
    const page = await context.newPage();
    await page.goto(url('#/wallet'));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#wallet-total')?.textContent || ''), null, { timeout: T });
    // Logged out elsewhere: the access token and the refresh family revoked.
    const out = await apiCall('POST', '/api/v1/auth/logout', { refreshToken: acc.tokens.refreshToken }, acc.tokens.accessToken);
    check(out.status === 200, `logout answered ${out.status}`);
    await page.click('#nav a[href="#/my-bids"]');
    await page.waitForFunction(() => location.hash.startsWith('#/login'), null, { timeout: T });
    const hash = await page.evaluate(() => location.hash);
    check(hash === '#/login?next=' + encodeURIComponent('#/my-bids'), `sent to ${hash}`);
    check(await page.evaluate(() => localStorage.getItem('gavel.session')) === null, 'the dead session was kept');
    await shot(page, 'revoked');
    // Logging in again returns to the page the user wanted.
    await page.fill('#login-form [name=email]', acc.email);
    await page.fill('#login-form [name=password]', acc.password);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => location.hash === '#/my-bids', null, { timeout: T });
    await context.close();
    return hash;
}

// An access token the gateway refuses (as an expired one is) with a live
// refresh token: the page refreshes silently and shows its data; the user
// never sees the login page.
async function silentRefresh(browser) {
    const fresh = await apiCall('POST', '/api/v1/auth/login', { email: ctx.bidder.email, password: ctx.bidder.password });
    const tokens = { ...fresh.json.tokens, accessToken: fresh.json.tokens.accessToken.slice(0, -8) + 'AAAAAAAA' };
    const context = await newContext(browser, DESKTOP, { allow, session: { ...ctx.bidder, tokens } });
    const page = await context.newPage();
    await page.goto(url('#/wallet'));
    await page.waitForFunction(() => /\d/.test(document.querySelector('#wallet-total')?.textContent || ''), null, { timeout: T });
    const now = await page.evaluate(() => JSON.parse(localStorage.getItem('gavel.session')));
    check(now.access !== tokens.accessToken && now.refresh !== tokens.refreshToken, 'the tokens were not refreshed');
    check((await page.evaluate(() => location.hash)) === '#/wallet', 'a refreshable session went to the login page');
    await context.close();
    return true;
}

run(async (browser) => ({
    silentRefresh: await silentRefresh(browser),
    signup: await signup(browser),
    login: await badLogin(browser),
    bid: await badBid(browser),
    poor: await poorBid(browser),
    revoked: await revoked(browser),
}));
