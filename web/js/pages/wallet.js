import { h } from '../ui.js';

export default {
    path: '#/wallet',
    title: { en: 'Wallet', ru: 'Кошелёк' },
    auth: true,
    render(root) {
        root.append(h('section', { class: 'page' }, h('h1', {}, this.title.en)));
    },
};
