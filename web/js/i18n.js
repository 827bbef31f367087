// Languages, texts and number/date formats. Each page module owns its own
// dictionary { en: {key: text}, ru: {key: text} } and calls t(dict, key, vars);
// there is no shared file of every text. The choice of language is kept in
// localStorage ('gavel.lang'); the first visit follows the browser.

const KEY = 'gavel.lang';
export const LANGS = ['en', 'ru'];
const LOCALES = { en: 'en-GB', ru: 'ru-RU' };
const listeners = new Set();

function initial() {
    try {
        const saved = localStorage.getItem(KEY);
        if (LANGS.includes(saved)) return saved;
    } catch { /* storage may be off: fall through */ }
    return (navigator.language || 'en').toLowerCase().startsWith('ru') ? 'ru' : 'en';
}

let current = initial();

export function lang() { return current; }
export function locale() { return LOCALES[current]; }

export function setLang(l) {
    if (!LANGS.includes(l) || l === current) return;
    current = l;
    try { localStorage.setItem(KEY, l); } catch { /* not remembered */ }
    document.documentElement.lang = l;
    for (const fn of listeners) fn(l);
}

// fn(lang) after each change; returns a function that stops it.
export function onLangChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

// The text for key in the current language (English when missing), with
// {name} replaced by vars.name.
export function t(dict, key, vars) {
    const s = (dict[current] && dict[current][key]) ?? (dict.en && dict.en[key]) ?? key;
    if (!vars) return s;
    return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

const digitsCache = new Map();
// Minor-unit digits of a currency (RUB, EUR: 2; JPY: 0).
export function currencyDigits(currency) {
    if (!digitsCache.has(currency)) {
        let d = 2;
        try {
            d = new Intl.NumberFormat('en', { style: 'currency', currency })
                .resolvedOptions().maximumFractionDigits;
        } catch { /* unknown code: 2 */ }
        digitsCache.set(currency, d);
    }
    return digitsCache.get(currency);
}

// "123456" minor units, 2 digits -> "1234.56" (exact, any size).
export function minorToDecimal(minor, digits) {
    let v = BigInt(minor ?? 0);
    const neg = v < 0n;
    if (neg) v = -v;
    const s = v.toString().padStart(digits + 1, '0');
    const whole = s.slice(0, s.length - digits) || '0';
    const frac = digits ? '.' + s.slice(s.length - digits) : '';
    return (neg ? '-' : '') + whole + frac;
}

// Money from int64 minor units (a string, as in the API's JSON, or a
// number/BigInt) in the given currency, formatted for the current language.
export function money(minor, currency) {
    const cur = currency || 'RUB';
    const digits = currencyDigits(cur);
    const dec = minorToDecimal(minor ?? '0', digits);
    try {
        return new Intl.NumberFormat(locale(), {
            style: 'currency', currency: cur,
            minimumFractionDigits: digits, maximumFractionDigits: digits,
        }).format(dec);
    } catch {
        return dec + ' ' + cur;
    }
}

// A plain number for the current language (no currency sign), e.g. km.
export function number(n) {
    return new Intl.NumberFormat(locale()).format(n);
}

// What a person typed as an amount ("1 234,50", "1234.5", "1,234.50") ->
// minor units as a string, or null when it is not an amount.
export function parseAmount(text, currency) {
    const digits = currencyDigits(currency || 'RUB');
    let s = String(text ?? '').replace(/[\s\u00a0\u202f']/g, '');
    if (!s) return null;
    // The last '.' or ',' followed by at most `digits` digits is the decimal mark.
    const m = s.match(/^(\d[\d.,]*?)(?:[.,](\d+))?$/);
    if (!m) return null;
    let whole = m[1];
    let frac = m[2] ?? '';
    if (frac.length > digits) {
        // "150.000" is a thousands separator, not 3 decimals.
        if (frac.length !== 3) return null;
        whole += (/[.,]/.test(whole) ? text.match(/[.,]/)[0] : '') + frac; frac = '';
    }
    if (/[.,]/.test(whole)) {
        if (!/^\d{1,3}([.,]\d{3})+$/.test(whole)) return null;
        whole = whole.replace(/[.,]/g, '');
    }
    const v = BigInt(whole) * 10n ** BigInt(digits) + BigInt((frac + '0'.repeat(digits)).slice(0, digits) || '0');
    return v.toString();
}

// A time as date and time in the current language. ts: a Date, a number or
// string of microseconds since the epoch (as the API's ...Us fields), or
// milliseconds (values below 1e14), or an RFC 3339 string.
export function dateTime(ts, opts) {
    let d;
    if (ts instanceof Date) d = ts;
    else if (typeof ts === 'string' && /[-T:]/.test(ts)) d = new Date(ts);
    else {
        const n = Number(ts);
        d = new Date(n > 1e14 ? n / 1000 : n);
    }
    if (Number.isNaN(d.getTime())) return '';
    return new Intl.DateTimeFormat(locale(), opts || { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}
