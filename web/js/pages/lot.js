// #/lot/:id : one lot. Photos, the condition report and the seller's notes
// (GetLot); the live auction (GetLotState, then the /ws stream): price,
// "you are leading"/"outbid", bid count, next minimum, a countdown from the
// server's clock that follows soft-close extensions; bidding (one click for
// the next minimum, or an amount), autobid, the all-in price (QuoteServices),
// the bid history with each bid's receipt, and a check of the hash chain.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, money, parseAmount, dateTime } from '../i18n.js';
import { h, setChildren, clearErrors, showFieldError, showFormError, withPending, toast, idemKey } from '../ui.js';
import { lotName, lotSubtitle, formatLeft, moneyOf } from '../lot_common.js';
import { verifyChain, b64ToBytes, hex } from '../receipts.js';
import { renderGallery, renderCondition } from './lot_report.js';

const dict = {
    en: {
        notFound: 'This lot does not exist or is not open to you.', price: 'Current price', startPrice: 'Start price',
        noBids: 'No bids yet', leading: 'You are leading', outbid: 'You were outbid', bids: 'Bids',
        nextMin: 'Next minimum bid', endsIn: 'Ends in', startsIn: 'Opens in', ended: 'Bidding has ended',
        extended: 'Extended by a late bid ({n} of {max})', bidNext: 'Bid {amount}', amount: 'Your bid',
        placeBid: 'Place bid', bidPlaced: 'Your bid of {amount} is in.', bidOutbidAtOnce: 'Your bid of {amount} is in, but an autobid outbid it at once.',
        autobid: 'Autobid', autobidMax: 'Bid for me up to', setAutobid: 'Set autobid', cancelAutobid: 'Cancel autobid',
        autobidActive: 'Your autobid bids for you up to {amount}.', autobidSet: 'Autobid set up to {amount}.',
        autobidCancelled: 'Autobid cancelled.', autobidExhausted: 'Your autobid reached its maximum of {amount}.',
        allIn: 'All-in price', allInHelp: 'Bid plus the services you choose.', hammer: 'Bid',
        svc_inspection: 'Inspection report', svc_delivery: 'Delivery', history: 'Bid history',
        seq: '#', time: 'Time', bidder: 'Bidder', you: 'You', bidderN: 'Bidder {id}', auto: 'autobid',
        receipt: 'Receipt', hash: 'Hash', prevHash: 'Previous hash', bidId: 'Bid id', verify: 'Verify the bid log',
        verifyOk: 'The bid log is intact: {n} bids, each hash checked.', verifyEmpty: 'No bids to check yet.',
        verifyBad: 'The bid log does NOT check out at bid #{seq}: {why}.',
        why_order: 'a bid is missing or out of order', why_lot: 'a bid belongs to another lot',
        why_prev: 'it does not point to the previous bid', why_hash: 'its contents do not match its hash',
        why_head: 'the log does not end at the lot\'s latest bid', why_live: 'it differs from the bid shown live',
        notAmount: 'Enter an amount, e.g. 150000.', description: 'Seller\'s notes', details: 'Details',
        make: 'Make', model: 'Model', year: 'Year', mileage: 'Mileage', region: 'Region', vin: 'VIN',
        buyNow: 'Buy now price', reserve: 'Reserve', reserveMet: 'met', reserveNotMet: 'not met yet',
        won: 'Sold for {amount}.', youWon: 'You won this lot for {amount}.', unsold: 'Closed without a sale.',
        cancelled: 'This lot was withdrawn.', pending: 'Opens {when}.', notLive: 'Bidding is not open.',
        signInToBid: 'Log in to bid.', bidAmount: 'Amount',
    },
    ru: {
        notFound: 'Такого лота нет или он вам недоступен.', price: 'Текущая цена', startPrice: 'Стартовая цена',
        noBids: 'Ставок пока нет', leading: 'Вы лидируете', outbid: 'Вашу ставку перебили', bids: 'Ставок',
        nextMin: 'Минимальная ставка', endsIn: 'До конца', startsIn: 'До начала', ended: 'Торги завершены',
        extended: 'Продлено из-за поздней ставки ({n} из {max})', bidNext: 'Ставка {amount}', amount: 'Ваша ставка',
        placeBid: 'Сделать ставку', bidPlaced: 'Ваша ставка {amount} принята.', bidOutbidAtOnce: 'Ваша ставка {amount} принята, но автоставка сразу её перебила.',
        autobid: 'Автоставка', autobidMax: 'Ставить за меня до', setAutobid: 'Включить автоставку', cancelAutobid: 'Отменить автоставку',
        autobidActive: 'Автоставка ставит за вас до {amount}.', autobidSet: 'Автоставка до {amount} включена.',
        autobidCancelled: 'Автоставка отменена.', autobidExhausted: 'Автоставка дошла до предела {amount}.',
        allIn: 'Итого с услугами', allInHelp: 'Ставка и выбранные услуги.', hammer: 'Ставка',
        svc_inspection: 'Отчёт об осмотре', svc_delivery: 'Доставка', history: 'История ставок',
        seq: '№', time: 'Время', bidder: 'Участник', you: 'Вы', bidderN: 'Участник {id}', auto: 'автоставка',
        receipt: 'Квитанция', hash: 'Хеш', prevHash: 'Предыдущий хеш', bidId: 'Номер ставки', verify: 'Проверить журнал ставок',
        verifyOk: 'Журнал ставок цел: {n} ставок, каждый хеш проверен.', verifyEmpty: 'Проверять пока нечего.',
        verifyBad: 'Журнал ставок НЕ сходится на ставке №{seq}: {why}.',
        why_order: 'ставка пропущена или не по порядку', why_lot: 'ставка относится к другому лоту',
        why_prev: 'она не ссылается на предыдущую ставку', why_hash: 'её содержимое не совпадает с хешем',
        why_head: 'журнал не заканчивается последней ставкой лота', why_live: 'она отличается от показанной в реальном времени',
        notAmount: 'Введите сумму, например 150000.', description: 'Заметки продавца', details: 'Характеристики',
        make: 'Марка', model: 'Модель', year: 'Год', mileage: 'Пробег', region: 'Регион', vin: 'VIN',
        buyNow: 'Купить сейчас', reserve: 'Резервная цена', reserveMet: 'достигнута', reserveNotMet: 'пока не достигнута',
        won: 'Продан за {amount}.', youWon: 'Вы выиграли лот за {amount}.', unsold: 'Торги завершены без продажи.',
        cancelled: 'Лот снят с торгов.', pending: 'Открытие {when}.', notLive: 'Приём ставок не открыт.',
        signInToBid: 'Войдите, чтобы делать ставки.', bidAmount: 'Сумма',
    },
};

