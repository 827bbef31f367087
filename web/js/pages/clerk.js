// #/clerk/:id : the clerk console of a venue lot (staff: moderator or
// admin). The venue's video (venue_player.js); the lot's bids in sequence as
// they arrive over the realtime socket, newest first, each online bid with
// how far behind the room its bidder's video was (placed_at - media_time,
// "n/a" when the player sent none); floor bid entry (paddle, amount) ->
// POST /lots/{id}/floor-bids with an idempotency key made per attempt and
// reused when the clerk retries an attempt whose answer was lost; Fair
// warning -> POST /lots/{id}/fair-warning; Hammer, after a confirmation ->
// POST /lots/{id}/hammer. Every control is a native button or input, so the
// console works from the keyboard alone.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, parseAmount, dateTime, minorToDecimal, currencyDigits } from '../i18n.js';
import { h, setChildren, clearErrors, showFieldError, showFormError, withPending, toast, idemKey } from '../ui.js';
import { lotName, moneyOf } from '../lot_common.js';
import { loadAllBids, loadLotView } from './lot_history.js';
import { venuePlayer } from '../venue_player.js';

const dict = {
    en: {
        title: 'Clerk console', notFound: 'This lot does not exist.', notVenue: 'This lot is not sold at a venue: it has no clerk console.',
        backToLot: 'Back to the lot page', price: 'Current price', noBids: 'No bids yet', nextMin: 'Next minimum bid',
        bids: 'Bids', leader: 'Leading', nobody: 'Nobody yet', online: 'Online bidder {id}', floor: 'Floor (paddle {n})',
        auto: 'autobid', status: 'Status', st_LOT_STATUS_LIVE: 'Live', st_LOT_STATUS_PENDING: 'Not open yet',
        st_LOT_STATUS_CLOSED: 'Closed', st_LOT_STATUS_UNSPECIFIED: 'Not open',
        sequence: 'Bids in sequence', seq: '#', time: 'Time', bidder: 'Bidder', amount: 'Amount', delay: 'Video delay',
        na: 'n/a', inRoom: 'in the room', seconds: '{s} s',
        floorBid: 'Floor bid', paddle: 'Paddle number', floorAmount: 'Amount ({cur})', enterBid: 'Enter floor bid',
        notPaddle: 'Enter the paddle number (1 to 99999).', notAmount: 'Enter an amount, e.g. 150000.',
        floorOk: 'Floor bid of {amount} for paddle {n} is in (#{seq}).',
        retry: 'No answer from the server: the bid may or may not be in. Press "Enter floor bid" again with the same paddle and amount to retry safely (the same key is sent).',
        fairWarning: 'Fair warning', fairWarned: 'Fair warning given at {time}.', fairSent: 'Fair warning sent to every bidder.',
        hammer: 'Hammer', confirmHammer: 'Drop the hammer now? The lot closes at {amount} ({who}).', confirmEmpty: 'Drop the hammer now? There is no bid: the lot closes unsold.',
        confirmYes: 'Yes, drop the hammer', confirmNo: 'Keep selling', hammered: 'Sold: the hammer has fallen.',
        closedWon: 'Closed: sold for {amount} to {who}.', closedUnsold: 'Closed without a sale.', closedCancelled: 'This lot was withdrawn.',
    },
    ru: {
        title: 'Пульт аукциониста', notFound: 'Такого лота нет.', notVenue: 'Этот лот продаётся не на площадке: пульта у него нет.',
        backToLot: 'Вернуться к лоту', price: 'Текущая цена', noBids: 'Ставок пока нет', nextMin: 'Минимальная ставка',
        bids: 'Ставок', leader: 'Лидирует', nobody: 'Пока никто', online: 'Онлайн-участник {id}', floor: 'Зал (табличка {n})',
        auto: 'автоставка', status: 'Статус', st_LOT_STATUS_LIVE: 'Идут торги', st_LOT_STATUS_PENDING: 'Ещё не открыт',
        st_LOT_STATUS_CLOSED: 'Завершён', st_LOT_STATUS_UNSPECIFIED: 'Не открыт',
        sequence: 'Ставки по порядку', seq: '№', time: 'Время', bidder: 'Участник', amount: 'Сумма', delay: 'Задержка видео',
        na: 'н/д', inRoom: 'в зале', seconds: '{s} с',
        floorBid: 'Ставка из зала', paddle: 'Номер таблички', floorAmount: 'Сумма ({cur})', enterBid: 'Внести ставку из зала',
        notPaddle: 'Введите номер таблички (от 1 до 99999).', notAmount: 'Введите сумму, например 150000.',
        floorOk: 'Ставка зала {amount} за табличку {n} принята (№{seq}).',
        retry: 'Сервер не ответил: ставка могла пройти, а могла и нет. Нажмите «Внести ставку из зала» ещё раз с той же табличкой и суммой — повтор безопасен (уходит тот же ключ).',
        fairWarning: 'Последнее предупреждение', fairWarned: 'Предупреждение объявлено в {time}.', fairSent: 'Предупреждение отправлено всем участникам.',
        hammer: 'Молоток', confirmHammer: 'Опустить молоток? Лот закроется на {amount} ({who}).', confirmEmpty: 'Опустить молоток? Ставок нет: лот закроется без продажи.',
        confirmYes: 'Да, опустить молоток', confirmNo: 'Продолжить торги', hammered: 'Продано: молоток опущен.',
        closedWon: 'Завершён: продан за {amount}, {who}.', closedUnsold: 'Завершён без продажи.', closedCancelled: 'Лот снят с торгов.',
    },
};

