"""TLS by configuration: with GAVEL_GATEWAY_TLS_CERT and _KEY the port speaks
HTTPS only (OpenSSL through libwebsockets) and answers carry HSTS; one of
the two without the other stops the daemon at start-up."""
import http.client
import ssl
import subprocess

import pytest

import gavel_harness as h


@pytest.fixture(scope="module")
def cert(stack, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "gw.key"), str(d / "gw.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1"], check=True,
                   capture_output=True)
    return crt, key


def tls_gateway(stack, offset, **env):
    d = h.Gateway(stack)
    d.env.update({"GAVEL_GATEWAY_PORT": str(d.port + offset),
                  "GAVEL_GATEWAY_ADDR": "127.0.0.1:%d" % (d.port + offset + 1),
                  "GAVEL_METRICS_PORT": "0"}, **env)
    d.addr = d.env["GAVEL_GATEWAY_ADDR"]
    return d


def test_tls_gateway_serves_https_with_hsts(stack, cert, gateway):
    crt, key = cert
    d = tls_gateway(stack, 60, GAVEL_GATEWAY_TLS_CERT=crt, GAVEL_GATEWAY_TLS_KEY=key)
    d.start()
    try:
        ctx = ssl.create_default_context(cafile=crt)
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection(d.host, d.port, context=ctx, timeout=10 * h.SLOW)
        for _ in range(3):  # keep-alive over TLS too
            a = h.http_request(conn, "GET", "/openapi.json")
            assert a.status == 200 and a.json["openapi"] == "3.1.0", a
            assert a.header("strict-transport-security").startswith("max-age="), a.headers
        conn.close()
        plain = http.client.HTTPConnection(d.host, d.port, timeout=5 * h.SLOW)
        with pytest.raises((OSError, http.client.HTTPException)):
            plain.request("GET", "/openapi.json")
            r = plain.getresponse()
            if r.status == 200:
                raise AssertionError("plain HTTP answered on the TLS port")
            raise OSError("refused with %d" % r.status)
        plain.close()
    finally:
        d.stop()
    assert not d.sanitizer_reports()


def test_certificate_without_key_stops_the_start(stack, cert):
    crt, _ = cert
    d = tls_gateway(stack, 62, GAVEL_GATEWAY_TLS_CERT=crt)
    env = d._proc_env()
    p = subprocess.run([d.binary], env=env, capture_output=True, text=True, timeout=60 * h.SLOW)
    assert p.returncode == 1 and "GAVEL_GATEWAY_TLS_KEY" in p.stderr, p.stderr[-2000:]
