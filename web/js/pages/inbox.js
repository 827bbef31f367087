// #/inbox : the user's notifications (ListInbox), newest first, with the
// unread count; new ones arrive live on the /ws `notification` message.
// Titles and bodies are shown as text, never as HTML.
import { api } from '../api.js';
import * as ws from '../ws.js';
import { t, dateTime } from '../i18n.js';
import { h, setChildren, withPending, toast } from '../ui.js';

const dict = {
    en: {
        title: 'Notifications', unread: '{n} unread', allRead: 'All read', markAll: 'Mark all as read',
        markRead: 'Mark as read', openLot: 'Open the lot', empty: 'No notifications yet.', more: 'Show more',
        onlyUnread: 'Only unread', isUnread: 'Unread',
    },
    ru: {
        title: 'Уведомления', unread: 'Непрочитанных: {n}', allRead: 'Всё прочитано', markAll: 'Отметить все прочитанными',
        markRead: 'Прочитано', openLot: 'Открыть лот', empty: 'Уведомлений пока нет.', more: 'Показать ещё',
        onlyUnread: 'Только непрочитанные', isUnread: 'Не прочитано',
    },
};

export default {
    path: '#/inbox',
    title: { en: 'Notifications', ru: 'Уведомления' },
    auth: true,
    async render(root, params, ctx) {
        const list = h('ul', { class: 'inbox-list', id: 'inbox-list' });
        const count = h('p', { id: 'inbox-unread', role: 'status' });
        const markAll = h('button', { type: 'button', class: 'secondary', id: 'mark-all' }, t(dict, 'markAll'));
        const only = h('input', { type: 'checkbox', id: 'only-unread', checked: ctx.query.get('unread') === '1' });
        const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t(dict, 'more'));
        root.append(h('section', { class: 'page' }, h('h1', {}, t(dict, 'title')), count,
            h('p', { class: 'tabs' }, markAll, h('label', {}, only, ' ', t(dict, 'onlyUnread'))),
            list, h('p', {}, more)));

        let unread = 0;
        let newest = '0';
        const setCount = (n) => {
            unread = Math.max(0, Number(n) || 0);
            count.textContent = unread ? t(dict, 'unread', { n: unread }) : t(dict, 'allRead');
            markAll.disabled = !unread;
            ctx.setUnread(unread);
        };
        function item(n) {
            const isUnread = !n.readAtUs;
            if (BigInt(n.id || 0) > BigInt(newest)) newest = String(n.id);
            const li = h('li', { class: isUnread ? 'unread' : null, 'data-id': n.id });
            const btn = isUnread ? h('button', { type: 'button', class: 'secondary small', onclick: async () => {
                try {
                    const r = await withPending(btn, api('POST', '/api/v1/notifications/read', { notificationIds: [n.id] }));
                    li.classList.remove('unread');
                    btn.remove();
                    li.querySelector('.visually-hidden')?.remove();
                    setCount(r.unreadCount !== undefined ? r.unreadCount : unread - 1);
                } catch (e) { toast(e.message, 'error'); }
            } }, t(dict, 'markRead')) : null;
            li.append(
                isUnread ? h('span', { class: 'visually-hidden' }, t(dict, 'isUnread') + ': ') : null,
                h('strong', {}, n.title || n.kind || ''), h('br'),
                n.body ? [h('span', {}, n.body), h('br')] : null,
                h('span', { class: 'meta' }, n.createdAtUs ? dateTime(Number(n.createdAtUs)) : ''), ' ',
                n.lotId && n.lotId !== '0' ? h('a', { href: '#/lot/' + n.lotId }, t(dict, 'openLot')) : null, ' ',
                btn);
            return li;
        }
        let token = '';
        async function load(first) {
            const r = await api('GET', '/api/v1/notifications', null, { query: {
                'page.pageSize': 30, 'page.pageToken': first ? '' : token, unreadOnly: only.checked ? true : undefined } });
            const ns = r.notifications || [];
            if (first) setChildren(list, ns.length ? ns.map(item) : h('li', { class: 'empty' }, t(dict, 'empty')));
            else list.append(...ns.map(item));
            token = (r.page && r.page.nextPageToken) || '';
            more.hidden = !token;
            setCount(r.unreadCount || 0);
        }
        markAll.addEventListener('click', async () => {
            try {
                const r = await withPending(markAll, api('POST', '/api/v1/notifications/read', { upToId: newest }));
                for (const li of list.querySelectorAll('li.unread')) {
                    li.classList.remove('unread');
                    li.querySelector('button')?.remove();
                    li.querySelector('.visually-hidden')?.remove();
                }
                setCount(r.unreadCount || 0);
            } catch (e) { toast(e.message, 'error'); }
        });
        only.addEventListener('change', () => load(true).catch((e) => toast(e.message, 'error')));
        more.addEventListener('click', () => withPending(more, load(false)).catch((e) => toast(e.message, 'error')));
        const offs = [
            ws.on('notification', (m) => {
                if (!m.notification) return;
                list.querySelector('li.empty')?.remove();
                list.prepend(item(m.notification));
                if (m.unreadCount !== undefined) setCount(m.unreadCount);
            }),
            ws.on('resync', () => load(true).catch(() => {})),
        ];
        await load(true);
        return () => offs.forEach((off) => off());
    },
};