// Errors whose outcome is unknown (the request may have been applied):
// the network failed, the server timed out or was unavailable.
function uncertain(e) {
    return !e || e.status === 0 || e.status >= 500 || e.code === 'unavailable' || e.code === 'deadline_exceeded';
}

export default {
    path: '#/clerk/:id',
    title: { en: 'Clerk console', ru: 'Пульт аукциониста' },
    auth: 'moderator',
    async render(root, params) {
        const lotId = params.id;
        if (!/^\d{1,19}$/.test(lotId)) {
            root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'notFound'))));
            return undefined;
        }
        const view = await loadLotView(lotId);
        if (!view) {
            root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'notFound'))));
            return undefined;
        }
        const { lot } = view;
        let state = view.st ? view.st.state : null;
        let bids = view.bids;
        document.title = t(dict, 'title') + ': ' + lotName(lot) + ' — Gavel';
        const back = h('p', {}, h('a', { href: `#/lot/${lotId}` }, t(dict, 'backToLot')));
        if (!lot.venue && !(state && state.venue)) {
            root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')), h('p', { class: 'notice', id: 'clerk-not-venue' }, t(dict, 'notVenue')), back));
            return undefined;
        }
        const currency = (lot.startPrice && lot.startPrice.currency) || 'RUB';
        const player = lot.sessionId ? venuePlayer(lot.sessionId, { id: 'clerk' }) : null;

        // --- the lot's state --------------------------------------------------------
        const priceLabel = h('dt', {});
        const price = h('dd', { class: 'price', id: 'clerk-price' });
        const leaderEl = h('dd', { id: 'clerk-leader' });
        const countEl = h('dd', { class: 'num', id: 'clerk-bid-count' });
        const minEl = h('dd', { class: 'num', id: 'clerk-next-min' });
        const statusEl = h('dd', { id: 'clerk-status' });
        const warned = h('p', { class: 'fair-warning', id: 'clerk-fair-warning', role: 'status', hidden: true });
        const closedEl = h('p', { class: 'outcome', id: 'clerk-outcome', role: 'status' });

        // --- floor bids ---------------------------------------------------------------
        const paddleIn = h('input', { id: 'floor-paddle', name: 'floorPaddle', inputmode: 'numeric', autocomplete: 'off', required: true });
        const amountIn = h('input', { id: 'floor-amount', name: 'amount', inputmode: 'decimal', autocomplete: 'off', required: true });
        const floorSubmit = h('button', { type: 'submit', id: 'floor-submit' }, t(dict, 'enterBid'));
        const floorForm = h('form', { class: 'form card', id: 'floor-form', novalidate: true, 'aria-labelledby': 'floor-h' },
            h('h2', { id: 'floor-h' }, t(dict, 'floorBid')),
            h('div', { class: 'field' }, h('label', { for: 'floor-paddle' }, t(dict, 'paddle')), paddleIn),
            h('div', { class: 'field' }, h('label', { for: 'floor-amount' }, t(dict, 'floorAmount', { cur: currency })), amountIn),
            floorSubmit);

        // --- fair warning and hammer ----------------------------------------------------
        const fwBtn = h('button', { type: 'button', class: 'secondary', id: 'fair-warning-button' }, t(dict, 'fairWarning'));
        const hammerBtn = h('button', { type: 'button', class: 'danger', id: 'hammer-button' }, t(dict, 'hammer'));
        const confirmText = h('p', { id: 'hammer-confirm-text' });
        const confirmYes = h('button', { type: 'button', class: 'danger', id: 'hammer-confirm' }, t(dict, 'confirmYes'));
        const confirmNo = h('button', { type: 'button', class: 'secondary', id: 'hammer-cancel' }, t(dict, 'confirmNo'));
        const confirmBox = h('div', { class: 'notice', id: 'hammer-confirm-box', role: 'alertdialog', 'aria-labelledby': 'hammer-confirm-text', hidden: true },
            confirmText, h('div', { class: 'clerk-actions' }, confirmYes, confirmNo));
        const actions = h('section', { class: 'card form', id: 'clerk-actions', 'aria-label': t(dict, 'hammer') },
            h('div', { class: 'clerk-actions' }, fwBtn, hammerBtn), confirmBox);

        // --- the sequence ----------------------------------------------------------------
        const feed = h('tbody', { id: 'clerk-feed' });
        const seqTable = h('section', { 'aria-labelledby': 'seq-h' },
            h('h2', { id: 'seq-h' }, t(dict, 'sequence')),
            h('div', { class: 'table-wrap' }, h('table', { class: 'clerk-feed stack' },
                h('thead', {}, h('tr', {},
                    h('th', { scope: 'col', class: 'num' }, t(dict, 'seq')), h('th', { scope: 'col' }, t(dict, 'time')),
                    h('th', { scope: 'col' }, t(dict, 'bidder')), h('th', { scope: 'col', class: 'num' }, t(dict, 'amount')),
                    h('th', { scope: 'col', class: 'num' }, t(dict, 'delay')))),
                feed)));

        const panel = h('aside', { class: 'bid-panel card', 'aria-label': t(dict, 'title') },
            warned,
            h('dl', { class: 'stats' },
                h('dt', {}, t(dict, 'status')), statusEl,
                priceLabel, price,
                h('dt', {}, t(dict, 'leader')), leaderEl,
                h('dt', {}, t(dict, 'bids')), countEl,
                h('dt', {}, t(dict, 'nextMin')), minEl),
            closedEl);

        root.append(h('article', { class: 'page', id: 'clerk-page' },
            h('h1', {}, t(dict, 'title') + ': ' + lotName(lot)),
            back,
            h('div', { class: 'clerk-layout' },
                h('div', { class: 'venue-col' }, player ? player.el : null, seqTable),
                h('div', { class: 'venue-col' }, panel, floorForm, actions))));

        // --- showing ---------------------------------------------------------------------
        const whoOf = (b) => (Number(b.floorPaddle || 0) ? t(dict, 'floor', { n: b.floorPaddle }) : t(dict, 'online', { id: b.bidderId }));
        function leaderText() {
            if (!state) return t(dict, 'nobody');
            if (Number(state.leaderFloorPaddle || 0)) return t(dict, 'floor', { n: state.leaderFloorPaddle });
            if (state.leaderId && state.leaderId !== '0') return t(dict, 'online', { id: state.leaderId });
            return t(dict, 'nobody');
        }
        function row(b) {
            const paddle = Number(b.floorPaddle || 0);
            const media = Number(b.mediaTimeUs || 0);
            let delay;
            if (paddle) delay = t(dict, 'inRoom');
            else if (media) delay = t(dict, 'seconds', { s: ((Number(b.placedAtUs) - media) / 1e6).toFixed(1) });
            else delay = t(dict, 'na');
            return h('tr', { 'data-seq': b.seq, class: paddle ? 'floor' : 'online', 'data-paddle': paddle || null },
                h('td', { class: 'num', 'data-label': t(dict, 'seq') }, String(b.seq)),
                h('td', { class: 'time', 'data-label': t(dict, 'time') }, dateTime(Number(b.placedAtUs), { timeStyle: 'medium' })),
                h('td', { 'data-label': t(dict, 'bidder') }, whoOf(b), b.isAutobid ? ' (' + t(dict, 'auto') + ')' : ''),
                h('td', { class: 'num', 'data-label': t(dict, 'amount') }, h('span', { class: 'money' }, moneyOf(b.amount))),
                h('td', { class: 'num delay', 'data-label': t(dict, 'delay') }, delay));
        }
        const lastSeq = () => (bids.length ? BigInt(bids[bids.length - 1].seq) : 0n);
        const showFeed = () => setChildren(feed, bids.slice().reverse().map(row));
        // one read at a time; gaps meanwhile ask for one more after it
        let reading = null, again = false;
        async function reloadBids() {
            if (reading) { again = true; return reading; }
            reading = (async () => {
                do {
                    again = false;
                    try { bids = await loadAllBids(lotId); showFeed(); } catch { /* the next update tries again */ }
                } while (again);
            })();
            try { await reading; } finally { reading = null; }
        }
        function addBids(list) {
            for (const b of list || []) {
                const s = BigInt(b.seq);
                if (s <= lastSeq()) continue;
                if (s !== lastSeq() + 1n) { reloadBids(); return; }
                bids.push(b);
                feed.prepend(row(b));
            }
        }

        function showState() {
            const st = state ? state.status : 'LOT_STATUS_UNSPECIFIED';
            const live = st === 'LOT_STATUS_LIVE';
            statusEl.textContent = t(dict, 'st_' + st);
            statusEl.dataset.status = st;
            if (state && state.currentPrice) { priceLabel.textContent = t(dict, 'price'); price.textContent = moneyOf(state.currentPrice); }
            else { priceLabel.textContent = t(dict, 'noBids'); price.textContent = moneyOf((state && state.nextMinBid) || lot.startPrice); }
            leaderEl.textContent = leaderText();
            countEl.textContent = String((state && state.bidCount) || 0);
            minEl.textContent = moneyOf(state && state.nextMinBid);
            if (!amountIn.value && document.activeElement !== amountIn) amountIn.placeholder = state && state.nextMinBid ? minorToDecimal(state.nextMinBid.units, currencyDigits(currency)) : '';
            const fw = Number((state && state.fairWarningAtUs) || 0);
            warned.hidden = !(live && fw);
            warned.textContent = fw ? t(dict, 'fairWarned', { time: dateTime(fw, { timeStyle: 'medium' }) }) : '';
            floorForm.hidden = actions.hidden = !live;
            if (st === 'LOT_STATUS_CLOSED') {
                const o = state.outcome;
                closedEl.textContent = o === 'CLOSE_OUTCOME_CLOSED_WITH_WINNER' ? t(dict, 'closedWon', { amount: moneyOf(state.currentPrice), who: leaderText() })
                    : o === 'CLOSE_OUTCOME_CANCELLED' ? t(dict, 'closedCancelled') : t(dict, 'closedUnsold');
            } else {
                closedEl.textContent = '';
            }
        }

        function take(m) {
            if (String(m.lotId) !== String(lotId) || !m.state) return;
            state = m.state;
            addBids(m.bids);
            if (m.type === 'lot_snapshot' && BigInt(state.seq || 0) > lastSeq()) reloadBids();
            showState();
        }
        const offs = [
            ws.on('lot_snapshot', take),
            ws.on('lot_update', take),
            ws.on('resync', async () => {
                try { state = (await api('GET', `/api/v1/lots/${lotId}/state`)).state; showState(); } catch { /* snapshot follows */ }
                reloadBids();
            }),
        ];
        ws.subscribe(lotId);

        // --- floor bid entry ---------------------------------------------------------------
        // One attempt = one paddle and amount; its key is reused when the
        // clerk retries it after an uncertain failure, so the bid is never
        // entered twice.
        let attempt = null;
        floorForm.addEventListener('submit', async (e) => {
            e.preventDefault();
            clearErrors(floorForm);
            const paddle = Number(paddleIn.value.trim());
            if (!/^\d{1,5}$/.test(paddleIn.value.trim()) || paddle < 1) { showFieldError(paddleIn, t(dict, 'notPaddle')); return; }
            const units = parseAmount(amountIn.value, currency);
            if (units === null || units === '0') { showFieldError(amountIn, t(dict, 'notAmount')); return; }
            if (!attempt || attempt.paddle !== paddle || attempt.units !== units) attempt = { paddle, units, key: idemKey() };
            floorForm.dataset.key = attempt.key;
            try {
                const r = await withPending(floorSubmit, api('POST', `/api/v1/lots/${lotId}/floor-bids`,
                    { floorPaddle: paddle, amount: { units, currency } }, { idempotencyKey: attempt.key }));
                attempt = null;
                if (r.state) state = r.state;
                addBids([r.bid, ...(r.triggeredBids || [])].filter(Boolean));
                showState();
                amountIn.value = '';
                toast(t(dict, 'floorOk', { amount: moneyOf(r.bid && r.bid.amount), n: paddle, seq: r.bid ? r.bid.seq : '?' }));
                amountIn.focus();
            } catch (err) {
                if (uncertain(err)) { showFormError(floorForm, t(dict, 'retry') + ' (' + err.message + ')'); return; }
                attempt = null;
                if (err.field === 'floorPaddle') showFieldError(paddleIn, err.message);
                else if (err.status === 400 || /amount/i.test(err.message || '')) showFieldError(amountIn, err.message);
                else showFormError(floorForm, err.message);
            }
        });

        // --- fair warning and hammer ----------------------------------------------------------
        function actionError(err) {
            let p = actions.querySelector('.form-error');
            if (!p) { p = h('p', { class: 'form-error', role: 'alert', id: 'clerk-action-error' }); actions.prepend(p); }
            p.textContent = err.message || String(err);
        }
        const clearActionError = () => actions.querySelector('.form-error')?.remove();
        fwBtn.addEventListener('click', async () => {
            clearActionError();
            try {
                const r = await withPending(fwBtn, api('POST', `/api/v1/lots/${lotId}/fair-warning`, {}));
                if (r.state) state = r.state;
                showState();
                toast(t(dict, 'fairSent'));
            } catch (err) { actionError(err); }
        });
        hammerBtn.addEventListener('click', () => {
            clearActionError();
            confirmText.textContent = state && state.currentPrice
                ? t(dict, 'confirmHammer', { amount: moneyOf(state.currentPrice), who: leaderText() })
                : t(dict, 'confirmEmpty');
            confirmBox.hidden = false;
            hammerBtn.disabled = true;
            confirmYes.focus();
        });
        const closeConfirm = () => { confirmBox.hidden = true; hammerBtn.disabled = false; };
        confirmNo.addEventListener('click', () => { closeConfirm(); hammerBtn.focus(); });
        confirmBox.addEventListener('keydown', (e) => { if (e.key === 'Escape') { closeConfirm(); hammerBtn.focus(); } });
        confirmYes.addEventListener('click', async () => {
            try {
                await withPending(confirmYes, api('POST', `/api/v1/lots/${lotId}/hammer`, {}));
                closeConfirm();
                const sr = await api('GET', `/api/v1/lots/${lotId}/state`).catch(() => null);
                if (sr && sr.state) state = sr.state;
                showState();
                toast(t(dict, 'hammered'));
                closedEl.focus?.();
            } catch (err) {
                closeConfirm();
                actionError(err);
            }
        });

        showFeed();
        showState();
        return () => {
            offs.forEach((off) => off());
            ws.unsubscribe(lotId);
            if (player) player.destroy();
        };
    },
};
