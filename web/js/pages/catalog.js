// #/ : the catalog of live and upcoming lots from the search service (free
// text with typo tolerance, the JSON DSL filters, make and region counts,
// suggestions as you type), or from ListLots when search is unavailable;
// filters and sort in the address (#/?q=camry&make=Toyota&sort=ending),
// paging, live prices and countdowns of the lots on the page.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, parseAmount, dateTime } from '../i18n.js';
import { h, field, setChildren, photoSrc, clearErrors, showApiError, showFieldError } from '../ui.js';
import { dict as common, lotName, lotSubtitle, stateKey, stateLabel, formatLeft, moneyOf } from '../lot_common.js';

const dict = {
    en: {
        title: 'Catalog', filters: 'Filters', query: 'Search', queryHint: 'Make, model, words of the title or a VIN',
        relevance: 'Best match', found: '{n} lots', foundOne: '1 lot', foundMore: 'More than {n} lots', byMake: 'Makes', byRegion: 'Regions',
        noSearch: 'Search is unavailable right now; showing every lot that matches the filters.', make: 'Make', model: 'Model', yearFrom: 'Year from', yearTo: 'Year to',
        mileageMax: 'Mileage up to, km', region: 'Region', priceMin: 'Start price from', priceMax: 'Start price up to',
        category: 'Category', any: 'Any', sort: 'Sort by', ending: 'Ending soon', newest: 'Newest',
        priceAsc: 'Price: low to high', priceDesc: 'Price: high to low', apply: 'Show lots', reset: 'Reset',
        next: 'Next page', prev: 'Previous page', empty: 'No lots match these filters.', startPrice: 'Start price',
        current: 'Current bid', nextMin: 'Next bid from', startsAt: 'Starts {when}', loading: 'Loading lots…',
        notNumber: 'Enter a whole number.', notAmount: 'Enter an amount, e.g. 150000.', results: 'Lots',
    },
    ru: {
        title: 'Каталог', filters: 'Фильтры', query: 'Поиск', queryHint: 'Марка, модель, слова из названия или VIN',
        relevance: 'По релевантности', found: 'Лотов: {n}', foundOne: 'Лотов: 1', foundMore: 'Лотов больше {n}', byMake: 'Марки', byRegion: 'Регионы',
        noSearch: 'Поиск сейчас недоступен; показаны все лоты по фильтрам.', make: 'Марка', model: 'Модель', yearFrom: 'Год от', yearTo: 'Год до',
        mileageMax: 'Пробег до, км', region: 'Регион', priceMin: 'Стартовая цена от', priceMax: 'Стартовая цена до',
        category: 'Категория', any: 'Любая', sort: 'Сортировка', ending: 'Скоро закончатся', newest: 'Новые',
        priceAsc: 'Цена: по возрастанию', priceDesc: 'Цена: по убыванию', apply: 'Показать лоты', reset: 'Сбросить',
        next: 'Следующая страница', prev: 'Предыдущая страница', empty: 'Нет лотов по этим фильтрам.',
        startPrice: 'Стартовая цена', current: 'Текущая ставка', nextMin: 'Следующая ставка от',
        startsAt: 'Начало {when}', loading: 'Загружаем лоты…', notNumber: 'Введите целое число.',
        notAmount: 'Введите сумму, например 150000.', results: 'Лоты',
    },
};

const PAGE = 24;
const SORTS = { ending: 'end_time asc', newest: 'created_time desc', price_asc: 'start_price asc', price_desc: 'start_price desc' };
const SEARCH_SORTS = { relevance: 'SORT_ORDER_RANK', ending: 'SORT_ORDER_ENDING_SOON', newest: 'SORT_ORDER_NEWEST',
    price_asc: 'SORT_ORDER_PRICE_ASC', price_desc: 'SORT_ORDER_PRICE_DESC' };
const FIELDS = 'id,title,make,model,year,mileage_km,region,state,start_price,buy_now_price,photo_urls,start_time,end_time,category_id';
const prevCursor = new Map();   // cursor -> the cursor of the page before it

function likeEscape(s) { return s.replace(/[\\%_]/g, (c) => '\\' + c); }