const SERVICES = ['inspection', 'delivery'];

// Every bid of the lot, in seq order (ListBids pages of up to 1000).
export async function loadAllBids(lotId) {
    const out = [];
    let token = '';
    for (let i = 0; i < 100; i++) {
        const r = await api('GET', `/api/v1/lots/${lotId}/bids`, null, { query: { 'page.pageSize': 1000, 'page.pageToken': token } });
        out.push(...(r.bids || []));
        token = (r.page && r.page.nextPageToken) || '';
        if (!token) break;
    }
    return out;
}

export default {
    path: '#/lot/:id',
    title: { en: 'Lot', ru: 'Лот' },
    auth: true,
    async render(root, params, ctx) {
        const lotId = params.id;
        if (!/^\d{1,19}$/.test(lotId)) {
            root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'notFound'))));
            return undefined;
        }
        const me = ctx.user ? ctx.user.id : '';
        let lot, st;
        let bids = [];
        try {
            const [lr, sr, bl] = await Promise.all([
                api('GET', `/api/v1/lots/${lotId}`),
                api('GET', `/api/v1/lots/${lotId}/state`).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
                loadAllBids(lotId).catch((e) => (e.status === 404 ? [] : Promise.reject(e))),
            ]);
            lot = lr.lot;
            st = sr;
            bids = bl;
        } catch (e) {
            if (e.status === 404 || e.status === 403) {
                root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'notFound'))));
                return undefined;
            }
            throw e;
        }
        document.title = lotName(lot) + ' — Gavel';
        const currency = (lot.startPrice && lot.startPrice.currency) || 'RUB';
        let state = (st && st.state) || null;
        let autobid = (st && st.callerAutobid) || null;
        let leaderFlag = st ? Boolean(st.callerIsLeading) : false;

        // --- the bid panel -------------------------------------------------------
        const priceLabel = h('span', { class: 'meta', id: 'lot-price-label' });
        const price = h('span', { class: 'price now', id: 'lot-price', 'aria-live': 'polite' });
        const leader = h('span', { class: 'leader none', id: 'lot-leader', role: 'status' });
        const bidCount = h('dd', { id: 'lot-bid-count', class: 'num' });
        const nextMin = h('dd', { id: 'lot-next-min', class: 'num' });
        const countdownLabel = h('dt', {});
        const countdown = h('dd', {}, h('span', { class: 'countdown', id: 'lot-countdown' }));
        const extNote = h('p', { class: 'meta', id: 'lot-extended', 'aria-live': 'polite' });
        const outcome = h('p', { class: 'outcome', id: 'lot-outcome', role: 'status' });

        const amountInput = h('input', { id: 'bid-amount', name: 'amount', inputmode: 'decimal', autocomplete: 'off' });
        const bidNext = h('button', { type: 'button', class: 'primary', id: 'bid-next' });
        const bidSubmit = h('button', { type: 'submit', class: 'secondary', id: 'bid-submit' }, t(dict, 'placeBid'));
        const bidForm = h('form', { class: 'form', id: 'bid-form', novalidate: true },
            bidNext,
            h('div', { class: 'field' },
                h('label', { for: 'bid-amount' }, t(dict, 'amount') + ' (' + currency + ')'),
                h('div', { class: 'bid-row' }, amountInput, bidSubmit)));
        const allInLines = h('div', { class: 'allin', id: 'allin', 'aria-live': 'polite' });
        const svcBoxes = h('fieldset', { class: 'services' }, h('legend', {}, t(dict, 'allInHelp')));

        const abInput = h('input', { id: 'autobid-max', name: 'maxAmount', inputmode: 'decimal', autocomplete: 'off' });
        const abSet = h('button', { type: 'submit', class: 'secondary', id: 'autobid-set' }, t(dict, 'setAutobid'));
        const abCancel = h('button', { type: 'button', class: 'danger small', id: 'autobid-cancel', hidden: true }, t(dict, 'cancelAutobid'));
        const abStatus = h('p', { class: 'meta', id: 'autobid-status', role: 'status' });
        const abForm = h('form', { class: 'form', id: 'autobid-form', novalidate: true },
            h('div', { class: 'field' },
                h('label', { for: 'autobid-max' }, t(dict, 'autobidMax') + ' (' + currency + ')'),
                h('div', { class: 'bid-row' }, abInput, abSet)),
            abStatus, abCancel);

        const panel = h('aside', { class: 'bid-panel card', 'aria-labelledby': 'lot-price-label' },
            h('div', {}, priceLabel), price, leader,
            h('dl', { class: 'stats' },
                h('dt', {}, t(dict, 'bids')), bidCount,
                h('dt', {}, t(dict, 'nextMin')), nextMin,
                countdownLabel, countdown),
            extNote, outcome, bidForm, svcBoxes, allInLines,
            h('h2', {}, t(dict, 'autobid')), abForm);

        // --- history and verification --------------------------------------------
        const historyBody = h('tbody', { id: 'bid-history' });
        const verifyBtn = h('button', { type: 'button', class: 'secondary', id: 'verify-button' }, t(dict, 'verify'));
        const verifyResult = h('p', { class: 'verify-result', id: 'verify-result', role: 'status' });
        const history = h('section', { 'aria-labelledby': 'history-h' },
            h('h2', { id: 'history-h' }, t(dict, 'history')),
            h('div', { class: 'table-wrap' }, h('table', {},
                h('thead', {}, h('tr', {},
                    h('th', { scope: 'col', class: 'num' }, t(dict, 'seq')), h('th', { scope: 'col' }, t(dict, 'time')),
                    h('th', { scope: 'col' }, t(dict, 'bidder')), h('th', { scope: 'col', class: 'num' }, t(dict, 'bidAmount')),
                    h('th', { scope: 'col' }, t(dict, 'receipt')))),
                historyBody)),
            h('p', {}, verifyBtn), verifyResult);

        const details = h('dl', { class: 'stats' },
            [['make', lot.make], ['model', lot.model], ['year', lot.year], ['mileage', lot.mileageKm !== undefined ? lotSubtitle({ mileageKm: lot.mileageKm }) : null],
                ['region', lot.region], ['vin', lot.vin], ['buyNow', lot.buyNowPrice ? moneyOf(lot.buyNowPrice) : null]]
                .filter(([, v]) => v !== undefined && v !== null && v !== '')
                .map(([k, v]) => [h('dt', {}, t(dict, k)), h('dd', {}, String(v))]));

        root.append(h('article', { class: 'page' },
            h('h1', {}, lotName(lot)),
            h('p', { class: 'meta' }, lotSubtitle(lot)),
            // Phone: photos, then bidding, then the rest; desktop: the panel
            // is a column of its own (app.css).
            h('div', { class: 'lot-layout' },
                renderGallery(lot, ctx),
                panel,
                h('div', { class: 'lot-info' },
                    h('h2', {}, t(dict, 'details')), details,
                    lot.description ? [h('h2', {}, t(dict, 'description')), h('p', { class: 'notes', id: 'seller-notes' }, lot.description)] : null,
                    renderCondition(lot.condition, ctx),
                    history))));

        // --- showing the state ---------------------------------------------------
        const myBidSeen = () => bids.some((b) => String(b.bidderId) === me) || (autobid && autobid.status === 'AUTO_BID_STATUS_ACTIVE');
        const status = () => (state ? state.status : 'LOT_STATUS_UNSPECIFIED');
        let lastEnds = state ? Number(state.endsAtUs || 0) : 0;
        let currentMin = null;

        function showState() {
            if (!state) {
                priceLabel.textContent = t(dict, 'startPrice');
                price.textContent = moneyOf(lot.startPrice);
                bidCount.textContent = '0';
                nextMin.textContent = '—';
                outcome.textContent = lot.state === 'LOT_STATE_CANCELLED' ? t(dict, 'cancelled') : t(dict, 'notLive');
                bidForm.hidden = abForm.hidden = true;
                return;
            }
            if (state.currentPrice) { priceLabel.textContent = t(dict, 'price'); price.textContent = moneyOf(state.currentPrice); }
            else { priceLabel.textContent = t(dict, 'noBids'); price.textContent = moneyOf(state.nextMinBid || lot.startPrice); }
            bidCount.textContent = String(state.bidCount || 0);
            nextMin.textContent = moneyOf(state.nextMinBid);
            const leads = me && String(state.leaderId || '') === me;
            leaderFlag = leads;
            leader.className = 'leader ' + (leads ? 'leading' : myBidSeen() ? 'outbid' : 'none');
            leader.textContent = leads ? t(dict, 'leading') : myBidSeen() ? t(dict, 'outbid') : '';
            const min = state.nextMinBid ? state.nextMinBid.units : null;
            if (min !== currentMin) {
                currentMin = min;
                bidNext.textContent = t(dict, 'bidNext', { amount: moneyOf(state.nextMinBid) });
            }
            const live = status() === 'LOT_STATUS_LIVE';
            bidNext.hidden = leads || !live;
            bidForm.hidden = !live;
            abForm.hidden = status() === 'LOT_STATUS_CLOSED';
            if (state.extensionsUsed) extNote.textContent = t(dict, 'extended', { n: state.extensionsUsed, max: state.maxExtensions || state.extensionsUsed });
            if (status() === 'LOT_STATUS_CLOSED') {
                const fin = state.currentPrice ? moneyOf(state.currentPrice) : '';
                outcome.textContent = state.outcome === 'CLOSE_OUTCOME_CLOSED_WITH_WINNER'
                    ? t(dict, leads ? 'youWon' : 'won', { amount: fin })
                    : state.outcome === 'CLOSE_OUTCOME_CANCELLED' ? t(dict, 'cancelled') : t(dict, 'unsold');
            } else if (status() === 'LOT_STATUS_PENDING') {
                outcome.textContent = t(dict, 'pending', { when: dateTime(Number(state.startsAtUs)) });
            } else {
                outcome.textContent = '';
            }
            showAutobid();
            updateAllIn();
            tick();
        }

        function showAutobid() {
            const active = autobid && autobid.status === 'AUTO_BID_STATUS_ACTIVE';
            abCancel.hidden = !active;
            if (active) abStatus.textContent = t(dict, 'autobidActive', { amount: moneyOf(autobid.maxAmount) });
            else if (autobid && autobid.status === 'AUTO_BID_STATUS_EXHAUSTED') abStatus.textContent = t(dict, 'autobidExhausted', { amount: moneyOf(autobid.maxAmount) });
            else abStatus.textContent = '';
        }

        const cd = countdown.firstChild;
        function tick() {
            if (!state) return;
            const now = ws.serverNow();
            if (status() === 'LOT_STATUS_PENDING') {
                countdownLabel.textContent = t(dict, 'startsIn');
                cd.textContent = formatLeft(Number(state.startsAtUs) / 1000 - now);
            } else if (status() === 'LOT_STATUS_LIVE') {
                countdownLabel.textContent = t(dict, 'endsIn');
                cd.textContent = formatLeft(Number(state.endsAtUs) / 1000 - now);
            } else {
                countdownLabel.textContent = t(dict, 'ended');
                cd.textContent = formatLeft(0);
            }
            cd.dataset.endsAtUs = state.endsAtUs || '';
        }

        // --- history -------------------------------------------------------------
        function bidRow(b) {
            const mine = String(b.bidderId) === me;
            return h('tr', { 'data-seq': b.seq, class: mine ? 'mine' : null },
                h('td', { class: 'num' }, String(b.seq)),
                h('td', { class: 'time' }, dateTime(Number(b.placedAtUs), { dateStyle: 'short', timeStyle: 'medium' })),
                h('td', {}, mine ? t(dict, 'you') : t(dict, 'bidderN', { id: b.bidderId }), b.isAutobid ? ' (' + t(dict, 'auto') + ')' : ''),
                h('td', { class: 'num' }, h('span', { class: 'money' }, moneyOf(b.amount))),
                h('td', {}, h('details', { class: 'receipt' },
                    h('summary', {}, t(dict, 'receipt')),
                    h('dl', { class: 'stats' },
                        h('dt', {}, t(dict, 'bidId')), h('dd', { class: 'hash' }, String(b.bidId)),
                        h('dt', {}, t(dict, 'hash')), h('dd', { class: 'hash' }, hex(b64ToBytes(b.hash))),
                        h('dt', {}, t(dict, 'prevHash')), h('dd', { class: 'hash' }, hex(b64ToBytes(b.prevHash)))))));
        }
        function showHistory() {
            setChildren(historyBody, bids.slice().reverse().map(bidRow));
        }
        async function reloadBids() {
            try { bids = await loadAllBids(lotId); showHistory(); showState(); } catch { /* next update retries */ }
        }
        function addBids(list) {
            let gap = false;
            for (const b of list || []) {
                const last = bids.length ? BigInt(bids[bids.length - 1].seq) : 0n;
                const s = BigInt(b.seq);
                if (s <= last) continue;
                if (s !== last + 1n) { gap = true; break; }
                bids.push(b);
                historyBody.prepend(bidRow(b));
            }
            if (gap) reloadBids();
        }

        // --- the realtime stream -------------------------------------------------
        function take(m) {
            if (String(m.lotId) !== String(lotId) || !m.state) return;
            const prevEnds = lastEnds;
            state = m.state;
            lastEnds = Number(state.endsAtUs || 0);
            if (prevEnds && lastEnds > prevEnds) toast(t(dict, 'extended', { n: state.extensionsUsed || 1, max: state.maxExtensions || 1 }));
            addBids(m.bids);
            if (m.type === 'lot_snapshot' && BigInt(state.seq || 0) > (bids.length ? BigInt(bids[bids.length - 1].seq) : 0n)) reloadBids();
            showState();
        }
        const offs = [
            ws.on('lot_snapshot', take),
            ws.on('lot_update', take),
            ws.on('resync', async () => {
                try {
                    const r = await api('GET', `/api/v1/lots/${lotId}/state`);
                    state = r.state; autobid = r.callerAutobid || null;
                    await reloadBids();
                } catch { /* the snapshot after subscribe resyncs too */ }
            }),
        ];
        ws.subscribe(lotId);

        // --- bidding -------------------------------------------------------------
        function amountFrom(input) {
            const m = parseAmount(input.value, currency);
            if (m === null || m === '0') { showFieldError(input, t(dict, 'notAmount')); return null; }
            return m;
        }
        function afterBid(r) {
            if (r.state) state = r.state;
            addBids([r.bid, ...(r.triggeredBids || [])].filter(Boolean));
            showState();
            const amount = moneyOf(r.bid && r.bid.amount);
            toast(t(dict, r.callerIsLeading ? 'bidPlaced' : 'bidOutbidAtOnce', { amount }));
        }
        async function place(units, button) {
            clearErrors(bidForm);
            const key = idemKey();
            try {
                const r = await withPending(button, api('POST', `/api/v1/lots/${lotId}/bids`,
                    { amount: { units, currency } }, { idempotencyKey: key }));
                afterBid(r);
                amountInput.value = '';
            } catch (e) {
                // Every refusal of a bid is about its amount (too low, over the
                // funds, leading already, closed): say it by the amount.
                showFieldError(amountInput, e.message);
            }
        }
        bidNext.addEventListener('click', () => {
            if (state && state.nextMinBid) place(state.nextMinBid.units, bidNext);
        });
        bidForm.addEventListener('submit', (e) => {
            e.preventDefault();
            clearErrors(bidForm);
            const units = amountFrom(amountInput);
            if (units) place(units, bidSubmit);
        });
        amountInput.addEventListener('input', () => updateAllIn());

        abForm.addEventListener('submit', async (e) => {
            e.preventDefault();
            clearErrors(abForm);
            const units = amountFrom(abInput);
            if (!units) return;
            try {
                const r = await withPending(abSet, api('PUT', `/api/v1/lots/${lotId}/autobid`,
                    { maxAmount: { units, currency } }, { idempotencyKey: idemKey() }));
                autobid = r.autobid || autobid;
                if (r.state) state = r.state;
                addBids(r.placedBids);
                abInput.value = '';
                showState();
                toast(t(dict, 'autobidSet', { amount: moneyOf(autobid && autobid.maxAmount) }));
            } catch (err) {
                showFieldError(abInput, err.message);
            }
        });
        abCancel.addEventListener('click', async () => {
            clearErrors(abForm);
            try {
                const r = await withPending(abCancel, api('DELETE', `/api/v1/lots/${lotId}/autobid`, null, { idempotencyKey: idemKey() }));
                autobid = r.autobid || null;
                if (r.state) state = r.state;
                showState();
                toast(t(dict, 'autobidCancelled'));
            } catch (err) {
                showFormError(abForm, err.message);
            }
        });

        // --- all-in price (QuoteServices) -----------------------------------------
        let quote = {};
        const chosen = new Set();
        function updateAllIn() {
            const typed = parseAmount(amountInput.value, currency);
            const bid = typed && typed !== '0' ? typed : (state && state.nextMinBid ? state.nextMinBid.units : (lot.startPrice && lot.startPrice.units) || '0');
            let total = BigInt(bid);
            const lines = [h('span', {}, t(dict, 'hammer') + ': ', h('span', { class: 'money' }, money(bid, currency)))];
            for (const s of chosen) {
                if (!quote[s]) continue;
                total += BigInt(quote[s].units || 0);
                lines.push(h('span', {}, ' + ' + t(dict, 'svc_' + s) + ': ', h('span', { class: 'money' }, moneyOf(quote[s]))));
            }
            setChildren(allInLines, h('strong', {}, t(dict, 'allIn') + ': '),
                h('span', { class: 'price', id: 'allin-total' }, money(total.toString(), currency)), h('br'), lines);
        }
        api('GET', `/api/v1/lots/${lotId}/quote`, null, { query: { services: SERVICES } }).then((r) => {
            for (const line of r.lines || []) quote[line.service] = line.price;
            for (const s of SERVICES) {
                if (!quote[s]) continue;
                const id = 'svc-' + s;
                const box = h('input', { type: 'checkbox', id, name: 'services', value: s, onchange: (e) => {
                    if (e.target.checked) chosen.add(s); else chosen.delete(s);
                    updateAllIn();
                } });
                svcBoxes.append(h('div', { class: 'check' }, box, ' ', h('label', { for: id }, t(dict, 'svc_' + s) + ' ', h('span', { class: 'money' }, moneyOf(quote[s])))));
            }
            updateAllIn();
        }).catch(() => { svcBoxes.hidden = true; });

        // --- verifying the chain -------------------------------------------------
        verifyBtn.addEventListener('click', async () => {
            verifyResult.className = 'verify-result';
            verifyResult.textContent = '';
            try {
                await withPending(verifyBtn, async () => {
                    // Check the log as the server gives it now, against the
                    // head hash of the latest state and the bids seen live.
                    const [log, sr] = await Promise.all([loadAllBids(lotId), api('GET', `/api/v1/lots/${lotId}/state`)]);
                    if (!log.length) { verifyResult.textContent = t(dict, 'verifyEmpty'); return; }
                    let res = await verifyChain(log, lotId, sr.state && sr.state.seq === log[log.length - 1].seq ? sr.state.headHash : undefined);
                    if (res.ok) {
                        const seen = new Map(bids.map((b) => [String(b.seq), b.hash]));
                        const diff = log.find((b) => seen.has(String(b.seq)) && seen.get(String(b.seq)) !== b.hash);
                        if (diff) res = { ok: false, seq: diff.seq, reason: 'live' };
                    }
                    verifyResult.classList.add(res.ok ? 'ok' : 'bad');
                    verifyResult.textContent = res.ok ? t(dict, 'verifyOk', { n: res.count })
                        : t(dict, 'verifyBad', { seq: res.seq, why: t(dict, 'why_' + res.reason) });
                });
            } catch (err) {
                verifyResult.classList.add('bad');
                verifyResult.textContent = err.message;
            }
        });

        showHistory();
        showState();
        const timer = setInterval(tick, 250);
        return () => {
            clearInterval(timer);
            offs.forEach((off) => off());
            ws.unsubscribe(lotId);
        };
    },
};
