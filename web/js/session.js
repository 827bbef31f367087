// The signed-in user and their tokens, kept in localStorage ('gavel.session')
// so a reload or a second tab stays signed in. Change events fire on login,
// logout, refresh and when another tab changes the session.
import { api } from './api.js';

const KEY = 'gavel.session';
const listeners = new Set();
let state = load();
let refreshing = null;

function load() {
    try { return JSON.parse(localStorage.getItem(KEY)) || null; } catch { return null; }
}

function save(next, why) {
    state = next;
    try {
        if (next) localStorage.setItem(KEY, JSON.stringify(next));
        else localStorage.removeItem(KEY);
    } catch { /* kept in memory only */ }
    for (const fn of listeners) fn(user(), why);
}

window.addEventListener('storage', (e) => {
    if (e.key !== KEY) return;
    state = load();
    for (const fn of listeners) fn(user(), 'storage');
});

// fn(user, why) on every change (why: 'login', 'logout', 'refresh',
// 'profile', 'storage', 'expired'); returns a function that stops it.
export function onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

const ROLE_NAMES = {
    ROLE_BIDDER: 'bidder', ROLE_SELLER: 'seller', ROLE_MODERATOR: 'moderator',
    ROLE_ADMIN: 'admin', ROLE_SERVICE: 'service',
};

function fromProfile(p) {
    const role = ROLE_NAMES[p.role] || 'bidder';
    return {
        id: String(p.userId || ''),
        email: p.email || '',
        displayName: p.displayName || p.email || '',
        region: p.region || '',
        company: p.company || '',
        role,
        roles: [role],
    };
}

// {id, email, displayName, role, roles, region, company} or null.
export function user() { return state && state.user ? state.user : null; }

// True when the user has the role; admins have every role.
export function hasRole(r) {
    const u = user();
    if (!u) return false;
    if (r === true || r === undefined) return true;
    return u.roles.includes(r) || u.roles.includes('admin');
}

export function accessToken() { return state ? state.access : null; }
export function refreshToken() { return state ? state.refresh : null; }

function withTokens(base, tokens) {
    return {
        ...base,
        access: tokens.accessToken,
        accessExpUs: Number(tokens.accessExpiresAtUs || 0),
        refresh: tokens.refreshToken,
        refreshExpUs: Number(tokens.refreshExpiresAtUs || 0),
    };
}

export async function login(email, password) {
    const r = await api('POST', '/api/v1/auth/login', { email, password }, { auth: false });
    save(withTokens({ user: fromProfile(r.profile || {}) }, r.tokens || {}), 'login');
    return user();
}

// fields: {email, password, displayName, role ('ROLE_BIDDER'|'ROLE_SELLER'),
// company, phone, region}; logs in afterwards.
export async function register(fields) {
    await api('POST', '/api/v1/auth/register', fields, { auth: false });
    return login(fields.email, fields.password);
}

// Revokes the access token and the refresh token's family on the server;
// the local session is cleared even when the server cannot be reached.
export async function logout() {
    const rt = refreshToken();
    try {
        if (accessToken()) await api('POST', '/api/v1/auth/logout', rt ? { refreshToken: rt } : {}, { noRedirect: true });
    } catch { /* cleared below anyway */ }
    save(null, 'logout');
}

// Forget the session locally (a dead session).
export function clear() {
    if (state) save(null, 'expired');
}

// Trade the refresh token for a new pair; one at a time (callers share the
// answer). Resolves true when the session is alive again.
export function refresh() {
    if (!refreshing) {
        const rt = refreshToken();
        refreshing = (async () => {
            if (!rt) return false;
            try {
                const r = await api('POST', '/api/v1/auth/refresh', { refreshToken: rt }, { auth: false });
                // Another tab may have refreshed first: keep whichever is newer.
                if (state && state.refresh === rt) save(withTokens(state, r.tokens || {}), 'refresh');
                return true;
            } catch (e) {
                const cur = load();
                if (cur && cur.refresh !== rt) { state = cur; return true; }
                return e.status === 0 ? Boolean(state) : false;
            }
        })().finally(() => { refreshing = null; });
    }
    return refreshing;
}

// The access token, refreshed first when it expires within 30 s. null when
// signed out.
export async function freshAccessToken() {
    if (!state) return null;
    if (state.accessExpUs && state.accessExpUs / 1000 - Date.now() < 30000) await refresh();
    return accessToken();
}

// Reload the profile (GET /api/v1/me) into the session.
export async function reloadProfile() {
    const r = await api('GET', '/api/v1/me');
    if (state) save({ ...state, user: fromProfile(r.profile || {}) }, 'profile');
    return user();
}
