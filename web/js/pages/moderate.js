// #/moderate : the moderators' queue. Lots in review, oldest first, each
// with its photos, condition report and prices; approve (with an optional
// note) or reject (a reason is required and shown to the seller). Approved
// lots not yet scheduled are listed below with a form that sets when
// bidding opens and closes (ScheduleLot).
import { api } from '../api.js';
import { t, dateTime } from '../i18n.js';
import { h, field, setChildren, clearErrors, showApiError, showFieldError, withPending, toast } from '../ui.js';
import { moneyOf, lotName } from '../lot_common.js';
import { renderGallery, renderCondition } from './lot_report.js';
import { label } from './seller_common.js';

const dict = {
    en: {
        title: 'Moderation', queue: 'Waiting for review', none: 'Nothing waits for review.', toSchedule: 'Approved, to schedule',
        noneToSchedule: 'No approved lot waits for a schedule.', seller: 'Seller {id}', submitted: 'Changed {when}',
        start: 'Start price', reserve: 'Reserve', buyNow: 'Buy now', vin: 'VIN', mileage: 'Mileage', region: 'Region',
        note: 'Note to the seller (optional when approving, required to reject)', approve: 'Approve', reject: 'Reject',
        reasonNeeded: 'Say why the lot is rejected; the seller will read it.', approvedMsg: 'Lot {id} approved.',
        rejectedMsg: 'Lot {id} rejected.', opens: 'Bidding opens', closes: 'Bidding closes (empty: 30 minutes later)',
        schedule: 'Schedule', scheduled: 'Lot {id} scheduled.', needStart: 'Choose when bidding opens.', open: 'Open lot page',
        description: 'Description',
    },
    ru: {
        title: 'Модерация', queue: 'Ждут проверки', none: 'Проверки ничего не ждёт.', toSchedule: 'Одобрены, нужно расписание',
        noneToSchedule: 'Одобренных лотов без расписания нет.', seller: 'Продавец {id}', submitted: 'Изменён {when}',
        start: 'Стартовая цена', reserve: 'Резерв', buyNow: 'Купить сейчас', vin: 'VIN', mileage: 'Пробег', region: 'Регион',
        note: 'Комментарий продавцу (при одобрении — по желанию, при отклонении — обязательно)', approve: 'Одобрить', reject: 'Отклонить',
        reasonNeeded: 'Укажите причину отклонения — продавец её увидит.', approvedMsg: 'Лот {id} одобрен.',
        rejectedMsg: 'Лот {id} отклонён.', opens: 'Начало торгов', closes: 'Конец торгов (пусто — через 30 минут)',
        schedule: 'Запланировать', scheduled: 'Лот {id} запланирован.', needStart: 'Выберите время начала торгов.', open: 'Страница лота',
        description: 'Описание',
    },
};

async function listState(state, order) {
    const filter = [['eq', 'state', state], ['order', order], ['limit', '50']];
    const r = await api('POST', '/api/v1/lots/search', { filterJson: JSON.stringify(filter) });
    return r.lots || [];
}

function facts(l) {
    const rows = [['start', moneyOf(l.startPrice)], ['reserve', l.reservePrice ? moneyOf(l.reservePrice) : '—'],
        ['buyNow', l.buyNowPrice ? moneyOf(l.buyNowPrice) : '—'], ['vin', l.vin || '—'],
        ['mileage', l.mileageKm !== undefined ? String(l.mileageKm) + ' km' : '—'], ['region', l.region || '—']];
    return h('dl', { class: 'stats' }, rows.map(([k, v]) => [h('dt', {}, t(dict, k)), h('dd', {}, v)]));
}

// renderGallery and renderCondition are made for one lot per page: give
// their ids (and what points at them) this card's suffix.
function uniqueIds(el, suffix) {
    for (const x of el.querySelectorAll('[id]')) x.id += suffix;
    if (el.id) el.id += suffix;
    for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls', 'for']) {
        for (const x of el.querySelectorAll(`[${attr}]`)) {
            x.setAttribute(attr, x.getAttribute(attr).split(' ').map((v) => v + suffix).join(' '));
        }
        if (el.hasAttribute(attr)) el.setAttribute(attr, el.getAttribute(attr).split(' ').map((v) => v + suffix).join(' '));
    }
    return el;
}