// The DSL filter for the query's filters; throws {field, message} for bad input.
export function buildFilter(q, cursor) {
    const f = [['fields', FIELDS], ['in', 'state', ['live', 'scheduled']]];
    const int = (name) => {
        const v = (q.get(name) || '').trim();
        if (!v) return null;
        if (!/^\d{1,9}$/.test(v)) throw { field: name, message: t(dict, 'notNumber') };
        return Number(v);
    };
    const amount = (name) => {
        const v = (q.get(name) || '').trim();
        if (!v) return null;
        const m = parseAmount(v, 'RUB');
        if (m === null) throw { field: name, message: t(dict, 'notAmount') };
        return m;
    };
    if (q.get('make')) f.push(['like', 'make', likeEscape(q.get('make').trim()) + '%']);
    if (q.get('model')) f.push(['like', 'model', likeEscape(q.get('model').trim()) + '%']);
    if (q.get('region')) f.push(['eq', 'region', q.get('region').trim()]);
    if (q.get('category')) f.push(['eq', 'category_id', q.get('category')]);
    const yf = int('yearFrom'); if (yf !== null) f.push(['gte', 'year', yf]);
    const yt = int('yearTo'); if (yt !== null) f.push(['lte', 'year', yt]);
    const mm = int('mileageMax'); if (mm !== null) f.push(['lte', 'mileage_km', mm]);
    const pmin = amount('priceMin'); if (pmin !== null) f.push(['gte', 'start_price', pmin]);
    const pmax = amount('priceMax'); if (pmax !== null) f.push(['lte', 'start_price', pmax]);
    f.push(['order', SORTS[q.get('sort')] || SORTS.ending]);
    f.push(['limit', String(PAGE)]);
    if (cursor) f.push(['cursor', cursor]);
    return f;
}

// The SearchRequest for the same query: the filter without what search
// takes elsewhere (fields, order, limit, cursor), the text, the sort (best
// match when there is text and no sort chosen), a page and two facets.
export function buildSearch(q, pageToken) {
    const filter = buildFilter(q, '').filter((e) => !['fields', 'order', 'limit', 'cursor'].includes(e[0]));
    const text = (q.get('q') || '').trim();
    const sort = q.get('sort') || (text ? 'relevance' : 'ending');
    return {
        query: text, filterJson: JSON.stringify(filter), sort: SEARCH_SORTS[sort] || SEARCH_SORTS.ending,
        page: { pageSize: PAGE, pageToken: pageToken || '' },
        facets: [{ field: 'make', size: 8 }, { field: 'region', size: 8 }],
    };
}

// A search hit's lot in the shape the cards read (ListLots' Lot).
function lotOfHit(hit) {
    const l = hit.lot || {};
    return { ...l, id: l.lotId, photoUrls: l.coverPhotoUrl ? [l.coverPhotoUrl] : [] };
}

// One page of lots: {lots, next, total, more, facets, viaSearch}. Search
// first; ListLots when the search service cannot answer (503, 504), so the
// catalog keeps working without it. Throws the API error otherwise.
async function fetchLots(q, cursor) {
    try {
        const r = await api('POST', '/api/v1/search', buildSearch(q, cursor));
        return { lots: (r.hits || []).map(lotOfHit), next: r.page?.nextPageToken || '', total: Number(r.totalHits || 0),
            more: !!r.totalIsLowerBound, facets: r.facets || [], viaSearch: true };
    } catch (err) {
        if (err.status !== 503 && err.status !== 504) throw err;
    }
    const r = await api('GET', '/api/v1/lots', null, { query: { filterJson: JSON.stringify(buildFilter(q, cursor)) } });
    return { lots: r.lots || [], next: r.nextCursor || '', facets: [], viaSearch: false };
}

// Suggestions for the text box as the user types (a datalist), debounced.
function suggestInto(input, list) {
    let timer = 0;
    let asked = '';
    input.addEventListener('input', () => {
        clearTimeout(timer);
        const prefix = input.value.trim();
        if (prefix.length < 2 || prefix === asked) return;
        timer = setTimeout(async () => {
            asked = prefix;
            try {
                const r = await api('GET', '/api/v1/search/suggest', null, { query: { prefix, size: 8 } });
                if (input.value.trim() !== prefix) return;
                setChildren(list, (r.suggestions || []).map((x) => h('option', { value: x.text })));
            } catch { /* no suggestions: typing goes on */ }
        }, 200);
    });
}

