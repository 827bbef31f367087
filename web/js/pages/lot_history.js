// The lot page's bid history: one row per accepted bid (newest first) with
// its receipt, kept in seq order as bids arrive live, and "Verify the bid
// log", which re-reads the log and checks its hash chain in the browser
// (receipts.js). Not a route: lot.js uses it.
import { api } from '../api.js';
import { t, dateTime } from '../i18n.js';
import { h, setChildren, withPending } from '../ui.js';
import { moneyOf } from '../lot_common.js';
import { verifyChain, b64ToBytes, hex } from '../receipts.js';

const dict = {
    en: {
        history: 'Bid history', seq: '#', time: 'Time', bidder: 'Bidder', amount: 'Amount', you: 'You',
        bidderN: 'Bidder {id}', auto: 'autobid', receipt: 'Receipt', hash: 'Hash', prevHash: 'Previous hash',
        bidId: 'Bid id', verify: 'Verify the bid log',
        verifyOk: 'The bid log is intact: {n} bids, each hash checked.', verifyEmpty: 'No bids to check yet.',
        verifyBad: 'The bid log does NOT check out at bid #{seq}: {why}.',
        why_order: 'a bid is missing or out of order', why_lot: 'a bid belongs to another lot',
        why_prev: 'it does not point to the previous bid', why_hash: 'its contents do not match its hash',
        why_head: 'the log does not end at the lot\'s latest bid', why_live: 'it differs from the bid shown live',
        floor: 'Floor (paddle {n})', mediaTime: 'Video frame shown', videoDelay: 'Video delay', seconds: '{s} s',
    },
    ru: {
        history: 'История ставок', seq: '№', time: 'Время', bidder: 'Участник', amount: 'Сумма', you: 'Вы',
        bidderN: 'Участник {id}', auto: 'автоставка', receipt: 'Квитанция', hash: 'Хеш', prevHash: 'Предыдущий хеш',
        bidId: 'Номер ставки', verify: 'Проверить журнал ставок',
        verifyOk: 'Журнал ставок цел: {n} ставок, каждый хеш проверен.', verifyEmpty: 'Проверять пока нечего.',
        verifyBad: 'Журнал ставок НЕ сходится на ставке №{seq}: {why}.',
        why_order: 'ставка пропущена или не по порядку', why_lot: 'ставка относится к другому лоту',
        why_prev: 'она не ссылается на предыдущую ставку', why_hash: 'её содержимое не совпадает с хешем',
        why_head: 'журнал не заканчивается последней ставкой лота', why_live: 'она отличается от показанной в реальном времени',
        floor: 'Зал (табличка {n})', mediaTime: 'Кадр на экране', videoDelay: 'Задержка видео', seconds: '{s} с',
    },
};

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

// What a lot's pages start from: {lot (GetLot), st (the GetLotState
// answer, null before the lot opens), bids (every bid)}; null when the lot
// does not exist for the caller (404, 403).
export async function loadLotView(lotId) {
    try {
        const [lr, st, bids] = await Promise.all([
            api('GET', `/api/v1/lots/${lotId}`),
            api('GET', `/api/v1/lots/${lotId}/state`).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
            loadAllBids(lotId).catch((e) => (e.status === 404 ? [] : Promise.reject(e))),
        ]);
        return { lot: lr.lot, st, bids };
    } catch (e) {
        if (e.status === 404 || e.status === 403) return null;
        throw e;
    }
}

