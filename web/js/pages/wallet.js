// #/wallet : balance (total, reserved, available), the holds per lot and
// the ledger history. Money comes in two ways: a card top-up through the
// payments service (Authorize a payment of lot 0, then Capture it, which
// deposits it to the wallet exactly once), and bank transfers, which an
// admin books here (POST /api/v1/users/{id}/wallet/deposits).
import { api } from '../api.js';
import * as ws from '../ws.js';
import * as session from '../session.js';
import { t, dateTime, parseAmount } from '../i18n.js';
import { h, field, setChildren, clearErrors, showApiError, showFieldError, showFormError, withPending, toast, idemKey } from '../ui.js';
import { moneyOf } from '../lot_common.js';

const dict = {
    en: {
        title: 'Wallet', total: 'Total', reserved: 'Reserved', available: 'Available', holds: 'Holds on lots',
        lot: 'Lot', amount: 'Amount', since: 'Since', noHolds: 'No money is held for bids now.',
        ledger: 'History', when: 'When', what: 'What', availableChange: 'Available', heldChange: 'Held',
        noLedger: 'No movements yet.', more: 'Show more', lotN: 'Lot {id}',
        k_deposit: 'Deposit', k_reserve: 'Held for a bid', k_release: 'Released', k_capture: 'Paid for a won lot', k_withdraw: 'Paid out (refund or fee)',
        deposit: 'Add money', depositHow: 'Money arrives by bank transfer; the Gavel team books it to your wallet. Tell them your account number: {id}.',
        adminDeposit: 'Book a deposit (admin)', userId: 'Account number', depAmount: 'Amount (RUB)', reference: 'Bank reference',
        book: 'Book deposit', booked: 'Deposit booked.', required: 'This field is required.', notAmount: 'Enter an amount, e.g. 150000.',
        notId: 'Enter an account number.',
        byCard: 'Add money by card', cardAmount: 'Amount (RUB)', card: 'Card',
        testCards: 'Test cards of this build: a real deployment shows the card provider\'s own card form here.',
        tok_visa: 'Test card — succeeds', tok_decline: 'Test card — declined', pay: 'Add money',
        added: '{amount} added to your wallet.', declined: 'The card was declined: {why}',
        d_card_declined: 'the bank refused the payment. Try another card.',
        d_insufficient_funds: 'there is not enough money on the card.', d_expired_card: 'the card has expired.',
        notDone: 'The payment is {state}; the money was not added. Try again.',
        payments: 'Card payments', noPayments: 'No card payments yet.', state: 'State',
        paymentsUnavailable: 'Card payments cannot be shown right now.',
        s_PAYMENT_STATE_PENDING: 'Pending', s_PAYMENT_STATE_AUTHORIZED: 'Held on the card', s_PAYMENT_STATE_CAPTURED: 'Added to the wallet',
        s_PAYMENT_STATE_PARTIALLY_REFUNDED: 'Partly refunded', s_PAYMENT_STATE_REFUNDED: 'Refunded', s_PAYMENT_STATE_VOIDED: 'Cancelled',
        s_PAYMENT_STATE_FAILED: 'Declined', s_PAYMENT_STATE_EXPIRED: 'Hold expired',
    },
    ru: {
        title: 'Кошелёк', total: 'Всего', reserved: 'Зарезервировано', available: 'Доступно', holds: 'Резервы по лотам',
        lot: 'Лот', amount: 'Сумма', since: 'С', noHolds: 'Сейчас под ставки ничего не зарезервировано.',
        ledger: 'История', when: 'Когда', what: 'Что', availableChange: 'Доступно', heldChange: 'В резерве',
        noLedger: 'Движений пока нет.', more: 'Показать ещё', lotN: 'Лот {id}',
        k_deposit: 'Пополнение', k_reserve: 'Резерв под ставку', k_release: 'Резерв снят', k_capture: 'Оплата выигранного лота', k_withdraw: 'Списание (возврат или комиссия)',
        deposit: 'Пополнение', depositHow: 'Деньги поступают банковским переводом; команда Gavel зачисляет их в кошелёк. Сообщите номер вашей учётной записи: {id}.',
        adminDeposit: 'Зачислить пополнение (администратор)', userId: 'Номер учётной записи', depAmount: 'Сумма (RUB)', reference: 'Банковская ссылка',
        book: 'Зачислить', booked: 'Пополнение зачислено.', required: 'Заполните это поле.', notAmount: 'Введите сумму, например 150000.',
        notId: 'Введите номер учётной записи.',
        byCard: 'Пополнить картой', cardAmount: 'Сумма (RUB)', card: 'Карта',
        testCards: 'Тестовые карты этой сборки: в настоящей установке здесь будет форма ввода карты от платёжного провайдера.',
        tok_visa: 'Тестовая карта — успешно', tok_decline: 'Тестовая карта — отказ', pay: 'Пополнить',
        added: '{amount} зачислено в кошелёк.', declined: 'Карта отклонена: {why}',
        d_card_declined: 'банк отказал в платеже. Попробуйте другую карту.',
        d_insufficient_funds: 'на карте недостаточно денег.', d_expired_card: 'срок действия карты истёк.',
        notDone: 'Платёж в состоянии «{state}»; деньги не зачислены. Попробуйте ещё раз.',
        payments: 'Платежи картой', noPayments: 'Платежей картой пока нет.', state: 'Состояние',
        paymentsUnavailable: 'Платежи картой сейчас не удаётся показать.',
        s_PAYMENT_STATE_PENDING: 'В обработке', s_PAYMENT_STATE_AUTHORIZED: 'Заблокировано на карте', s_PAYMENT_STATE_CAPTURED: 'Зачислено в кошелёк',
        s_PAYMENT_STATE_PARTIALLY_REFUNDED: 'Частично возвращено', s_PAYMENT_STATE_REFUNDED: 'Возвращено', s_PAYMENT_STATE_VOIDED: 'Отменено',
        s_PAYMENT_STATE_FAILED: 'Отклонено', s_PAYMENT_STATE_EXPIRED: 'Блокировка истекла',
    },
};

