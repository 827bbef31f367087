// A venue lot end to end in real browsers, against the real streaming
// service, gateway (/live, viewer ids) and venue lots: dealer A's lot page
// plays the venue's stream (currentTime grows) with the LIVE badge and the
// measured delay; A bids online (the bid carries the frame's media time);
// the clerk's console shows A's bid with A's video delay, enters a floor
// bid (A's page: "Floor (paddle N)" leads), gives fair warning (A's page:
// the banner) and drops the hammer after confirming (A's page: closed).
// A's page then checks the bid log's hash chain (venue receipts). Dealer B
// cannot open the console.
// With ctx.stub = {hlsDir, name} the streams API's answer and /live/ are
// the test's (page.route): a LIVE stream of the lot's session whose files
// ffmpeg writes to hlsDir, for a stack without the streaming service.
// ctx: {a, b, clerk, lotId, sessionId, paddle, stub?}
import fs from 'node:fs';
import path from 'node:path';
import { ctx, run, newContext, url, check, shot, checkContrast, DESKTOP, PHONE, SLOW } from './lib.mjs';

const T = 15000 * SLOW;

async function context(browser, viewport, acc, allow) {
    const c = await newContext(browser, viewport, { session: acc, allow });
    if (!ctx.stub) return c;
    const name = ctx.stub.name;
    await c.route((u) => u.pathname === '/api/v1/streams', (route) => route.fulfill({ json: { streams: [{
        streamId: '1', sessionId: String(ctx.sessionId), name, status: 'STREAM_STATUS_LIVE',
        playbackUrl: `/live/${name}/index.m3u8`, segmentMs: 1000 }] } }));
    await c.route((u) => u.pathname.startsWith(`/live/${name}/`), (route) => {
        const file = path.join(ctx.stub.hlsDir, path.basename(new URL(route.request().url()).pathname));
        if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'no such file' });
        return route.fulfill({ status: 200, body: fs.readFileSync(file),
            contentType: file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t' });
    });
    return c;
}

