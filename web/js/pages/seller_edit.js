// #/sell/new and #/sell/:id : a seller writes a lot (a DRAFT, or a
// REJECTED lot being fixed): the car, the prices, its photos (uploaded to
// POST /api/v1/media, shown as previews, reordered and removed before
// saving; the first is the cover) and the structured condition report
// (damages, tyres, documents); then saves it and sends it to moderation.
// The server checks every field; its message appears beside the input it
// names.
import { api, apiUpload } from '../api.js';
import { t, minorToDecimal, currencyDigits, parseAmount } from '../i18n.js';
import { h, field, setChildren, clearErrors, showFieldError, withPending, toast, idemKey, photoSrc } from '../ui.js';
import {
    label, enumOptions, showLotError, DAMAGE_KINDS, SEVERITIES, TYRE_POSITIONS, SEASONS, DOCUMENT_KINDS, LOCATIONS,
} from './seller_common.js';

const MAX_PHOTO = 8 * 1024 * 1024;   // GAVEL_GATEWAY_MEDIA_MAX's default; the server has the last word
const TYPES = ['image/jpeg', 'image/png', 'image/webp'];

const dict = {
    en: {
        newTitle: 'New lot', editTitle: 'Edit lot {id}', car: 'The car', title: 'Title', description: 'Description',
        make: 'Make', model: 'Model', year: 'Year', mileage: 'Mileage, km', vin: 'VIN', region: 'Region',
        category: 'Category', prices: 'Prices (RUB)', startPrice: 'Start price', reservePrice: 'Reserve price (optional)',
        buyNowPrice: 'Buy-now price (optional)', softClose: 'Soft close, seconds (0: off)', maxExt: 'Most extensions',
        photos: 'Photos', addPhotos: 'Add photos (JPEG, PNG or WebP)', photosHint: 'The first photo is the cover. Up to 50.',
        uploading: 'Uploading {name}…', moveLeft: 'Move photo {n} earlier', moveRight: 'Move photo {n} later',
        remove: 'Remove photo {n}', photoN: 'Photo {n}', cover: 'Cover', badType: '{name}: only JPEG, PNG or WebP images.',
        tooBig: '{name} is larger than 8 MB.', condition: 'Condition report', damages: 'Damages', addDamage: 'Add a damage',
        location: 'Where', kind: 'Kind', severity: 'Severity', note: 'Note', photoUrl: 'Close-up',
        closeupNone: 'none', tyres: 'Tyres', addTyre: 'Add a tyre', position: 'Position', tread: 'Tread, mm',
        brand: 'Brand', season: 'Season', made: 'Year made', documents: 'Documents', addDocument: 'Add a document',
        present: 'Original seen', notes: 'Inspection notes', inspector: 'Inspected by', removeRow: 'Remove',
        damageN: 'Damage {n}', tyreN: 'Tyre {n}', documentN: 'Document {n}',
        save: 'Save draft', submit: 'Save and send to moderation', saved: 'Saved.', submitted: 'Sent to moderation.',
        notEditable: 'This lot is {state} and can no longer be edited.', viewLot: 'Open its page',
        rejected: 'A moderator rejected this lot: {reason}. Fix it and send it again.', back: 'My lots',
        notNumber: 'Enter a whole number.', notAmount: 'Enter an amount, e.g. 150000.', none: 'No category',
    },
    ru: {
        newTitle: 'Новый лот', editTitle: 'Лот {id}', car: 'Автомобиль', title: 'Название', description: 'Описание',
        make: 'Марка', model: 'Модель', year: 'Год', mileage: 'Пробег, км', vin: 'VIN', region: 'Регион',
        category: 'Категория', prices: 'Цены (RUB)', startPrice: 'Стартовая цена', reservePrice: 'Резервная цена (необязательно)',
        buyNowPrice: 'Цена «купить сейчас» (необязательно)', softClose: 'Мягкое закрытие, секунд (0 — выкл.)', maxExt: 'Максимум продлений',
        photos: 'Фото', addPhotos: 'Добавить фото (JPEG, PNG или WebP)', photosHint: 'Первое фото — обложка. До 50 фото.',
        uploading: 'Загрузка {name}…', moveLeft: 'Фото {n} раньше', moveRight: 'Фото {n} позже',
        remove: 'Удалить фото {n}', photoN: 'Фото {n}', cover: 'Обложка', badType: '{name}: только изображения JPEG, PNG или WebP.',
        tooBig: '{name} больше 8 МБ.', condition: 'Отчёт о состоянии', damages: 'Повреждения', addDamage: 'Добавить повреждение',
        location: 'Где', kind: 'Тип', severity: 'Степень', note: 'Примечание', photoUrl: 'Крупный план',
        closeupNone: 'нет', tyres: 'Шины', addTyre: 'Добавить шину', position: 'Колесо', tread: 'Протектор, мм',
        brand: 'Марка', season: 'Сезон', made: 'Год выпуска', documents: 'Документы', addDocument: 'Добавить документ',
        present: 'Оригинал в наличии', notes: 'Заметки осмотра', inspector: 'Осмотр провёл', removeRow: 'Удалить',
        damageN: 'Повреждение {n}', tyreN: 'Шина {n}', documentN: 'Документ {n}',
        save: 'Сохранить черновик', submit: 'Сохранить и отправить на модерацию', saved: 'Сохранено.', submitted: 'Отправлено на модерацию.',
        notEditable: 'Лот в состоянии «{state}», его больше нельзя менять.', viewLot: 'Открыть страницу лота',
        rejected: 'Модератор отклонил лот: {reason}. Исправьте и отправьте снова.', back: 'Мои лоты',
        notNumber: 'Введите целое число.', notAmount: 'Введите сумму, например 150000.', none: 'Без категории',
    },
};

