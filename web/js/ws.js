// One realtime connection to the gateway's /ws (protocol gavel.v1, see
// docs/websocket.md) shared by every page. It authenticates with the access
// token, follows lots (reference-counted subscribe/unsubscribe), sends bids
// and autobids, measures the server clock's offset from each message's
// serverTime, and reconnects with backoff, following the same lots again
// (the snapshots that follow resync the pages). While it is down a banner
// says so.
import * as session from './session.js';
import { apiBase } from './api.js';
import { t, onLangChange } from './i18n.js';
import { h, setChildren } from './ui.js';

const dict = {
    en: {
        lost: 'Connection lost. Reconnecting…',
        offline: 'You are offline. Prices are not updating.',
        retry: 'Reconnect now',
        back: 'Connected again; prices are up to date.',
        timeout: 'No answer from the server. Check your bids before trying again.',
    },
    ru: {
        lost: 'Соединение потеряно. Переподключаемся…',
        offline: 'Нет сети. Цены не обновляются.',
        retry: 'Переподключиться',
        back: 'Соединение восстановлено, цены актуальны.',
        timeout: 'Сервер не ответил. Проверьте свои ставки, прежде чем повторить.',
    },
};

const lots = new Map();          // lotId -> reference count
const handlers = new Map();      // type -> Set(fn)
const pending = new Map();       // request id -> {resolve, reject, timer}
let sock = null;
let ready = false;               // open and (when signed in) authenticated
let queue = [];                  // messages waiting for ready
let attempt = 0;
let timer = null;
let wasUp = false;
let started = false;
let reqSeq = 0;
let offsetSamples = [];          // serverMs - localMs, recent messages
let offsetMs = 0;
let status = 'connecting';

// fn(msg) for every message of that type ('lot_snapshot', 'lot_update',
// 'notification', 'authenticated', 'error', ...) and the pseudo-types
// 'status' (fn('up'|'down')) and 'resync' (after a reconnect: reload what
// the socket could not tell). Returns a function that stops it.
export function on(type, fn) {
    if (!handlers.has(type)) handlers.set(type, new Set());
    handlers.get(type).add(fn);
    return () => handlers.get(type).delete(fn);
}

function emit(type, msg) {
    for (const fn of handlers.get(type) || []) {
        try { fn(msg); } catch (e) { console.warn('ws handler', e); }
    }
}

// The server's clock now, in ms since the epoch (device clock + offset).
export function serverNow() { return Date.now() + offsetMs; }
export function clockOffsetMs() { return offsetMs; }
export function isUp() { return status === 'up'; }

// Fold one server time sample (ms). Network delay only makes a sample
// smaller than the truth, so the largest recent sample is the best guess.
export function noteServerTime(serverMs) {
    if (!Number.isFinite(serverMs)) return;
    offsetSamples.push(serverMs - Date.now());
    if (offsetSamples.length > 16) offsetSamples.shift();
    offsetMs = Math.max(...offsetSamples);
}

function wsUrl() {
    const base = apiBase() || location.origin;
    return base.replace(/^http/, 'ws') + '/ws';
}

export function start() {
    if (started) return;
    started = true;
    session.onChange((u, why) => {
        if (why === 'refresh' || (why === 'storage' && u)) {
            if (sock && ready && session.accessToken()) raw({ type: 'auth', id: 'auth-' + (++reqSeq), token: session.accessToken() });
        } else if (why !== 'profile') {
            reconnect(0);         // signed in or out: a new socket for the new identity
        }
    });
    window.addEventListener('online', () => reconnect(0));
    window.addEventListener('offline', () => setStatus('down'));
    onLangChange(() => renderBanner());
    connect();
}

function reconnect(delay) {
    if (sock) {
        const s = sock;
        sock = null;
        s.onclose = null;
        s.close(1000);
        failAll();
    }
    ready = false;
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
}

async function connect() {
    clearTimeout(timer);
    let token = null;
    try { token = await session.freshAccessToken(); } catch { token = session.accessToken(); }
    let s;
    try {
        s = new WebSocket(wsUrl(), 'gavel.v1');
    } catch {
        scheduleRetry();
        return;
    }
    sock = s;
    ready = false;
    s.onopen = () => {
        if (token) raw({ type: 'auth', id: 'auth-0', token });
        else becomeReady();
    };
    s.onmessage = (ev) => {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        onMessage(msg);
    };
    s.onclose = () => {
        if (sock !== s) return;
        sock = null;
        ready = false;
        failAll();
        setStatus('down');
        scheduleRetry();
    };
    s.onerror = () => { /* onclose follows */ };
}

