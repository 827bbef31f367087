// The shell: the header (nav, language switch, user menu), the hash router
// and the page lifecycle. Pages are the modules listed in pages/index.js,
// each fetched when its route is first opened (see docs/web.md, "The shell
// contract").
import pages from './pages/index.js';
import * as session from './session.js';
import * as ws from './ws.js';
import { api } from './api.js';
import { t, lang, setLang, onLangChange, LANGS } from './i18n.js';
import { h, setChildren } from './ui.js';

const dict = {
    en: {
        catalog: 'Catalog', myBids: 'My bids', wallet: 'Wallet', inbox: 'Inbox', sell: 'Sell',
        moderate: 'Moderation', admin: 'Admin', login: 'Log in', signup: 'Sign up', logout: 'Log out',
        language: 'Language', skip: 'Skip to content', notFound: 'Page not found',
        notFoundText: 'There is no page at this address.', forbidden: 'Not available',
        forbiddenText: 'Your account cannot open this page.', backHome: 'Back to the catalog',
        failed: 'This page could not be shown.', unread: '{n} unread', account: 'Account: {name}',
    },
    ru: {
        catalog: 'Каталог', myBids: 'Мои ставки', wallet: 'Кошелёк', inbox: 'Уведомления', sell: 'Продажа',
        moderate: 'Модерация', admin: 'Администрирование', login: 'Войти', signup: 'Регистрация',
        logout: 'Выйти', language: 'Язык', skip: 'Перейти к содержанию', notFound: 'Страница не найдена',
        notFoundText: 'По этому адресу ничего нет.', forbidden: 'Недоступно',
        forbiddenText: 'Вашей учётной записи эта страница недоступна.', backHome: 'Вернуться в каталог',
        failed: 'Не удалось показать страницу.', unread: 'непрочитанных: {n}', account: 'Учётная запись: {name}',
    },
};

const root = document.getElementById('app');
let cleanup = null;
let unread = 0;
let renderSeq = 0;

// Routes: '#/lot/:id' -> segments; literal segments win over parameters
// ('#/sell/new' before '#/sell/:id').
const routes = pages.map((p) => ({ entry: p, segs: p.path.replace(/^#\/?/, '').split('/').filter(Boolean) }))
    .sort((a, b) => b.segs.filter((s) => !s.startsWith(':')).length - a.segs.filter((s) => !s.startsWith(':')).length);

function parseHash() {
    const raw = location.hash || '#/';
    const [p, q] = raw.split('?');
    const segs = p.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    return { segs, query: new URLSearchParams(q || ''), raw };
}

function match(segs) {
    for (const r of routes) {
        if (r.segs.length !== segs.length) continue;
        const params = {};
        let ok = true;
        for (let i = 0; i < segs.length && ok; i++) {
            if (r.segs[i].startsWith(':')) params[r.segs[i].slice(1)] = segs[i];
            else ok = r.segs[i] === segs[i];
        }
        if (ok) return { entry: r.entry, params };
    }
    return null;
}

export function navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
}

function runCleanup() {
    if (typeof cleanup === 'function') {
        try { cleanup(); } catch (e) { console.warn('page cleanup', e); }
    }
    cleanup = null;
}

// The page module of a route entry, fetched once (the browser keeps the
// module; a failed fetch is tried again on the next visit).
const loaded = new Map();
async function loadPage(entry) {
    if (!loaded.has(entry)) {
        const page = (await entry.load()).default;
        if (page.path !== entry.path) console.error(`pages/index.js lists ${entry.path}, its module says ${page.path}`);
        loaded.set(entry, page);
    }
    return loaded.get(entry);
}

function simplePage(titleKey, textKey) {
    document.title = t(dict, titleKey) + ' — Gavel';
    setChildren(root, h('section', { class: 'page narrow' },
        h('h1', { tabindex: '-1' }, t(dict, titleKey)),
        h('p', {}, t(dict, textKey)),
        h('p', {}, h('a', { href: '#/' }, t(dict, 'backHome')))));
}

async function route() {
    const seq = ++renderSeq;
    runCleanup();
    renderHeader();
    const { segs, query, raw } = parseHash();
    const m = match(segs);
    if (!m) return simplePage('notFound', 'notFoundText');
    const { params } = m;
    let page;
    try {
        page = await loadPage(m.entry);
    } catch (e) {
        console.warn('page load', e);
        if (seq === renderSeq) {
            root.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, t(dict, 'failed') + ' ' + (e.message || '')));
        }
        return;
    }
    if (seq !== renderSeq) return;        // the user moved on while it loaded
    if (page.auth && !session.user()) {
        location.replace('#/login?next=' + encodeURIComponent(raw));
        return;
    }
    if (typeof page.auth === 'string' && !session.hasRole(page.auth)) return simplePage('forbidden', 'forbiddenText');
    document.title = (page.title[lang()] || page.title.en) + ' — Gavel';
    root.replaceChildren();
    const ctx = { query, navigate, session, ws, api, lang: lang(), user: session.user(), setUnread };
    try {
        const c = await page.render(root, params, ctx);
        if (seq !== renderSeq) {           // the user moved on while it loaded
            if (typeof c === 'function') c();
            return;
        }
        cleanup = c;
    } catch (e) {
        console.warn('page render', e);
        if (seq === renderSeq) {
            root.append(h('p', { class: 'form-error', role: 'alert' }, t(dict, 'failed') + ' ' + (e.message || '')));
        }
    }
    if (seq === renderSeq) focusHeading();
}

let firstRoute = true;
function focusHeading() {
    if (firstRoute) { firstRoute = false; return; }   // keep the browser's own focus on first load
    const h1 = root.querySelector('h1');
    if (h1) {
        if (!h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: false });
    }
}

