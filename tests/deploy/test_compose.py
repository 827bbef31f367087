"""compose.yaml, the Dockerfile, Prometheus and Grafana files against the
daemons' own declarations (--describe), docs/operations.md's ports and each
other. No Docker engine is needed: `docker-compose config` (Debian's, see
deploy/dev/deps.sh) resolves and validates the file, and the checks read
its output."""
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

import gavel_deploy as d

COMPOSE = os.path.join(d.ROOT, "compose.yaml")
PG_PASSWORD = "Sentinel0pgpass"          # what the test exports; never in a file
# The card provider's settings compose takes only from the environment.
PROVIDER_ENV = {"GAVEL_PAYMENTS_PROVIDER_URL": "https://provider.sentinel.invalid",
                "GAVEL_PAYMENTS_PROVIDER_KEY": "Sentinel0providerkey",
                "GAVEL_PAYMENTS_WEBHOOK_SECRET": "Sentinel0webhooksecret"}
ENV = dict({"GAVEL_PG_PASSWORD": PG_PASSWORD, "GRAFANA_ADMIN_PASSWORD": "Sentinel0grafana"},
           **PROVIDER_ENV)


def run_config(env_extra):
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (make deps installs Debian's)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GAVEL_", "GRAFANA_", "COMPOSE_"))}
    env.update(env_extra)
    # An empty --env-file: a developer's .env must not fill in what the
    # test leaves out.
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        return subprocess.run([exe, "-f", COMPOSE, "--project-directory", d.ROOT,
                               "--env-file", empty.name, "config"],
                              env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose():
    p = run_config(ENV)
    assert p.returncode == 0, "docker-compose config failed:\n" + p.stderr
    return yaml.safe_load(p.stdout)


# Built from the Dockerfile but not a Gavel daemon: nginx RTMP + ffmpeg.
INGEST_TARGET = "ingest"
LIVE_DIR = "/var/lib/gavel/live"


def gavel_services(compose):
    """{compose service: daemon} of every daemon built from the Dockerfile."""
    out = {}
    for name, s in compose["services"].items():
        b = s.get("build")
        if b:
            assert b["dockerfile"] == "deploy/docker/Dockerfile", name
            if b["target"] != INGEST_TARGET:
                out[name] = b["target"]
    return out


def _volume(svc_def, target):
    """(source, mode) of the volume mounted at target, or None."""
    for v in svc_def.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2 and parts[1] == target:
                return parts[0], parts[2] if len(parts) > 2 else "rw"
        elif v.get("target") == target:
            return v.get("source"), "ro" if v.get("read_only") else "rw"
    return None


def test_the_ingest_writes_the_hls_the_gateways_and_streaming_read(compose):
    """The venue video ingest: built from the Dockerfile's ingest target,
    writing HLS into the volume every gateway serves at /live/ and the
    streaming daemon reads (both read-only); its callbacks name the
    streaming service's hook port, and streaming's control URL names the
    ingest's control port."""
    assert d.dockerfile_targets().get(INGEST_TARGET) == "debian:bookworm-slim"
    ingest = [n for n, s in compose["services"].items()
              if s.get("build", {}).get("target") == INGEST_TARGET]
    assert len(ingest) == 1, ingest
    ing = compose["services"][ingest[0]]
    live = _volume(ing, LIVE_DIR)
    assert live is not None and live[1] == "rw", ing.get("volumes")
    assert ing.get("read_only") is True and ing.get("cap_drop") == ["ALL"]
    assert any(pub == 1935 and target == 1935 for _, pub, target in d.published_ports(ing))
    readers = {n: daemon for n, daemon in gavel_services(compose).items()
               if daemon in ("gateway", "streaming")}
    assert sorted(set(readers.values())) == ["gateway", "streaming"]
    for n, daemon in readers.items():
        s = compose["services"][n]
        assert _volume(s, LIVE_DIR) == (live[0], "ro"), (n, s.get("volumes"))
        var = "GAVEL_GATEWAY_LIVE_DIR" if daemon == "gateway" else "GAVEL_STREAMING_LIVE_DIR"
        assert s["environment"].get(var) == LIVE_DIR, (n, var)
    with open(os.path.join(d.ROOT, "deploy", "docker", "ingest-nginx.conf"), encoding="utf-8") as f:
        conf = f.read()
    hooks = re.findall(r"on_\w+ http://([\w-]+):(\d+)/", conf)
    streaming = [n for n, daemon in readers.items() if daemon == "streaming"]
    assert hooks and all(h == (streaming[0], "50986") for h in hooks), hooks
    control = compose["services"][streaming[0]]["environment"]["GAVEL_STREAMING_CONTROL_URL"]
    m = re.match(r"http://([\w-]+):(\d+)/control$", control)
    assert m and m.group(1) == ingest[0] and ("listen %s;" % m.group(2)) in conf, control


def listen_port(svc_def):
    return int(svc_def["environment"]["GAVEL_LISTEN_ADDR"].rpartition(":")[2])


def test_config_refuses_to_start_without_the_secrets():
    for var in ENV:
        p = run_config({k: v for k, v in ENV.items() if k != var})
        assert p.returncode != 0 and var in p.stderr, (var, p.stderr)
        # Set but empty is as good as missing.
        p = run_config(dict(ENV, **{var: ""}))
        assert p.returncode != 0 and var in p.stderr, (var, p.stderr)


def test_no_secret_is_committed():
    with open(COMPOSE, encoding="utf-8") as f:
        raw = "\n".join(ln for ln in f.read().splitlines() if not ln.lstrip().startswith("#"))
    assert "PRIVATE KEY" not in raw
    for m in re.finditer(r"(?i)(?:password|_pass)(?:=|:\s)\s*(\S+)", raw):
        assert m.group(1).startswith("${"), "literal password in compose.yaml: %s" % m.group(0)
    for var in PROVIDER_ENV:
        values = re.findall(r"^\s*%s:\s*(\S+)" % var, raw, re.M)
        assert values, "compose.yaml does not set %s" % var
        for v in values:
            assert v.startswith("${%s:?" % var), "%s is not taken from the environment" % var
    with open(os.path.join(d.ROOT, ".gitignore"), encoding="utf-8") as f:
        assert "/secrets/" in f.read().split()


def test_every_daemon_runs_from_its_dockerfile_target(compose):
    targets = d.dockerfile_targets()
    assert targets.get("builder") == "debian:bookworm"
    assert targets.get("runtime") == "debian:bookworm-slim"
    services = gavel_services(compose)
    for name, target in services.items():
        assert targets.get(target) == "runtime", "%s: no runtime target %r" % (name, target)
        assert compose["services"][name]["image"] == "gavel-%s:local" % target
    missing = set(d.DAEMONS) - set(services.values())
    assert not missing, "daemons not in compose.yaml: %s" % sorted(missing)
    # Two of each of the scaled-out daemons, as the file promises.
    for daemon in ("bids", "gateway"):
        assert list(services.values()).count(daemon) == 2, daemon


def test_dockerfile_runtime_is_non_root_with_a_health_check_per_target(ports):
    with open(d.DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    by_name = {s.split()[2]: s for s in stages}
    assert re.search(r"^USER 10001:10001$", by_name["runtime"], re.M)
    for svc in d.DAEMONS:
        stage = by_name.get(svc)
        assert stage, "Dockerfile has no target %s" % svc
        assert stage.startswith("runtime AS %s" % svc)
        assert 'ENTRYPOINT ["/usr/local/bin/gavel-%s"]' % svc in stage
        hc = re.search(r'HEALTHCHECK .*\n.*CMD \["/usr/local/bin/gavel-health", "127.0.0.1:(\d+)"\]',
                       stage)
        assert hc and int(hc.group(1)) == ports[svc][0], "%s: health check port" % svc
        assert "build/bin/gavel-%s" % svc in by_name["builder"], "%s is not built" % svc


def test_runtime_packages_cover_every_linked_library():
    """Each shared library the built daemons load is in a runtime package
    or one of their dependencies (debian:bookworm-slim's own included)."""
    if shutil.which("dpkg") is None or shutil.which("apt-cache") is None:
        pytest.skip("not a Debian system: dpkg/apt-cache missing")
    with open(d.DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    runtime = text.split("AS runtime", 1)[1].split("groupadd", 1)[0]
    pkgs = re.findall(r"\b(lib[a-z0-9.+-]+)\b", runtime.split("--no-install-recommends", 1)[1])
    assert "libwebsockets-evlib-uv" in pkgs      # dlopen()ed by the gateway, not in ldd
    p = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + pkgs,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    closure = set(pkgs) | {ln.strip() for ln in p.stdout.splitlines() if not ln.startswith(" ")}
    closure |= set(re.findall(r"Depends: <?([a-z0-9.+-]+)", p.stdout))
    bindir = d.plain_build()
    needs = {}
    for svc in d.DAEMONS + ["health"]:
        binary = os.path.join(bindir, "gavel-" + svc)
        assert os.access(binary, os.X_OK), "not built: %s" % binary
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        for lib in re.findall(r"=> (/\S+)", out):
            needs.setdefault(lib, set()).add(svc)
    owners = d.owning_packages(needs)
    for lib, users in sorted(needs.items()):
        pkg = owners.get(lib, "(no package)")
        assert pkg in closure, "%s need %s from %s, which no runtime package brings" % (
            sorted(users), lib, pkg)


def test_ports_match_the_docs(compose, ports):
    for name, svc in gavel_services(compose).items():
        env = compose["services"][name]["environment"]
        grpc, metrics, http = ports[svc]
        assert listen_port(compose["services"][name]) == grpc, name
        assert env["GAVEL_LISTEN_ADDR"].startswith("0.0.0.0:"), name
        assert int(env["GAVEL_METRICS_PORT"]) == metrics, name
        assert env["GAVEL_BIND_ADDR"] == "0.0.0.0", name
        if http is not None:
            assert int(env["GAVEL_GATEWAY_PORT"]) == http, name
            assert env["GAVEL_GATEWAY_BIND"] == "0.0.0.0", name
    published = {(pub, target) for n, s in compose["services"].items()
                 if gavel_services(compose).get(n) == "gateway"
                 for _, pub, target in d.published_ports(s)}
    assert (8080, 8080) in published, "no gateway published on 8080"
    for n, s in compose["services"].items():
        for ip, pub, _ in d.published_ports(s):
            assert ip == "127.0.0.1", "%s: port %d published beyond loopback" % (n, pub)


def test_every_address_names_a_service_that_listens_there(compose, describes):
    services = gavel_services(compose)
    listening = {n: listen_port(compose["services"][n]) for n in services}
    listening.update(d.INFRA_PORTS)
    for name, svc in services.items():
        env = compose["services"][name]["environment"]
        for var, value in env.items():
            if not var.endswith(("_ADDR", "_ADDRS", "_BOOTSTRAP")) or var in (
                    "GAVEL_LISTEN_ADDR", "GAVEL_BIND_ADDR"):
                continue
            for host, port in d.host_ports(value):
                assert host in listening, "%s: %s=%s names no service" % (name, var, value)
                assert listening[host] == port, "%s: %s=%s, but %s listens on %d" % (
                    name, var, value, host, listening[host])
        # The calls the daemon makes go to services of that daemon.
        for callee in describes[svc]["calls"]:
            var = "GAVEL_BIDS_ADDRS" if callee == "bids" and svc == "auctions" else \
                "GAVEL_%s_ADDR" % callee.upper()
            hosts = [h for h, _ in d.host_ports(env[var])]
            assert {services[h] for h in hosts} == {callee}, (name, var)
        dsn = env.get("GAVEL_PG_DSN")
        if dsn is not None:
            assert "host=postgres " in dsn and "port=5432" in dsn, name
            assert "password=%s " % PG_PASSWORD in dsn, name


def test_every_setting_without_a_safe_default_is_set(compose, describes):
    for name, svc in gavel_services(compose).items():
        env = compose["services"][name]["environment"]
        # What compose takes from the environment arrives unchanged.
        for var, value in PROVIDER_ENV.items():
            if var in describes[svc]["config"]:
                assert env.get(var) == value, (name, var)
        need = d.required_settings(svc, describes[svc]["config"])
        missing = sorted(v for v in need if not env.get(v))
        assert not missing, "%s does not set %s" % (name, missing)
        unknown = sorted(v for v in env if v not in describes[svc]["config"])
        # Shared blocks may carry another daemon's address; nothing else.
        assert all(v.endswith("_ADDR") for v in unknown), "%s: read by nobody: %s" % (
            name, unknown)


def test_each_bids_instance_has_its_own_index_and_database(compose):
    services = gavel_services(compose)
    bids = sorted(n for n, s in services.items() if s == "bids")
    with open(os.path.join(d.ROOT, "deploy", "docker", "postgres-init.sql")) as f:
        created = set(re.findall(r"CREATE DATABASE (\w+);", f.read()))
    dbs, indexes = set(), []
    for n in bids:
        env = compose["services"][n]["environment"]
        assert int(env["GAVEL_BIDS_INSTANCES"]) == len(bids)
        indexes.append(int(env["GAVEL_BIDS_INSTANCE"]))
        db = re.search(r"dbname=(\w+)", env["GAVEL_PG_DSN"]).group(1)
        assert db in created, "%s: database %s is never created" % (n, db)
        dbs.add(db)
    assert sorted(indexes) == list(range(len(bids))) and len(dbs) == len(bids)
    # Every router lists the instances in index order.
    order = [h for i, h in sorted(zip(indexes, bids))]
    for name, svc in services.items():
        env = compose["services"][name]["environment"]
        var = {"auctions": "GAVEL_BIDS_ADDRS", "gateway": "GAVEL_BIDS_ADDR"}.get(svc)
        if var:
            assert [h for h, _ in d.host_ports(env[var])] == order, name
    for name, svc in services.items():
        env = compose["services"][name]["environment"]
        if svc not in ("bids",) and "GAVEL_PG_DSN" in env:
            db = re.search(r"dbname=(\w+)", env["GAVEL_PG_DSN"]).group(1)
            assert db == "gavel_" + svc and db in created, name


def test_health_checks_and_start_order(compose, describes, ports):
    services = gavel_services(compose)
    for name, svc in services.items():
        s = compose["services"][name]
        test = s["healthcheck"]["test"]
        assert test == ["CMD", "/usr/local/bin/gavel-health", "127.0.0.1:%d" % ports[svc][0]]
        deps = s.get("depends_on", {})
        assert deps.get("redis", {}).get("condition") == "service_healthy", name
        if "GAVEL_PG_DSN" in s["environment"]:
            for infra in ("postgres", "kafka"):
                assert deps.get(infra, {}).get("condition") == "service_healthy", (name, infra)
        for callee in describes[svc]["calls"]:
            for other, osvc in services.items():
                if osvc == callee:
                    assert deps.get(other, {}).get("condition") == "service_healthy", (
                        name, other)
        assert s.get("read_only") is True and s["user"] != "0:0", name
        assert s["stop_grace_period"] in ("15s", "15000000000ns", 15), name
    for infra in ("postgres", "redis", "kafka"):
        assert "healthcheck" in compose["services"][infra], infra
    redis_cmd = compose["services"]["redis"]["command"]
    assert "--appendonly" in redis_cmd and redis_cmd[redis_cmd.index("--appendonly") + 1] == "yes"
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_prometheus_scrapes_every_daemon(compose, ports):
    with open(os.path.join(d.ROOT, "deploy", "prometheus", "prometheus.yml")) as f:
        prom = yaml.safe_load(f)
    targets = {t for job in prom["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]}
    for name, svc in gavel_services(compose).items():
        assert "%s:%d" % (name, ports[svc][1]) in targets, "%s is not scraped" % name
    for exporter, port in (("postgres-exporter", 9187), ("kafka-exporter", 9308)):
        assert exporter in compose["services"]
        assert "%s:%d" % (exporter, port) in targets


def test_grafana_dashboards_read_only_real_series(compose, describes):
    g = compose["services"]["grafana"]
    assert "${" not in json.dumps(g) and g["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    prov = os.path.join(d.ROOT, "deploy", "grafana", "provisioning")
    with open(os.path.join(prov, "datasources", "prometheus.yaml")) as f:
        ds = yaml.safe_load(f)["datasources"][0]
    assert ds["url"] == "http://prometheus:9090"
    declared = set().union(*(x["metrics"] for x in describes.values()))
    # The exporters' series the dashboards use (their documented names).
    exporters = {"kafka_consumergroup_lag", "pg_stat_database_xact_commit"}
    dash_dir = os.path.join(d.ROOT, "deploy", "grafana", "dashboards")
    exprs = []
    for fn in sorted(os.listdir(dash_dir)):
        with open(os.path.join(dash_dir, fn)) as f:
            dash = json.load(f)
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] == ds["uid"], panel["title"]
            exprs += [t["expr"] for t in panel["targets"]]
    assert exprs
    for e in exprs:
        names = d.metric_names(e)
        assert names, e
        unknown = names - declared - exporters
        assert not unknown, "dashboard reads series nobody exports: %s" % sorted(unknown)
    joined = "\n".join(exprs)
    for needed in ('gavel_rpc_duration_seconds_bucket{method="/gavel.bids.v1.Bids/PlaceBid"}',
                   "gavel_bids_committed_total", "gavel_events_outbox_backlog",
                   "kafka_consumergroup_lag", "pg_stat_database_xact_commit",
                   'gavel_rpc_requests_total{method="/gavel.bids.v1.Bids/PlaceBid"}',
                   "gavel_notifications_sent_total", "gavel_notifications_dead_lettered_total",
                   "gavel_gateway_ws_open", "gavel_gateway_ws_messages_out_total"):
        assert needed in joined, "no panel reads %s" % needed
