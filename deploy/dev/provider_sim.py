#!/usr/bin/python3
"""The card provider simulator: the provider HTTP API that gavel-payments
speaks (docs/payments-provider.md), in memory, on 127.0.0.1 only, with
faults a test can switch on. Nothing is ever charged anywhere.

    provider_sim.py [--port N] [--api-key-file F] [--webhook-secret-file F]
                    [--webhook-url URL] [--state FILE]

The port comes from --port, else GAVEL_PROVIDER_PORT, else 51026. The API
key and webhook secret come from their files, else from
GAVEL_PROVIDER_API_KEY / GAVEL_PROVIDER_WEBHOOK_SECRET; without a key the
simulator refuses to start, without a secret (or a URL) it sends no
webhooks. With --state, everything is loaded from FILE at start and written
back (whole, atomically) after every change. Prints one line
"provider_sim listening on 127.0.0.1:PORT" when ready; exits 0 on SIGTERM.

Test card tokens: tok_decline (card_declined), tok_insufficient
(insufficient_funds), tok_expired (expired_card) are declined with 402;
any other token holds. Payout destination acct_closed is declined.
"""
import argparse
import hashlib
import hmac
import json
import os
import queue
import random
import re
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_PORT = 51026
MAX_BODY = 1 << 20
HOLD_SECONDS = 7 * 86400
DECLINE_TOKENS = {
    "tok_decline": ("card_declined", "Your card was declined."),
    "tok_insufficient": ("insufficient_funds", "Your card has insufficient funds."),
    "tok_expired": ("expired_card", "Your card has expired."),
}
FAULT_KINDS = ("timeout_after_effect", "rate_limit", "error_500", "decline",
               "duplicate_webhooks", "out_of_order_webhooks", "malformed")
# What a refund or payout may become after the fact (/_control/transfer).
TRANSFER_STATES = {"refund": ("pending", "succeeded", "failed", "canceled"),
                   "payout": ("pending", "succeeded", "failed", "returned", "canceled")}
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")


class ApiError(Exception):
    """An answer other than 2xx: HTTP status, error code and message."""

    def __init__(self, status, code, message, intent=None):
        super().__init__(message)
        self.status, self.code, self.message, self.intent = status, code, message, intent

    def body(self):
        err = {"type": "card_error" if self.status == 402 else "invalid_request_error",
               "code": self.code, "message": self.message}
        if self.intent is not None:
            err["payment_intent"] = self.intent
        return {"error": err}


def new_id(prefix):
    return prefix + "_" + secrets.token_hex(12)


class Faults:
    """The switched-on faults. Each is {"next": N, "probability": p,
    "until": unix s, "match": "METHOD /path prefix", ...its own fields}."""

    def __init__(self):
        self.spec = {}

    def set(self, spec):
        if not isinstance(spec, dict):
            raise ApiError(400, "parameter_invalid", "faults must be a JSON object")
        out = {}
        for kind, f in spec.items():
            if kind not in FAULT_KINDS:
                raise ApiError(400, "parameter_invalid", "unknown fault %r (one of %s)"
                               % (kind, ", ".join(FAULT_KINDS)))
            if not isinstance(f, dict):
                raise ApiError(400, "parameter_invalid", "fault %s must be an object" % kind)
            f = dict(f)
            if "duration_ms" in f:
                f["until"] = time.time() + float(f.pop("duration_ms")) / 1000
            out[kind] = f
        self.spec = out

    def fire(self, kind, where=""):
        """True when fault `kind` applies now (consumes one of `next`)."""
        f = self.spec.get(kind)
        if not f:
            return None
        if f.get("match") and not where.startswith(f["match"]):
            return None
        if f.get("next", 0) > 0:
            f["next"] -= 1
            return f
        if "until" in f and time.time() < f["until"]:
            return f
        p = f.get("probability", 0)
        if p > 0 and random.random() < p:
            return f
        return None


