// The lot page's "Buy now" button. On a live lot with a buy-now price the
// current price has not reached, a signed-in dealer who is not the lot's
// seller buys it with one bid of exactly that price: the bids service takes
// it as the buy-now, closes the lot at once and tells auctions. The button
// asks first, in a modal <dialog> (focus inside it, on "Cancel"; Escape
// cancels) that names the amount. The bid is the bid form's REST call
// (POST /api/v1/lots/{id}/bids) with an Idempotency-Key made per confirmed
// purchase; while the outcome is unknown (a network error or a 5xx) the key
// and the body are kept, so pressing the button again retries the same
// purchase and the server answers it once. A definite answer (bought, or
// refused: not enough funds, the lot closed meanwhile, ...) drops them.
// Both buttons are disabled while the call is in flight, so a double click
// places one bid.
import { api } from '../api.js';
import { t } from '../i18n.js';
import { h, withPending, idemKey } from '../ui.js';
import { moneyOf } from '../lot_common.js';

const dict = {
    en: {
        buyNowFor: 'Buy now for {amount}', confirmTitle: 'Buy this lot now?',
        confirmText: 'You bid {amount}, the buy-now price. The auction ends at once and the lot is yours at this price; the amount is held in your wallet.',
        confirmYes: 'Buy for {amount}', confirmNo: 'Cancel',
        noFunds: 'Not enough money in your wallet to buy this lot now: top it up on the Wallet page.',
    },
    ru: {
        buyNowFor: 'Купить сейчас за {amount}', confirmTitle: 'Купить лот сейчас?',
        confirmText: 'Вы ставите {amount}, цену «Купить сейчас». Торги сразу завершатся, и лот ваш по этой цене; сумма блокируется в вашем кошельке.',
        confirmYes: 'Купить за {amount}', confirmNo: 'Отмена',
        noFunds: 'Чтобы купить лот сейчас, в кошельке не хватает денег: пополните его на странице «Кошелёк».',
    },
};

// The buy-now price a bid can still take on this state, or null.
function offered(state, lotPrice) {
    if (!state || state.status !== 'LOT_STATUS_LIVE') return null;
    const bn = state.buyNowPrice || lotPrice;
    if (!bn || !/^\d+$/.test(String(bn.units || '')) || BigInt(bn.units) <= 0n) return null;
    if (state.currentPrice && BigInt(state.currentPrice.units || 0) >= BigInt(bn.units)) return null;
    return bn;
}

// buyNow({lotId, lot, me, mediaTimeUs, onBought, afterClose}) ->
// {el, update(state)}. el: the button and its error line, for the bid
// panel (the dialog is inside it and shows in the top layer). update(state)
// shows or hides it for the lot's state (the page calls it on every
// state). mediaTimeUs(): the venue frame on screen (µs) or 0. onBought(r):
// the PlaceBid answer of the purchase. afterClose: the element to focus
// when the dialog closes and the button is gone (the lot was bought).
export function buyNow({ lotId, lot, me, mediaTimeUs, onBought, afterClose }) {
    const seller = !me || String(lot.sellerId || '') === String(me);
    const button = h('button', { type: 'button', class: 'buy-now', id: 'buy-now', 'aria-haspopup': 'dialog' });
    const error = h('p', { class: 'field-error', id: 'buy-now-error', role: 'alert' });
    const title = h('h2', { id: 'buy-now-title' }, t(dict, 'confirmTitle'));
    const text = h('p', { id: 'buy-now-text' });
    const yes = h('button', { type: 'button', id: 'buy-now-confirm' });
    const no = h('button', { type: 'button', class: 'secondary', id: 'buy-now-cancel' }, t(dict, 'confirmNo'));
    const dialog = h('dialog', { class: 'confirm-dialog', id: 'buy-now-dialog', 'aria-labelledby': 'buy-now-title', 'aria-describedby': 'buy-now-text' },
        title, text, h('div', { class: 'dialog-actions' }, yes, no));
    // The error stays when the button goes: a purchase refused because
    // another dealer bought the lot first says so beside "Sold for".
    const el = h('div', { class: 'buy-now-box', id: 'buy-now-box' }, button, error, dialog);
    button.hidden = true;

    let price = null;       // the Money offered now, or null
    let shown = '';         // price.units the texts were made for
    let busy = false;       // a purchase in flight
    let attempt = null;     // {key, body} of a purchase whose outcome is unknown

    function setError(msg) {
        error.textContent = msg || '';
        if (msg) button.setAttribute('aria-describedby', error.id);
        else button.removeAttribute('aria-describedby');
    }

    function update(state) {
        price = seller ? null : offered(state, lot.buyNowPrice);
        button.hidden = !price;
        if (price && price.units !== shown) {
            shown = price.units;
            button.textContent = t(dict, 'buyNowFor', { amount: moneyOf(price) });
        }
        if (!price && dialog.open && !busy) dialog.close();
    }

    button.addEventListener('click', () => {
        if (busy || !price || dialog.open) return;
        setError('');
        const amount = moneyOf(price);
        text.textContent = t(dict, 'confirmText', { amount });
        yes.textContent = t(dict, 'confirmYes', { amount });
        dialog.showModal();
        no.focus();
    });
    no.addEventListener('click', () => dialog.close());
    // Escape while the purchase is in flight does not hide its outcome.
    dialog.addEventListener('cancel', (e) => { if (busy) e.preventDefault(); });
    dialog.addEventListener('close', () => {
        if (!button.hidden && !button.disabled) button.focus();
        else if (button.hidden && afterClose) afterClose.focus();
    });

    yes.addEventListener('click', async () => {
        if (busy || !price) return;
        busy = true;
        // A retry after an unknown outcome sends the very same request.
        if (!attempt || attempt.body.amount.units !== price.units) {
            const body = { amount: { units: price.units, currency: price.currency || 'RUB' } };
            const media = mediaTimeUs ? mediaTimeUs() : 0;
            if (media) body.mediaTimeUs = String(media);
            attempt = { key: idemKey(), body };
        }
        const call = api('POST', `/api/v1/lots/${lotId}/bids`, attempt.body, { idempotencyKey: attempt.key });
        try {
            const r = await withPending(button, withPending(yes, call));
            attempt = null;
            busy = false;
            onBought(r);
            if (dialog.open) dialog.close();
        } catch (e) {
            if (!(e.status === 0 || e.status >= 500)) attempt = null;
            busy = false;
            if (dialog.open) dialog.close();
            setError(e.code === 'insufficient_funds' ? t(dict, 'noFunds') : e.message);
        }
    });

    return { el, update };
}
