// The baseline of the gateway's WebSocket fan-out (tests/bench/gateway.sh):
// the seed platform's stack, one Node process with `ws` and `redis`
// (Debian's node-ws and node-redis), serving the subset of the gateway's
// protocol "gavel.v1" the benchmark uses:
//
//   client  {"type":"subscribe","id":"s1","lots":["<lotId>",...]}
//   server  {"type":"subscribed","id":"s1","lots":[...]}
//           {"type":"lot_snapshot","lotId":"..","seq":".."}  (the last feed
//           seen of the lot, or seq "0": no call to the bids service)
//           {"type":"lot_update","lotId":"..","seq":"..","state":{...},
//            "bids":[...],"serverTime":".."}  for every message of the
//           lot's Redis channel gavel:lot:<id>
//
// One Redis subscription per lot with sockets, made on the first
// subscribe. Each message is a packed LotFeed (proto/gavel/bids/v1/
// bids.proto); Debian 12 has no protobuf package for Node, so a small
// reader below decodes it: every field of LotFeed, LotState, Bid and Money
// into the proto3 JSON mapping (64-bit integers as strings, enums by name,
// bytes as base64, defaults left out), as the gateway must. The update is
// decoded and serialised once per message, then sent as is to each socket
// of the lot: no more work per socket than the gateway's one frame write.
//
// usage: NODE_PATH=/usr/share/nodejs node ws_baseline.js PORT REDIS_HOST:PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');
const redis = require('redis');

const [port, redisAddr] = process.argv.slice(2);
const [redisHost, redisPort] = redisAddr.split(':');

// ---- protobuf wire format: varints, length-delimited fields ----
function readVarint(buf, pos) {
  let lo = 0, hi = 0, shift = 0, b;
  do {
    b = buf[pos.i++];
    if (shift < 28) lo |= (b & 0x7f) << shift;
    else if (shift === 28) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >> 4; }
    else hi |= (b & 0x7f) << (shift - 32);
    shift += 7;
  } while (b & 0x80);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
const int64 = (v) => BigInt.asIntN(64, v).toString();
const int32 = (v) => Number(BigInt.asIntN(32, v));

const STATUS = ['LOT_STATUS_UNSPECIFIED', 'LOT_STATUS_PENDING', 'LOT_STATUS_LIVE',
  'LOT_STATUS_CLOSED'];
const OUTCOME = ['CLOSE_OUTCOME_UNSPECIFIED', 'CLOSE_OUTCOME_CLOSED_WITH_WINNER',
  'CLOSE_OUTCOME_CLOSED_NO_BIDS', 'CLOSE_OUTCOME_RESERVE_NOT_MET', 'CLOSE_OUTCOME_EXTENDED',
  'CLOSE_OUTCOME_CANCELLED'];

// A schema: field number -> [json name, kind]; kinds: i64, i32, bool,
// string, bytes, an enum's names (array), or a nested schema (object),
// with `rep` for repeated message fields.
const MONEY = { 1: ['currency', 'string'], 2: ['units', 'i64'] };
const STATE = {
  1: ['lotId', 'i64'], 2: ['status', STATUS], 3: ['currentPrice', MONEY],
  4: ['leaderId', 'i64'], 5: ['bidCount', 'i64'], 6: ['nextMinBid', MONEY],
  7: ['startsAtUs', 'i64'], 8: ['endsAtUs', 'i64'], 9: ['extensionsUsed', 'i32'],
  10: ['maxExtensions', 'i32'], 11: ['hasReserve', 'bool'], 12: ['reserveMet', 'bool'],
  13: ['buyNowPrice', MONEY], 14: ['outcome', OUTCOME], 15: ['serverTimeUs', 'i64'],
  16: ['seq', 'i64'], 17: ['headHash', 'bytes'], 18: ['softCloseWindowSeconds', 'i32'],
};
const BID = {
  1: ['lotId', 'i64'], 2: ['seq', 'i64'], 3: ['bidId', 'i64'], 4: ['bidderId', 'i64'],
  5: ['amount', MONEY], 6: ['placedAtUs', 'i64'], 7: ['isAutobid', 'bool'],
  8: ['prevHash', 'bytes'], 9: ['hash', 'bytes'],
};
const FEED = { 1: ['serverTimeUs', 'i64'], 2: ['state', STATE], 3: ['bids', BID, 'rep'] };

