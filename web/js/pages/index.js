// Every page of the web UI, one module each (see docs/web.md, "The shell
// contract"). Add a page: import it and list it here.
import catalog from './catalog.js';
import lot from './lot.js';
import login from './login.js';
import signup from './signup.js';
import myBids from './my_bids.js';
import wallet from './wallet.js';
import inbox from './inbox.js';
import seller from './seller.js';
import sellerNew from './seller_new.js';
import sellerEdit from './seller_edit.js';
import moderate from './moderate.js';
import admin from './admin.js';
import clerk from './clerk.js';

export default [
    catalog, lot, login, signup, myBids, wallet, inbox,
    seller, sellerNew, sellerEdit, moderate, admin, clerk,
];
