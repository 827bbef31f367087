"""Every daemon listens only where it was told: the stack binds them to
loopback, so none of their ports may be open on another interface. Read
from outside as an operator would check a host: the kernel's table of
listening TCP sockets (/proc/net/tcp and tcp6), matched to each daemon's
own sockets (/proc/<pid>/fd). The gateway once said "serving HTTP on
127.0.0.1" while libwebsockets listened on every interface (an IPv4
address given to a vhost with IPv6 on)."""
import os
import socket

import pytest

import gavel_harness as h

LISTEN = "0A"
LOOPBACK_V4 = "0100007F"                                # 127.0.0.1, as /proc prints it
LOOPBACK_V6 = ("00000000000000000000000001000000",      # ::1
               "0000000000000000FFFF00000100007F")      # ::ffff:127.0.0.1


def listening(pid):
    """(address hex, port) of every TCP socket process pid listens on."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                addr, port = cols[1].split(":")
                if cols[3] == LISTEN and cols[9] in inodes:
                    found.append((addr, int(port, 16)))
    return found


def is_loopback(addr):
    return addr == LOOPBACK_V4 or addr in LOOPBACK_V6


def test_every_daemon_listens_on_loopback_only(users, bids, auctions, notifications, search,
                                               payments, streaming, gateway):
    seen = {}
    for d in (users, bids, auctions, notifications, search, payments, streaming, gateway):
        socks = listening(d.proc.pid)
        assert socks, "%s listens on nothing?" % d.svc
        wide = [(a, p) for a, p in socks if not is_loopback(a)]
        assert not wide, "%s listens beyond loopback: %s" % (d.svc, wide)
        seen[d.svc] = sorted(p for _, p in socks)
    assert gateway.port in seen["gateway"], seen


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 here")
def test_a_gateway_bound_to_ipv6_loopback_listens_there_only(stack, gateway):
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    port = h.free_port()
    g = h.Gateway(stack)
    g.addr = "127.0.0.1:%d" % h.free_port()
    g.env.update({"GAVEL_GATEWAY_BIND": "::1", "GAVEL_GATEWAY_PORT": str(port),
                  "GAVEL_GATEWAY_ADDR": g.addr, "GAVEL_METRICS_PORT": "0"})
    g.log_path = g.log_path.replace(".pytest.log", ".ipv6.pytest.log")
    g.log_start = g.log_size()
    g.start()
    try:
        socks = listening(g.proc.pid)
        http = [a for a, p in socks if p == port]
        assert http == [LOOPBACK_V6[0]], socks
        with socket.create_connection(("::1", port), timeout=5):
            pass
    finally:
        g.stop()
    assert not g.sanitizer_reports(since=g.log_start)