run(async (browser) => {
    const out = {};
    const A = await context(browser, DESKTOP, ctx.a);
    const pa = await A.newPage();
    const sent = [];
    pa.on('request', (r) => {
        if (r.method() === 'POST' && r.url().endsWith(`/api/v1/lots/${ctx.lotId}/bids`)) sent.push(JSON.parse(r.postData() || '{}'));
    });
    await pa.goto(url('#/lot/' + ctx.lotId));
    await pa.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'live', null, { timeout: 3 * T });
    await pa.waitForFunction(() => document.querySelector('#venue-video')?.currentTime > 0, null, { timeout: T });
    const t0 = await pa.evaluate(() => document.querySelector('#venue-video').currentTime);
    await pa.waitForTimeout(3000);
    const t1 = await pa.evaluate(() => document.querySelector('#venue-video').currentTime);
    out.currentTime = [t0, t1];
    check(t1 - t0 > 1.5, `the venue's video does not advance: ${t0} -> ${t1}`);
    check(await pa.isVisible('#venue-live'), 'no LIVE badge');
    out.delayText = await pa.textContent('#venue-delay');
    out.delayMs = Number(await pa.getAttribute('#venue-delay', 'data-ms'));
    check(out.delayMs > 0 && out.delayMs < 20000, `delay ${out.delayText} (${out.delayMs} ms)`);
    check(await pa.isHidden('#clerk-link'), 'a dealer sees the clerk console link');
    if (!ctx.stub) {
        // The gateway counted this player (its ?v= id) and the streaming
        // service sums the gateways' counts.
        out.viewers = await pa.evaluate(async (sid) => {
            const tok = JSON.parse(localStorage.getItem('gavel.session')).access;
            for (let i = 0; i < 40; i++) {
                const r = await fetch('/api/v1/streams?sessionId=' + sid, { headers: { Authorization: 'Bearer ' + tok } });
                const s = ((await r.json()).streams || [])[0];
                if (s && s.viewers > 0) return s.viewers;
                await new Promise((res) => setTimeout(res, 500));
            }
            return 0;
        }, ctx.sessionId);
        check(out.viewers >= 1, 'the stream counts no viewer while A watches');
    }
    await shot(pa, 'venue-lot');
    await checkContrast(pa, 'venue lot page');

    // A bids online.
    await pa.waitForFunction(() => !document.querySelector('#bid-next')?.hidden, null, { timeout: T });
    await pa.click('#bid-next');
    await pa.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });
    check(sent.length === 1 && Number(sent[0].mediaTimeUs) > 0, `the bid carried no media time: ${JSON.stringify(sent)}`);
    out.sentMediaTimeUs = sent[0].mediaTimeUs;

    // The clerk's console: A's bid with A's delay.
    const C = await context(browser, DESKTOP, ctx.clerk, [/Failed to load resource: net::ERR_FAILED/]);
    const pc = await C.newPage();
    await pc.goto(url('#/lot/' + ctx.lotId));
    await pc.waitForSelector('#clerk-link', { timeout: T });
    await pc.click('#clerk-link');
    await pc.waitForSelector('#clerk-feed tr[data-seq="1"]', { timeout: T });
    out.onlineDelay = await pc.textContent('#clerk-feed tr[data-seq="1"] td.delay');
    check(/^\d+\.\d s$/.test(out.onlineDelay), `A's delay on the console: "${out.onlineDelay}"`);
    await pc.waitForFunction(() => document.querySelector('#clerk-player')?.dataset.state === 'live', null, { timeout: 3 * T });
    const unnamed = await pc.evaluate(() => [...document.querySelectorAll('#clerk-page input, #clerk-page button, #clerk-page video')]
        .filter((e) => e.getClientRects().length && !((e.labels && e.labels.length) || e.getAttribute('aria-label') || e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 80)));
    check(!unnamed.length, `unnamed controls on the console: ${unnamed}`);

    // A floor bid, typed and sent from the keyboard. The answer to the
    // first try is lost on the way back (the server did take it): the
    // console says so, and Enter again resends it with the same key, so
    // the bid is in once.
    const floorKeys = [];
    let dropAnswer = true;
    await pc.route((u) => u.pathname === `/api/v1/lots/${ctx.lotId}/floor-bids`, async (route) => {
        floorKeys.push(route.request().headers()['idempotency-key']);
        if (!dropAnswer) return route.continue();
        dropAnswer = false;
        await route.fetch();
        return route.abort('failed');
    });
    await pc.focus('#floor-paddle');
    await pc.keyboard.type(String(ctx.paddle));
    await pc.keyboard.press('Tab');
    const min = await pc.getAttribute('#floor-amount', 'placeholder');
    check(/^\d+\.\d\d$/.test(min || ''), `no next minimum on the amount: ${min}`);
    const minText = await pc.textContent('#clerk-next-min');
    await pc.keyboard.type(min);
    await pc.keyboard.press('Enter');
    await pc.waitForFunction(() => /No answer/.test(document.querySelector('#floor-form .form-error')?.textContent || ''), null, { timeout: T });
    out.lostAnswer = await pc.textContent('#floor-form .form-error');
    await pc.keyboard.press('Enter');
    await pc.waitForSelector('#clerk-feed tr[data-seq="2"][data-paddle]', { timeout: T });
    out.floorRow = await pc.textContent('#clerk-feed tr[data-seq="2"]');
    check(floorKeys.length === 2 && floorKeys[0] && floorKeys[0] === floorKeys[1], `the retry's key: ${floorKeys}`);
    check(!(await pc.$('#floor-form .form-error')), 'the error stayed after the retry went through');
    check(out.floorRow.includes(`Floor (paddle ${ctx.paddle})`) && out.floorRow.includes(minText), `floor row: ${out.floorRow} (next minimum ${minText})`);
    await pa.waitForFunction((n) => (document.querySelector('#lot-floor-leader')?.textContent || '').includes(`Floor (paddle ${n})`),
        ctx.paddle, { timeout: T });
    await pa.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('outbid'), null, { timeout: T });
    out.aLeader = await pa.textContent('#lot-floor-leader');

    // Fair warning reaches A's page.
    check(await pa.isHidden('#lot-fair-warning'), 'fair warning shown before the clerk gave it');
    const fw0 = Date.now();
    await pc.click('#fair-warning-button');
    try {
        await pa.waitForSelector('#lot-fair-warning', { state: 'visible', timeout: T });
        out.fairWarningSeenMs = Date.now() - fw0;
        out.fairWarning = await pa.textContent('#lot-fair-warning');
    } catch {
        out.fairWarningLost = true;     // test_venue.py says why
    }
    await pc.waitForSelector('#clerk-fair-warning', { state: 'visible', timeout: T });
    await shot(pa, 'venue-fair-warning');
    await shot(pc, 'clerk-console');
    await checkContrast(pc, 'clerk console');

    // The hammer, confirmed; Escape backs out first.
    await pc.click('#hammer-button');
    await pc.waitForSelector('#hammer-confirm-box', { state: 'visible' });
    check(await pc.evaluate(() => document.activeElement?.id) === 'hammer-confirm', 'the confirmation does not take the focus');
    out.confirmText = await pc.textContent('#hammer-confirm-text');
    await pc.keyboard.press('Escape');
    await pc.waitForSelector('#hammer-confirm-box', { state: 'hidden' });
    check(await pc.getAttribute('#clerk-status', 'data-status') === 'LOT_STATUS_LIVE', 'Escape dropped the hammer');
    await pc.click('#hammer-button');
    await pc.keyboard.press('Enter');       // the focused "Yes, drop the hammer"
    await pa.waitForFunction(() => /hammer has fallen/.test(document.querySelector('#lot-outcome')?.textContent || ''), null, { timeout: T });
    out.aOutcome = await pa.textContent('#lot-outcome');
    check(await pa.isHidden('#bid-form') && await pa.isHidden('#lot-fair-warning'), 'A can still bid, or the warning stayed, after the hammer');
    await pc.waitForFunction(() => document.querySelector('#clerk-status')?.dataset.status === 'LOT_STATUS_CLOSED', null, { timeout: T });
    out.clerkOutcome = await pc.textContent('#clerk-outcome');
    await shot(pa, 'venue-closed');

    // A checks the log: online and floor bids, venue receipts.
    await pa.click('#verify-button');
    await pa.waitForFunction(() => /intact|NOT/.test(document.querySelector('#verify-result')?.textContent || ''), null, { timeout: T });
    out.verify = await pa.textContent('#verify-result');
    check(/intact/.test(out.verify), `the venue bid log: ${out.verify}`);
    const rows = await pa.$$eval('#bid-history tr[data-seq]', (trs) => trs.map((tr) => tr.textContent));
    check(rows.some((r) => r.includes(`Floor (paddle ${ctx.paddle})`)), `A's history lacks the floor bid: ${rows}`);
    await A.close();
    await C.close();

    // A dealer cannot open the console.
    const B = await newContext(browser, PHONE, { session: ctx.b });
    const pb = await B.newPage();
    await pb.goto(url('#/clerk/' + ctx.lotId));
    await pb.waitForSelector('h1', { timeout: T });
    out.forbidden = await pb.textContent('h1');
    check(/Not available/.test(out.forbidden), `a dealer on the console: ${out.forbidden}`);
    check(!(await pb.$('#floor-form')), 'the floor bid form was shown to a dealer');
    await B.close();
    return out;
});