export default {
    path: '#/',
    title: { en: 'Catalog', ru: 'Каталог' },
    auth: true,
    async render(root, params, ctx) {
        const q = ctx.query;
        const cursor = q.get('page') || '';
        const text = (name, label, extra) => field({ label: t(dict, label), name, value: q.get(name) || '', ...extra });
        const cat = field({ label: t(dict, 'category'), name: 'category', value: q.get('category') || '',
            options: [{ value: '', label: t(dict, 'any') }] });
        const queryField = text('q', 'query', { type: 'search', hint: t(dict, 'queryHint'), list: 'catalog-suggest', autocomplete: 'off' });
        const suggestions = h('datalist', { id: 'catalog-suggest' });
        queryField.append(suggestions);
        suggestInto(queryField.input, suggestions);
        const fields = [
            queryField, text('make', 'make'), text('model', 'model'),
            text('yearFrom', 'yearFrom', { inputmode: 'numeric' }), text('yearTo', 'yearTo', { inputmode: 'numeric' }),
            text('mileageMax', 'mileageMax', { inputmode: 'numeric' }), text('region', 'region'),
            text('priceMin', 'priceMin', { inputmode: 'decimal' }), text('priceMax', 'priceMax', { inputmode: 'decimal' }),
            cat,
            field({ label: t(dict, 'sort'), name: 'sort', value: q.get('sort') || (q.get('q') ? 'relevance' : 'ending'), options: [
                { value: 'relevance', label: t(dict, 'relevance') }, { value: 'ending', label: t(dict, 'ending') }, { value: 'newest', label: t(dict, 'newest') },
                { value: 'price_asc', label: t(dict, 'priceAsc') }, { value: 'price_desc', label: t(dict, 'priceDesc') }] }),
        ];
        const form = h('form', { class: 'filters', id: 'catalog-filters', role: 'search', 'aria-label': t(dict, 'filters') },
            fields,
            h('div', { class: 'actions' },
                h('button', { type: 'submit', class: 'primary' }, t(dict, 'apply')),
                h('a', { href: '#/', class: 'button secondary' }, t(dict, 'reset'))));
        // Folded on a phone until used; open on wider screens.
        const anySet = fields.some((w) => w.input.name !== 'sort' && q.get(w.input.name));
        const box = h('details', { class: 'card filters-box', open: anySet || window.matchMedia('(min-width: 720px)').matches },
            h('summary', {}, t(dict, 'filters')), form);
        form.addEventListener('submit', (e) => {
            e.preventDefault();
            const qs = new URLSearchParams();
            for (const w of fields) if (w.input.value.trim()) qs.set(w.input.name, w.input.value.trim());
            if (qs.get('sort') === (qs.get('q') ? 'relevance' : 'ending')) qs.delete('sort');
            ctx.navigate('#/' + (qs.toString() ? '?' + qs : ''));
        });
        const list = h('ul', { class: 'lot-grid', id: 'lot-list', 'aria-live': 'polite', 'aria-busy': 'true' });
        const pager = h('nav', { class: 'pager', 'aria-label': t(dict, 'results') });
        const summary = h('div', { class: 'catalog-summary', id: 'catalog-summary' });
        root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')), box, summary,
            h('h2', { class: 'visually-hidden' }, t(dict, 'results')), list, pager));

        api('GET', '/api/v1/categories').then((r) => {
            for (const c of r.categories || []) {
                cat.input.append(h('option', { value: c.id, selected: c.id === q.get('category') },
                    '\u00a0\u00a0'.repeat(c.depth || 0) + c.name));
            }
        }).catch(() => { /* the filter stays "any" */ });

        try {
            buildFilter(q, cursor);
        } catch (e) {
            const w = fields.find((x) => x.input.name === e.field);
            if (w) showFieldError(w.input, e.message);
            list.removeAttribute('aria-busy');
            return undefined;
        }
        setChildren(list, h('li', { class: 'empty' }, t(dict, 'loading')));
        let r;
        try {
            r = await fetchLots(q, cursor);
        } catch (err) {
            clearErrors(form);
            showApiError(form, err);
            setChildren(list);
            list.removeAttribute('aria-busy');
            return undefined;
        }
        const lots = r.lots;
        setChildren(summary, summaryOf(r, q));
        const cards = new Map();
        setChildren(list, lots.length ? lots.map((lot) => {
            const c = card(lot);
            cards.set(String(lot.id), c);
            return c.el;
        }) : h('li', { class: 'empty' }, t(dict, 'empty')));
        list.removeAttribute('aria-busy');

        const base = new URLSearchParams(q);
        const pageHash = (c) => { const p = new URLSearchParams(base); if (c) p.set('page', c); else p.delete('page'); return '#/' + (p.toString() ? '?' + p : ''); };
        if (cursor) pager.append(h('a', { class: 'button secondary', href: pageHash(prevCursor.get(cursor) || ''), rel: 'prev' }, t(dict, 'prev')));
        if (r.next) {
            prevCursor.set(r.next, cursor);
            pager.append(h('a', { class: 'button secondary', href: pageHash(r.next), rel: 'next' }, t(dict, 'next')));
        }

        // Live lots on this page: prices and ends from the realtime stream.
        const live = lots.filter((l) => stateKey(l) === 'live').map((l) => String(l.id));
        const offs = [
            ws.on('lot_snapshot', (m) => cards.get(String(m.lotId))?.update(m.state)),
            ws.on('lot_update', (m) => cards.get(String(m.lotId))?.update(m.state)),
        ];
        live.forEach((id) => ws.subscribe(id));
        const tick = setInterval(() => { for (const c of cards.values()) c.tick(); }, 1000);
        return () => {
            clearInterval(tick);
            offs.forEach((off) => off());
            live.forEach((id) => ws.unsubscribe(id));
        };
    },
};

