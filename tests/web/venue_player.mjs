// The venue player of a venue lot's page on its own: a real lot of the
// real stack whose GetLot answer the browser sees with venue=true, the
// streams API's answer given by the test, and a real HLS stream that
// ffmpeg writes (served to the page from ctx.hlsDir at /live/<name>/).
// No stream -> "no video stream"; scheduled -> "not broadcasting"; then
// LIVE -> the video plays (currentTime grows), the LIVE badge and the
// measured delay show, the playlist is fetched with the player's ?v= id;
// a bid carries mediaTimeUs; ENDED -> "ended"; the hls.js file missing ->
// a clear message. Russian texts for the fallback.
// ctx: {bidder, lotId, sessionId, hlsDir, name}
import fs from 'node:fs';
import path from 'node:path';
import { ctx, run, newContext, url, check, shot, DESKTOP, PHONE, SLOW } from './lib.mjs';

const T = 15000 * SLOW;
const PLAYBACK = `/live/${ctx.name}/index.m3u8`;

function streamOf(status) {
    return {
        streamId: '900001', sessionId: String(ctx.sessionId), title: 'Test hall', name: ctx.name,
        status, playbackUrl: PLAYBACK, segmentMs: 1000,
    };
}

async function stub(context, answer, seen) {
    await context.route((u) => u.pathname === `/api/v1/lots/${ctx.lotId}`, async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        body.lot.venue = true;
        body.lot.sessionId = String(ctx.sessionId);
        await route.fulfill({ response: res, json: body });
    });
    await context.route((u) => u.pathname === '/api/v1/streams', (route) => {
        seen.streamQueries.push(new URL(route.request().url()).search);
        return route.fulfill({ json: { streams: answer.streams } });
    });
    await context.route((u) => u.pathname.startsWith(`/live/${ctx.name}/`), (route) => {
        const u = new URL(route.request().url());
        seen.live.push(u.pathname + u.search);
        const file = path.join(ctx.hlsDir, path.basename(u.pathname));
        if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'no such file' });
        const type = file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp2t';
        return route.fulfill({ status: 200, contentType: type, body: fs.readFileSync(file), headers: { 'Cache-Control': 'no-cache' } });
    });
    await context.route((u) => u.pathname === `/api/v1/lots/${ctx.lotId}/bids`, (route) => {
        if (route.request().method() === 'POST') seen.bids.push(JSON.parse(route.request().postData() || '{}'));
        return route.continue();
    });
}

async function msgOf(page) {
    return page.evaluate(() => ({ state: document.querySelector('#venue-player')?.dataset.state, text: document.querySelector('#venue-msg')?.textContent }));
}

