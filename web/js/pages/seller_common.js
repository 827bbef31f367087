// What the seller, moderator and admin pages share: the names of a lot's
// states and of the condition report's enums, and putting a server error
// beside the input it names. Not a route.
import { t } from '../i18n.js';
import { enumLabel } from './lot_report.js';
import { showFieldError, showFormError } from '../ui.js';

export const dict = {
    en: {
        LOT_STATE_DRAFT: 'Draft', LOT_STATE_IN_REVIEW: 'In review', LOT_STATE_APPROVED: 'Approved',
        LOT_STATE_REJECTED: 'Rejected', LOT_STATE_SCHEDULED: 'Scheduled', LOT_STATE_LIVE: 'Live',
        LOT_STATE_CLOSED: 'Closed', LOT_STATE_CANCELLED: 'Cancelled',
        choose: '— choose —',
    },
    ru: {
        LOT_STATE_DRAFT: 'Черновик', LOT_STATE_IN_REVIEW: 'На модерации', LOT_STATE_APPROVED: 'Одобрен',
        LOT_STATE_REJECTED: 'Отклонён', LOT_STATE_SCHEDULED: 'Запланирован', LOT_STATE_LIVE: 'Идут торги',
        LOT_STATE_CLOSED: 'Завершён', LOT_STATE_CANCELLED: 'Снят',
        choose: '— выберите —',
    },
};

export const DAMAGE_KINDS = ['SCRATCH', 'DENT', 'CHIP', 'CRACK', 'RUST', 'REPAINTED', 'REPLACED', 'MISSING', 'OTHER']
    .map((k) => 'DAMAGE_KIND_' + k);
export const SEVERITIES = ['MINOR', 'MODERATE', 'SEVERE'].map((k) => 'DAMAGE_SEVERITY_' + k);
export const TYRE_POSITIONS = ['FRONT_LEFT', 'FRONT_RIGHT', 'REAR_LEFT', 'REAR_RIGHT', 'SPARE'].map((k) => 'TYRE_POSITION_' + k);
export const SEASONS = ['SUMMER', 'WINTER', 'ALL_SEASON'].map((k) => 'TYRE_SEASON_' + k);
export const DOCUMENT_KINDS = ['VEHICLE_PASSPORT', 'REGISTRATION_CERTIFICATE', 'SERVICE_BOOK', 'SPARE_KEY',
    'OWNERS_MANUAL', 'INSURANCE_POLICY', 'OTHER'].map((k) => 'DOCUMENT_KIND_' + k);
// Where on a car, as the condition report's location codes.
export const LOCATIONS = ['front_bumper', 'rear_bumper', 'hood', 'roof', 'trunk_lid', 'windscreen', 'rear_window',
    'left_front_door', 'right_front_door', 'left_rear_door', 'right_rear_door', 'left_front_fender',
    'right_front_fender', 'left_rear_fender', 'right_rear_fender', 'left_sill', 'right_sill',
    'left_mirror', 'right_mirror', 'headlights', 'taillights', 'wheels', 'underbody', 'engine_bay',
    'interior_driver_seat', 'interior_dashboard', 'interior_other'];

// A lot state's or a report enum's name in the current language.
export function label(key) {
    if (!key) return '—';
    return key.startsWith('LOT_STATE_') ? t(dict, key) : enumLabel(key);
}

// <option>s of enum keys with an empty first choice.
export function enumOptions(keys, withEmpty = true) {
    const opts = keys.map((k) => ({ value: k, label: label(k) }));
    return withEmpty ? [{ value: '', label: t(dict, 'choose') }, ...opts] : opts;
}

const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

// The form input name of the field a server message starts with:
// "lot.vin must be ..." -> "vin"; "lot.start_price.currency: ..." ->
// "startPrice"; "lot.condition.damages[1].severity ..." ->
// "damages.1.severity"; "lot.condition.damages.photo_url ..." (no index)
// -> "damages.0.photoUrl". null when it names none.
export function fieldOfMessage(msg) {
    const m = /^(?:lot\.)?([a-z_]+)(?:\[(\d+)\])?(?:\.([a-z_]+)(?:\[(\d+)\])?(?:\.([a-z_]+))?)?/.exec(msg || '');
    if (!m) return null;
    const [, top, , sub, idx, leaf] = m;
    if (top === 'condition' && sub && ['damages', 'tyres', 'documents'].includes(sub)) {
        return `${sub}.${idx || 0}.${camel(leaf || (sub === 'tyres' ? 'position' : sub === 'documents' ? 'kind' : 'location'))}`;
    }
    if (top === 'condition' && sub) return camel(sub);
    if (top === 'increments') return 'startPrice';
    return camel(top);
}

// An ApiError beside the input its message names (inputs carry name=...),
// else at the top of the form.
export function showLotError(form, err) {
    const msg = (err && err.message) || String(err);
    const name = err && err.status === 400 ? fieldOfMessage(msg) : null;
    let input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!input && name && name.includes('.')) {
        input = form.querySelector(`[name^="${CSS.escape(name.split('.')[0])}."]`);
    }
    if (input) showFieldError(input, msg);
    else showFormError(form, msg);
}