// How many lots matched, and the make and region counts as links that
// narrow the filter; or why the counts are missing.
function summaryOf(r, q) {
    if (!r.viaSearch) return [h('p', { class: 'notice', role: 'status' }, t(dict, 'noSearch'))];
    const out = [h('p', { class: 'meta', id: 'catalog-count' },
        t(dict, r.more ? 'foundMore' : String(r.total) === '1' ? 'foundOne' : 'found', { n: r.total }))];
    for (const [fieldName, label] of [['make', 'byMake'], ['region', 'byRegion']]) {
        const facet = r.facets.find((f) => f.field === fieldName);
        if (!facet || !(facet.buckets || []).length || q.get(fieldName)) continue;
        out.push(h('nav', { class: 'facet', 'aria-label': t(dict, label), 'data-facet': fieldName },
            h('span', { class: 'meta' }, t(dict, label) + ':'),
            facet.buckets.map((b) => {
                const p = new URLSearchParams(q);
                p.set(fieldName, b.key);
                p.delete('page');
                return h('a', { href: '#/?' + p, class: 'chip', 'data-key': b.key }, `${b.key} (${b.count})`);
            })));
    }
    return out;
}

function card(lot) {
    const key = stateKey(lot);
    const src = (lot.photoUrls || []).map(photoSrc).find(Boolean);
    const href = '#/lot/' + lot.id;
    const priceLabel = h('span', { class: 'meta' }, t(dict, 'startPrice'));
    const price = h('span', { class: 'price', 'data-price': '' }, moneyOf(lot.startPrice));
    const when = h('span', { class: 'countdown meta' });
    let endsMs = lot.endsAtUs ? Number(lot.endsAtUs) / 1000 : 0;
    const startsMs = lot.startsAtUs ? Number(lot.startsAtUs) / 1000 : 0;
    const el = h('li', { class: 'lot-card', 'data-lot-id': lot.id },
        h('a', { href, class: 'cover', tabindex: '-1', 'aria-hidden': 'true' },
            src ? h('img', { src, alt: '', loading: 'lazy', width: 400, height: 300 }) : null),
        h('div', { class: 'body' },
            h('span', { class: ['status', key] }, stateLabel(key)),
            h('a', { href, class: 'name' }, lotName(lot)),
            h('span', { class: 'meta' }, lotSubtitle(lot)),
            h('span', {}, priceLabel, ' ', price),
            when));
    const tick = () => {
        const now = ws.serverNow();
        if (key === 'live' && endsMs) when.textContent = t(common, 'endsIn') + ' ' + formatLeft(endsMs - now);
        else if (key === 'scheduled' && startsMs) when.textContent = t(dict, 'startsAt', { when: dateTime(startsMs) });
    };
    const update = (s) => {
        if (!s) return;
        if (s.currentPrice) { priceLabel.textContent = t(dict, 'current'); price.textContent = moneyOf(s.currentPrice); }
        if (s.endsAtUs) endsMs = Number(s.endsAtUs) / 1000;
        tick();
    };
    if (lot.currentPrice) update({ currentPrice: lot.currentPrice });
    tick();
    return { el, update, tick };
}
