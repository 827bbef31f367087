import { h } from '../ui.js';

export default {
    path: '#/my-bids',
    title: { en: 'My bids', ru: 'Мои ставки' },
    auth: true,
    render(root) {
        root.append(h('section', { class: 'page' }, h('h1', {}, this.title.en)));
    },
};
