// REST client for the gateway's /api/v1. Every call goes through api():
// the access token is attached, a 401 triggers one silent refresh and one
// retry, and a session that cannot be refreshed is cleared and the user is
// sent to #/login?next=<where they were>.
import * as session from './session.js';

// Same origin by default. For a preview from another origin (the gateway's
// GAVEL_GATEWAY_CORS_ORIGINS), set localStorage 'gavel.apiBase' to the
// gateway's URL, e.g. http://127.0.0.1:8080.
export function apiBase() {
    try { return localStorage.getItem('gavel.apiBase') || ''; } catch { return ''; }
}

export class ApiError extends Error {
    constructor(status, code, message, requestId) {
        super(message);
        this.name = 'ApiError';
        this.status = status;       // HTTP status; 0 when the network failed
        this.code = code;           // 'invalid_argument', 'unauthenticated', ...
        this.field = fieldOf(status, message);
        this.requestId = requestId || '';
    }
}

// The field a 400's message names first: "amount.units: ..." or
// "password must be ..." -> "amount.units", "password" (snake_case turned
// into the JSON's lowerCamelCase: "display_name" -> "displayName").
function fieldOf(status, message) {
    if (status !== 400 || !message) return null;
    const m = message.match(/^([a-z][A-Za-z0-9_]*(?:\.[a-z][A-Za-z0-9_]*)*)(?:\[\d+\])?(?::| must | is | are | has | may | cannot | can't | should | needs )/);
    if (!m) return null;
    return m[1].replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

function url(path, query) {
    let p = path.startsWith('/') ? path : '/api/v1/' + path;
    if (query) {
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(query)) {
            if (v === undefined || v === null || v === '') continue;
            for (const one of Array.isArray(v) ? v : [v]) qs.append(k, String(one));
        }
        const s = qs.toString();
        if (s) p += (p.includes('?') ? '&' : '?') + s;
    }
    return apiBase() + p;
}

async function send(method, path, body, opts, token) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined && body !== null) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
    let res;
    try {
        res = await fetch(url(path, opts.query), {
            method,
            headers,
            body: body !== undefined && body !== null ? JSON.stringify(body) : undefined,
            signal: opts.signal,
            credentials: 'omit',
            cache: 'no-store',
        });
    } catch (e) {
        if (e.name === 'AbortError') throw e;
        throw new ApiError(0, 'network', networkMessage(), '');
    }
    return res;
}

function networkMessage() {
    return document.documentElement.lang === 'ru'
        ? 'Нет связи с сервером. Проверьте подключение и попробуйте ещё раз.'
        : 'Cannot reach the server. Check your connection and try again.';
}

async function parse(res) {
    const text = await res.text();
    let data = null;
    if (text) {
        try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.ok) return data || {};
    const e = (data && data.error) || {};
    throw new ApiError(res.status, e.code || 'http_' + res.status,
        e.message || res.statusText || 'HTTP ' + res.status,
        e.request_id || e.requestId || res.headers.get('X-Request-Id'));
}

// api('GET', '/api/v1/lots/42') or api('GET', 'lots/42') -> the parsed JSON
// answer. body: an object sent as JSON. opts: {idempotencyKey, query
// (object; arrays repeat the parameter), auth (false: no token, no
// refresh), signal, noRedirect (do not go to the login page on a dead
// session)}. Throws ApiError.
export async function api(method, path, body, opts = {}) {
    const useAuth = opts.auth !== false;
    const token = useAuth ? await session.freshAccessToken() : null;
    let res = await send(method, path, body, opts, token);
    if (res.status === 401 && useAuth && token) {
        if (await session.refresh()) {
            res = await send(method, path, body, opts, session.accessToken());
        }
        if (res.status === 401) {
            session.clear();
            if (!opts.noRedirect) goLogin();
        }
    }
    return parse(res);
}

// Raw binary POST (a photo): the file as the body with its own type.
export async function apiUpload(path, file, opts = {}) {
    const doSend = async () => {
        const headers = { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' };
        const tok = session.accessToken();
        if (tok) headers.Authorization = 'Bearer ' + tok;
        if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
        try {
            return await fetch(url(path, opts.query), { method: 'POST', headers, body: file, credentials: 'omit' });
        } catch {
            throw new ApiError(0, 'network', networkMessage(), '');
        }
    };
    await session.freshAccessToken();
    let res = await doSend();
    if (res.status === 401 && (await session.refresh())) res = await doSend();
    if (res.status === 401) { session.clear(); goLogin(); }
    return parse(res);
}

export function goLogin() {
    const here = location.hash || '#/';
    if (here.startsWith('#/login') || here.startsWith('#/signup')) return;
    location.hash = '#/login?next=' + encodeURIComponent(here);
}