class Sim:
    """All state, under one lock. Handlers hold it while they change
    anything, so two requests with one idempotency key never both act."""

    def __init__(self, api_key, secret, webhook_url, state_file):
        self.api_key = api_key
        self.secret = secret
        self.webhook_url = webhook_url
        self.state_file = state_file
        self.lock = threading.RLock()
        self.faults = Faults()
        self.reset()
        if state_file and os.path.exists(state_file):
            with open(state_file) as f:
                saved = json.load(f)
            for k in ("intents", "refunds", "payouts", "idem", "counts", "events"):
                if k in saved:
                    setattr(self, k, saved[k])
        self.hooks = queue.Queue()
        threading.Thread(target=self.deliver_loop, daemon=True).start()

    def reset(self):
        self.intents, self.refunds, self.payouts = {}, {}, {}
        self.idem = {}      # key -> {"req": method+path, "body": canonical, "status", "resp"}
        self.counts = {"requests": 0, "charges": 0, "captures": 0, "refunds": 0,
                       "payouts": 0, "rate_limited": 0, "errors_500": 0, "timeouts": 0,
                       "idempotent_replays": 0, "webhooks_sent": 0, "webhooks_failed": 0}
        self.events = []    # the last events made, with delivery outcome
        self.seq = 0

    def save(self):
        if not self.state_file:
            return
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"intents": self.intents, "refunds": self.refunds,
                       "payouts": self.payouts, "idem": self.idem, "counts": self.counts,
                       "events": self.events}, f)
        os.replace(tmp, self.state_file)

    def state(self):
        return {"intents": self.intents, "refunds": self.refunds, "payouts": self.payouts,
                "idempotency_keys": len(self.idem), "counts": self.counts,
                "events": self.events[-200:], "faults": self.faults.spec,
                "webhook_url": self.webhook_url}

    # ---- webhooks ------------------------------------------------------------
    def emit(self, etype, obj):
        """Queues a signed event about obj (a copy, as it is now)."""
        self.seq += 1
        ev = {"id": new_id("evt"), "object": "event", "type": etype,
              "created": int(time.time()), "sequence": self.seq,
              "data": {"object": json.loads(json.dumps(obj))}}
        rec = {"id": ev["id"], "type": etype, "sequence": self.seq, "deliveries": 0,
               "delivered": False}
        self.events.append(rec)
        del self.events[:-1000]
        if not (self.webhook_url and self.secret):
            return
        copies = 2 if self.faults.fire("duplicate_webhooks", etype) else 1
        late = self.faults.fire("out_of_order_webhooks", etype)
        for _ in range(copies):
            if late:
                delay = float(late.get("delay_ms", 500)) / 1000
                threading.Timer(delay, self.hooks.put, ((ev, rec),)).start()
            else:
                self.hooks.put((ev, rec))

    def sign(self, body, t=None):
        t = int(time.time()) if t is None else t
        mac = hmac.new(self.secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
        return "t=%d,v1=%s" % (t, mac)

    def deliver_loop(self):
        while True:
            ev, rec = self.hooks.get()
            body = json.dumps(ev, separators=(",", ":")).encode()
            ok = False
            for attempt in range(3):
                req = urllib.request.Request(self.webhook_url, data=body, method="POST", headers={
                    "Content-Type": "application/json", "Gavel-Signature": self.sign(body),
                    "Gavel-Event-Id": ev["id"], "User-Agent": "gavel-provider-sim/1"})
                try:
                    with urllib.request.urlopen(req, timeout=5) as r:
                        ok = 200 <= r.status < 300
                except (urllib.error.URLError, OSError, ValueError):
                    ok = False
                if ok:
                    break
                time.sleep(0.2 * (attempt + 1))
            with self.lock:
                rec["deliveries"] += 1
                rec["delivered"] = rec["delivered"] or ok
                self.counts["webhooks_sent" if ok else "webhooks_failed"] += 1

    # ---- the API -------------------------------------------------------------------
    def intent(self, iid):
        it = self.intents.get(iid)
        if it is None:
            raise ApiError(404, "resource_missing", "no such payment_intent: %s" % iid)
        return it

    def create_intent(self, b, key):
        amount, currency = need_amount(b), need_currency(b)
        token = b.get("payment_method")
        if not isinstance(token, str) or not 0 < len(token) <= 255:
            raise ApiError(400, "parameter_missing", "payment_method must be a card token")
        if b.get("capture_method", "manual") != "manual":
            raise ApiError(400, "parameter_invalid", "only capture_method=manual is supported")
        desc = b.get("description", "")
        if not isinstance(desc, str) or len(desc) > 1000:
            raise ApiError(400, "parameter_invalid", "description must be a string of <= 1000")
        now = int(time.time())
        it = {"id": new_id("pi"), "object": "payment_intent", "amount": amount,
              "amount_capturable": amount, "amount_captured": 0, "amount_refunded": 0,
              "currency": currency, "capture_method": "manual", "description": desc,
              "payment_method": token, "idempotency_key": key, "created": now,
              "expires_at": now + HOLD_SECONDS, "status": "requires_capture",
              "last_error": None}
        decline = DECLINE_TOKENS.get(token)
        forced = self.faults.fire("decline", "POST /v1/payment_intents")
        if forced and not decline:
            decline = (forced.get("code", "card_declined"),
                       forced.get("message", "Your card was declined."))
        self.intents[it["id"]] = it
        self.counts["charges"] += 0 if decline else 1
        if decline:
            it.update(status="failed", amount_capturable=0,
                      last_error={"code": decline[0], "message": decline[1]})
            self.emit("payment_intent.failed", it)
            raise ApiError(402, decline[0], decline[1], intent=it)
        self.emit("payment_intent.authorized", it)
        return 200, it

    def capture(self, iid, b):
        it = self.intent(iid)
        amount = need_amount(b)
        if it["status"] != "requires_capture":
            raise ApiError(400, "payment_intent_unexpected_state",
                           "payment_intent %s is %s, not requires_capture" % (iid, it["status"]))
        if amount > it["amount_capturable"]:
            raise ApiError(400, "amount_too_large", "amount %d exceeds the %d held"
                           % (amount, it["amount_capturable"]))
        it.update(status="succeeded", amount_captured=amount, amount_capturable=0)
        self.counts["captures"] += 1
        self.emit("payment_intent.captured", it)
        return 200, it

    def cancel(self, iid):
        it = self.intent(iid)
        if it["status"] != "requires_capture":
            raise ApiError(400, "payment_intent_unexpected_state",
                           "payment_intent %s is %s, not requires_capture" % (iid, it["status"]))
        it.update(status="canceled", amount_capturable=0)
        self.emit("payment_intent.canceled", it)
        return 200, it

    def refund(self, b):
        iid = b.get("payment_intent")
        if not isinstance(iid, str):
            raise ApiError(400, "parameter_missing", "payment_intent is required")
        it = self.intent(iid)
        amount = need_amount(b)
        if it["status"] != "succeeded":
            raise ApiError(400, "payment_intent_unexpected_state",
                           "payment_intent %s is %s, not succeeded" % (iid, it["status"]))
        if it["amount_refunded"] + amount > it["amount_captured"]:
            raise ApiError(400, "amount_too_large",
                           "refund of %d exceeds the %d captured and not yet refunded"
                           % (amount, it["amount_captured"] - it["amount_refunded"]))
        it["amount_refunded"] += amount
        rf = {"id": new_id("re"), "object": "refund", "payment_intent": iid, "amount": amount,
              "currency": it["currency"], "status": "succeeded", "created": int(time.time())}
        self.refunds[rf["id"]] = rf
        self.counts["refunds"] += 1
        self.emit("refund.succeeded", rf)
        return 200, rf

    def payout(self, b):
        amount, currency = need_amount(b), need_currency(b)
        dest = b.get("destination")
        if not isinstance(dest, str) or not 0 < len(dest) <= 255:
            raise ApiError(400, "parameter_missing", "destination must be an account reference")
        if dest == "acct_closed":
            raise ApiError(402, "account_closed", "The destination account is closed.")
        po = {"id": new_id("po"), "object": "payout", "amount": amount, "currency": currency,
              "destination": dest, "description": str(b.get("description", ""))[:1000],
              "status": "succeeded", "created": int(time.time())}
        self.payouts[po["id"]] = po
        self.counts["payouts"] += 1
        self.emit("payout.succeeded", po)
        return 200, po


    def transfer_change(self, b):
        """A refund or payout the provider changes later, as real ones do
        (a refund the card network bounces, a payout the seller's bank
        returns): {"refund" | "payout": id, "status": s, "amount": n}, both
        optional. A refund's intent counts it as refunded only while it is
        pending or succeeded. Emits "<object>.<status>"."""
        kind = "refund" if "refund" in b else "payout" if "payout" in b else None
        if kind is None:
            raise ApiError(400, "parameter_missing", "name a refund or a payout")
        store = self.refunds if kind == "refund" else self.payouts
        tr = store.get(b[kind])
        if tr is None:
            raise ApiError(404, "resource_missing", "no such %s: %s" % (kind, b[kind]))
        status = b.get("status", tr["status"])
        if status not in TRANSFER_STATES[kind]:
            raise ApiError(400, "parameter_invalid", "a %s's status is one of %s"
                           % (kind, ", ".join(TRANSFER_STATES[kind])))
        amount = need_amount(b) if "amount" in b else tr["amount"]
        if kind == "refund":
            it = self.intent(tr["payment_intent"])
            counted = ("pending", "succeeded")
            was = tr["amount"] if tr["status"] in counted else 0
            now = amount if status in counted else 0
            refunded = it["amount_refunded"] - was + now
            if not 0 <= refunded <= it["amount_captured"]:
                raise ApiError(400, "amount_too_large",
                               "the intent's refunds would total %d of %d captured"
                               % (refunded, it["amount_captured"]))
            it["amount_refunded"] = refunded
        tr.update(status=status, amount=amount)
        self.emit("%s.%s" % (kind, status), tr)
        self.save()
        return tr


def need_amount(b):
    a = b.get("amount")
    if type(a) is not int or a <= 0 or a > 99999999999:
        raise ApiError(400, "parameter_invalid", "amount must be a positive integer of minor units")
    return a


def need_currency(b):
    c = b.get("currency")
    if not isinstance(c, str) or not CURRENCY_RE.match(c):
        raise ApiError(400, "parameter_invalid", "currency must be a 3-letter ISO 4217 code")
    return c.upper()


class Handler(BaseHTTPRequestHandler):
    server_version = "gavel-provider-sim/1"
    protocol_version = "HTTP/1.1"
    # An answer goes out as two sends (headers, body): with Nagle's algorithm
    # the body would wait for the client's delayed ACK, 40 ms a call.
    disable_nagle_algorithm = True
    sim = None  # set in main

    def log_message(self, fmt, *args):
        sys.stderr.write("provider_sim: %s %s\n" % (self.address_string(), fmt % args))

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_raw(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_raw(self):
        """Reads the whole body first, so the connection stays usable
        whatever the answer."""
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = -1
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "body_too_large", "body over %d bytes" % MAX_BODY)
        self.raw = self.rfile.read(n) if n else b""

    def read_body(self):
        raw = self.raw
        if not raw:
            return {}
        try:
            b = json.loads(raw)
        except ValueError:
            raise ApiError(400, "parameter_invalid", "the body is not JSON")
        if not isinstance(b, dict):
            raise ApiError(400, "parameter_invalid", "the body must be a JSON object")
        return b

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def handle_any(self, method):
        self.raw = b""
        try:
            self.read_raw()
            url = urllib.parse.urlsplit(self.path)
            if url.path.startswith("/_control/"):
                return self.control(method, url.path)
            self.check_key()
            body = self.read_body() if method == "POST" else {}
            self.api(method, url, body)
        except ApiError as e:
            self.send_json(e.status, e.body())
        except (ValueError, TypeError, KeyError) as e:
            self.send_json(400, ApiError(400, "parameter_invalid", str(e)).body())

    def check_key(self):
        auth = self.headers.get("Authorization", "")
        want = "Bearer " + self.sim.api_key
        if not hmac.compare_digest(auth.encode(), want.encode()):
            raise ApiError(401, "invalid_api_key", "invalid API key")

    def control(self, method, path):
        sim = self.sim
        with sim.lock:
            if method == "GET" and path == "/_control/state":
                return self.send_json(200, sim.state())
            if method != "POST":
                raise ApiError(405, "method_not_allowed", "use POST")
            b = self.read_body()
            if path == "/_control/faults":
                sim.faults.set(b)
                return self.send_json(200, {"faults": sim.faults.spec})
            if path == "/_control/config":
                if "webhook_url" in b:
                    sim.webhook_url = b["webhook_url"] or None
                return self.send_json(200, {"webhook_url": sim.webhook_url})
            if path == "/_control/sign":  # what a webhook with this body would carry
                if not sim.secret:
                    raise ApiError(400, "no_secret", "the simulator has no webhook secret")
                body, t = b.get("body", ""), b.get("t")
                return self.send_json(200, {"signature": sim.sign(body.encode(), t)})
            if path == "/_control/reset":
                sim.reset()
                sim.faults.set({})
                sim.save()
                return self.send_json(200, {})
            if path == "/_control/transfer":  # a refund or payout changes after the fact
                return self.send_json(200, sim.transfer_change(b))
            if path == "/_control/expire":  # an uncaptured hold lapses now
                it = sim.intent(b.get("payment_intent", ""))
                if it["status"] == "requires_capture":
                    it.update(status="canceled", amount_capturable=0, expires_at=int(time.time()))
                    sim.emit("payment_intent.canceled", it)
                    sim.save()
                return self.send_json(200, it)
        raise ApiError(404, "resource_missing", "no such control endpoint")

    def api(self, method, url, body):
        sim = self.sim
        where = "%s %s" % (method, url.path)
        sleep_s = 0
        with sim.lock:
            sim.counts["requests"] += 1
            f = sim.faults.fire("rate_limit", where)
            if f:
                sim.counts["rate_limited"] += 1
                ra = str(int(f.get("retry_after", 1)))
                e = ApiError(429, "rate_limit", "too many requests")
                return self.send_json(429, e.body(), headers=[("Retry-After", ra)])
            if sim.faults.fire("error_500", where):
                sim.counts["errors_500"] += 1
                return self.send_json(500, ApiError(500, "api_error", "internal error").body())
            f = sim.faults.fire("malformed", where)
            if f:
                body = str(f.get("body", "")).encode() + b" " * int(f.get("pad", 0))
                return self.send_raw(int(f.get("status", 200)), body)
            if method == "GET":
                return self.send_json(*self.read(url))
            key = self.headers.get("Idempotency-Key")
            if key is None or not KEY_RE.match(key):
                raise ApiError(400, "idempotency_key_required",
                               "an Idempotency-Key header of 1..255 printable characters is required")
            canon = json.dumps(body, sort_keys=True, separators=(",", ":"))
            seen = sim.idem.get(key)
            if seen is not None:
                if seen["req"] != where or seen["body"] != canon:
                    raise ApiError(422, "idempotency_key_reused",
                                   "Idempotency-Key %s was used for a different request" % key)
                sim.counts["idempotent_replays"] += 1
                return self.send_json(seen["status"], seen["resp"],
                                      headers=[("Idempotent-Replayed", "true")])
            try:
                status, resp = self.mutate(url.path, body, key)
            except ApiError as e:
                status, resp = e.status, e.body()
            sim.idem[key] = {"req": where, "body": canon, "status": status, "resp": resp}
            sim.save()
            f = sim.faults.fire("timeout_after_effect", where)
            if f:
                sim.counts["timeouts"] += 1
                sleep_s = float(f.get("sleep_ms", 5000)) / 1000
        if sleep_s:
            # The change is made and stored under the key; the client gives up first.
            time.sleep(sleep_s)
        self.send_json(status, resp)

    def mutate(self, path, b, key):
        sim = self.sim
        parts = path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            return sim.create_intent(b, key)
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"]:
            if parts[3] == "capture":
                return sim.capture(parts[2], b)
            if parts[3] == "cancel":
                return sim.cancel(parts[2])
        if parts == ["v1", "refunds"]:
            return sim.refund(b)
        if parts == ["v1", "payouts"]:
            return sim.payout(b)
        raise ApiError(404, "resource_missing", "no such endpoint: POST %s" % path)

    def read(self, url):
        sim = self.sim
        parts = url.path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            q = urllib.parse.parse_qs(url.query)
            key = q.get("idempotency_key", [""])[0]
            if not key:
                raise ApiError(400, "parameter_missing", "idempotency_key is required")
            data = [it for it in sim.intents.values() if it["idempotency_key"] == key]
            return 200, {"object": "list", "data": data}
        if len(parts) == 3 and parts[:2] == ["v1", "payment_intents"]:
            return 200, sim.intent(parts[2])
        if len(parts) == 3 and parts[:2] == ["v1", "refunds"] and parts[2] in sim.refunds:
            return 200, sim.refunds[parts[2]]
        if len(parts) == 3 and parts[:2] == ["v1", "payouts"] and parts[2] in sim.payouts:
            return 200, sim.payouts[parts[2]]
        raise ApiError(404, "resource_missing", "no such resource: GET %s" % url.path)


def read_secret(path, env):
    if path:
        with open(path) as f:
            return f.read().strip()
    return os.environ.get(env, "").strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int,
                    default=int(os.environ.get("GAVEL_PROVIDER_PORT") or DEFAULT_PORT))
    ap.add_argument("--api-key-file")
    ap.add_argument("--webhook-secret-file")
    ap.add_argument("--webhook-url", default=os.environ.get("GAVEL_PROVIDER_WEBHOOK_URL"))
    ap.add_argument("--state")
    a = ap.parse_args()
    key = read_secret(a.api_key_file, "GAVEL_PROVIDER_API_KEY")
    if not key:
        ap.error("no API key (--api-key-file or GAVEL_PROVIDER_API_KEY)")
    Handler.sim = Sim(key, read_secret(a.webhook_secret_file, "GAVEL_PROVIDER_WEBHOOK_SECRET"),
                      a.webhook_url or None, a.state)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    print("provider_sim listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    while not stop.wait(3600):
        pass
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
