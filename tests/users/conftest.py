"""Fixtures of the users tests: more gavel-users daemons beside the
session's, as an operator runs replicas (same database, Redis and Kafka
unless a test says otherwise)."""
import concurrent.futures

import pytest

import gavel_harness as h



@pytest.fixture(scope="module")
def spare_users(stack, users):
    """spare_users(tag, **env) starts another gavel-users on free ports with
    the session daemon's environment plus env, and returns its Daemon
    (metrics on int(d.env["GAVEL_METRICS_PORT"])). Those still running at
    the end of the module are stopped (exit 0 after the drain); no log may
    hold a sanitizer report."""
    started = []

    def start(tag, **env):
        d = h.Daemon(stack, "users")
        d.env.update(users.env)
        d.addr = "127.0.0.1:%d" % h.free_port()
        d.env["GAVEL_USERS_ADDR"] = d.addr
        d.env["GAVEL_METRICS_PORT"] = str(h.free_port())
        d.env.update(env)
        d.log_path = d.log_path.replace(".pytest.log", ".%s.pytest.log" % tag)
        d.log_start = d.log_size()
        d.start()
        started.append(d)
        return d

    yield start
    # Together: each takes seconds to leave the participation consumer group.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
        stops = [pool.submit(d.stop) for d in started if d.is_running()]
    for f in stops:
        f.result()
    problems = ["%s: sanitizer reports %s" % (d.log_path, d.sanitizer_reports())
                for d in started if d.sanitizer_reports()]
    assert not problems, "\n".join(problems)
