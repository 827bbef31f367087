"""Fixtures of the browser tests: the real daemons behind the real gateway
(tests/conftest.py), which serves the checkout's web/ at / (the stack's
GAVEL_GATEWAY_WEB_DIR); users and lots made through the REST API
(tests/gateway/conftest.py's fixtures); and run_node(), which runs one of
the node scripts here (playwright-core driving /usr/bin/chromium) with
what it needs in its environment and returns its result.

playwright-core is installed by `make web-test-deps` (npm ci from
package-lock.json, part of `make test`), never by a test."""
import json
import os
import subprocess

import pytest

import gavel_harness as h
from gateway.conftest import rest, gw_admin, gw_moderator, gw_category, market  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("GAVEL_CHROMIUM", "/usr/bin/chromium")


def artifacts_dir():
    """Screenshots and logs of the browser tests: <build>/web-artifacts."""
    d = os.path.join(h.build_dir(), "web-artifacts")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def browser_ready():
    missing = []
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        missing.append("tests/web/node_modules/playwright-core (run `make web-test-deps`)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (run `make deps`: Debian package chromium)" % CHROMIUM)
    node = subprocess.run(["node", "-p", "process.versions.node"], capture_output=True, text=True)
    if node.returncode != 0 or int(node.stdout.split(".")[0]) < 20:
        missing.append("node >= 20 for playwright-core (found %r)" % node.stdout.strip())
    if missing:
        pytest.fail("browser tests need: " + "; ".join(missing))


@pytest.fixture(scope="session")
def web(gateway, search, payments, browser_ready):
    """The gateway's base URL; its / must be the web UI. The search daemon
    runs too: the catalog asks it first; and the payments daemon (with the
    card provider simulator): the wallet page lists card payments and tops
    up by card."""
    a = h.http_request(gateway, "GET", "/")
    assert a.status == 200 and "/js/app.js" in a.body, "the gateway does not serve web/: %r" % a
    return gateway.base_url


@pytest.fixture
def run_node(web):
    """run_node(script, timeout=..., **ctx): runs tests/web/<script> with
    GAVEL_WEB_CTX = {"base": <gateway URL>, "artifacts": dir, **ctx} and
    returns the dict it printed on its last line "RESULT {...}"; fails the
    test with the script's output when it exits nonzero."""
    def run(script, timeout=120, **ctx):
        env = dict(os.environ)
        env["GAVEL_WEB_CTX"] = json.dumps(dict(ctx, base=web, artifacts=artifacts_dir(),
                                               slow=h.SLOW, chromium=CHROMIUM))
        p = subprocess.run(["node", os.path.join(HERE, script)], env=env, cwd=HERE,
                           capture_output=True, text=True, timeout=timeout * h.SLOW)
        out = p.stdout + p.stderr
        log = os.path.join(artifacts_dir(), script.replace(".mjs", ".log"))
        with open(log, "w") as f:
            f.write(out)
        if p.returncode != 0:
            pytest.fail("%s failed (exit %d):\n%s" % (script, p.returncode, out[-6000:]))
        results = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        assert results, "%s printed no RESULT line:\n%s" % (script, out[-3000:])
        return json.loads(results[-1][len("RESULT "):])
    return run
