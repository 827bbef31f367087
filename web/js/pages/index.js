// Every page of the web UI: its route and its module (see docs/web.md, "The
// shell contract"). A module is fetched when its route is first opened, so
// the first load carries only the page it shows: a dealer never downloads
// the seller, moderator, admin or clerk pages. Add a page: list its path
// (the same as the module's) and its module here.
export default [
    { path: '#/', load: () => import('./catalog.js') },
    { path: '#/lot/:id', load: () => import('./lot.js') },
    { path: '#/login', load: () => import('./login.js') },
    { path: '#/signup', load: () => import('./signup.js') },
    { path: '#/my-bids', load: () => import('./my_bids.js') },
    { path: '#/wallet', load: () => import('./wallet.js') },
    { path: '#/inbox', load: () => import('./inbox.js') },
    { path: '#/sell', load: () => import('./seller.js') },
    { path: '#/sell/new', load: () => import('./seller_new.js') },
    { path: '#/sell/:id', load: () => import('./seller_edit.js') },
    { path: '#/moderate', load: () => import('./moderate.js') },
    { path: '#/admin', load: () => import('./admin.js') },
    { path: '#/clerk/:id', load: () => import('./clerk.js') },
];