function becomeReady() {
    ready = true;
    attempt = 0;
    if (lots.size) raw({ type: 'subscribe', id: 'sub-' + (++reqSeq), lots: [...lots.keys()] });
    const q = queue;
    queue = [];
    for (const m of q) raw(m);
    const again = wasUp;
    wasUp = true;
    setStatus('up');
    if (again) emit('resync', {});
}

function scheduleRetry() {
    clearTimeout(timer);
    const base = Math.min(15000, 500 * 2 ** attempt);
    attempt++;
    timer = setTimeout(connect, base / 2 + Math.random() * base / 2);
}

function onMessage(msg) {
    if (msg.serverTime) noteServerTime(Date.parse(msg.serverTime));
    else if (msg.state && msg.state.serverTimeUs) noteServerTime(Number(msg.state.serverTimeUs) / 1000);
    if (msg.type === 'authenticated' && msg.id === 'auth-0') {
        becomeReady();
    } else if (msg.type === 'error' && msg.id === 'auth-0') {
        // The token was refused: try a refresh once, else go on anonymously.
        session.refresh().then((ok) => {
            if (!ok) session.clear();
            reconnect(0);
        });
        return;
    }
    if (msg.id && pending.has(msg.id)) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.type === 'error') {
            const e = new Error(msg.message || msg.code);
            e.code = msg.code;
            e.status = msg.code === 'INVALID_ARGUMENT' ? 400 : 0;
            e.field = /^amount|^maxAmount|^max_amount/.test(msg.message || '') ? 'amount' : null;
            p.reject(e);
        } else {
            p.resolve(msg);
        }
    }
    emit(msg.type, msg);
}

function raw(msg) {
    if (sock && sock.readyState === WebSocket.OPEN) sock.send(JSON.stringify(msg));
}

function send(msg) {
    if (ready) raw(msg);
    else queue.push(msg);
}

function failAll() {
    for (const [, p] of pending) {
        clearTimeout(p.timer);
        const e = new Error(t(dict, 'timeout'));
        e.code = 'UNAVAILABLE';
        p.reject(e);
    }
    pending.clear();
    queue = queue.filter((m) => m.type === 'subscribe');
}

// Send a message that has an answer; resolves with it (rejects with the
// error, code and message as the gateway gave them).
export function request(msg, timeoutMs = 10000) {
    const id = msg.id || 'r' + (++reqSeq);
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            pending.delete(id);
            const e = new Error(t(dict, 'timeout'));
            e.code = 'DEADLINE_EXCEEDED';
            reject(e);
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        send({ ...msg, id });
    });
}

// Follow a lot (counted: each subscribe needs its unsubscribe).
export function subscribe(lotId) {
    const id = String(lotId);
    const n = lots.get(id) || 0;
    lots.set(id, n + 1);
    if (ready) raw({ type: 'subscribe', id: 'sub-' + (++reqSeq), lots: [id] });
}

export function unsubscribe(lotId) {
    const id = String(lotId);
    const n = lots.get(id) || 0;
    if (n <= 1) {
        lots.delete(id);
        if (ready && n === 1) raw({ type: 'unsubscribe', id: 'uns-' + (++reqSeq), lots: [id] });
    } else {
        lots.set(id, n - 1);
    }
}

// amount: {units: "10500", currency: "RUB"}; key: the idempotency key
// (reuse it to retry). Resolves with the bid_result message.
export function placeBid(lotId, amount, idempotencyKey) {
    return request({ type: 'place_bid', lotId: String(lotId), amount, idempotencyKey });
}

export function setAutobid(lotId, maxAmount, idempotencyKey) {
    return request({ type: 'set_autobid', lotId: String(lotId), maxAmount, idempotencyKey });
}

// Reconnect at once (the banner's button; tests).
export function reconnectNow() { attempt = 0; reconnect(0); }

function setStatus(s) {
    const prev = status;
    status = s;
    if (prev !== s) {
        emit('status', s);
        renderBanner();
    }
}

let backShownUntil = 0;
function renderBanner() {
    const el = document.getElementById('banner');
    if (!el) return;
    if (status === 'down' && wasUp) {
        el.hidden = false;
        el.className = 'banner banner-down';
        setChildren(el, h('span', {}, t(dict, navigator.onLine === false ? 'offline' : 'lost')), ' ',
            h('button', { type: 'button', class: 'link', onclick: reconnectNow }, t(dict, 'retry')));
    } else if (status === 'up' && el.classList.contains('banner-down')) {
        el.className = 'banner banner-up';
        setChildren(el, t(dict, 'back'));
        backShownUntil = Date.now() + 3000;
        setTimeout(() => { if (Date.now() >= backShownUntil && status === 'up') el.hidden = true; }, 3100);
    } else if (status === 'up' && el.classList.contains('banner-up')) {
        setChildren(el, t(dict, 'back'));
    }
}
