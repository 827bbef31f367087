// #/wallet : balance (total, reserved, available), the holds per lot and
// the ledger history. Deposits: the platform takes bank transfers, which
// an admin books here (POST /api/v1/users/{id}/wallet/deposits); a
// payments service will replace this flow.
import { api } from '../api.js';
import * as ws from '../ws.js';
import * as session from '../session.js';
import { t, dateTime, parseAmount } from '../i18n.js';
import { h, field, setChildren, clearErrors, showApiError, showFieldError, withPending, toast, idemKey } from '../ui.js';
import { moneyOf } from '../lot_common.js';

const dict = {
    en: {
        title: 'Wallet', total: 'Total', reserved: 'Reserved', available: 'Available', holds: 'Holds on lots',
        lot: 'Lot', amount: 'Amount', since: 'Since', noHolds: 'No money is held for bids now.',
        ledger: 'History', when: 'When', what: 'What', availableChange: 'Available', heldChange: 'Held',
        noLedger: 'No movements yet.', more: 'Show more', lotN: 'Lot {id}',
        k_deposit: 'Deposit', k_reserve: 'Held for a bid', k_release: 'Released', k_capture: 'Paid for a won lot',
        deposit: 'Add money', depositHow: 'Money arrives by bank transfer; the Gavel team books it to your wallet. Tell them your account number: {id}.',
        adminDeposit: 'Book a deposit (admin)', userId: 'Account number', depAmount: 'Amount (RUB)', reference: 'Bank reference',
        book: 'Book deposit', booked: 'Deposit booked.', required: 'This field is required.', notAmount: 'Enter an amount, e.g. 150000.',
        notId: 'Enter an account number.',
    },
    ru: {
        title: 'Кошелёк', total: 'Всего', reserved: 'Зарезервировано', available: 'Доступно', holds: 'Резервы по лотам',
        lot: 'Лот', amount: 'Сумма', since: 'С', noHolds: 'Сейчас под ставки ничего не зарезервировано.',
        ledger: 'История', when: 'Когда', what: 'Что', availableChange: 'Доступно', heldChange: 'В резерве',
        noLedger: 'Движений пока нет.', more: 'Показать ещё', lotN: 'Лот {id}',
        k_deposit: 'Пополнение', k_reserve: 'Резерв под ставку', k_release: 'Резерв снят', k_capture: 'Оплата выигранного лота',
        deposit: 'Пополнение', depositHow: 'Деньги поступают банковским переводом; команда Gavel зачисляет их в кошелёк. Сообщите номер вашей учётной записи: {id}.',
        adminDeposit: 'Зачислить пополнение (администратор)', userId: 'Номер учётной записи', depAmount: 'Сумма (RUB)', reference: 'Банковская ссылка',
        book: 'Зачислить', booked: 'Пополнение зачислено.', required: 'Заполните это поле.', notAmount: 'Введите сумму, например 150000.',
        notId: 'Введите номер учётной записи.',
    },
};

