import { h } from '../ui.js';

export default {
    path: '#/',
    title: { en: 'Catalog', ru: 'Каталог' },
    auth: true,
    render(root) {
        root.append(h('section', { class: 'page' }, h('h1', {}, this.title.en)));
    },
};
