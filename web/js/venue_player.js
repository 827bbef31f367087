// The venue's live video for a venue lot's page and the clerk console.
// It finds the session's stream (GET /api/v1/streams?sessionId=: the first
// LIVE one, else the newest), plays its playback URL with hls.js (served
// from this origin at /vendor/, copied there by `make web-vendor`; never a
// CDN) or the browser's own HLS, and shows a LIVE badge and the measured
// delay: the server's clock now minus the EXT-X-PROGRAM-DATE-TIME of the
// frame on screen. When there is no stream, the venue is not publishing or
// the video fails, a message says so and it looks again every few seconds.
//
// venuePlayer(sessionId, opts) -> {el, mediaTimeUs(), delayMs(), state(),
// destroy()}. mediaTimeUs(): the program date time (µs, server wall clock)
// of the frame shown now, 0 when no live frame is shown: an online bid on
// a venue lot sends it (PlaceBidRequest.media_time_us). opts.id: a prefix
// for the element ids (default 'venue').
import { api } from './api.js';
import * as ws from './ws.js';
import { t } from './i18n.js';
import { h, idemKey } from './ui.js';

const dict = {
    en: {
        video: 'Live video from the venue', live: 'LIVE', delay: 'Delay {s} s', delayUnknown: 'Delay —',
        loading: 'Connecting to the venue…', none: 'This sale has no video stream.',
        offline: 'The venue is not broadcasting right now. The video starts as soon as it does.',
        ended: 'The venue\'s broadcast has ended.', revoked: 'The venue\'s broadcast was stopped.',
        failed: 'The video could not be loaded. Trying again…',
        unsupported: 'This browser cannot play the venue\'s video. Bidding works without it.',
        noLibrary: 'The video player is not installed on this server (run `make web-vendor`). Bidding works without it.',
        viewers: '{n} watching',
    },
    ru: {
        video: 'Трансляция с площадки', live: 'В ЭФИРЕ', delay: 'Задержка {s} с', delayUnknown: 'Задержка —',
        loading: 'Подключаемся к площадке…', none: 'У этих торгов нет видеотрансляции.',
        offline: 'Площадка сейчас не ведёт трансляцию. Видео начнётся, как только она начнётся.',
        ended: 'Трансляция с площадки завершена.', revoked: 'Трансляция с площадки остановлена.',
        failed: 'Видео не загрузилось. Пробуем ещё раз…',
        unsupported: 'Этот браузер не может показать видео с площадки. Ставки работают и без него.',
        noLibrary: 'Видеоплеер не установлен на сервере (выполните `make web-vendor`). Ставки работают и без него.',
        viewers: 'Смотрят: {n}',
    },
};

const LIB_URL = '/vendor/hls.light.min.js';
const RETRY_MS = 5000;            // no stream / offline / failed: look again
const POLL_MS = 10000;            // while playing: is the stream still LIVE?
const MAX_MEDIA_AGE_MS = 9 * 60 * 1000;   // the bids service takes 10 minutes

let libPromise = null;

// window.Hls from /vendor/ (a classic script: the page's CSP allows this
// origin's scripts), or null when the file is not there.
function loadLibrary() {
    if (window.Hls) return Promise.resolve(window.Hls);
    if (!libPromise) {
        libPromise = new Promise((resolve) => {
            const s = document.createElement('script');
            s.src = LIB_URL;
            s.async = true;
            s.onload = () => resolve(window.Hls || null);
            s.onerror = () => { s.remove(); libPromise = null; resolve(null); };
            document.head.append(s);
        });
    }
    return libPromise;
}

// The stream to show for a session: the first LIVE one, else the newest
// (the list is newest first); null when the session has none.
export async function findStream(sessionId) {
    const r = await api('GET', '/api/v1/streams', null, { query: { sessionId: String(sessionId) }, noRedirect: true });
    const list = r.streams || [];
    return list.find((s) => s.status === 'STREAM_STATUS_LIVE') || list[0] || null;
}

