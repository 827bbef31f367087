// #/login: email and password; ?next= says where to go afterwards.
import { login } from '../session.js';
import { t } from '../i18n.js';
import { h, field, clearErrors, showApiError, showFieldError, withPending } from '../ui.js';

const dict = {
    en: {
        title: 'Log in', email: 'Email', password: 'Password', submit: 'Log in',
        noAccount: 'No account yet?', signup: 'Sign up', required: 'Enter your {what}.',
        expired: 'Your session ended. Log in again to continue.',
    },
    ru: {
        title: 'Вход', email: 'Эл. почта', password: 'Пароль', submit: 'Войти',
        noAccount: 'Ещё нет учётной записи?', signup: 'Зарегистрируйтесь', required: 'Введите: {what}.',
        expired: 'Сеанс завершён. Войдите снова, чтобы продолжить.',
    },
};

// A safe place to go after logging in: only this app's hash routes.
export function nextRoute(query) {
    const n = query.get('next') || '';
    return /^#\/(?!login|signup)/.test(n) ? n : '#/';
}

export default {
    path: '#/login',
    title: { en: 'Log in', ru: 'Вход' },
    auth: false,
    render(root, params, ctx) {
        const email = field({ label: t(dict, 'email'), name: 'email', type: 'email', autocomplete: 'username', required: true });
        const password = field({ label: t(dict, 'password'), name: 'password', type: 'password', autocomplete: 'current-password', required: true });
        const submit = h('button', { type: 'submit', class: 'primary' }, t(dict, 'submit'));
        const form = h('form', { class: 'card form', novalidate: true, id: 'login-form' }, email, password, submit);
        form.addEventListener('submit', async (e) => {
            e.preventDefault();
            clearErrors(form);
            for (const f of [email, password]) {
                if (!f.input.value) return showFieldError(f.input, t(dict, 'required', { what: f.querySelector('label').textContent.toLowerCase() }));
            }
            try {
                await withPending(submit, login(email.input.value.trim(), password.input.value));
                ctx.navigate(nextRoute(ctx.query));
            } catch (err) {
                // A wrong password is a 401 about the pair; show it by the password.
                showApiError(form, err.status === 401 ? Object.assign(err, { field: 'password' }) : err);
            }
        });
        root.append(h('section', { class: 'page narrow' },
            h('h1', {}, t(dict, 'title')),
            ctx.query.get('next') ? h('p', { class: 'notice' }, t(dict, 'expired')) : null,
            form,
            h('p', {}, t(dict, 'noAccount'), ' ', h('a', { href: '#/signup' + (ctx.query.get('next') ? '?next=' + encodeURIComponent(ctx.query.get('next')) : '') }, t(dict, 'signup')))));
    },
};