function decode(buf, start, end, schema) {
  const out = {};
  const pos = { i: start };
  while (pos.i < end) {
    const key = Number(readVarint(buf, pos));
    const f = schema[key >>> 3], wire = key & 7;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!f || v === 0n) continue;
      const kind = f[1];
      if (kind === 'i64') out[f[0]] = int64(v);
      else if (kind === 'i32') out[f[0]] = int32(v);
      else if (kind === 'bool') out[f[0]] = true;
      else if (Array.isArray(kind)) out[f[0]] = kind[Number(v)] || Number(v);
    } else if (wire === 2) {
      const len = Number(readVarint(buf, pos)), s = pos.i;
      pos.i += len;
      if (!f) continue;
      const kind = f[1];
      if (kind === 'string') out[f[0]] = buf.toString('utf8', s, s + len);
      else if (kind === 'bytes') out[f[0]] = buf.toString('base64', s, s + len);
      else if (f[2] === 'rep') (out[f[0]] = out[f[0]] || []).push(decode(buf, s, s + len, kind));
      else out[f[0]] = decode(buf, s, s + len, kind);
    } else if (wire === 1) pos.i += 8;
    else if (wire === 5) pos.i += 4;
    else throw new Error('wire type ' + wire);
  }
  return out;
}

// ---- fan-out ----
const sockets = new Map();   // lotId -> Set of sockets
const last = new Map();      // lotId -> seq of the last feed seen
const sub = redis.createClient({ socket: { host: redisHost, port: Number(redisPort) } });
sub.on('error', (e) => console.error('redis:', e.message));

function onFeed(message, channel) {
  const lotId = channel.toString().slice('gavel:lot:'.length);
  let feed;
  try { feed = decode(message, 0, message.length, FEED); } catch (e) {
    console.error('a feed that does not decode:', e.message);
    return;
  }
  const seq = (feed.state && feed.state.seq) || '0';
  last.set(lotId, seq);
  const frame = JSON.stringify({ type: 'lot_update', lotId, seq, state: feed.state || {},
    bids: feed.bids || [], serverTime: feed.serverTimeUs || '0' });
  const set = sockets.get(lotId);
  if (set) for (const ws of set) ws.send(frame);
}

async function subscribe(ws, msg) {
  const lots = Array.isArray(msg.lots) ? msg.lots.map(String) : [];
  for (const lotId of lots) {
    if (!/^[1-9][0-9]{0,18}$/.test(lotId)) {
      ws.send(JSON.stringify({ type: 'error', id: msg.id, message: 'bad lot id ' + lotId }));
      return;
    }
  }
  for (const lotId of lots) {
    let set = sockets.get(lotId);
    if (!set) {
      sockets.set(lotId, set = new Set());
      await sub.subscribe('gavel:lot:' + lotId, onFeed, true);
    }
    set.add(ws);
    ws.lots.add(lotId);
  }
  ws.send(JSON.stringify({ type: 'subscribed', id: msg.id, lots }));
  for (const lotId of lots)
    ws.send(JSON.stringify({ type: 'lot_snapshot', lotId, seq: last.get(lotId) || '0' }));
}

async function main() {
  await sub.connect();
  const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
  const wss = new WebSocketServer({ server, path: '/ws',
    handleProtocols: (protocols) => (protocols.has('gavel.v1') ? 'gavel.v1' : false) });
  wss.on('connection', (ws) => {
    ws.lots = new Set();
    ws.on('message', (data) => {
      let msg;
      try { msg = JSON.parse(data); } catch (e) { ws.close(1007, 'not JSON'); return; }
      if (msg.type === 'subscribe') subscribe(ws, msg).catch((e) => console.error(e));
    });
    ws.on('close', () => {
      for (const lotId of ws.lots) sockets.get(lotId).delete(ws);
    });
  });
  server.listen(Number(port), '127.0.0.1', 4096, () => console.error('listening on ' + port));
}
main().catch((e) => { console.error(e); process.exit(1); });
