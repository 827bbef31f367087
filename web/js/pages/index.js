// Every page of the web UI, one module each (see docs/web.md, "The shell
// contract"). Add a page: import it and list it here.
import catalog from './catalog.js';
import lot from './lot.js';
import login from './login.js';
import signup from './signup.js';
import myBids from './my_bids.js';
import wallet from './wallet.js';
import inbox from './inbox.js';

export default [
    catalog, lot, login, signup, myBids, wallet, inbox,
];
