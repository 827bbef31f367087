"""The HTTP/2 and request limits of every daemon (libs/rpc), tried on the
users daemon from outside with raw HTTP/2 (python3-h2) where a gRPC client
would never misbehave that way.

- Rapid reset (CVE-2023-44487): 20,000 streams opened and reset at once on
  one connection held the polling thread 1 to 3 s and every other client
  with it (a GetBalance stalled 1.3 s, no GOAWAY). Now the connection is
  cut and other clients' calls stay under 100 ms.
- A connection that never starts HTTP/2 is closed after the handshake
  timeout, and one that pings without calls gets GOAWAY too_many_pings.
- A request over its method's size limit is refused before it is unpacked:
  sixteen 4 MiB UpdateProfile calls (1.4 M update_mask entries) took the
  daemon from 210 to 637 MB.
"""
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import h2.config
import h2.connection
import h2.errors
import h2.events
import hyperframe.frame

import gavel_harness as h
from gavel_harness import users_pb2

RESETS = 20000
# The promise is 100 ms, checked on the plain build. Under ASan every one of
# gRPC's per-stream allocations costs several times more and one run in a
# few stalls 300-500 ms; before the guard the plain build stalled 1.3 s and
# the sanitizer build far longer, so 600 ms still tells the two apart.
STALL_LIMIT = 0.600 if h.is_asan_build() else 0.100


def host_port(daemon):
    host, port = daemon.addr.rsplit(":", 1)
    return host, int(port)


def h2_client():
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    return c


def read_until_closed(sock, conn, timeout):
    """Reads until the server ends the connection; returns (how, seconds):
    how is the GOAWAY's ConnectionTerminated event, "EOF", "RESET" or None
    when the connection was still open at the timeout."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < timeout:
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "RESET", time.monotonic() - start
        if not data:
            return "EOF", time.monotonic() - start
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            continue
        for ev in events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                return ev, time.monotonic() - start
    return None, timeout


def reset_flood_bytes(token, n):
    """The bytes of a connection that opens n GetBalance streams and resets
    each at once, built before the clock starts."""
    c = h2_client()
    preface = c.data_to_send()
    headers = [(":method", "POST"), (":scheme", "http"), (":authority", "gavel"),
               (":path", "/gavel.users.v1.Wallet/GetBalance"),
               ("content-type", "application/grpc"), ("te", "trailers"),
               ("authorization", "Bearer " + token)]
    for i in range(n):
        sid = 2 * i + 1
        c.send_headers(sid, headers, end_stream=False)
        c.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    return c, preface + c.data_to_send()


@pytest.mark.latency
def test_a_rapid_reset_flood_is_cut_and_does_not_stall_other_clients(users, wallet_stub,
                                                                     new_account):
    who = new_account()
    conn, flood = reset_flood_bytes(who.tokens.access_token, RESETS)
    closed_before = h.metric_value(users, "gavel_rpc_connections_closed_total",
                                   'reason="reset_flood"')
    wallet_stub.GetBalance(users_pb2.GetBalanceRequest(), metadata=who.md,
                           timeout=h.RPC_TIMEOUT)

    latencies, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            t0 = time.monotonic()
            wallet_stub.GetBalance(users_pb2.GetBalanceRequest(), metadata=who.md,
                                   timeout=h.RPC_TIMEOUT)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        time.sleep(0.3)
        sock = socket.create_connection(host_port(users))
        sock.settimeout(10)
        try:
            sock.sendall(flood)
        except OSError:
            pass  # cut while still writing: what the guard is for
        how, _ = read_until_closed(sock, conn, 10 * h.SLOW)
        sock.close()
        time.sleep(0.5)
    finally:
        stop.set()
        prober.join()
    assert how is not None, "the flooding connection was never closed"
    assert len(latencies) > 20
    worst = max(latencies)
    print("rapid reset: worst GetBalance %.1f ms over %d calls" % (worst * 1e3, len(latencies)))
    assert worst < STALL_LIMIT, "a GetBalance took %.0f ms during the flood" % (worst * 1e3)
    assert h.metric_value(users, "gavel_rpc_connections_closed_total",
                          'reason="reset_flood"') > closed_before
    assert "HTTP/2 rapid reset" in users.log_text()


def test_a_connection_that_never_speaks_http2_is_closed_after_the_handshake_timeout(users):
    sock = socket.create_connection(host_port(users))
    how, took = read_until_closed(sock, h2_client(), 15 * h.SLOW)
    sock.close()
    assert how is not None, "a silent connection was still open after 15 s"
    assert took < 8 * h.SLOW  # GAVEL_RPC_HANDSHAKE_MS, 5 s by default


def goaway_in(received):
    """The (error code, debug data) of the first GOAWAY frame in the bytes
    the server sent, or None. Read frame by frame with hyperframe rather than
    through h2's state machine, which raises on a PING that follows the
    GOAWAY in one read."""
    buf = memoryview(received)
    while len(buf) >= 9:
        frame, length = hyperframe.frame.Frame.parse_frame_header(buf[:9])
        if len(buf) < 9 + length:
            return None
        frame.parse_body(buf[9:9 + length])
        if isinstance(frame, hyperframe.frame.GoAwayFrame):
            return frame.error_code, frame.additional_data
        buf = buf[9 + length:]
    return None


def test_pinging_without_calls_gets_goaway_too_many_pings(users):
    sock = socket.create_connection(host_port(users))
    conn = h2_client()
    sock.sendall(conn.data_to_send())
    sock.settimeout(0.05)
    received = b""
    ended = None
    for _ in range(100):
        conn.ping(b"gavel-pi")
        try:
            sock.sendall(conn.data_to_send())
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except OSError:
            break
        if not data:
            break
        received += data
        ended = goaway_in(received)
        if ended is not None:
            break
    sock.close()
    assert ended is not None, "100 pings in a row without calls were all accepted"
    code, debug = ended
    assert code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, code
    assert debug == b"too_many_pings", debug


def rss_kib(daemon):
    with open("/proc/%d/status" % daemon.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_oversized_request_is_refused_before_it_is_unpacked(users, users_stub, new_account):
    bidders = [new_account() for _ in range(4)]
    big = users_pb2.UpdateProfileRequest(update_mask=["a"] * 1_390_000)  # just under 4 MiB
    mid = users_pb2.UpdateProfileRequest(update_mask=["a"] * 30_000)     # 90 KB
    assert 4 * 10 ** 6 < big.ByteSize() < 4 * 1024 * 1024 and mid.ByteSize() > 8192
    before = rss_kib(users)

    def send(i):
        who = bidders[i % len(bidders)]
        req = big if i % 2 else mid
        try:
            users_stub.UpdateProfile(req, metadata=who.md, timeout=h.RPC_TIMEOUT)
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""

    with ThreadPoolExecutor(max_workers=16) as ex:
        answers = list(ex.map(send, range(16)))
    # Every one refused before it was unpacked, in words a caller can act on.
    for code, details in answers:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
        assert "UpdateProfile accepts at most 8192" in details, details
    grown_mib = (rss_kib(users) - before) / 1024
    assert grown_mib < 64, "the daemon grew by %.0f MiB" % grown_mib
    # Nothing changed: the profile is still what it was.
    for who in bidders:
        got = users_stub.GetProfile(users_pb2.GetProfileRequest(), metadata=who.md,
                                    timeout=h.RPC_TIMEOUT).profile
        assert got.display_name == who.profile.display_name