// The fields UpdateLot may change, all sent on every save (a repeated or
// message field is replaced whole).
const MASK = ['title', 'description', 'make', 'model', 'year', 'mileage_km', 'vin', 'region', 'category_id',
    'photo_urls', 'condition', 'start_price', 'reserve_price', 'buy_now_price', 'soft_close_window_seconds',
    'max_extensions'];

function page(path) {
    return {
        path,
        title: { en: path.endsWith('new') ? 'New lot' : 'Edit lot', ru: path.endsWith('new') ? 'Новый лот' : 'Лот' },
        auth: 'seller',
        render,
    };
}

export const newLot = page('#/sell/new');
export const editLot = page('#/sell/:id');

async function render(root, params, ctx) {
    const id = params.id || null;
    const [lot, cats] = await Promise.all([
        id ? api('GET', `/api/v1/lots/${encodeURIComponent(id)}`).then((r) => r.lot) : null,
        api('GET', '/api/v1/categories').then((r) => r.categories || []).catch(() => []),
    ]);
    const section = h('section', { class: 'page seller-edit' },
        h('p', {}, h('a', { href: '#/sell' }, '← ' + t(dict, 'back'))),
        h('h1', {}, id ? t(dict, 'editTitle', { id }) : t(dict, 'newTitle')));
    root.append(section);
    const state = lot ? lot.state : 'LOT_STATE_DRAFT';
    if (state !== 'LOT_STATE_DRAFT' && state !== 'LOT_STATE_REJECTED') {
        section.append(h('p', { class: 'notice' }, t(dict, 'notEditable', { state: label(state) }), ' ',
            h('a', { href: '#/lot/' + lot.id }, t(dict, 'viewLot'))));
        return;
    }
    if (state === 'LOT_STATE_REJECTED') {
        section.append(h('p', { class: 'notice', id: 'rejection' }, t(dict, 'rejected', { reason: lot.rejectionReason || '—' })));
    }
    section.append(lotForm(lot, cats, ctx));
}

const amountText = (m) => (m && m.units ? minorToDecimal(m.units, currencyDigits(m.currency || 'RUB')) : '');

