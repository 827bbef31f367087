// #/lot/:id : one lot. Photos, the condition report and the seller's notes
// (GetLot); the live auction (GetLotState, then the /ws stream): price,
// "you are leading"/"outbid", bid count, next minimum, a countdown from the
// server's clock that follows soft-close extensions; bidding (one click for
// the next minimum, or an amount), autobid, the all-in price (QuoteServices),
// the bid history with each bid's receipt, and a check of the hash chain.
// "Buy now for <price>" (lot_buy_now.js) buys a lot with a buy-now price
// in one confirmed bid of exactly that price.
// A venue lot (lot.venue: sold in a room with a live stream) has no
// countdown: it shows the venue's video (venue_player.js) beside the
// panel, sends the media time of the frame on screen with each bid, shows
// the clerk's fair warning as a banner and a room leader as "Floor (paddle
// N)", and closes when the clerk's hammer falls; staff get a link to the
// clerk console (clerk.js).
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, money, parseAmount, dateTime } from '../i18n.js';
import { h, setChildren, clearErrors, showFieldError, showFormError, withPending, toast, idemKey } from '../ui.js';
import { lotName, lotSubtitle, formatLeft, moneyOf } from '../lot_common.js';
import { renderGallery, renderCondition } from './lot_report.js';
import { bidHistory, loadLotView } from './lot_history.js';
import { buyNow } from './lot_buy_now.js';
import { venuePlayer } from '../venue_player.js';
import * as session from '../session.js';

const dict = {
    en: {
        notFound: 'This lot does not exist or is not open to you.', price: 'Current price', startPrice: 'Start price',
        noBids: 'No bids yet', leading: 'You are leading', outbid: 'You were outbid', bids: 'Bids',
        nextMin: 'Next minimum bid', endsIn: 'Ends in', startsIn: 'Opens in', ended: 'Bidding has ended',
        extended: 'Extended by a late bid ({n} of {max})', bidNext: 'Bid {amount}', amount: 'Your bid',
        placeBid: 'Place bid', noFunds: 'Not enough money in your wallet for this bid: top it up on the Wallet page.', bidPlaced: 'Your bid of {amount} is in.', bidOutbidAtOnce: 'Your bid of {amount} is in, but an autobid outbid it at once.',
        autobid: 'Autobid', autobidMax: 'Bid for me up to', setAutobid: 'Set autobid', cancelAutobid: 'Cancel autobid',
        autobidActive: 'Your autobid bids for you up to {amount}.', autobidSet: 'Autobid set up to {amount}.',
        autobidCancelled: 'Autobid cancelled.', autobidExhausted: 'Your autobid reached its maximum of {amount}.',
        allIn: 'All-in price', allInHelp: 'Bid plus the services you choose.', hammer: 'Bid',
        svc_inspection: 'Inspection report', svc_delivery: 'Delivery',
        notAmount: 'Enter an amount, e.g. 150000.', description: 'Seller\'s notes', details: 'Details',
        make: 'Make', model: 'Model', year: 'Year', mileage: 'Mileage', region: 'Region', vin: 'VIN',
        buyNow: 'Buy now price', reserve: 'Reserve', reserveMet: 'met', reserveNotMet: 'not met yet',
        won: 'Sold for {amount}.', youWon: 'You won this lot for {amount}.', unsold: 'Closed without a sale.',
        cancelled: 'This lot was withdrawn.', pending: 'Opens {when}.', notLive: 'Bidding is not open.',
        signInToBid: 'Log in to bid.', bought: 'You bought this lot for {amount}.',
        venueLive: 'Sold live at the venue', closes: 'Closes', atHammer: 'when the hammer falls', fairWarning: 'Fair warning! The hammer is about to fall.',
        floorLeads: 'Leading: Floor (paddle {n})', clerkConsole: 'Open the clerk console', hammerDown: 'The hammer has fallen.',
    },
    ru: {
        notFound: 'Такого лота нет или он вам недоступен.', price: 'Текущая цена', startPrice: 'Стартовая цена',
        noBids: 'Ставок пока нет', leading: 'Вы лидируете', outbid: 'Вашу ставку перебили', bids: 'Ставок',
        nextMin: 'Минимальная ставка', endsIn: 'До конца', startsIn: 'До начала', ended: 'Торги завершены',
        extended: 'Продлено из-за поздней ставки ({n} из {max})', bidNext: 'Ставка {amount}', amount: 'Ваша ставка',
        placeBid: 'Сделать ставку', noFunds: 'Для этой ставки в кошельке не хватает денег: пополните его на странице «Кошелёк».', bidPlaced: 'Ваша ставка {amount} принята.', bidOutbidAtOnce: 'Ваша ставка {amount} принята, но автоставка сразу её перебила.',
        autobid: 'Автоставка', autobidMax: 'Ставить за меня до', setAutobid: 'Включить автоставку', cancelAutobid: 'Отменить автоставку',
        autobidActive: 'Автоставка ставит за вас до {amount}.', autobidSet: 'Автоставка до {amount} включена.',
        autobidCancelled: 'Автоставка отменена.', autobidExhausted: 'Автоставка дошла до предела {amount}.',
        allIn: 'Итого с услугами', allInHelp: 'Ставка и выбранные услуги.', hammer: 'Ставка',
        svc_inspection: 'Отчёт об осмотре', svc_delivery: 'Доставка',
        notAmount: 'Введите сумму, например 150000.', description: 'Заметки продавца', details: 'Характеристики',
        make: 'Марка', model: 'Модель', year: 'Год', mileage: 'Пробег', region: 'Регион', vin: 'VIN',
        buyNow: 'Купить сейчас', reserve: 'Резервная цена', reserveMet: 'достигнута', reserveNotMet: 'пока не достигнута',
        won: 'Продан за {amount}.', youWon: 'Вы выиграли лот за {amount}.', unsold: 'Торги завершены без продажи.',
        cancelled: 'Лот снят с торгов.', pending: 'Открытие {when}.', notLive: 'Приём ставок не открыт.',
        signInToBid: 'Войдите, чтобы делать ставки.', bought: 'Вы купили лот за {amount}.',
        venueLive: 'Продаётся вживую на площадке', closes: 'Закрытие', atHammer: 'по удару молотка', fairWarning: 'Последнее предупреждение! Сейчас упадёт молоток.',
        floorLeads: 'Лидирует: зал (табличка {n})', clerkConsole: 'Открыть пульт аукциониста', hammerDown: 'Молоток опущен.',
    },
};

