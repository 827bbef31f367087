// #/admin : what admins keep. The category tree (add a category under any
// node) and the pricing rules of paid services (add a rule, switch one
// on or off, delete one). Every change goes to the auctions service, which
// checks it; its message appears beside the field.
import { api } from '../api.js';
import { t, parseAmount } from '../i18n.js';
import { h, field, setChildren, clearErrors, showApiError, showFieldError, withPending, toast } from '../ui.js';
import { moneyOf } from '../lot_common.js';

const dict = {
    en: {
        title: 'Admin', categories: 'Categories', noCategories: 'No categories yet.', addCategory: 'Add a category',
        name: 'Name', slug: 'Slug (a-z, 0-9, -)', parent: 'Under', root: '(top level)', sortOrder: 'Order among siblings',
        add: 'Add', added: 'Added.', rules: 'Pricing rules', noRules: 'No rules: every service costs its default price.',
        service: 'Service', priority: 'Priority', criteria: 'Applies to', price: 'Price', active: 'Active',
        addRule: 'Add a rule', make: 'Make', model: 'Model', region: 'Region', category: 'Category', any: 'any',
        yearFrom: 'Year from', yearTo: 'Year to', minStart: 'Start price from (RUB)', maxStart: 'Start price below (RUB)',
        how: 'Price', coefficient: 'Default price × coefficient', fixed: 'Fixed price', coefficientValue: 'Coefficient (1.4 = ×1.4)',
        fixedValue: 'Fixed price (RUB)', note: 'Note', on: 'On', off: 'Off', turnOn: 'Turn on rule {id}', turnOff: 'Turn off rule {id}',
        del: 'Delete', delRule: 'Delete rule {id}', deleted: 'Rule {id} deleted.', times: '×{n}', notNumber: 'Enter a number.',
        notAmount: 'Enter an amount, e.g. 1500.', allLots: 'all lots',
    },
    ru: {
        title: 'Администрирование', categories: 'Категории', noCategories: 'Категорий пока нет.', addCategory: 'Добавить категорию',
        name: 'Название', slug: 'Код (a-z, 0-9, -)', parent: 'Внутри', root: '(верхний уровень)', sortOrder: 'Порядок среди соседних',
        add: 'Добавить', added: 'Добавлено.', rules: 'Правила цен', noRules: 'Правил нет: все услуги по базовой цене.',
        service: 'Услуга', priority: 'Приоритет', criteria: 'Для каких лотов', price: 'Цена', active: 'Активно',
        addRule: 'Добавить правило', make: 'Марка', model: 'Модель', region: 'Регион', category: 'Категория', any: 'любая',
        yearFrom: 'Год от', yearTo: 'Год до', minStart: 'Стартовая цена от (RUB)', maxStart: 'Стартовая цена до (RUB)',
        how: 'Цена', coefficient: 'Базовая цена × коэффициент', fixed: 'Фиксированная цена', coefficientValue: 'Коэффициент (1,4 = ×1,4)',
        fixedValue: 'Фиксированная цена (RUB)', note: 'Заметка', on: 'Вкл.', off: 'Выкл.', turnOn: 'Включить правило {id}', turnOff: 'Выключить правило {id}',
        del: 'Удалить', delRule: 'Удалить правило {id}', deleted: 'Правило {id} удалено.', times: '×{n}', notNumber: 'Введите число.',
        notAmount: 'Введите сумму, например 1500.', allLots: 'все лоты',
    },
};

const SERVICES = ['promotion', 'hot', 'up', 'inspection', 'delivery'];

function categoryOptions(cats, emptyLabel) {
    return [{ value: '', label: emptyLabel }, ...cats.map((c) => ({ value: String(c.id), label: '\u2003'.repeat(c.depth || 0) + c.name }))];
}

