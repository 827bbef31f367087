"""The gateway starts beside the real daemons, answers HTTP on its port and
lets a WebSocket upgrade happen on /ws only."""
import socket

import gavel_harness as h


def test_gateway_answers_unknown_route_with_404_json(gateway):
    a = h.http_request(gateway, "GET", "/api/v1/no-such-thing")
    assert a.status == 404, a
    assert a.error["code"] == "not_found"
    assert a.error["request_id"] == a.header("x-request-id")


def test_gateway_refuses_websocket_upgrade_off_ws_path(gateway):
    with socket.create_connection((gateway.host, gateway.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/lots HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        data = s.recv(4096)
    assert not data.startswith(b"HTTP/1.1 101"), data
