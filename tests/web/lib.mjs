// Shared by the browser test scripts: launching Debian's chromium through
// playwright-core, contexts that record every console error and page
// error, logging in through the UI, screenshots at phone and desktop width.
// Each script reads its settings from GAVEL_WEB_CTX (JSON, set by
// tests/web/conftest.py) and ends by printing "RESULT {json}".
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const ctx = JSON.parse(process.env.GAVEL_WEB_CTX || '{}');
export const SLOW = Number(ctx.slow || 1);
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

export async function launch() {
    return chromium.launch({
        executablePath: ctx.chromium || '/usr/bin/chromium',
        headless: true,
        // Root in a container has no user namespaces for the sandbox.
        args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
    });
}

// Problems seen by every page of every context made here.
export const problems = [];

const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

// A browser context at the given viewport whose pages record console
// errors and uncaught exceptions. allow: regexps of console errors this
// scenario provokes on purpose (e.g. the browser's own line about a 400).
export async function newContext(browser, viewport, opts = {}) {
    const context = await browser.newContext({ viewport, locale: opts.locale || 'en-GB', ...(opts.context || {}) });
    // Lots other suites make on the shared test stack name photos on
    // invented https hosts (img.gavel.test): the browser gets a 1x1 PNG for
    // anything off loopback, so a test never leaves the machine and an
    // unresolvable name is no console error.
    await context.route((url) => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost',
        (route) => route.fulfill({ status: 200, contentType: 'image/png', body: PIXEL_PNG }));
    const allow = opts.allow || [];
    const watch = (page) => {
        page.on('console', (m) => {
            if (m.type() !== 'error') return;
            const text = m.text();
            if (allow.some((re) => re.test(text))) return;
            problems.push(`console error on ${page.url()}: ${text}`);
        });
        page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
    };
    context.on('page', watch);
    if (opts.session) {
        // Start signed in: the session as the web UI keeps it.
        await context.addInitScript((s) => {
            if (location.protocol.startsWith('http') && !localStorage.getItem('gavel.session')) localStorage.setItem('gavel.session', s);
        }, JSON.stringify(sessionOf(opts.session)));
    }
    if (opts.lang) {
        await context.addInitScript((l) => {
            if (location.protocol.startsWith('http') && !localStorage.getItem('gavel.lang')) localStorage.setItem('gavel.lang', l);
        }, opts.lang);
    }
    return context;
}

// The localStorage session of web/js/session.js for an account from conftest.
export function sessionOf(acc) {
    const role = { ROLE_BIDDER: 'bidder', ROLE_SELLER: 'seller', ROLE_MODERATOR: 'moderator', ROLE_ADMIN: 'admin' }[acc.profile.role] || 'bidder';
    return {
        user: { id: String(acc.id), email: acc.email, displayName: acc.profile.displayName || acc.email, role, roles: [role], region: '', company: '' },
        access: acc.tokens.accessToken, accessExpUs: Number(acc.tokens.accessExpiresAtUs || 0),
        refresh: acc.tokens.refreshToken, refreshExpUs: Number(acc.tokens.refreshExpiresAtUs || 0),
    };
}

export function url(hash) { return ctx.base + '/' + (hash || ''); }

// Log in through the page's form; waits for the page it leads to.
export async function login(page, acc, next) {
    await page.goto(url('#/login' + (next ? '?next=' + encodeURIComponent(next) : '')));
    await page.fill('#login-form input[name=email]', acc.email);
    await page.fill('#login-form input[name=password]', acc.password);
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => !location.hash.startsWith('#/login'), null, { timeout: 10000 * SLOW });
}

