"""A gateway that cannot have its HTTP port stops at start-up with exit 1
and a line that says why, under the sanitizers too (no abort, no leak):
the port taken by another process, an address that is not one."""
import socket
import subprocess

import gavel_harness as h


def start_alone(stack, **env):
    """Runs a gateway of its own to completion; returns the finished process."""
    d = h.Gateway(stack)
    d.env.update({"GAVEL_GATEWAY_ADDR": "127.0.0.1:%d" % h.free_port(),
                  "GAVEL_METRICS_PORT": "0"}, **env)
    return subprocess.run([d.binary], env=d._proc_env(), capture_output=True, text=True,
                          timeout=60 * h.SLOW)


def assert_clean_failure(p, words):
    assert p.returncode == 1, (p.returncode, p.stderr[-3000:])
    assert words in p.stderr, p.stderr[-3000:]
    assert not [m for m in h.SANITIZER_MARKERS if m in p.stderr], p.stderr[-3000:]


def test_a_taken_port_stops_the_start_with_exit_1(stack):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        p = start_alone(stack, GAVEL_GATEWAY_PORT=str(port))
    assert_clean_failure(p, "cannot serve HTTP on 127.0.0.1:%d: Address already in use" % port)


def test_a_bind_address_that_is_not_one_stops_the_start(stack):
    p = start_alone(stack, GAVEL_GATEWAY_PORT=str(h.free_port()), GAVEL_GATEWAY_BIND="gateway.local")
    assert_clean_failure(p, "GAVEL_GATEWAY_BIND=gateway.local is not an IPv4 or IPv6 address")
