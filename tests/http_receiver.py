"""A local HTTP receiver for the notifications daemon's HTTP channels
(webhooks, Telegram, push): a http.server thread on loopback that records
every request and answers from a per-path script (default 200)."""
import http.server
import json
import threading
import time

import gavel_harness as h


class Request:
    def __init__(self, path, headers, body):
        self.path, self.headers, self.body, self.at = path, headers, body, time.monotonic()

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s %r>" % (self.path, dict(self.headers), self.body[:200])


class Receiver:
    def __init__(self, port):
        self.lock = threading.Lock()
        self.requests = []
        self.scripts = {}  # path -> [(status, headers)], popped in order; last one repeats
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with owner.lock:
                    owner.requests.append(Request(self.path, self.headers, body))
                    script = owner.scripts.get(self.path)
                    status, headers = (200, {})
                    if script:
                        status, headers = script.pop(0) if len(script) > 1 else script[0]
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                # one request per connection: a receiver closed at the end of
                # a module keeps no connection that the next one misses
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    def script(self, path, *answers):
        """answers: status codes or (status, headers) pairs."""
        with self.lock:
            self.scripts[path] = [a if isinstance(a, tuple) else (a, {}) for a in answers]

    def at(self, path):
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait(self, path, count=1, timeout=10):
        return h.wait_until(lambda: len(self.at(path)) >= count and self.at(path), timeout,
                            what="%d request(s) on %s" % (count, path))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def receiver_for(notifications):
    """The receiver on the port the daemon's GAVEL_PUSH_URL names."""
    port = int(notifications.env["GAVEL_PUSH_URL"].split(":")[2].split("/")[0])
    return Receiver(port)
