// #/sell/new : the lot form of seller_edit.js for a lot not yet created.
import { newLot } from './seller_edit.js';

export default newLot;