export async function shot(page, name) {
    const vp = page.viewportSize();
    const file = path.join(ctx.artifacts, `${name}-${vp.width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
}

// Text that fails WCAG 2.1 AA contrast (4.5:1, or 3:1 for large text)
// against the background it is drawn on: each visible element with its own
// text, its colour blended over the stack of backgrounds behind it.
// Disabled controls are exempt (WCAG 1.4.3); text over an image or a
// gradient cannot be judged here and is skipped.
export function lowContrast() {
    const rgba = (c) => {
        const m = /rgba?\(([^)]+)\)/.exec(c || '');
        if (!m) return null;
        const v = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
        return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1];
    };
    const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
    const lum = (c) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const st = getComputedStyle(e);
            if (st.backgroundImage !== 'none') return null;
            const c = rgba(st.backgroundColor);
            if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
        }
        let bg = [255, 255, 255, 1];
        for (const l of layers.reverse()) bg = over(l, bg);
        return bg;
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.getClientRects().length || el.closest('[hidden], [aria-hidden=true]')) continue;
        if (el.closest('button:disabled, input:disabled, select:disabled, fieldset:disabled, [aria-disabled=true]')) continue;
        const st = getComputedStyle(el);
        if (st.visibility !== 'visible' || Number(st.opacity) === 0) continue;
        const bg = background(el);
        if (!bg) continue;
        const fg = over(rgba(st.color), bg);
        const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        const ratio = (hi + 0.05) / (lo + 0.05);
        const px = parseFloat(st.fontSize);
        const large = px >= 24 || (px >= 18.66 && Number(st.fontWeight) >= 700);
        if (ratio < (large ? 3 : 4.5) - 0.005) {
            bad.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
        }
    }
    return bad;
}

// Fails with the list when any text on the page is below AA contrast.
export async function checkContrast(page, what) {
    const faint = await page.evaluate(lowContrast);
    check(!faint.length, `${what}: text below WCAG AA contrast: ${faint.join('; ')}`);
}

export function check(cond, msg) {
    if (!cond) throw new Error(msg);
}

// Click a selector inside the page (no actionability round trips through
// the driver) and return the page's clock at the click.
export async function clickAt(page, selector) {
    return page.evaluate((sel) => {
        const t = Date.now();
        document.querySelector(sel).click();
        return t;
    }, selector);
}

// Resolve with the page's clock (ms) at the first animation frame where
// fn(arg) holds: start watching before the action, await after it.
export function watchFor(page, fn, arg, ms, what) {
    return page.evaluate(([src, a, limit]) => new Promise((resolve, reject) => {
        const test = new Function('a', 'return (' + src + ')(a)');
        const t0 = Date.now();
        const step = () => {
            if (test(a)) resolve(Date.now());
            else if (Date.now() - t0 > limit) reject(new Error('timeout'));
            else requestAnimationFrame(step);
        };
        step();
    }), [fn.toString(), arg, ms]).catch(() => { throw new Error(`not within ${ms} ms: ${what}`); });
}

// Wait for a function of the page to hold; returns how long it took (ms).
export async function within(page, fn, arg, ms, what) {
    const t0 = Date.now();
    try {
        await page.waitForFunction(fn, arg, { timeout: ms, polling: 'raf' });
    } catch {
        throw new Error(`not within ${ms} ms: ${what}`);
    }
    return Date.now() - t0;
}

// Run main(browser); print RESULT; exit nonzero on a failure or on any
// console/page error.
export async function run(main) {
    const browser = await launch();
    let result;
    let failed = null;
    try {
        result = await main(browser);
    } catch (e) {
        failed = e;
    } finally {
        await browser.close().catch(() => {});
    }
    if (failed) {
        console.error('FAILED:', failed.stack || failed.message);
        for (const p of problems) console.error('  also:', p);
        process.exit(1);
    }
    if (problems.length) {
        console.error('console or page errors:\n  ' + problems.join('\n  '));
        process.exit(2);
    }
    console.log('RESULT ' + JSON.stringify(result || {}));
    fs.writeFileSync(path.join(ctx.artifacts, 'last-result.json'), JSON.stringify(result || {}));
}
