// Texts and helpers the buyer pages share about lots: names, states,
// outcomes, and the countdown.
import { t, money, number } from './i18n.js';

export const dict = {
    en: {
        live: 'Live', scheduled: 'Upcoming', closed: 'Closed', cancelled: 'Cancelled', pending: 'Opens soon',
        endsIn: 'Ends in', startsIn: 'Starts in', ended: 'Ended', km: '{n} km',
        d: '{d} d {hms}', noPhoto: 'No photo',
    },
    ru: {
        live: 'Идут торги', scheduled: 'Скоро', closed: 'Завершён', cancelled: 'Снят', pending: 'Скоро откроется',
        endsIn: 'До конца', startsIn: 'До начала', ended: 'Завершён', km: '{n} км',
        d: '{d} д {hms}', noPhoto: 'Нет фото',
    },
};

export function lotName(lot) {
    return lot.title || [lot.make, lot.model, lot.year].filter(Boolean).join(' ');
}

export function lotSubtitle(lot) {
    return [lot.year, lot.mileageKm !== undefined ? t(dict, 'km', { n: number(lot.mileageKm || 0) }) : null, lot.region]
        .filter(Boolean).join(' · ');
}

// 'live' | 'scheduled' | 'closed' | 'cancelled' | other from the auctions' state.
export function stateKey(lot) {
    return String(lot.state || '').replace('LOT_STATE_', '').toLowerCase();
}

export function stateLabel(key) { return t(dict, key); }

// A duration in ms as "1 d 02:03:04" or "02:03:04" / "03:04" (never negative).
export function formatLeft(ms) {
    let s = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const hh = Math.floor(s / 3600); s -= hh * 3600;
    const mm = Math.floor(s / 60); s -= mm * 60;
    const two = (n) => String(n).padStart(2, '0');
    const hms = (hh || d ? two(hh) + ':' : '') + two(mm) + ':' + two(s);
    return d ? t(dict, 'd', { d, hms }) : hms;
}

export function moneyOf(m) {
    return m ? money(m.units || '0', m.currency || 'RUB') : '—';
}
