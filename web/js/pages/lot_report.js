// The lot page's static parts: the photo gallery and the condition report
// (damages, tyres, documents, the inspector's notes). Not a route: lot.js
// uses it.
import { t, dateTime } from '../i18n.js';
import { h, photoSrc } from '../ui.js';

const dict = {
    en: {
        photos: 'Photos', photoN: 'Photo {n} of {total}', noPhotos: 'No photos', showPhoto: 'Show photo {n}',
        external: 'Some photos could not be shown.',
        condition: 'Condition report', damages: 'Damages', noDamages: 'No damages recorded.', location: 'Where',
        kind: 'Kind', severity: 'Severity', note: 'Note', tyres: 'Tyres', position: 'Position', tread: 'Tread',
        brand: 'Brand', season: 'Season', made: 'Made', documents: 'Documents', present: 'Present', yes: 'Yes', no: 'No',
        inspection: 'Inspection notes', inspector: 'Inspected by {name}, {when}', noReport: 'No condition report.',
        mm: '{n} mm', closeup: 'close-up',
        DAMAGE_KIND_SCRATCH: 'Scratch', DAMAGE_KIND_DENT: 'Dent', DAMAGE_KIND_CHIP: 'Chip', DAMAGE_KIND_CRACK: 'Crack',
        DAMAGE_KIND_RUST: 'Rust', DAMAGE_KIND_REPAINTED: 'Repainted', DAMAGE_KIND_REPLACED: 'Replaced',
        DAMAGE_KIND_MISSING: 'Missing', DAMAGE_KIND_OTHER: 'Other',
        DAMAGE_SEVERITY_MINOR: 'Minor', DAMAGE_SEVERITY_MODERATE: 'Moderate', DAMAGE_SEVERITY_SEVERE: 'Severe',
        TYRE_POSITION_FRONT_LEFT: 'Front left', TYRE_POSITION_FRONT_RIGHT: 'Front right',
        TYRE_POSITION_REAR_LEFT: 'Rear left', TYRE_POSITION_REAR_RIGHT: 'Rear right', TYRE_POSITION_SPARE: 'Spare',
        TYRE_SEASON_SUMMER: 'Summer', TYRE_SEASON_WINTER: 'Winter', TYRE_SEASON_ALL_SEASON: 'All-season',
        DOCUMENT_KIND_VEHICLE_PASSPORT: 'Vehicle passport (PTS)', DOCUMENT_KIND_REGISTRATION_CERTIFICATE: 'Registration certificate (STS)',
        DOCUMENT_KIND_SERVICE_BOOK: 'Service book', DOCUMENT_KIND_SPARE_KEY: 'Spare key',
        DOCUMENT_KIND_OWNERS_MANUAL: 'Owner\'s manual', DOCUMENT_KIND_INSURANCE_POLICY: 'Insurance policy', DOCUMENT_KIND_OTHER: 'Other',
    },
    ru: {
        photos: 'Фото', photoN: 'Фото {n} из {total}', noPhotos: 'Нет фото', showPhoto: 'Показать фото {n}',
        external: 'Часть фото не удалось показать.',
        condition: 'Отчёт о состоянии', damages: 'Повреждения', noDamages: 'Повреждений не отмечено.', location: 'Где',
        kind: 'Тип', severity: 'Степень', note: 'Примечание', tyres: 'Шины', position: 'Колесо', tread: 'Протектор',
        brand: 'Марка', season: 'Сезон', made: 'Год', documents: 'Документы', present: 'В наличии', yes: 'Да', no: 'Нет',
        inspection: 'Заметки осмотра', inspector: 'Осмотр: {name}, {when}', noReport: 'Отчёта о состоянии нет.',
        mm: '{n} мм', closeup: 'крупный план',
        DAMAGE_KIND_SCRATCH: 'Царапина', DAMAGE_KIND_DENT: 'Вмятина', DAMAGE_KIND_CHIP: 'Скол', DAMAGE_KIND_CRACK: 'Трещина',
        DAMAGE_KIND_RUST: 'Ржавчина', DAMAGE_KIND_REPAINTED: 'Перекрашено', DAMAGE_KIND_REPLACED: 'Заменено',
        DAMAGE_KIND_MISSING: 'Отсутствует', DAMAGE_KIND_OTHER: 'Другое',
        DAMAGE_SEVERITY_MINOR: 'Незначительное', DAMAGE_SEVERITY_MODERATE: 'Среднее', DAMAGE_SEVERITY_SEVERE: 'Серьёзное',
        TYRE_POSITION_FRONT_LEFT: 'Переднее левое', TYRE_POSITION_FRONT_RIGHT: 'Переднее правое',
        TYRE_POSITION_REAR_LEFT: 'Заднее левое', TYRE_POSITION_REAR_RIGHT: 'Заднее правое', TYRE_POSITION_SPARE: 'Запасное',
        TYRE_SEASON_SUMMER: 'Летние', TYRE_SEASON_WINTER: 'Зимние', TYRE_SEASON_ALL_SEASON: 'Всесезонные',
        DOCUMENT_KIND_VEHICLE_PASSPORT: 'ПТС', DOCUMENT_KIND_REGISTRATION_CERTIFICATE: 'СТС',
        DOCUMENT_KIND_SERVICE_BOOK: 'Сервисная книжка', DOCUMENT_KIND_SPARE_KEY: 'Запасной ключ',
        DOCUMENT_KIND_OWNERS_MANUAL: 'Руководство владельца', DOCUMENT_KIND_INSURANCE_POLICY: 'Страховой полис', DOCUMENT_KIND_OTHER: 'Другое',
    },
};