// The card choice stands for the provider's hosted card form, which would
// hand back a token for the card; this build offers the simulator's test
// tokens, labelled as such.
const TEST_CARDS = ['tok_visa', 'tok_decline'];

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
        const paymentsBody = h('tbody', { id: 'wallet-payments' });
        const paymentsNote = h('p', { class: 'hint', hidden: true }, t(dict, 'paymentsUnavailable'));
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
            h('h2', {}, t(dict, 'deposit')));
        // Authorize admits bidders (and staff); a seller's wallet is not paid into by card.
        if (session.hasRole('bidder')) {
            section.append(topUpForm(() => { refresh(); loadPayments(); }),
                h('h3', {}, t(dict, 'payments')), paymentsNote,
                h('div', { class: 'table-wrap' }, h('table', { class: 'stack' }, h('thead', {}, h('tr', {},
                    h('th', { scope: 'col' }, t(dict, 'when')), h('th', { scope: 'col', class: 'num' }, t(dict, 'amount')),
                    h('th', { scope: 'col' }, t(dict, 'state')))), paymentsBody)));
        }
        section.append(h('p', {}, t(dict, 'depositHow', { id: me.id })));
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
            const rows = (r.entries || []).map((e) => h('tr', { 'data-kind': e.kind },
                h('td', { 'data-label': t(dict, 'when') }, dateTime(Number(e.createdAtUs))),
                h('td', { 'data-label': t(dict, 'what') }, h('span', {}, t(dict, 'k_' + e.kind), ' ', lotLink(e.lotId), e.reference ? ' — ' + e.reference : '')),
                h('td', { class: 'num', 'data-label': t(dict, 'availableChange') }, h('span', { class: 'money' }, moneyOf(e.availableChange || { units: '0', currency: 'RUB' }))),
                h('td', { class: 'num', 'data-label': t(dict, 'heldChange') }, h('span', { class: 'money' }, moneyOf(e.heldChange || { units: '0', currency: 'RUB' })))));
            if (first) setChildren(ledgerBody, rows.length ? rows : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, t(dict, 'noLedger'))));
            else ledgerBody.append(...rows);
            token = (r.page && r.page.nextPageToken) || '';
            more.hidden = !token;
        }
        // The caller's own card payments (settlements from the wallet are in the ledger).
        async function loadPayments() {
            if (!session.hasRole('bidder')) return;
            let r;
            try {
                r = await api('GET', '/api/v1/payments', null, { query: { payerId: me.id, 'page.pageSize': 10 } });
            } catch {
                paymentsNote.hidden = false;
                return;
            }
            paymentsNote.hidden = true;
            const cards = (r.payments || []).filter((p) => p.provider !== 'wallet');
            setChildren(paymentsBody, cards.length ? cards.map((p) => h('tr', { 'data-payment-id': p.id, 'data-state': p.state },
                h('td', { 'data-label': t(dict, 'when') }, dateTime(Number(p.createdAtUs))),
                h('td', { class: 'num', 'data-label': t(dict, 'amount') }, h('span', { class: 'money' }, moneyOf(p.amount))),
                h('td', { 'data-label': t(dict, 'state') }, t(dict, 's_' + p.state))))
                : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, t(dict, 'noPayments'))));
        }
        more.addEventListener('click', () => withPending(more, loadLedger(false)).catch((e) => toast(e.message, 'error')));
        const refresh = () => Promise.all([loadBalance(), loadLedger(true)]).catch((e) => toast(e.message, 'error'));
        // Money moves with bids: follow the user's notifications and resyncs.
        const offs = [ws.on('notification', refresh), ws.on('resync', refresh)];
        await Promise.all([loadBalance(), loadLedger(true), loadPayments()]);
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