// The inbox badge: pages and the notification stream set it.
export function setUnread(n) {
    unread = Math.max(0, Number(n) || 0);
    const b = document.getElementById('unread-badge');
    if (b) {
        b.textContent = unread ? String(unread) : '';
        b.hidden = !unread;
        b.setAttribute('aria-label', t(dict, 'unread', { n: unread }));
    }
}

function navLink(href, key, extra) {
    const cur = (location.hash || '#/').split('?')[0];
    const active = href === '#/' ? cur === '#/' || cur === '#' || cur === '' : cur === href || cur.startsWith(href + '/');
    return h('a', { href, class: active ? 'active' : null, 'aria-current': active ? 'page' : null }, t(dict, key), extra);
}

function renderHeader() {
    const u = session.user();
    const links = [navLink('#/', 'catalog')];
    if (u) {
        links.push(navLink('#/my-bids', 'myBids'), navLink('#/wallet', 'wallet'),
            navLink('#/inbox', 'inbox', h('span', { id: 'unread-badge', class: 'badge', hidden: !unread }, unread ? String(unread) : '')));
        if (session.hasRole('seller')) links.push(navLink('#/sell', 'sell'));
        if (session.hasRole('moderator')) links.push(navLink('#/moderate', 'moderate'));
        if (session.hasRole('admin')) links.push(navLink('#/admin', 'admin'));
    }
    setChildren(document.getElementById('nav'), links);
    setUnread(unread);

    const sel = h('select', { id: 'lang-select', 'aria-label': t(dict, 'language'), onchange: (e) => setLang(e.target.value) },
        LANGS.map((l) => h('option', { value: l, selected: l === lang() }, l === 'en' ? 'English' : 'Русский')));
    setChildren(document.getElementById('lang-switch'), sel);

    const menu = document.getElementById('user-menu');
    if (u) {
        setChildren(menu,
            h('span', { class: 'user-name', title: t(dict, 'account', { name: u.email }) }, u.displayName),
            h('button', { type: 'button', class: 'secondary small', id: 'logout-button', onclick: onLogout }, t(dict, 'logout')));
    } else {
        setChildren(menu,
            h('a', { href: '#/login', class: 'button secondary small' }, t(dict, 'login')),
            h('a', { href: '#/signup', class: 'button small' }, t(dict, 'signup')));
    }
    const skip = document.getElementById('skip-link');
    if (skip) skip.textContent = t(dict, 'skip');
}

async function onLogout(e) {
    e.target.disabled = true;
    await session.logout();
    navigate('#/login');
}

async function loadUnread() {
    if (!session.user()) { setUnread(0); return; }
    try {
        const r = await api('GET', '/api/v1/notifications', null, { query: { unreadOnly: true, 'page.pageSize': 1 }, noRedirect: true });
        setUnread(r.unreadCount || 0);
    } catch { /* the badge waits for the next notification */ }
}

// A signed-in user's emails, push and Telegram messages follow the language
// chosen here (their notification preferences). Best effort: a failure
// leaves the preference as it was, without a word; the next switch tries again.
async function saveLangPreference(l) {
    if (!session.user()) return;
    try {
        await api('PATCH', '/api/v1/notifications/preferences',
            { updateMask: ['language'], preferences: { language: l } }, { noRedirect: true });
    } catch { /* kept as it was */ }
}

function boot() {
    document.documentElement.lang = lang();
    document.getElementById('skip-link')?.addEventListener('click', (e) => {
        e.preventDefault();
        (root.querySelector('h1') || root).focus();
    });
    window.addEventListener('hashchange', route);
    onLangChange((l) => { saveLangPreference(l); route(); });
    session.onChange((u, why) => {
        if (why === 'refresh' || why === 'profile') { renderHeader(); return; }
        loadUnread();
        if (why === 'expired' || why === 'storage') route(); else renderHeader();
    });
    ws.on('notification', (m) => { if (m.unreadCount !== undefined) setUnread(m.unreadCount); });
    ws.on('resync', loadUnread);
    ws.start();
    loadUnread();
    route();
}

boot();