function lotForm(lot, cats, ctx) {
    const l = lot || {};
    const f = {
        title: field({ label: t(dict, 'title'), name: 'title', value: l.title || '', maxlength: 200, required: true }),
        description: field({ label: t(dict, 'description'), name: 'description', type: 'textarea', value: l.description || '', rows: 4 }),
        make: field({ label: t(dict, 'make'), name: 'make', value: l.make || '', autocomplete: 'off' }),
        model: field({ label: t(dict, 'model'), name: 'model', value: l.model || '', autocomplete: 'off' }),
        year: field({ label: t(dict, 'year'), name: 'year', inputmode: 'numeric', value: l.year ? String(l.year) : '' }),
        mileageKm: field({ label: t(dict, 'mileage'), name: 'mileageKm', inputmode: 'numeric', value: l.mileageKm !== undefined ? String(l.mileageKm) : '' }),
        vin: field({ label: t(dict, 'vin'), name: 'vin', value: l.vin || '', autocomplete: 'off', spellcheck: 'false' }),
        region: field({ label: t(dict, 'region'), name: 'region', value: l.region || '' }),
        categoryId: field({ label: t(dict, 'category'), name: 'categoryId', value: l.categoryId || '',
            options: [{ value: '', label: t(dict, 'none') }, ...cats.map((c) => ({ value: String(c.id), label: '\u2003'.repeat(c.depth || 0) + c.name }))] }),
        startPrice: field({ label: t(dict, 'startPrice'), name: 'startPrice', inputmode: 'decimal', value: amountText(l.startPrice) }),
        reservePrice: field({ label: t(dict, 'reservePrice'), name: 'reservePrice', inputmode: 'decimal', value: amountText(l.reservePrice) }),
        buyNowPrice: field({ label: t(dict, 'buyNowPrice'), name: 'buyNowPrice', inputmode: 'decimal', value: amountText(l.buyNowPrice) }),
        softClose: field({ label: t(dict, 'softClose'), name: 'softCloseWindowSeconds', inputmode: 'numeric', value: String(l.softCloseWindowSeconds ?? 120) }),
        maxExt: field({ label: t(dict, 'maxExt'), name: 'maxExtensions', inputmode: 'numeric', value: String(l.maxExtensions ?? 20) }),
    };
    const photos = photoEditor(l.photoUrls || []);
    const c = l.condition || {};
    const damages = rowList('damages', c.damages || [], damageRow, 'addDamage');
    const tyres = rowList('tyres', c.tyres || [], tyreRow, 'addTyre');
    const documents = rowList('documents', c.documents || [], documentRow, 'addDocument');
    const notes = field({ label: t(dict, 'notes'), name: 'inspectionNotes', type: 'textarea', value: c.inspectionNotes || '', rows: 3 });
    const inspector = field({ label: t(dict, 'inspector'), name: 'inspectorName', value: c.inspectorName || '' });
    const save = h('button', { type: 'submit', class: 'secondary', id: 'save-lot', value: 'save' }, t(dict, 'save'));
    const submit = h('button', { type: 'submit', class: 'primary', id: 'submit-lot', value: 'submit' }, t(dict, 'submit'));
    const form = h('form', { class: 'form lot-form', id: 'lot-form', novalidate: true },
        h('fieldset', { class: 'card' }, h('legend', {}, t(dict, 'car')),
            f.title, f.description, h('div', { class: 'grid-2' }, f.make, f.model, f.year, f.mileageKm, f.vin, f.region), f.categoryId),
        h('fieldset', { class: 'card' }, h('legend', {}, t(dict, 'prices')),
            h('div', { class: 'grid-2' }, f.startPrice, f.reservePrice, f.buyNowPrice, f.softClose, f.maxExt)),
        h('fieldset', { class: 'card', id: 'photos' }, h('legend', {}, t(dict, 'photos')), photos.el),
        h('fieldset', { class: 'card', id: 'condition-form' }, h('legend', {}, t(dict, 'condition')),
            h('h3', {}, t(dict, 'damages')), damages.el, h('h3', {}, t(dict, 'tyres')), tyres.el,
            h('h3', {}, t(dict, 'documents')), documents.el, notes, inspector),
        h('div', { class: 'actions' }, save, submit));

    let lotId = lot ? lot.id : null;
    let createKey = idemKey();           // a retried create (lost answer) makes one lot
    const intOf = (wrap) => {
        const s = wrap.input.value.trim();
        if (s === '') return 0;
        if (!/^-?\d{1,9}$/.test(s)) { showFieldError(wrap.input, t(dict, 'notNumber')); throw null; }
        return Number(s);
    };
    const moneyOf = (wrap) => {
        const s = wrap.input.value.trim();
        if (s === '') return undefined;
        const units = parseAmount(s, 'RUB');
        if (units === null) { showFieldError(wrap.input, t(dict, 'notAmount')); throw null; }
        return { units, currency: 'RUB' };
    };
    const collect = () => {
        const body = {
            title: f.title.input.value.trim(), description: f.description.input.value,
            make: f.make.input.value.trim(), model: f.model.input.value.trim(), year: intOf(f.year),
            mileageKm: intOf(f.mileageKm), vin: f.vin.input.value.trim(), region: f.region.input.value.trim(),
            categoryId: f.categoryId.input.value || '0', photoUrls: photos.urls(),
            startPrice: moneyOf(f.startPrice), reservePrice: moneyOf(f.reservePrice), buyNowPrice: moneyOf(f.buyNowPrice),
            softCloseWindowSeconds: intOf(f.softClose), maxExtensions: intOf(f.maxExt),
            condition: {
                damages: damages.values(), tyres: tyres.values(), documents: documents.values(),
                inspectionNotes: notes.input.value, inspectorName: inspector.input.value.trim(),
            },
        };
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
        return body;
    };
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const andSubmit = e.submitter === submit;
        clearErrors(form);
        let body;
        try { body = collect(); } catch (err) { if (err) throw err; return; }
        const button = andSubmit ? submit : save;
        try {
            await withPending(button, async () => {
                if (lotId === null) {
                    const r = await api('POST', '/api/v1/lots', body, { idempotencyKey: createKey });
                    lotId = r.lot.id;
                    history.replaceState(null, '', '#/sell/' + lotId);
                } else {
                    await api('PATCH', `/api/v1/lots/${lotId}`, { updateMask: MASK, lot: body });
                }
                if (andSubmit) await api('POST', `/api/v1/lots/${lotId}/submit`, {});
            });
            createKey = idemKey();
            toast(t(dict, andSubmit ? 'submitted' : 'saved'));
            if (andSubmit) ctx.navigate('#/sell');
        } catch (err) {
            showLotError(form, err);
        }
    });
    return form;
}