// The history of lot lotId for user me, starting from bids (seq order).
// onChange() runs after the log was re-read. opts.venue: a venue lot (floor
// bids, media times, 96-byte hashes). Returns {el, bids(), lastSeq(),
// add(list), reload()}.
export function bidHistory(lotId, me, initial, onChange, opts = {}) {
    let bids = initial.slice();
    const body = h('tbody', { id: 'bid-history' });
    const verifyBtn = h('button', { type: 'button', class: 'secondary', id: 'verify-button' }, t(dict, 'verify'));
    const result = h('p', { class: 'verify-result', id: 'verify-result', role: 'status' });
    const el = h('section', { 'aria-labelledby': 'history-h' },
        h('h2', { id: 'history-h' }, t(dict, 'history')),
        h('div', { class: 'table-wrap' }, h('table', {},
            h('thead', {}, h('tr', {},
                h('th', { scope: 'col', class: 'num' }, t(dict, 'seq')), h('th', { scope: 'col' }, t(dict, 'time')),
                h('th', { scope: 'col' }, t(dict, 'bidder')), h('th', { scope: 'col', class: 'num' }, t(dict, 'amount')),
                h('th', { scope: 'col' }, t(dict, 'receipt')))),
            body)),
        h('p', {}, verifyBtn), result);

    function row(b) {
        const paddle = Number(b.floorPaddle || 0);
        const mine = !paddle && String(b.bidderId) === me;
        const media = Number(b.mediaTimeUs || 0);
        const who = paddle ? t(dict, 'floor', { n: paddle }) : mine ? t(dict, 'you') : t(dict, 'bidderN', { id: b.bidderId });
        return h('tr', { 'data-seq': b.seq, class: mine ? 'mine' : null, 'data-paddle': paddle || null },
            h('td', { class: 'num' }, String(b.seq)),
            h('td', { class: 'time' }, dateTime(Number(b.placedAtUs), { dateStyle: 'short', timeStyle: 'medium' })),
            h('td', {}, who, b.isAutobid ? ' (' + t(dict, 'auto') + ')' : ''),
            h('td', { class: 'num' }, h('span', { class: 'money' }, moneyOf(b.amount))),
            h('td', {}, h('details', { class: 'receipt' },
                h('summary', {}, t(dict, 'receipt')),
                h('dl', { class: 'stats' },
                    h('dt', {}, t(dict, 'bidId')), h('dd', { class: 'hash' }, String(b.bidId)),
                    h('dt', {}, t(dict, 'hash')), h('dd', { class: 'hash' }, hex(b64ToBytes(b.hash))),
                    h('dt', {}, t(dict, 'prevHash')), h('dd', { class: 'hash' }, hex(b64ToBytes(b.prevHash))),
                    media ? [h('dt', {}, t(dict, 'mediaTime')), h('dd', { class: 'media-time' }, dateTime(media, { timeStyle: 'medium' }) + '.' + String(Math.floor(media / 1000) % 1000).padStart(3, '0')),
                        h('dt', {}, t(dict, 'videoDelay')), h('dd', { class: 'num video-delay' }, t(dict, 'seconds', { s: ((Number(b.placedAtUs) - media) / 1e6).toFixed(1) }))] : null))));
    }
    const show = () => setChildren(body, bids.slice().reverse().map(row));
    const lastSeq = () => (bids.length ? BigInt(bids[bids.length - 1].seq) : 0n);

    // One read of the log at a time: the gaps that come meanwhile (a hot
    // lot's updates list only its newest 32 bids) ask for one more read
    // after it, not one each.
    let reading = null, again = false;
    async function reload() {
        if (reading) { again = true; return reading; }
        reading = (async () => {
            do {
                again = false;
                try {
                    bids = await loadAllBids(lotId);
                    show();
                    onChange();
                } catch { /* the next update tries again */ }
            } while (again);
        })();
        try { await reading; } finally { reading = null; }
    }

    // Bids that follow the last one are appended; a gap re-reads the log.
    function add(list) {
        for (const b of list || []) {
            const s = BigInt(b.seq);
            if (s <= lastSeq()) continue;
            if (s !== lastSeq() + 1n) { reload(); return; }
            bids.push(b);
            body.prepend(row(b));
        }
    }

    // The log as the server gives it now, against the latest state's head
    // hash and the bids this page received live.
    verifyBtn.addEventListener('click', async () => {
        result.className = 'verify-result';
        result.textContent = '';
        try {
            await withPending(verifyBtn, async () => {
                const [log, sr] = await Promise.all([loadAllBids(lotId), api('GET', `/api/v1/lots/${lotId}/state`)]);
                if (!log.length) { result.textContent = t(dict, 'verifyEmpty'); return; }
                const head = sr.state && sr.state.seq === log[log.length - 1].seq ? sr.state.headHash : undefined;
                let res = await verifyChain(log, lotId, head, Boolean(opts.venue || (sr.state && sr.state.venue)));
                if (res.ok) {
                    const seen = new Map(bids.map((b) => [String(b.seq), b.hash]));
                    const diff = log.find((b) => seen.has(String(b.seq)) && seen.get(String(b.seq)) !== b.hash);
                    if (diff) res = { ok: false, seq: diff.seq, reason: 'live' };
                }
                result.classList.add(res.ok ? 'ok' : 'bad');
                result.textContent = res.ok ? t(dict, 'verifyOk', { n: res.count })
                    : t(dict, 'verifyBad', { seq: res.seq, why: t(dict, 'why_' + res.reason) });
            });
        } catch (err) {
            result.classList.add('bad');
            result.textContent = err.message;
        }
    });

    show();
    return { el, bids: () => bids, lastSeq, add, reload };
}