function categorySection(cats, reload) {
    const list = h('ul', { class: 'category-tree', id: 'category-tree' }, cats.length
        ? cats.map((c) => h('li', { class: 'depth-' + Math.min(c.depth || 0, 6), 'data-id': c.id }, c.name, ' ', h('span', { class: 'meta' }, c.slug)))
        : h('li', { class: 'empty' }, t(dict, 'noCategories')));
    const name = field({ label: t(dict, 'name'), name: 'name', maxlength: 100 });
    const slug = field({ label: t(dict, 'slug'), name: 'slug', maxlength: 64, autocomplete: 'off' });
    const parent = field({ label: t(dict, 'parent'), name: 'parentId', options: categoryOptions(cats, t(dict, 'root')) });
    const order = field({ label: t(dict, 'sortOrder'), name: 'sortOrder', inputmode: 'numeric', value: '0' });
    const btn = h('button', { type: 'submit', class: 'primary' }, t(dict, 'add'));
    const form = h('form', { class: 'card form', id: 'category-form', novalidate: true },
        h('h3', {}, t(dict, 'addCategory')), h('div', { class: 'grid-2' }, name, slug, parent, order), btn);
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        if (!/^-?\d{1,6}$/.test(order.input.value.trim() || '0')) return showFieldError(order.input, t(dict, 'notNumber'));
        try {
            await withPending(btn, api('POST', '/api/v1/categories', { name: name.input.value.trim(), slug: slug.input.value.trim(),
                parentId: parent.input.value || '0', sortOrder: Number(order.input.value.trim() || 0) }));
            toast(t(dict, 'added'));
            reload();
        } catch (err) {
            showApiError(form, err);
        }
    });
    return h('section', { 'aria-labelledby': 'categories-h' }, h('h2', { id: 'categories-h' }, t(dict, 'categories')), list, form);
}

function criteria(r, cats) {
    const parts = [];
    if (r.categoryId && r.categoryId !== '0') {
        const c = cats.find((x) => String(x.id) === String(r.categoryId));
        parts.push(c ? c.name : '#' + r.categoryId);
    }
    if (r.region) parts.push(r.region);
    if (r.make) parts.push([r.make, r.model].filter(Boolean).join(' '));
    if (r.yearFrom || r.yearTo) parts.push(`${r.yearFrom || '…'}–${r.yearTo || '…'}`);
    if (r.minStartPrice || r.maxStartPrice) parts.push(`${r.minStartPrice ? moneyOf(r.minStartPrice) : '…'} – ${r.maxStartPrice ? moneyOf(r.maxStartPrice) : '…'}`);
    return parts.length ? parts.join(' · ') : t(dict, 'allLots');
}

function ruleRow(r, cats, reload) {
    const isActive = !!r.isActive;
    const toggle = h('button', { type: 'button', class: 'small secondary', 'aria-pressed': String(isActive),
        'aria-label': t(dict, isActive ? 'turnOff' : 'turnOn', { id: r.id }) }, t(dict, isActive ? 'on' : 'off'));
    toggle.addEventListener('click', () => withPending(toggle, api('PATCH', `/api/v1/price-rules/${r.id}`,
        { updateMask: ['is_active'], rule: { isActive: !isActive } })).then(reload).catch((e) => toast(e.message, 'error')));
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': t(dict, 'delRule', { id: r.id }) }, t(dict, 'del'));
    del.addEventListener('click', () => withPending(del, api('DELETE', `/api/v1/price-rules/${r.id}`))
        .then(() => { toast(t(dict, 'deleted', { id: r.id })); reload(); }).catch((e) => toast(e.message, 'error')));
    const price = r.fixedPrice ? moneyOf(r.fixedPrice) : t(dict, 'times', { n: (Number(r.coefficientPermille || 0) / 1000).toLocaleString(document.documentElement.lang) });
    return h('tr', { 'data-rule-id': r.id }, h('td', {}, r.service), h('td', { class: 'num' }, String(r.priority || 0)),
        h('td', {}, criteria(r, cats), r.note ? h('div', { class: 'meta' }, r.note) : null), h('td', { class: 'num' }, price),
        h('td', {}, toggle), h('td', {}, del));
}

