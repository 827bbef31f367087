// Checking a lot's bid log in the browser. The bids service chains every
// accepted bid (proto/gavel/bids/v1/bids.proto, message Bid; built by
// services/bids/lot_log.c): hash = SHA-256 of 84 bytes, integers big-endian
// two's complement:
//   prev_hash 32 | lot_id 8 | seq 8 | bid_id 8 | bidder_id 8 |
//   amount.units 8 | amount.currency 3 (ASCII) | placed_at_us 8 | is_autobid 1
// with prev_hash the hash of bid seq-1 (32 zero bytes for seq 1); a bid of
// a venue lot (LotState.venue) hashes 12 more bytes, 96 in all:
//   floor_paddle 4 | media_time_us 8
// The JSON carries int64s as strings and bytes as base64.

export function b64ToBytes(s) {
    const std = String(s || '').replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
}

export function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function putBe64(view, off, v) {
    view.setBigUint64(off, BigInt.asUintN(64, BigInt(v || 0)), false);
}

// The 84 hashed bytes of one bid (JSON as ListBids gives it), with prev
// as the previous hash (Uint8Array(32)); 96 for a bid of a venue lot.
export function hashedBytes(bid, prev, venue) {
    const buf = new Uint8Array(venue ? 96 : 84);
    const view = new DataView(buf.buffer);
    buf.set(prev, 0);
    putBe64(view, 32, bid.lotId);
    putBe64(view, 40, bid.seq);
    putBe64(view, 48, bid.bidId);
    putBe64(view, 56, bid.bidderId);
    putBe64(view, 64, bid.amount && bid.amount.units);
    const cur = String((bid.amount && bid.amount.currency) || '');
    for (let i = 0; i < 3; i++) buf[72 + i] = cur.charCodeAt(i) & 0xff;
    putBe64(view, 75, bid.placedAtUs);
    buf[83] = bid.isAutobid ? 1 : 0;
    if (venue) {
        view.setInt32(84, Number(bid.floorPaddle || 0), false);
        putBe64(view, 88, bid.mediaTimeUs);
    }
    return buf;
}

async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

function same(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
}

// Verify bids (in seq order, from seq 1) of one lot. headHash (base64,
// optional): the lot state's hash of its last bid, which the last bid must
// match. Resolves {ok: true, count, head} or {ok: false, seq, reason}
// where reason is 'order' (a gap or reordering), 'lot' (a bid of another
// lot), 'prev' (prev_hash is not the previous bid's hash), 'hash' (the
// bid's bytes do not give its hash), 'head' (the log does not end at the
// state's head). venue: the lot is a venue lot (96-byte hashes).
export async function verifyChain(bids, lotId, headHash, venue) {
    let prev = new Uint8Array(32);
    let expectSeq = 1n;
    for (const b of bids) {
        const seq = BigInt(b.seq || 0);
        if (seq !== expectSeq) return { ok: false, seq: String(seq), reason: 'order' };
        if (lotId !== undefined && String(b.lotId) !== String(lotId)) return { ok: false, seq: String(seq), reason: 'lot' };
        if (!same(b64ToBytes(b.prevHash), prev)) return { ok: false, seq: String(seq), reason: 'prev' };
        const got = await sha256(hashedBytes(b, prev, venue));
        if (!same(got, b64ToBytes(b.hash))) return { ok: false, seq: String(seq), reason: 'hash' };
        prev = got;
        expectSeq++;
    }
    if (headHash && bids.length && !same(prev, b64ToBytes(headHash))) {
        return { ok: false, seq: String(expectSeq - 1n), reason: 'head' };
    }
    return { ok: true, count: bids.length, head: hex(prev) };
}