// The plain words for a FAILED payment's failureReason ("<code>: <the
// provider's message>"): the known codes in the page's language, any other
// as the provider put it.
function declineText(reason) {
    const m = /^([a-z_]+):\s*(.*)$/.exec(reason || '');
    const known = m && dict.en['d_' + m[1]];
    return t(dict, 'declined', { why: known ? t(dict, 'd_' + m[1]) : (m ? m[2] : reason) || t(dict, 'd_card_declined') });
}

// One top-up: Authorize a payment of lot 0 on the card, then Capture the
// whole amount, which puts it in the wallet. Each call has its own key,
// kept for the attempt, so a retry after a lost answer (or after a capture
// that failed) neither holds nor deposits twice. Returns the last payment.
async function topUp(body, attempt) {
    const a = await api('POST', '/api/v1/payments', body, { idempotencyKey: attempt.authKey });
    const p = a.payment || {};
    if (p.state !== 'PAYMENT_STATE_AUTHORIZED') return p;
    const c = await api('POST', `/api/v1/payments/${p.id}/capture`, { amount: p.amount }, { idempotencyKey: attempt.captureKey });
    return c.payment || {};
}

function topUpForm(done) {
    const amount = field({ label: t(dict, 'cardAmount'), name: 'amount', inputmode: 'decimal' });
    const card = field({ label: t(dict, 'card'), name: 'paymentMethodToken', hint: t(dict, 'testCards'),
        options: TEST_CARDS.map((tok) => ({ value: tok, label: t(dict, tok) })) });
    const btn = h('button', { type: 'submit', class: 'primary' }, t(dict, 'pay'));
    const status = h('p', { class: 'form-status', id: 'topup-status', role: 'status' });
    const form = h('form', { class: 'card form', id: 'topup-form', novalidate: true },
        h('h3', {}, t(dict, 'byCard')), amount, card, btn, status);
    let attempt = null;   // { text, authKey, captureKey } while one top-up is unfinished
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        status.textContent = '';
        const units = parseAmount(amount.input.value, 'RUB');
        if (!units || units === '0') return showFieldError(amount.input, t(dict, 'notAmount'));
        const body = { amount: { units, currency: 'RUB' }, paymentMethodToken: card.input.value, description: 'Wallet top-up' };
        const text = JSON.stringify(body);
        if (!attempt || attempt.text !== text) attempt = { text, authKey: idemKey(), captureKey: idemKey() };
        try {
            const p = await withPending(btn, topUp(body, attempt));
            attempt = null;   // finished either way: the next submit is a new payment
            if (p.state === 'PAYMENT_STATE_CAPTURED') {
                status.textContent = t(dict, 'added', { amount: moneyOf(p.captured) });
                amount.input.value = '';
            } else if (p.state === 'PAYMENT_STATE_FAILED') {
                showFieldError(card.input, declineText(p.failureReason));
            } else {
                showFormError(form, t(dict, 'notDone', { state: t(dict, 's_' + p.state) }));
            }
            done();
        } catch (err) {
            showApiError(form, err, { amountUnits: 'amount', 'amount.units': 'amount', 'amount.currency': 'amount' });
            done();
        }
    });
    return form;
}
