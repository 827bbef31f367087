import { h } from '../ui.js';

export default {
    path: '#/lot/:id',
    title: { en: 'Lot', ru: 'Лот' },
    auth: true,
    render(root) {
        root.append(h('section', { class: 'page' }, h('h1', {}, this.title.en)));
    },
};