// The photo list: upload on choice, preview, reorder, remove. urls() in order.
function photoEditor(initial) {
    const urls = [...initial];
    const list = h('ol', { class: 'photo-list', id: 'photo-list' });
    const status = h('p', { class: 'meta', 'aria-live': 'polite', id: 'photo-status' });
    const input = h('input', { type: 'file', id: 'photo-input', name: 'photoUrls', accept: TYPES.join(','), multiple: true });
    const wrap = h('div', { class: 'field' }, h('label', { for: 'photo-input' }, t(dict, 'addPhotos')),
        h('p', { class: 'hint', id: 'photo-hint' }, t(dict, 'photosHint')), input, status);
    input.setAttribute('aria-describedby', 'photo-hint');
    const draw = () => {
        setChildren(list, urls.map((u, i) => {
            const n = i + 1;
            const src = photoSrc(u);
            const btn = (text, aria, fn, disabled) => h('button', { type: 'button', class: 'small secondary', 'aria-label': aria, disabled, onclick: fn }, text);
            return h('li', { class: 'photo-item', 'data-url': u },
                src ? h('img', { src, alt: t(dict, 'photoN', { n }), loading: 'lazy' }) : h('span', { class: 'meta' }, u),
                h('div', { class: 'photo-tools' },
                    i === 0 ? h('span', { class: 'status' }, t(dict, 'cover')) : null,
                    btn('←', t(dict, 'moveLeft', { n }), () => move(i, -1), i === 0),
                    btn('→', t(dict, 'moveRight', { n }), () => move(i, 1), i === urls.length - 1),
                    btn('✕', t(dict, 'remove', { n }), () => { urls.splice(i, 1); draw(); })));
        }));
    };
    const move = (i, d) => {
        [urls[i], urls[i + d]] = [urls[i + d], urls[i]];
        draw();
        const b = list.children[i + d] && list.children[i + d].querySelectorAll('button')[d < 0 ? 0 : 1];
        if (b && !b.disabled) b.focus();
    };
    input.addEventListener('change', async () => {
        const files = [...input.files];
        input.value = '';
        const form = input.closest('form');
        for (const p of wrap.querySelectorAll('.field-error')) p.remove();
        input.removeAttribute('aria-invalid');
        for (const file of files) {
            if (!TYPES.includes(file.type)) { showFieldError(input, t(dict, 'badType', { name: file.name })); continue; }
            if (file.size > MAX_PHOTO) { showFieldError(input, t(dict, 'tooBig', { name: file.name })); continue; }
            status.textContent = t(dict, 'uploading', { name: file.name });
            input.disabled = true;
            try {
                const r = await apiUpload('/api/v1/media', file);
                if (!urls.includes(r.url)) urls.push(r.url);
                draw();
            } catch (err) {
                if (form) showFieldError(input, err.message);
            } finally {
                input.disabled = false;
                status.textContent = '';
            }
        }
    });
    draw();
    return { el: h('div', {}, wrap, list), urls: () => [...urls] };
}

