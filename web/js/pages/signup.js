// #/signup: a bidder's or seller's account; logs in afterwards.
import { register } from '../session.js';
import { t } from '../i18n.js';
import { h, field, clearErrors, showApiError, showFieldError, withPending } from '../ui.js';
import { nextRoute } from './login.js';

const dict = {
    en: {
        title: 'Sign up', email: 'Email', password: 'Password', displayName: 'Your name',
        company: 'Company (optional)', phone: 'Phone (optional)', region: 'Region (optional)',
        role: 'I want to', bidder: 'Buy (bid on lots)', seller: 'Sell lots',
        pwHint: '10 to 128 characters with a letter and a digit.', submit: 'Create account',
        haveAccount: 'Already have an account?', login: 'Log in', required: 'This field is required.',
    },
    ru: {
        title: 'Регистрация', email: 'Эл. почта', password: 'Пароль', displayName: 'Ваше имя',
        company: 'Компания (необязательно)', phone: 'Телефон (необязательно)', region: 'Регион (необязательно)',
        role: 'Я хочу', bidder: 'Покупать (делать ставки)', seller: 'Продавать лоты',
        pwHint: 'От 10 до 128 символов, буква и цифра.', submit: 'Создать учётную запись',
        haveAccount: 'Уже есть учётная запись?', login: 'Войдите', required: 'Заполните это поле.',
    },
};

export default {
    path: '#/signup',
    title: { en: 'Sign up', ru: 'Регистрация' },
    auth: false,
    render(root, params, ctx) {
        const f = {
            email: field({ label: t(dict, 'email'), name: 'email', type: 'email', autocomplete: 'email', required: true }),
            password: field({ label: t(dict, 'password'), name: 'password', type: 'password', autocomplete: 'new-password', required: true, hint: t(dict, 'pwHint') }),
            displayName: field({ label: t(dict, 'displayName'), name: 'displayName', autocomplete: 'name', required: true }),
            role: field({ label: t(dict, 'role'), name: 'role', value: 'ROLE_BIDDER', options: [
                { value: 'ROLE_BIDDER', label: t(dict, 'bidder') }, { value: 'ROLE_SELLER', label: t(dict, 'seller') }] }),
            company: field({ label: t(dict, 'company'), name: 'company', autocomplete: 'organization' }),
            phone: field({ label: t(dict, 'phone'), name: 'phone', type: 'tel', autocomplete: 'tel' }),
            region: field({ label: t(dict, 'region'), name: 'region', autocomplete: 'address-level1' }),
        };
        const submit = h('button', { type: 'submit', class: 'primary' }, t(dict, 'submit'));
        const form = h('form', { class: 'card form', novalidate: true, id: 'signup-form' }, Object.values(f), submit);
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            clearErrors(form);
            for (const k of ['email', 'password', 'displayName']) {
                if (!f[k].input.value.trim()) return showFieldError(f[k].input, t(dict, 'required'));
            }
            const body = {};
            for (const [k, w] of Object.entries(f)) {
                const v = k === 'password' ? w.input.value : w.input.value.trim();
                if (v) body[k] = v;
            }
            try {
                await withPending(submit, register(body));
                ctx.navigate(nextRoute(ctx.query));
            } catch (err) {
                // "an account with this email exists" (409) is about the email.
                showApiError(form, err.status === 409 && !err.field ? Object.assign(err, { field: 'email' }) : err);
            }
        });
        root.append(h('section', { class: 'page narrow' },
            h('h1', {}, t(dict, 'title')),
            form,
            h('p', {}, t(dict, 'haveAccount'), ' ', h('a', { href: '#/login' }, t(dict, 'login')))));
    },
};
