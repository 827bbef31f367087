"""What tests/deploy/ checks the deployment files against, read from the
sources of truth: the daemons' own `--describe` (settings, metric series,
the calls each makes), the "Ports" table of docs/operations.md and the
Dockerfile's targets. Starts no daemon and needs no stack.
"""
import os
import re
import subprocess

import gavel_harness as h

ROOT = h.ROOT
DOC = os.path.join(ROOT, "docs", "operations.md")
DOCKERFILE = os.path.join(ROOT, "deploy", "docker", "Dockerfile")
DAEMONS = sorted(d for d in os.listdir(os.path.join(ROOT, "services"))
                 if os.path.exists(os.path.join(ROOT, "services", d, "main.c")))
INFRA_PORTS = {"postgres": 5432, "redis": 6379, "kafka": 9092}


def plain_build():
    """The plain build's bin/ (an ASan build links libasan, which no image
    carries, so the library check always reads the plain one)."""
    b = h.build_dir()
    if b.endswith("-asan"):
        b = b[:-len("-asan")]
    return os.path.join(b, "bin")


def describe(svc):
    """{"config": {var: default}, "metrics": {series}, "calls": {daemon}} of
    gavel-<svc> of the build under test."""
    binary = os.path.join(h.build_dir(), "bin", "gavel-" + svc)
    assert os.access(binary, os.X_OK), "daemon not built: %s (run make)" % binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAVEL_")}
    p = subprocess.run([binary, "--describe"], env=env, capture_output=True, text=True,
                       timeout=60 * h.SLOW)
    assert p.returncode == 0, "%s --describe: %s" % (svc, p.stderr)
    out = {"config": {}, "metrics": set(), "calls": set()}
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "config":
            out["config"][f[2]] = f[4]
        elif f[0] == "metric":
            out["metrics"].add(f[2])
        elif f[0] == "call":
            # /gavel.users.v1.Wallet/ReserveFundsBatch -> users
            m = re.match(r"/gavel\.([a-z]+)\.v\d+\.", f[1])
            assert m, "unexpected call line: %r" % line
            out["calls"].add(m.group(1))
    return out


def doc_ports():
    """{daemon: (grpc, metrics, http or None)} from the Ports table."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    ports = {}
    for svc in DAEMONS:
        m = re.search(r"^\| %s \| (\d+)[^|]*?(?:HTTP/WS (\d+))? \| (\d+) \|" % re.escape(svc),
                      text, re.M)
        assert m, "docs/operations.md Ports table has no row for %s" % svc
        ports[svc] = (int(m.group(1)), int(m.group(3)),
                      int(m.group(2)) if m.group(2) else None)
    return ports


def required_settings(svc, cfg):
    """The variables of cfg (describe()["config"]) a container must set:
    those whose default points at this host's loopback or at the dev stack's
    .run/ directory, those that are empty by default and leave the daemon
    refusing calls (keys) or not reachable (listen address, Kafka), and the
    database. One that another, set, variable overrides is left out."""
    need = set()
    for var, default in cfg.items():
        if "127.0.0.1" in default or ".run/" in default:
            need.add(var)
    need |= {v for v in ("GAVEL_JWT_PUBLIC_KEY", "GAVEL_SERVICE_PUBLIC_KEY",
                         "GAVEL_SERVICE_KEY", "GAVEL_KAFKA_BOOTSTRAP", "GAVEL_LISTEN_ADDR",
                         "GAVEL_PG_DSN") if v in cfg}
    need.discard("GAVEL_KAFKA_BOOTSTRAP_FILE")          # GAVEL_KAFKA_BOOTSTRAP wins
    need.discard("GAVEL_%s_ADDR" % svc.upper())          # GAVEL_LISTEN_ADDR wins
    if "GAVEL_BIDS_ADDRS" in cfg:                        # auctions: the list wins
        need.discard("GAVEL_BIDS_ADDR")
        need.add("GAVEL_BIDS_ADDRS")
    return need


def dockerfile_targets():
    """{target: base} of every FROM ... AS target."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        return {m.group(2): m.group(1) for m in
                re.finditer(r"^FROM\s+(\S+)\s+AS\s+(\S+)", f.read(), re.M)}


def published_ports(svc_def):
    """[(host_ip, published, target)] of a service in `docker-compose config`
    output, which writes ports as "ip:published:target" strings (Compose v1)
    or as mappings (v2)."""
    out = []
    for p in svc_def.get("ports", []):
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), int(p["published"]),
                        int(str(p["target"]).split("/")[0])))
        else:
            ip, pub, target = str(p).rsplit(":", 2) if str(p).count(":") == 2 else \
                ("",) + tuple(str(p).split(":"))
            out.append((ip, int(pub), int(target.split("/")[0])))
    return out


def owning_packages(paths):
    """{library path: Debian package that installed it} in one dpkg call,
    asked by the path ldd gives, its real path, and that with or without
    /usr (with merged /usr dpkg may know either). A path no package owns
    is missing from the answer."""
    cands = {}
    for path in paths:
        real = os.path.realpath(path)
        alt = real[4:] if real.startswith("/usr/") else "/usr" + real
        for c in (path, real, alt):
            cands.setdefault(c, set()).add(path)
    p = subprocess.run(["dpkg", "-S"] + sorted(cands), capture_output=True, text=True)
    out = {}
    for line in p.stdout.splitlines():
        pkg, _, file = line.partition(": ")
        for path in cands.get(file.strip(), ()):
            out[path] = pkg.split(":", 1)[0]
    return out


def host_ports(value):
    """[(host, port)] of a comma-separated host:port list."""
    out = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        assert host and port.isdigit(), "not host:port: %r" % item
        out.append((host, int(port)))
    return out


def metric_names(expr):
    """The series a PromQL expression reads (gavel_*, pg_*, kafka_*), with a
    histogram's _bucket/_sum/_count suffix taken off."""
    names = set(re.findall(r"\b((?:gavel|pg|kafka)_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}