function ruleForm(cats, reload) {
    const f = {
        service: field({ label: t(dict, 'service'), name: 'service', options: SERVICES.map((s) => ({ value: s, label: s })) }),
        priority: field({ label: t(dict, 'priority'), name: 'priority', inputmode: 'numeric', value: '0' }),
        category: field({ label: t(dict, 'category'), name: 'categoryId', options: categoryOptions(cats, t(dict, 'any')) }),
        region: field({ label: t(dict, 'region'), name: 'region' }),
        make: field({ label: t(dict, 'make'), name: 'make' }),
        model: field({ label: t(dict, 'model'), name: 'model' }),
        yearFrom: field({ label: t(dict, 'yearFrom'), name: 'yearFrom', inputmode: 'numeric' }),
        yearTo: field({ label: t(dict, 'yearTo'), name: 'yearTo', inputmode: 'numeric' }),
        minStart: field({ label: t(dict, 'minStart'), name: 'minStartPrice', inputmode: 'decimal' }),
        maxStart: field({ label: t(dict, 'maxStart'), name: 'maxStartPrice', inputmode: 'decimal' }),
        how: field({ label: t(dict, 'how'), name: 'how', options: [{ value: 'coefficient', label: t(dict, 'coefficient') }, { value: 'fixed', label: t(dict, 'fixed') }] }),
        value: field({ label: t(dict, 'coefficientValue'), name: 'coefficientPermille', inputmode: 'decimal', value: '1' }),
        note: field({ label: t(dict, 'note'), name: 'note' }),
    };
    const valueLabel = f.value.querySelector('label');
    f.how.input.addEventListener('change', () => {
        const fixed = f.how.input.value === 'fixed';
        valueLabel.textContent = t(dict, fixed ? 'fixedValue' : 'coefficientValue');
        f.value.input.name = fixed ? 'fixedPrice' : 'coefficientPermille';
    });
    const btn = h('button', { type: 'submit', class: 'primary' }, t(dict, 'add'));
    const form = h('form', { class: 'card form', id: 'rule-form', novalidate: true }, h('h3', {}, t(dict, 'addRule')),
        h('div', { class: 'grid-2' }, Object.values(f)), btn);
    const int = (w) => {
        const s = w.input.value.trim();
        if (!s) return 0;
        if (!/^-?\d{1,9}$/.test(s)) { showFieldError(w.input, t(dict, 'notNumber')); throw null; }
        return Number(s);
    };
    const amount = (w) => {
        const s = w.input.value.trim();
        if (!s) return undefined;
        const units = parseAmount(s, 'RUB');
        if (units === null) { showFieldError(w.input, t(dict, 'notAmount')); throw null; }
        return { units, currency: 'RUB' };
    };
    form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        let rule;
        try {
            rule = { service: f.service.input.value, priority: int(f.priority), categoryId: f.category.input.value || '0',
                region: f.region.input.value.trim(), make: f.make.input.value.trim(), model: f.model.input.value.trim(),
                yearFrom: int(f.yearFrom), yearTo: int(f.yearTo), minStartPrice: amount(f.minStart), maxStartPrice: amount(f.maxStart),
                note: f.note.input.value.trim(), isActive: true };
            if (f.how.input.value === 'fixed') {
                rule.fixedPrice = amount(f.value);
                if (!rule.fixedPrice) { showFieldError(f.value.input, t(dict, 'notAmount')); return; }
            } else {
                const c = Number(f.value.input.value.trim().replace(',', '.'));
                if (!f.value.input.value.trim() || !Number.isFinite(c)) { showFieldError(f.value.input, t(dict, 'notNumber')); return; }
                rule.coefficientPermille = Math.round(c * 1000);
            }
        } catch (err) { if (err) throw err; return; }
        for (const k of Object.keys(rule)) if (rule[k] === undefined) delete rule[k];
        try {
            await withPending(btn, api('POST', '/api/v1/price-rules', rule));
            toast(t(dict, 'added'));
            reload();
        } catch (err) {
            showApiError(form, err, { 'rule.coefficientPermille': 'coefficientPermille', 'rule.fixedPrice': 'fixedPrice', adjustment: 'coefficientPermille' });
        }
    });
    return form;
}

export default {
    path: '#/admin',
    title: { en: 'Admin', ru: 'Администрирование' },
    auth: 'admin',
    async render(root) {
        const cats = h('div', { id: 'admin-categories' });
        const rules = h('div', { id: 'admin-rules' });
        root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')), cats, rules));
        async function load() {
            const [c, r] = await Promise.all([api('GET', '/api/v1/categories'), api('GET', '/api/v1/price-rules', null,
                { query: { includeInactive: 'true', 'page.pageSize': 200 } })]);
            const list = c.categories || [];
            const ruleRows = (r.rules || []).map((x) => ruleRow(x, list, reload));
            setChildren(cats, categorySection(list, reload));
            setChildren(rules, h('section', { 'aria-labelledby': 'rules-h' }, h('h2', { id: 'rules-h' }, t(dict, 'rules')),
                h('div', { class: 'table-wrap' }, h('table', { id: 'rules-table' },
                    h('thead', {}, h('tr', {}, ['service', 'priority', 'criteria', 'price', 'active'].map((k) =>
                        h('th', { scope: 'col', class: k === 'priority' || k === 'price' ? 'num' : null }, t(dict, k))), h('td', {}))),
                    h('tbody', {}, ruleRows.length ? ruleRows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t(dict, 'noRules')))))),
                ruleForm(list, reload)));
        }
        const reload = () => load().catch((e) => toast(e.message, 'error'));
        await load();
    },
};