const SERVICES = ['inspection', 'delivery'];

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
        const view = await loadLotView(lotId);
        if (!view) {
            root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'notFound'))));
            return undefined;
        }
        const { lot, st, bids } = view;
        document.title = lotName(lot) + ' — Gavel';
        const currency = (lot.startPrice && lot.startPrice.currency) || 'RUB';
        let state = (st && st.state) || null;
        let autobid = (st && st.callerAutobid) || null;
        let leaderFlag = st ? Boolean(st.callerIsLeading) : false;
        const venue = Boolean(lot.venue || (state && state.venue));

        // --- the bid panel -------------------------------------------------------
        const priceLabel = h('span', { class: 'meta', id: 'lot-price-label' });
        const price = h('span', { class: 'price now', id: 'lot-price', 'aria-live': 'polite' });
        const leader = h('span', { class: 'leader none', id: 'lot-leader', role: 'status' });
        const bidCount = h('dd', { id: 'lot-bid-count', class: 'num' });
        const nextMin = h('dd', { id: 'lot-next-min', class: 'num' });
        const countdownLabel = h('dt', {});
        const countdown = h('dd', {}, h('span', { class: 'countdown', id: 'lot-countdown' }));
        const extNote = h('p', { class: 'meta', id: 'lot-extended', 'aria-live': 'polite' });
        const outcome = h('p', { class: 'outcome', id: 'lot-outcome', role: 'status', tabindex: '-1' });
        const fairWarning = h('p', { class: 'fair-warning', id: 'lot-fair-warning', role: 'alert', hidden: true }, t(dict, 'fairWarning'));
        const floorLeader = h('p', { class: 'meta floor-leader', id: 'lot-floor-leader', hidden: true });
        const player = venue && lot.sessionId ? venuePlayer(lot.sessionId, { id: 'venue' }) : null;

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

        const buy = buyNow({
            lotId, lot, me,
            mediaTimeUs: () => (player ? player.mediaTimeUs() : 0),
            onBought: (r) => afterBid(r, 'bought'),
            afterClose: outcome,
        });
        const panel = h('aside', { class: 'bid-panel card', 'aria-labelledby': 'lot-price-label' },
            venue ? h('p', { class: 'status venue-status', id: 'lot-venue' }, t(dict, 'venueLive')) : null,
            fairWarning,
            h('div', {}, priceLabel), price, leader, floorLeader,
            h('dl', { class: 'stats' },
                h('dt', {}, t(dict, 'bids')), bidCount,
                h('dt', {}, t(dict, 'nextMin')), nextMin,
                countdownLabel, countdown),
            extNote, outcome, buy.el, bidForm, svcBoxes, allInLines,
            venue && session.hasRole('moderator') ? h('p', {}, h('a', { href: `#/clerk/${lotId}`, id: 'clerk-link' }, t(dict, 'clerkConsole'))) : null,
            h('h2', {}, t(dict, 'autobid')), abForm);

        // --- history and verification (lot_history.js) ---------------------------
        const bidLog = bidHistory(lotId, me, bids, () => showState(), { venue });
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
                player ? h('div', { class: 'venue-col' }, player.el, renderGallery(lot, ctx)) : renderGallery(lot, ctx),
                panel,
                h('div', { class: 'lot-info' },
                    h('h2', {}, t(dict, 'details')), details,
                    lot.description ? [h('h2', {}, t(dict, 'description')), h('p', { class: 'notes', id: 'seller-notes' }, lot.description)] : null,
                    renderCondition(lot.condition, ctx),
                    bidLog.el))));

        // --- showing the state ---------------------------------------------------
        const myBidSeen = () => bidLog.bids().some((b) => String(b.bidderId) === me) || (autobid && autobid.status === 'AUTO_BID_STATUS_ACTIVE');
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
                buy.update(null);
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
            const paddle = Number(state.leaderFloorPaddle || 0);
            floorLeader.hidden = !paddle;
            floorLeader.textContent = paddle ? t(dict, 'floorLeads', { n: paddle }) : '';
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
            fairWarning.hidden = !(live && Number(state.fairWarningAtUs || 0) > 0);
            fairWarning.dataset.at = state.fairWarningAtUs || '';
            if (status() === 'LOT_STATUS_CLOSED') {
                const fin = state.currentPrice ? moneyOf(state.currentPrice) : '';
                outcome.textContent = (venue && state.outcome !== 'CLOSE_OUTCOME_CANCELLED' ? t(dict, 'hammerDown') + ' ' : '')
                    + (state.outcome === 'CLOSE_OUTCOME_CLOSED_WITH_WINNER'
                        ? t(dict, leads ? 'youWon' : 'won', { amount: fin })
                        : state.outcome === 'CLOSE_OUTCOME_CANCELLED' ? t(dict, 'cancelled') : t(dict, 'unsold'));
            } else if (status() === 'LOT_STATUS_PENDING') {
                outcome.textContent = t(dict, 'pending', { when: dateTime(Number(state.startsAtUs)) });
            } else {
                outcome.textContent = '';
            }
            buy.update(state);
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
            } else if (status() === 'LOT_STATUS_LIVE' && venue) {
                countdownLabel.textContent = t(dict, 'closes');
                cd.textContent = t(dict, 'atHammer');
            } else if (status() === 'LOT_STATUS_LIVE') {
                countdownLabel.textContent = t(dict, 'endsIn');
                cd.textContent = formatLeft(Number(state.endsAtUs) / 1000 - now);
            } else {
                countdownLabel.textContent = t(dict, 'ended');
                cd.textContent = formatLeft(0);
            }
            cd.dataset.endsAtUs = state.endsAtUs || '';
        }

        // --- the realtime stream -------------------------------------------------
        function take(m) {
            if (String(m.lotId) !== String(lotId) || !m.state) return;
            const prevEnds = lastEnds;
            state = m.state;
            lastEnds = Number(state.endsAtUs || 0);
            if (prevEnds && lastEnds > prevEnds) toast(t(dict, 'extended', { n: state.extensionsUsed || 1, max: state.maxExtensions || 1 }));
            bidLog.add(m.bids);
            if (m.type === 'lot_snapshot' && BigInt(state.seq || 0) > bidLog.lastSeq()) bidLog.reload();
            showState();
        }
        const offs = [
            ws.on('lot_snapshot', take),
            ws.on('lot_update', take),
            ws.on('resync', async () => {
                try {
                    const r = await api('GET', `/api/v1/lots/${lotId}/state`);
                    state = r.state; autobid = r.callerAutobid || null;
                    await bidLog.reload();
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
        function afterBid(r, done) {
            if (r.state) state = r.state;
            bidLog.add([r.bid, ...(r.triggeredBids || [])].filter(Boolean));
            showState();
            const amount = moneyOf(r.bid && r.bid.amount);
            toast(t(dict, done || (r.callerIsLeading ? 'bidPlaced' : 'bidOutbidAtOnce'), { amount }));
        }
        async function place(units, button) {
            clearErrors(bidForm);
            const key = idemKey();
            const body = { amount: { units, currency } };
            // The frame the bidder saw when they pressed Bid, on the receipt.
            const media = player ? player.mediaTimeUs() : 0;
            if (media) body.mediaTimeUs = String(media);
            try {
                const r = await withPending(button, api('POST', `/api/v1/lots/${lotId}/bids`, body, { idempotencyKey: key }));
                afterBid(r);
                amountInput.value = '';
            } catch (e) {
                // Every refusal of a bid is about its amount (too low, over the
                // funds, leading already, closed): say it by the amount.
                showFieldError(amountInput, e.code === 'insufficient_funds' ? t(dict, 'noFunds') : e.message);
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
                bidLog.add(r.placedBids);
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

        showState();
        const timer = setInterval(tick, 250);
        return () => {
            clearInterval(timer);
            if (player) player.destroy();
            offs.forEach((off) => off());
            ws.unsubscribe(lotId);
        };
    },
};
