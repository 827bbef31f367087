import { h } from '../ui.js';

export default {
    path: '#/inbox',
    title: { en: 'Inbox', ru: 'Уведомления' },
    auth: true,
    render(root) {
        root.append(h('section', { class: 'page' }, h('h1', {}, this.title.en)));
    },
};