run(async (browser) => {
    const out = {};
    const answer = { streams: [] };
    const seen = { streamQueries: [], live: [], bids: [] };
    const context = await newContext(browser, DESKTOP, { session: ctx.bidder });
    await stub(context, answer, seen);
    const page = await context.newPage();
    await page.goto(url('#/lot/' + ctx.lotId));

    // No stream for the session.
    await page.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'none', null, { timeout: T });
    out.none = await msgOf(page);
    check(/no video stream/.test(out.none.text), `no stream: ${JSON.stringify(out.none)}`);
    check(seen.streamQueries.some((q) => q.includes('sessionId=' + ctx.sessionId)), `streams asked by session: ${seen.streamQueries}`);
    check(await page.isHidden('#venue-live'), 'a LIVE badge without a stream');
    check(/hammer falls/.test(await page.textContent('#lot-countdown')), 'a venue lot shows no countdown');

    // Scheduled, not publishing yet: the offline message; it keeps looking.
    answer.streams = [streamOf('STREAM_STATUS_SCHEDULED')];
    await page.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'offline', null, { timeout: T });
    out.offline = await msgOf(page);
    check(/not broadcasting/.test(out.offline.text), `offline: ${JSON.stringify(out.offline)}`);
    await shot(page, 'venue-offline');

    // The venue goes live: the page plays it without a reload.
    answer.streams = [streamOf('STREAM_STATUS_ENDED'), streamOf('STREAM_STATUS_LIVE')];
    await page.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'live', null, { timeout: 2 * T });
    await page.waitForFunction(() => document.querySelector('#venue-video')?.currentTime > 0, null, { timeout: T });
    const t0 = await page.evaluate(() => document.querySelector('#venue-video').currentTime);
    await page.waitForTimeout(3000);
    const t1 = await page.evaluate(() => document.querySelector('#venue-video').currentTime);
    out.currentTime = [t0, t1];
    check(t1 - t0 > 1.5, `the video does not advance: currentTime ${t0} -> ${t1}`);
    check(await page.isVisible('#venue-live'), 'no LIVE badge while playing');
    out.badge = await page.textContent('#venue-live');
    out.delayText = await page.textContent('#venue-delay');
    out.delayMs = Number(await page.getAttribute('#venue-delay', 'data-ms'));
    check(/^Delay \d+\.\d s$/.test(out.delayText), `delay text "${out.delayText}"`);
    check(out.delayMs > 0 && out.delayMs < 15000, `delay ${out.delayMs} ms`);
    const playlists = seen.live.filter((p) => p.includes('index.m3u8'));
    check(playlists.length && playlists.every((p) => /\?v=[0-9a-f]{16}$/.test(p)), `playlist requests without the player id: ${playlists.slice(0, 3)}`);
    out.playerIds = [...new Set(playlists.map((p) => p.split('v=')[1]))];
    check(out.playerIds.length === 1, `one player id: ${out.playerIds}`);
    await shot(page, 'venue-live');

    // An online bid sends the frame's program date time.
    await page.waitForFunction(() => !document.querySelector('#bid-next')?.hidden, null, { timeout: T });
    const before = Date.now();
    await page.click('#bid-next');
    await page.waitForFunction(() => document.querySelector('#lot-leader')?.classList.contains('leading'), null, { timeout: T });
    check(seen.bids.length === 1, `bids sent: ${JSON.stringify(seen.bids)}`);
    const media = Number(seen.bids[0].mediaTimeUs || 0);
    out.bidMediaLagMs = before - media / 1000;
    check(media > 0 && out.bidMediaLagMs > -2000 && out.bidMediaLagMs < 15000, `mediaTimeUs ${seen.bids[0].mediaTimeUs} vs now ${before}`);

    // The venue stops: the message says it ended, the video goes.
    answer.streams = [streamOf('STREAM_STATUS_ENDED')];
    await page.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'ended', null, { timeout: 2 * T });
    out.ended = await msgOf(page);
    check(/ended/.test(out.ended.text), `ended: ${JSON.stringify(out.ended)}`);
    check(await page.isHidden('#venue-video') && await page.isHidden('#venue-live'), 'video or badge left after the end');
    await context.close();

    // Without the hls.js file on the server, the browser's own HLS (this
    // chromium has it) plays the stream.
    const nat = await newContext(browser, DESKTOP, { session: ctx.bidder, allow: [/Failed to load resource.*404/] });
    answer.streams = [streamOf('STREAM_STATUS_LIVE')];
    await stub(nat, answer, seen);
    await nat.route((u) => u.pathname === '/vendor/hls.light.min.js', (route) => route.fulfill({ status: 404, body: 'missing' }));
    const p1 = await nat.newPage();
    await p1.goto(url('#/lot/' + ctx.lotId));
    const nativeHls = await p1.evaluate(() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl'));
    if (nativeHls) {
        await p1.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'live', null, { timeout: 2 * T });
        const n0 = await p1.evaluate(() => document.querySelector('#venue-video').currentTime);
        await p1.waitForTimeout(2500);
        const n1 = await p1.evaluate(() => document.querySelector('#venue-video').currentTime);
        out.nativeCurrentTime = [n0, n1];
        check(n1 - n0 > 1, `the native player does not advance: ${n0} -> ${n1}`);
        check(await p1.evaluate(() => !window.Hls), 'hls.js was loaded after all');
    }
    await nat.close();

    // Russian, on a phone, with neither hls.js nor the browser's own HLS.
    const ru = await newContext(browser, PHONE, { session: ctx.bidder, lang: 'ru', allow: [/Failed to load resource.*404/] });
    answer.streams = [streamOf('STREAM_STATUS_LIVE')];
    await stub(ru, answer, seen);
    await ru.route((u) => u.pathname === '/vendor/hls.light.min.js', (route) => route.fulfill({ status: 404, body: 'missing' }));
    await ru.addInitScript(() => { HTMLMediaElement.prototype.canPlayType = () => ''; });
    const p2 = await ru.newPage();
    await p2.goto(url('#/lot/' + ctx.lotId));
    await p2.waitForFunction(() => document.querySelector('#venue-player')?.dataset.state === 'unsupported', null, { timeout: T });
    out.noLibrary = await p2.textContent('#venue-msg');
    check(/Видеоплеер не установлен/.test(out.noLibrary), `without hls.js: ${out.noLibrary}`);
    const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `horizontal scroll of ${overflow} px at 390 px`);
    await shot(p2, 'venue-nolib');
    // A dealer cannot open the clerk console.
    await p2.goto(url('#/clerk/' + ctx.lotId));
    await p2.waitForFunction(() => /Недоступно/.test(document.querySelector('h1')?.textContent || ''), null, { timeout: T });
    check(!(await p2.$('#floor-form')), 'the clerk console was shown to a dealer');
    out.forbidden = await p2.textContent('h1');
    await ru.close();
    return out;
});