const en = (k) => (k ? t(dict, k) : '—');

// The gallery: one large photo and a row of thumbnail buttons; arrow keys
// on the thumbnails move between photos.
export function renderGallery(lot) {
    const urls = lot.photoUrls || [];
    const srcs = urls.map(photoSrc).filter(Boolean);
    const total = srcs.length;
    const main = h('div', { class: 'main-photo', id: 'gallery-main' });
    const caption = h('p', { class: 'meta', 'aria-live': 'polite' });
    const thumbs = h('ul', { class: 'thumbs', 'aria-label': t(dict, 'photos') });
    let current = 0;
    const show = (i) => {
        current = (i + total) % total;
        main.replaceChildren(h('img', { src: srcs[current], alt: t(dict, 'photoN', { n: current + 1, total }), width: 800, height: 600 }));
        caption.textContent = t(dict, 'photoN', { n: current + 1, total });
        thumbs.querySelectorAll('button').forEach((b, j) => b.setAttribute('aria-current', j === current ? 'true' : 'false'));
    };
    srcs.forEach((src, i) => {
        const b = h('button', { type: 'button', 'aria-label': t(dict, 'showPhoto', { n: i + 1 }), onclick: () => show(i),
            onkeydown: (e) => {
                if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
                e.preventDefault();
                show(current + (e.key === 'ArrowRight' ? 1 : -1));
                thumbs.querySelectorAll('button')[current].focus();
            } },
        h('img', { src, alt: '', loading: 'lazy', width: 72, height: 54 }));
        thumbs.append(h('li', {}, b));
    });
    const box = h('section', { class: 'gallery', 'aria-label': t(dict, 'photos') }, main, total > 1 ? thumbs : null, caption);
    if (total) show(0);
    else main.append(h('span', { class: 'meta' }, t(dict, 'noPhotos')));
    if (srcs.length < urls.length) box.append(h('p', { class: 'meta' }, t(dict, 'external')));
    return box;
}

function table(id, heads, rows) {
    return h('div', { class: 'table-wrap' }, h('table', { id },
        h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

export function renderCondition(c) {
    const sec = h('section', { class: 'condition', id: 'condition', 'aria-labelledby': 'condition-h' },
        h('h2', { id: 'condition-h' }, t(dict, 'condition')));
    if (!c) { sec.append(h('p', { class: 'meta' }, t(dict, 'noReport'))); return sec; }
    if (c.inspectorName || c.inspectedAtUs) {
        sec.append(h('p', { class: 'meta' }, t(dict, 'inspector', { name: c.inspectorName || '—', when: c.inspectedAtUs ? dateTime(Number(c.inspectedAtUs), { dateStyle: 'medium' }) : '—' })));
    }
    const damages = c.damages || [];
    sec.append(h('h3', {}, t(dict, 'damages')));
    sec.append(damages.length ? table('damages', [t(dict, 'location'), t(dict, 'kind'), t(dict, 'severity'), t(dict, 'note')],
        damages.map((d) => {
            const src = d.photoUrl ? photoSrc(d.photoUrl) : null;
            return [d.location || '—', en(d.kind), en(d.severity),
                [d.note || '', src ? [' ', h('a', { href: src }, t(dict, 'closeup'))] : null]];
        })) : h('p', {}, t(dict, 'noDamages')));
    const tyres = c.tyres || [];
    if (tyres.length) {
        sec.append(h('h3', {}, t(dict, 'tyres')), table('tyres',
            [t(dict, 'position'), t(dict, 'tread'), t(dict, 'brand'), t(dict, 'season'), t(dict, 'made')],
            tyres.map((y) => [en(y.position), y.treadDepthTenthsMm ? t(dict, 'mm', { n: (y.treadDepthTenthsMm / 10).toLocaleString(document.documentElement.lang) }) : '—',
                y.brand || '—', en(y.season), y.manufacturedYear ? String(y.manufacturedYear) : '—'])));
    }
    const docs = c.documents || [];
    if (docs.length) {
        sec.append(h('h3', {}, t(dict, 'documents')), table('documents', [t(dict, 'kind'), t(dict, 'present'), t(dict, 'note')],
            docs.map((d) => [en(d.kind), t(dict, d.isPresent ? 'yes' : 'no'), d.note || ''])));
    }
    if (c.inspectionNotes) sec.append(h('h3', {}, t(dict, 'inspection')), h('p', { class: 'notes' }, c.inspectionNotes));
    return sec;
}

// The names of the report's enum values (DAMAGE_KIND_DENT -> "Dent"), for
// the pages that write reports.
export { en as enumLabel };
