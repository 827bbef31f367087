// #/my-bids : the lots the user bid on (ListParticipation), each leading,
// outbid, won or lost, updating live from the lots' stream.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, dateTime } from '../i18n.js';
import { h, setChildren } from '../ui.js';
import { lotName, moneyOf } from '../lot_common.js';

const dict = {
    en: {
        title: 'My bids', all: 'All', leading: 'Leading', outbid: 'Outbid', won: 'Won', lost: 'Lost',
        lot: 'Lot', status: 'Status', myBid: 'My highest bid', price: 'Current price', bids: 'My bids',
        last: 'Last activity', empty: 'You have not bid on any lot yet.', none: 'Nothing here.',
        more: 'Show more', lotN: 'Lot {id}', browse: 'Browse the catalog',
    },
    ru: {
        title: 'Мои ставки', all: 'Все', leading: 'Лидирую', outbid: 'Перебили', won: 'Выиграл', lost: 'Проиграл',
        lot: 'Лот', status: 'Статус', myBid: 'Моя лучшая ставка', price: 'Текущая цена', bids: 'Моих ставок',
        last: 'Последнее событие', empty: 'Вы ещё не делали ставок.', none: 'Здесь пусто.',
        more: 'Показать ещё', lotN: 'Лот {id}', browse: 'Перейти в каталог',
    },
};

const TABS = ['all', 'leading', 'outbid', 'won', 'lost'];

function statusOf(p) {
    if (p.outcome === 'won') return 'won';
    if (p.outcome === 'lost') return 'lost';
    return p.isLeading ? 'leading' : 'outbid';
}

export default {
    path: '#/my-bids',
    title: { en: 'My bids', ru: 'Мои ставки' },
    auth: true,
    async render(root, params, ctx) {
        const me = ctx.user.id;
        let tab = TABS.includes(ctx.query.get('show')) ? ctx.query.get('show') : 'all';
        const items = [];
        const rows = new Map();       // lotId -> {p, tr, cells}
        const titles = new Map();
        const followed = new Set();
        const body = h('tbody', { id: 'my-bids' });
        const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t(dict, 'more'));
        const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': t(dict, 'status') },
            TABS.map((k) => h('button', { type: 'button', 'aria-pressed': k === tab ? 'true' : 'false', 'data-tab': k,
                onclick: () => { tab = k; tabs.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', b.dataset.tab === k ? 'true' : 'false')); draw(); } },
            t(dict, k))));
        const empty = h('p', { class: 'empty', hidden: true });
        root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')), tabs,
            h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
                h('thead', {}, h('tr', {}, [t(dict, 'lot'), t(dict, 'status'), t(dict, 'myBid'), t(dict, 'price'), t(dict, 'bids'), t(dict, 'last')]
                    .map((x, i) => h('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : null }, x)))),
                body)),
            empty, h('p', {}, more)));

        function row(p) {
            const st = statusOf(p);
            const price = p.finalPrice || p.livePrice;
            return h('tr', { 'data-lot-id': p.lotId, 'data-status': st },
                h('td', { 'data-label': t(dict, 'lot') }, h('a', { href: '#/lot/' + p.lotId }, titles.get(String(p.lotId)) || t(dict, 'lotN', { id: p.lotId }))),
                h('td', { 'data-label': t(dict, 'status') }, h('span', { class: ['outcome', st] }, t(dict, st))),
                h('td', { class: 'num', 'data-label': t(dict, 'myBid') }, h('span', { class: 'money' }, moneyOf(p.myHighestBid))),
                h('td', { class: 'num', 'data-label': t(dict, 'price') }, h('span', { class: 'money' }, price ? moneyOf(price) : '—')),
                h('td', { class: 'num', 'data-label': t(dict, 'bids') }, String(p.bidCount || 0)),
                h('td', { 'data-label': t(dict, 'last') }, p.lastEventAtUs ? dateTime(Number(p.lastEventAtUs)) : '—'));
        }
        function draw() {
            const shown = items.filter((p) => tab === 'all' || statusOf(p) === tab);
            setChildren(body, shown.map(row));
            empty.hidden = shown.length > 0;
            empty.replaceChildren(items.length ? t(dict, 'none') : t(dict, 'empty'), ' ',
                items.length ? '' : h('a', { href: '#/' }, t(dict, 'browse')));
        }
        async function loadTitles(list) {
            const ids = list.map((p) => String(p.lotId)).filter((id) => !titles.has(id));
            if (!ids.length) return;
            try {
                const r = await api('GET', '/api/v1/lots', null, { query: { filterJson: JSON.stringify([
                    ['fields', 'id,title,make,model,year'], ['in', 'id', ids.slice(0, 100)], ['limit', '200']]) } });
                for (const l of r.lots || []) titles.set(String(l.id), lotName(l));
            } catch { /* ids stay as names */ }
        }
        let token = '';
        async function load(first) {
            const r = await api('GET', '/api/v1/me/participation', null, { query: { 'page.pageSize': 50, 'page.pageToken': first ? '' : token } });
            const got = r.items || [];
            await loadTitles(got);
            for (const p of got) {
                const id = String(p.lotId);
                const old = rows.get(id);
                if (old) Object.assign(old, p);
                else { rows.set(id, p); items.push(p); }
                if (p.outcome === 'open' && !followed.has(id)) { followed.add(id); ws.subscribe(id); }
            }
            token = (r.page && r.page.nextPageToken) || '';
            more.hidden = !token;
            draw();
        }
        more.addEventListener('click', () => load(false));
        function take(m) {
            const p = rows.get(String(m.lotId));
            if (!p || !m.state) return;
            if (m.state.currentPrice) p.livePrice = m.state.currentPrice;
            p.isLeading = String(m.state.leaderId || '') === me;
            if (m.state.status === 'LOT_STATUS_CLOSED') {
                p.outcome = p.isLeading && m.state.outcome === 'CLOSE_OUTCOME_CLOSED_WITH_WINNER' ? 'won' : 'lost';
                p.finalPrice = m.state.currentPrice;
            }
            if (m.bids && m.bids.length) p.lastEventAtUs = m.bids[m.bids.length - 1].placedAtUs;
            draw();
        }
        // A bid placed elsewhere (another tab, an autobid) reaches the
        // participation list through the events, shortly after the bid;
        // the user's notifications say when to read it again.
        const offs = [ws.on('lot_snapshot', take), ws.on('lot_update', take),
            ws.on('notification', () => load(true).catch(() => {})),
            ws.on('resync', () => load(true).catch(() => {}))];
        await load(true);
        return () => {
            offs.forEach((off) => off());
            for (const id of followed) ws.unsubscribe(id);
        };
    },
};