function reviewCard(l, done) {
    const note = field({ label: t(dict, 'note'), name: 'reason', type: 'textarea', rows: 2 });
    const approve = h('button', { type: 'submit', class: 'primary', 'data-action': 'approve' }, t(dict, 'approve'));
    const reject = h('button', { type: 'submit', class: 'danger', 'data-action': 'reject' }, t(dict, 'reject'));
    const form = h('form', { class: 'form', novalidate: true }, note, h('div', { class: 'actions' }, approve, reject));
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const isApprove = e.submitter === approve;
        const reason = note.input.value.trim();
        if (!isApprove && !reason) return showFieldError(note.input, t(dict, 'reasonNeeded'));
        try {
            await withPending(isApprove ? approve : reject, api('POST', `/api/v1/lots/${l.id}/moderation`,
                { decision: isApprove ? 'MODERATION_DECISION_APPROVE' : 'MODERATION_DECISION_REJECT', reason }));
            toast(t(dict, isApprove ? 'approvedMsg' : 'rejectedMsg', { id: l.id }));
            done();
        } catch (err) {
            showApiError(form, err);
        }
    });
    return h('article', { class: 'card review-card', 'data-lot-id': l.id },
        h('h3', {}, h('a', { href: '#/lot/' + l.id }, lotName(l)), ' ', h('span', { class: 'status' }, label(l.state))),
        h('p', { class: 'meta' }, t(dict, 'seller', { id: l.sellerId }), ' · ', t(dict, 'submitted', { when: dateTime(Number(l.updatedAtUs)) })),
        h('div', { class: 'review-layout' },
            h('div', {}, uniqueIds(renderGallery(l), '-' + l.id)),
            h('div', {}, facts(l), l.description ? [h('h4', {}, t(dict, 'description')), h('p', { class: 'notes' }, l.description)] : null)),
        uniqueIds(renderCondition(l.condition), '-' + l.id), form);
}

// "2026-05-01T10:00:05" in the browser's zone, for datetime-local.
function localInput(ms) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function scheduleCard(l, done) {
    const starts = field({ label: t(dict, 'opens'), name: 'startsAt', type: 'datetime-local', step: 1, value: localInput(Date.now() + 3600e3) });
    const ends = field({ label: t(dict, 'closes'), name: 'endsAt', type: 'datetime-local', step: 1 });
    const btn = h('button', { type: 'submit', class: 'primary' }, t(dict, 'schedule'));
    const form = h('form', { class: 'form schedule-form', novalidate: true }, h('div', { class: 'grid-2' }, starts, ends), btn);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const s = new Date(starts.input.value).getTime();
        if (!starts.input.value || Number.isNaN(s)) return showFieldError(starts.input, t(dict, 'needStart'));
        const en = ends.input.value ? new Date(ends.input.value).getTime() : 0;
        try {
            await withPending(btn, api('POST', `/api/v1/lots/${l.id}/schedule`,
                { startsAtUs: String(s * 1000), endsAtUs: String(en * 1000) }));
            toast(t(dict, 'scheduled', { id: l.id }));
            done();
        } catch (err) {
            showApiError(form, err, { startsAtUs: 'startsAt', endsAtUs: 'endsAt', startsAt: 'startsAt', endsAt: 'endsAt' });
        }
    });
    return h('article', { class: 'card schedule-card', 'data-lot-id': l.id },
        h('h3', {}, h('a', { href: '#/lot/' + l.id }, lotName(l))),
        h('p', { class: 'meta' }, t(dict, 'seller', { id: l.sellerId }), ' · ', moneyOf(l.startPrice)), form);
}

export default {
    path: '#/moderate',
    title: { en: 'Moderation', ru: 'Модерация' },
    auth: 'moderator',
    async render(root) {
        const queue = h('div', { class: 'review-list', id: 'review-queue' });
        const toSchedule = h('div', { class: 'review-list', id: 'schedule-queue' });
        root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')),
            h('h2', {}, t(dict, 'queue')), queue, h('h2', {}, t(dict, 'toSchedule')), toSchedule));
        async function load() {
            const [review, approved] = await Promise.all([listState('in_review', 'updated_time asc'),
                listState('approved', 'updated_time asc')]);
            setChildren(queue, review.length ? review.map((l) => reviewCard(l, reload)) : h('p', { class: 'empty' }, t(dict, 'none')));
            setChildren(toSchedule, approved.length ? approved.map((l) => scheduleCard(l, reload))
                : h('p', { class: 'empty' }, t(dict, 'noneToSchedule')));
        }
        const reload = () => load().catch((e) => toast(e.message, 'error'));
        await load();
    },
};