// A list of condition rows (damages, tyres, documents): rows are
// re-numbered on every change, so input names stay "damages.<i>.<field>"
// for the server's messages ("lot.condition.damages[1].severity").
function rowList(kind, initial, makeRow, addKey) {
    const box = h('div', { class: 'rows', id: kind + '-rows' });
    const rows = [];
    const renumber = () => {
        rows.forEach((r, i) => {
            for (const el of r.el.querySelectorAll('[data-field]')) el.name = `${kind}.${i}.${el.dataset.field}`;
            r.el.querySelector('legend').textContent = t(dict, r.titleKey, { n: i + 1 });
        });
    };
    const add = (v) => {
        const r = makeRow(v || {});
        const rm = h('button', { type: 'button', class: 'small danger' }, t(dict, 'removeRow'));
        rm.addEventListener('click', () => { rows.splice(rows.indexOf(r), 1); r.el.remove(); renumber(); addBtn.focus(); });
        r.el.append(h('div', { class: 'row-tools' }, rm));
        rows.push(r);
        box.append(r.el);
        renumber();
        return r;
    };
    const addBtn = h('button', { type: 'button', class: 'secondary small', id: 'add-' + kind }, '+ ' + t(dict, addKey));
    addBtn.addEventListener('click', () => { const r = add(); const first = r.el.querySelector('select, input'); if (first) first.focus(); });
    initial.forEach(add);
    return { el: h('div', {}, box, addBtn), values: () => rows.map((r) => r.value()) };
}

function sub(name, opts) {
    const w = field({ ...opts, label: t(dict, name) });
    w.input.dataset.field = opts.name;
    return w;
}

function damageRow(d) {
    const location = sub('location', { name: 'location', value: d.location || '', list: 'damage-locations', autocomplete: 'off' });
    const kind = sub('kind', { name: 'kind', value: d.kind || '', options: enumOptions(DAMAGE_KINDS) });
    const severity = sub('severity', { name: 'severity', value: d.severity || '', options: enumOptions(SEVERITIES) });
    const note = sub('note', { name: 'note', value: d.note || '' });
    const photoUrl = sub('photoUrl', { name: 'photoUrl', value: d.photoUrl || '', placeholder: '/media/… or https://…' });
    const list = h('datalist', { id: 'damage-locations' }, LOCATIONS.map((x) => h('option', { value: x })));
    const el = h('fieldset', { class: 'row damage-row' }, h('legend', {}), h('div', { class: 'grid-2' }, location, kind, severity, note, photoUrl),
        document.getElementById('damage-locations') ? null : list);
    return {
        el, titleKey: 'damageN',
        value: () => ({ location: location.input.value.trim(), kind: kind.input.value || 'DAMAGE_KIND_UNSPECIFIED',
            severity: severity.input.value || 'DAMAGE_SEVERITY_UNSPECIFIED', note: note.input.value.trim(), photoUrl: photoUrl.input.value.trim() }),
    };
}

function tyreRow(y) {
    const position = sub('position', { name: 'position', value: y.position || '', options: enumOptions(TYRE_POSITIONS) });
    const tread = sub('tread', { name: 'treadDepthTenthsMm', inputmode: 'decimal', value: y.treadDepthTenthsMm ? String(y.treadDepthTenthsMm / 10) : '' });
    const brand = sub('brand', { name: 'brand', value: y.brand || '' });
    const season = sub('season', { name: 'season', value: y.season || '', options: enumOptions(SEASONS) });
    const made = sub('made', { name: 'manufacturedYear', inputmode: 'numeric', value: y.manufacturedYear ? String(y.manufacturedYear) : '' });
    const el = h('fieldset', { class: 'row tyre-row' }, h('legend', {}), h('div', { class: 'grid-2' }, position, tread, brand, season, made));
    return {
        el, titleKey: 'tyreN',
        value: () => ({ position: position.input.value || 'TYRE_POSITION_UNSPECIFIED',
            treadDepthTenthsMm: Math.round(Number(tread.input.value.replace(',', '.') || 0) * 10) || 0,
            brand: brand.input.value.trim(), season: season.input.value || 'TYRE_SEASON_UNSPECIFIED',
            manufacturedYear: Number(made.input.value) || 0 }),
    };
}

function documentRow(d) {
    const kind = sub('kind', { name: 'kind', value: d.kind || '', options: enumOptions(DOCUMENT_KINDS) });
    const id = `doc-present-${Math.random().toString(36).slice(2)}`;
    const present = h('input', { type: 'checkbox', id, checked: !!d.isPresent, 'data-field': 'isPresent' });
    const note = sub('note', { name: 'note', value: d.note || '' });
    const el = h('fieldset', { class: 'row document-row' }, h('legend', {}),
        h('div', { class: 'grid-2' }, kind, h('div', { class: 'field check' }, present, h('label', { for: id }, t(dict, 'present'))), note));
    return {
        el, titleKey: 'documentN',
        value: () => ({ kind: kind.input.value || 'DOCUMENT_KIND_UNSPECIFIED', isPresent: present.checked, note: note.input.value.trim() }),
    };
}

export default editLot;
