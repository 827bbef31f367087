// #/sell : the seller's lots, newest change first, each with its state,
// the moderation result (the reason when rejected) and, once closed, the
// auction's outcome (sold for how much, or unsold). Drafts and rejected
// lots open in the form; the others open their page.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, dateTime } from '../i18n.js';
import { h, setChildren, toast } from '../ui.js';
import { moneyOf } from '../lot_common.js';
import { label } from './seller_common.js';

const dict = {
    en: {
        title: 'My lots', newLot: 'New lot', lot: 'Lot', state: 'State', moderation: 'Moderation', outcome: 'Outcome',
        when: 'Auction', none: 'You have no lots yet. Create one to put a car up for auction.',
        waiting: 'Waiting for a moderator', approved: 'Approved', rejected: 'Rejected: {reason}',
        notYet: '—', sold: 'Sold for {price} ({bids} bids)', unsold: 'Not sold ({bids} bids)',
        reserveNotMet: 'Not sold: reserve not met at {price} ({bids} bids)', starts: 'Starts {when}',
        ends: 'Ends {when}', ended: 'Ended {when}', edit: 'Edit', untitled: 'Untitled lot {id}', more: 'Show more',
    },
    ru: {
        title: 'Мои лоты', newLot: 'Новый лот', lot: 'Лот', state: 'Состояние', moderation: 'Модерация', outcome: 'Итог',
        when: 'Аукцион', none: 'Лотов пока нет. Создайте лот, чтобы выставить автомобиль на торги.',
        waiting: 'Ждёт модератора', approved: 'Одобрен', rejected: 'Отклонён: {reason}',
        notYet: '—', sold: 'Продан за {price} (ставок: {bids})', unsold: 'Не продан (ставок: {bids})',
        reserveNotMet: 'Не продан: резерв не достигнут, {price} (ставок: {bids})', starts: 'Начало {when}',
        ends: 'Конец {when}', ended: 'Завершён {when}', edit: 'Изменить', untitled: 'Лот {id} без названия', more: 'Показать ещё',
    },
};

const EDITABLE = ['LOT_STATE_DRAFT', 'LOT_STATE_REJECTED'];
const PAST_REVIEW = ['LOT_STATE_APPROVED', 'LOT_STATE_SCHEDULED', 'LOT_STATE_LIVE', 'LOT_STATE_CLOSED'];

function moderation(l) {
    if (l.state === 'LOT_STATE_IN_REVIEW') return t(dict, 'waiting');
    if (l.state === 'LOT_STATE_REJECTED') return h('span', { class: 'rejection' }, t(dict, 'rejected', { reason: l.rejectionReason || '—' }));
    if (PAST_REVIEW.includes(l.state)) return t(dict, 'approved');
    return t(dict, 'notYet');
}

function outcome(l) {
    const r = l.result;
    if (l.state !== 'LOT_STATE_CLOSED' || !r) return t(dict, 'notYet');
    const bids = r.bidCount || '0';
    if (r.winnerId && r.winnerId !== '0') return h('span', { class: 'outcome won' }, t(dict, 'sold', { price: moneyOf(r.finalPrice), bids }));
    if (r.finalPrice) return h('span', { class: 'outcome lost' }, t(dict, 'reserveNotMet', { price: moneyOf(r.finalPrice), bids }));
    return h('span', { class: 'outcome lost' }, t(dict, 'unsold', { bids }));
}

function when(l) {
    if (!l.startsAtUs || l.startsAtUs === '0') return t(dict, 'notYet');
    if (l.state === 'LOT_STATE_CLOSED') return t(dict, 'ended', { when: dateTime(Number(l.endsAtUs)) });
    if (l.state === 'LOT_STATE_LIVE') return t(dict, 'ends', { when: dateTime(Number(l.endsAtUs)) });
    return t(dict, 'starts', { when: dateTime(Number(l.startsAtUs)) });
}

export default {
    path: '#/sell',
    title: { en: 'My lots', ru: 'Мои лоты' },
    auth: 'seller',
    async render(root, params, ctx) {
        const body = h('tbody', { id: 'seller-lots' });
        const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t(dict, 'more'));
        root.append(h('section', { class: 'page' },
            h('div', { class: 'page-head' }, h('h1', {}, t(dict, 'title')),
                h('a', { class: 'button primary', href: '#/sell/new', id: 'new-lot' }, '+ ' + t(dict, 'newLot'))),
            h('div', { class: 'table-wrap' }, h('table', { class: 'seller-table' },
                h('thead', {}, h('tr', {}, ['lot', 'state', 'moderation', 'when', 'outcome'].map((k) => h('th', { scope: 'col' }, t(dict, k))))),
                body)),
            h('p', {}, more)));
        let cursor = '';
        const row = (l) => {
            const name = l.title || t(dict, 'untitled', { id: l.id });
            const href = EDITABLE.includes(l.state) ? '#/sell/' + l.id : '#/lot/' + l.id;
            return h('tr', { 'data-lot-id': l.id, 'data-state': l.state },
                h('td', {}, h('a', { href }, name), h('div', { class: 'meta' }, [l.make, l.model, l.year].filter(Boolean).join(' '))),
                h('td', {}, h('span', { class: ['status', l.state === 'LOT_STATE_LIVE' && 'live'] }, label(l.state))),
                h('td', {}, moderation(l)), h('td', {}, when(l)), h('td', {}, outcome(l)));
        };
        async function load(first) {
            const filter = [['eq', 'seller_id', String(ctx.user.id)], ['order', 'updated_time desc'], ['limit', '50']];
            if (!first && cursor) filter.push(['cursor', cursor]);
            const r = await api('POST', '/api/v1/lots/search', { filterJson: JSON.stringify(filter) });
            const rows = (r.lots || []).map(row);
            if (first) setChildren(body, rows.length ? rows : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t(dict, 'none'))));
            else body.append(...rows);
            cursor = r.nextCursor || '';
            more.hidden = !cursor;
        }
        more.addEventListener('click', () => load(false).catch((e) => toast(e.message, 'error')));
        // States move (moderated, opened, closed): reload on the seller's
        // notifications and after a reconnect.
        const reload = () => load(true).catch((e) => toast(e.message, 'error'));
        const offs = [ws.on('notification', reload), ws.on('resync', reload)];
        await load(true);
        return () => offs.forEach((off) => off());
    },
};