export default {
    path: '#/wallet',
    title: { en: 'Wallet', ru: 'Кошелёк' },
    auth: true,
    async render(root, params, ctx) {
        const me = ctx.user;
        const sum = { total: h('span', { class: 'money', id: 'wallet-total' }), reserved: h('span', { class: 'money', id: 'wallet-reserved' }),
            available: h('span', { class: 'money', id: 'wallet-available' }) };
        const holdsBody = h('tbody', { id: 'wallet-holds' });
        const ledgerBody = h('tbody', { id: 'wallet-ledger' });
        const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t(dict, 'more'));
        const section = h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')),
            h('div', { class: 'summary' }, ['total', 'reserved', 'available'].map((k) =>
                h('div', { class: 'card' }, h('div', { class: 'label' }, t(dict, k)), sum[k]))),
            h('h2', {}, t(dict, 'holds')),
            h('div', { class: 'table-wrap' }, h('table', { class: 'stack' }, h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, t(dict, 'lot')), h('th', { scope: 'col', class: 'num' }, t(dict, 'amount')), h('th', { scope: 'col' }, t(dict, 'since')))),
            holdsBody)),
            h('h2', {}, t(dict, 'ledger')),
            h('div', { class: 'table-wrap' }, h('table', { class: 'stack' }, h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, t(dict, 'when')), h('th', { scope: 'col' }, t(dict, 'what')),
                h('th', { scope: 'col', class: 'num' }, t(dict, 'availableChange')), h('th', { scope: 'col', class: 'num' }, t(dict, 'heldChange')))),
            ledgerBody)),
            h('p', {}, more),
            h('h2', {}, t(dict, 'deposit')),
            h('p', {}, t(dict, 'depositHow', { id: me.id })));
        if (session.hasRole('admin')) section.append(depositForm(me.id, () => refresh()));
        root.append(section);

        const lotLink = (id) => (id && id !== '0' ? h('a', { href: '#/lot/' + id }, t(dict, 'lotN', { id })) : '');
        async function loadBalance() {
            const [b, hs] = await Promise.all([api('GET', '/api/v1/wallet'), api('GET', '/api/v1/wallet/holds')]);
            const bal = b.balance || {};
            for (const k of ['total', 'reserved', 'available']) sum[k].textContent = moneyOf(bal[k] || { units: '0', currency: 'RUB' });
            const holds = hs.holds || [];
            setChildren(holdsBody, holds.length ? holds.map((x) => h('tr', { 'data-lot-id': x.lotId },
                h('td', { 'data-label': t(dict, 'lot') }, lotLink(x.lotId)),
                h('td', { class: 'num', 'data-label': t(dict, 'amount') }, h('span', { class: 'money' }, moneyOf(x.amount))),
                h('td', { 'data-label': t(dict, 'since') }, dateTime(Number(x.createdAtUs)))))
                : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, t(dict, 'noHolds'))));
        }
        let token = '';
        async function loadLedger(first) {
            const r = await api('GET', '/api/v1/wallet/ledger', null, { query: { 'page.pageSize': 50, 'page.pageToken': first ? '' : token } });
            const rows = (r.entries || []).map((e) => h('tr', {},
                h('td', { 'data-label': t(dict, 'when') }, dateTime(Number(e.createdAtUs))),
                h('td', { 'data-label': t(dict, 'what') }, h('span', {}, t(dict, 'k_' + e.kind), ' ', lotLink(e.lotId), e.reference ? ' — ' + e.reference : '')),
                h('td', { class: 'num', 'data-label': t(dict, 'availableChange') }, h('span', { class: 'money' }, moneyOf(e.availableChange || { units: '0', currency: 'RUB' }))),
                h('td', { class: 'num', 'data-label': t(dict, 'heldChange') }, h('span', { class: 'money' }, moneyOf(e.heldChange || { units: '0', currency: 'RUB' })))));
            if (first) setChildren(ledgerBody, rows.length ? rows : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, t(dict, 'noLedger'))));
            else ledgerBody.append(...rows);
            token = (r.page && r.page.nextPageToken) || '';
            more.hidden = !token;
        }
        more.addEventListener('click', () => withPending(more, loadLedger(false)).catch((e) => toast(e.message, 'error')));
        const refresh = () => Promise.all([loadBalance(), loadLedger(true)]).catch((e) => toast(e.message, 'error'));
        // Money moves with bids: follow the user's notifications and resyncs.
        const offs = [ws.on('notification', refresh), ws.on('resync', refresh)];
        await Promise.all([loadBalance(), loadLedger(true)]);
        return () => offs.forEach((off) => off());
    },
};

function depositForm(myId, done) {
    const user = field({ label: t(dict, 'userId'), name: 'userId', inputmode: 'numeric', value: myId });
    const amount = field({ label: t(dict, 'depAmount'), name: 'amount', inputmode: 'decimal' });
    const ref = field({ label: t(dict, 'reference'), name: 'reference' });
    const btn = h('button', { type: 'submit', class: 'primary' }, t(dict, 'book'));
    const form = h('form', { class: 'card form', id: 'deposit-form', novalidate: true },
        h('h3', {}, t(dict, 'adminDeposit')), user, amount, ref, btn);
    let key = idemKey();      // one key per booking: a retry after a lost answer books once
    let lastBody = '';
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const id = user.input.value.trim();
        if (!/^\d{1,19}$/.test(id)) return showFieldError(user.input, t(dict, 'notId'));
        const units = parseAmount(amount.input.value, 'RUB');
        if (!units || units === '0') return showFieldError(amount.input, t(dict, 'notAmount'));
        const body = { amount: { units, currency: 'RUB' }, reference: ref.input.value.trim() };
        const bodyText = id + JSON.stringify(body);
        if (bodyText !== lastBody) { key = idemKey(); lastBody = bodyText; }
        try {
            await withPending(btn, api('POST', `/api/v1/users/${id}/wallet/deposits`, body, { idempotencyKey: key }));
            toast(t(dict, 'booked'));
            amount.input.value = ''; ref.input.value = ''; lastBody = '';
            done();
        } catch (err) {
            showApiError(form, err, { amountUnits: 'amount', 'amount.units': 'amount' });
        }
    });
    return form;
}
