// DOM helpers shared by every page: a builder (no innerHTML anywhere, so
// server text is always text), field errors, pending buttons, toasts.

// h('button', {class: 'primary', onclick: fn, disabled: true}, 'Bid', ...)
// attrs: class, for, on<event> (functions), data-*/aria-* and other
// attributes (true -> present, false/null/undefined -> absent), value and
// checked as properties. Children: nodes, strings, numbers, arrays; null,
// undefined and false are skipped.
export function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
        else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
        else if (k === 'for') el.htmlFor = v;
        else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
        else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        if (Array.isArray(c)) append(el, c);
        else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
}

// Replace an element's children.
export function setChildren(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
}

let uid = 0;
export function newId(prefix) { return `${prefix || 'id'}-${++uid}`; }

// A labelled input: returns the wrapper; the input is wrapper.input.
// opts: {label, name, type, value, required, autocomplete, hint, inputmode, ...}
export function field(opts) {
    const id = opts.id || newId(opts.name || 'f');
    const { label, hint, options, ...rest } = opts;
    let input;
    if (options) {
        input = h('select', { id, name: opts.name, required: opts.required },
            options.map((o) => h('option', { value: o.value, selected: o.value === opts.value }, o.label)));
    } else if (opts.type === 'textarea') {
        input = h('textarea', { id, name: opts.name, required: opts.required, rows: opts.rows || 3 });
        input.value = opts.value || '';
    } else {
        input = h('input', { ...rest, id, type: opts.type || 'text' });
    }
    const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
    if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
    const wrap = h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
    wrap.input = input;
    return wrap;
}

// Show msg beside an input (after its field's last child), mark it invalid
// and link the message for screen readers. Focuses the input.
export function showFieldError(input, msg) {
    const id = (input.id || (input.id = newId('f'))) + '-err';
    let p = document.getElementById(id);
    if (!p) {
        p = h('p', { class: 'field-error', id, role: 'alert' });
        (input.closest('.field') || input.parentElement).append(p);
    }
    p.textContent = msg;
    input.setAttribute('aria-invalid', 'true');
    const by = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    if (!by.includes(id)) input.setAttribute('aria-describedby', [...by, id].join(' '));
    input.focus();
}

// A message for the whole form (an error no single field caused).
export function showFormError(form, msg) {
    let p = form.querySelector(':scope > .form-error');
    if (!p) {
        p = h('p', { class: 'form-error', role: 'alert' });
        form.prepend(p);
    }
    p.textContent = msg;
}

export function clearErrors(form) {
    for (const p of form.querySelectorAll('.field-error, .form-error')) p.remove();
    for (const i of form.querySelectorAll('[aria-invalid]')) {
        i.removeAttribute('aria-invalid');
        const by = (i.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.endsWith('-err'));
        if (by.length) i.setAttribute('aria-describedby', by.join(' '));
        else i.removeAttribute('aria-describedby');
    }
}

// Put an ApiError (or any error) on the form: beside the input whose name
// is err.field (or fieldMap[err.field]), else at the top of the form.
export function showApiError(form, err, fieldMap) {
    const name = err && err.field && ((fieldMap && fieldMap[err.field]) || err.field);
    const input = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
    const msg = (err && err.message) || String(err);
    if (input) showFieldError(input, msg);
    else showFormError(form, msg);
}

// Disable the button while the promise (or the promise a function returns)
// runs; the button says it is busy (aria-busy, class "pending"). Returns
// the promise's result; errors pass through.
export async function withPending(button, work) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.classList.add('pending');
    try {
        return await (typeof work === 'function' ? work() : work);
    } finally {
        button.disabled = false;
        button.removeAttribute('aria-busy');
        button.classList.remove('pending');
    }
}

// A short message at the bottom of the screen for a few seconds.
export function toast(msg, kind) {
    const box = document.getElementById('toasts');
    if (!box) return;
    const el = h('div', { class: ['toast', kind && 'toast-' + kind] }, msg);
    box.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

// A random key for Idempotency-Key (retries of one action reuse it).
export function idemKey() {
    return crypto.randomUUID ? crypto.randomUUID()
        : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// The src to show for a lot's photo URL, or null. Photos on this origin
// and the gateway's media files (/media/..., stored under content-hash
// names, so any gateway serves the same file) are loaded from this origin;
// other https photos as they are (the page's CSP allows https images);
// anything else (http:, javascript:, ...) is not shown.
export function photoSrc(url) {
    let u;
    try { u = new URL(url, location.href); } catch { return null; }
    if (u.origin === location.origin) return u.pathname + u.search;
    if (u.pathname.startsWith('/media/')) return u.pathname;
    if (u.protocol === 'https:') return u.href;
    return null;
}