export function venuePlayer(sessionId, opts = {}) {
    const id = opts.id || 'venue';
    const playerId = idemKey().replace(/-/g, '').slice(0, 16);   // the gateway counts viewers by it
    const video = h('video', { id: id + '-video', muted: true, autoplay: true, playsinline: true, controls: true,
        'aria-label': t(dict, 'video') });
    video.muted = true;
    const badge = h('span', { class: 'live-badge', id: id + '-live', hidden: true }, t(dict, 'live'));
    const delay = h('span', { class: 'meta num', id: id + '-delay', hidden: true });
    const viewers = h('span', { class: 'meta', id: id + '-viewers', hidden: true });
    const msg = h('p', { class: 'notice venue-msg', id: id + '-msg', role: 'status' }, t(dict, 'loading'));
    const frame = h('div', { class: 'venue-frame', hidden: true }, video);
    const bar = h('div', { class: 'venue-bar', hidden: true }, badge, ' ', delay, ' ', viewers);
    const el = h('section', { class: 'venue-player card', id: id + '-player', 'aria-label': t(dict, 'video') },
        frame, bar, msg);
    const showBar = () => { bar.hidden = badge.hidden && delay.hidden && viewers.hidden; };
    el.dataset.state = 'loading';

    let hls = null;
    let stream = null;
    let timer = null;
    let ticker = null;
    let gone = false;
    let native = false;

    function setState(s, key) {
        el.dataset.state = s;
        msg.hidden = s === 'live';
        if (key) msg.textContent = t(dict, key);
        frame.hidden = s !== 'live' && s !== 'starting';
        if (s !== 'live') { badge.hidden = true; delay.hidden = true; }
        showBar();
    }

    function detach() {
        if (hls) { try { hls.destroy(); } catch { /* gone anyway */ } hls = null; }
        if (native) { video.removeAttribute('src'); video.load(); native = false; }
    }

    function later(ms) {
        clearTimeout(timer);
        if (!gone) timer = setTimeout(look, ms);
    }

    // Wall clock (ms) of the frame on screen, or NaN.
    function frameDateMs() {
        if (hls) {
            const d = hls.playingDate;
            return d ? d.getTime() : NaN;
        }
        if (native && typeof video.getStartDate === 'function') {
            const sd = video.getStartDate().getTime();
            return Number.isFinite(sd) && sd > 0 ? sd + video.currentTime * 1000 : NaN;
        }
        return NaN;
    }

    function delayMs() {
        const f = frameDateMs();
        return Number.isFinite(f) ? ws.serverNow() - f : NaN;
    }

    function showDelay() {
        if (el.dataset.state !== 'live' && el.dataset.state !== 'starting') return;
        const d = delayMs();
        // The browser's own HLS may not tell the program date time: then
        // the video plays without a delay figure (and bids without one).
        const playing = !video.paused && video.readyState >= 2 && video.currentTime > 0;
        if (playing && el.dataset.state === 'starting') setState('live');
        badge.hidden = !playing;
        delay.hidden = el.dataset.state !== 'live';
        delay.textContent = Number.isFinite(d) ? t(dict, 'delay', { s: (Math.max(0, d) / 1000).toFixed(1) }) : t(dict, 'delayUnknown');
        delay.dataset.ms = Number.isFinite(d) ? String(Math.round(d)) : '';
        showBar();
    }

    async function attach(s) {
        const url = s.playbackUrl + (s.playbackUrl.includes('?') ? '&' : '?') + 'v=' + playerId;
        const Hls = await loadLibrary();
        if (gone) return;
        if (Hls && Hls.isSupported()) {
            hls = new Hls({
                liveSyncDurationCount: 2,       // two 1 s segments behind the live edge
                liveMaxLatencyDurationCount: 6,
                maxLiveSyncPlaybackRate: 1.2,   // catch up gently after a stall
                manifestLoadingMaxRetry: 2,
                levelLoadingMaxRetry: 2,
            });
            hls.on(Hls.Events.ERROR, (ev, data) => {
                if (!data || !data.fatal) return;
                detach();
                setState('failed', 'failed');
                later(RETRY_MS);
            });
            hls.loadSource(url);
            hls.attachMedia(video);
        } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
            native = true;
            video.src = url;
        } else {
            setState('unsupported', Hls ? 'unsupported' : 'noLibrary');
            later(RETRY_MS * 6);
            return;
        }
        setState('starting');
        video.play().catch(() => { /* autoplay refused: the controls start it */ });
    }

    async function look() {
        if (gone) return;
        let s;
        try {
            s = await findStream(sessionId);
        } catch {
            if (!hls && !native) setState('failed', 'failed');
            later(RETRY_MS);
            return;
        }
        if (gone) return;
        stream = s;
        if (s && s.viewers) { viewers.hidden = false; viewers.textContent = t(dict, 'viewers', { n: s.viewers }); } else viewers.hidden = true;
        showBar();
        const live = s && s.status === 'STREAM_STATUS_LIVE';
        if (!live) {
            detach();
            if (!s) setState('none', 'none');
            else if (s.status === 'STREAM_STATUS_ENDED') setState('ended', 'ended');
            else if (s.status === 'STREAM_STATUS_REVOKED') setState('revoked', 'revoked');
            else setState('offline', 'offline');
            later(RETRY_MS);
            return;
        }
        if (!hls && !native) await attach(s);
        later(POLL_MS);
    }

    video.addEventListener('ended', () => { detach(); later(0); });
    ticker = setInterval(showDelay, 500);
    look();

    return {
        el,
        video,
        delayMs,
        state: () => el.dataset.state,
        stream: () => stream,
        // µs of the frame on screen, 0 when none (or too old to send).
        mediaTimeUs() {
            const f = frameDateMs();
            if (!Number.isFinite(f) || el.dataset.state !== 'live') return 0;
            if (ws.serverNow() - f > MAX_MEDIA_AGE_MS) return 0;
            return Math.round(f * 1000);
        },
        destroy() {
            gone = true;
            clearTimeout(timer);
            clearInterval(ticker);
            detach();
        },
    };
}
