"""docs/operations.md against the daemons' own declarations.

Every daemon prints its settings and metric series with `--describe`, from
the tables it runs from. The guide's configuration tables and metrics
section must name exactly those: a variable or series missing from the
guide, or named there but declared nowhere, fails. Where the guide gives a
plain default or a numeric range, it must be the declared one. The running
daemons' /metrics pages may only show declared series, so a series
registered ad hoc, outside a table, fails too.
"""
import os
import re
import subprocess
import urllib.request

import pytest

import gavel_harness as h

DOC = os.path.join(h.ROOT, "docs", "operations.md")
SERVICES = sorted(d for d in os.listdir(os.path.join(h.ROOT, "services"))
                  if os.path.exists(os.path.join(h.ROOT, "services", d, "main.c")))


def describe(svc):
    """The daemon's --describe, as {"config": {name: row}, "metric": {name: row}}."""
    binary = os.path.join(h.build_dir(), "bin", "gavel-" + svc)
    assert os.access(binary, os.X_OK), "daemon not built: %s" % binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAVEL_")}
    p = subprocess.run([binary, "--describe"], env=env, capture_output=True, text=True,
                       timeout=60 * h.SLOW)
    assert p.returncode == 0, "%s --describe exited %d: %s" % (svc, p.returncode, p.stderr)
    out = {"config": {}, "metric": {}}
    for line in p.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "config":
            out["config"][f[2]] = {"table": f[1], "type": f[3], "default": f[4],
                                   "min": f[5], "max": f[6]}
        elif f[0] == "metric":
            labels = set() if f[4] == "-" else set(f[4].split(","))
            out["metric"][f[2]] = {"table": f[1], "type": f[3], "labels": labels}
    assert out["config"] and out["metric"], "%s --describe printed nothing" % svc
    return out


@pytest.fixture(scope="module")
def described():
    return {svc: describe(svc) for svc in SERVICES}


def sections(text, level):
    """{title: body} of the headings of one level ("## ", "### ")."""
    parts = re.split(r"^(%s .*)$" % level, text, flags=re.M)
    return {parts[i][len(level) + 1:].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def table_rows(body):
    """Each markdown table row of body as {column title: cell}."""
    rows, header = [], None
    for line in body.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line.replace("|", "").strip()) <= set("-: "):
            rows.append(dict(zip(header, cells)))
    return rows


def ticked(cell):
    return re.findall(r"`([^`]+)`", cell)


def documented_config():
    """{scope: {name: row}}, scope "every" or a daemon name."""
    config = sections(open(DOC).read(), "##")["Configuration: environment variables"]
    out = {}
    for title, body in sections(config, "###").items():
        m = re.match(r"(\w+) daemon", title)
        scope = "every" if title.startswith("Every daemon") else m.group(1) if m else None
        if scope is None:
            continue  # the stack scripts, tests and bench: not a daemon's settings
        out[scope] = {name: row for row in table_rows(body) for name in ticked(row["Variable"])}
    return out


def expected_config(docs, svc):
    """The rows the guide gives daemon svc: every daemon's (with <SVC> named) and its own."""
    rows = {name.replace("<SVC>", svc.upper()): row for name, row in docs["every"].items()}
    rows.update(docs.get(svc, {}))
    return rows


def test_every_daemon_has_a_section_in_the_guide(described):
    docs = documented_config()
    assert "every" in docs
    for svc in described:
        assert svc in docs, "docs/operations.md has no \"### %s daemon\" section" % svc


@pytest.mark.parametrize("svc", SERVICES)
def test_guide_names_exactly_the_settings_the_daemon_reads(described, svc):
    rows = expected_config(documented_config(), svc)
    declared = described[svc]["config"]
    missing = sorted(set(declared) - set(rows))
    unknown = sorted(set(rows) - set(declared))
    assert not missing, "%s reads %s, which docs/operations.md does not describe" % (svc, missing)
    assert not unknown, "docs/operations.md describes %s, which %s does not read" % (unknown, svc)


@pytest.mark.parametrize("svc", SERVICES)
def test_guide_gives_the_declared_defaults_and_ranges(described, svc):
    wrong = []
    for name, row in expected_config(documented_config(), svc).items():
        d = described[svc]["config"][name]
        default = row.get("Default", "")
        if re.fullmatch(r"`[^`]*`", default) and default.strip("`") != d["default"]:
            wrong.append("%s default %s, declared %r" % (name, default, d["default"]))
        if d["type"] == "int" and d["min"] != "-":
            want = "%s..%s" % (d["min"], d["max"])
            if row.get("Allowed") != want:
                wrong.append("%s allowed %r, declared %s" % (name, row.get("Allowed"), want))
    assert not wrong, "docs/operations.md disagrees with %s:\n%s" % (svc, "\n".join(wrong))


def documented_metrics():
    """{name: row} of every table of the guide's metrics section."""
    body = sections(open(DOC).read(), "##")["Metrics"]
    return {name: row for row in table_rows(body) for name in ticked(row["Metric"])}


def test_guide_names_exactly_the_declared_metrics(described):
    declared = {}
    for svc, d in described.items():
        declared.update(d["metric"])
    docs = documented_metrics()
    missing = sorted(set(declared) - set(docs))
    unknown = sorted(set(docs) - set(declared))
    assert not missing, "series %s are declared but not in docs/operations.md" % missing
    assert not unknown, "docs/operations.md names series %s that no daemon declares" % unknown
    wrong = []
    for name, row in docs.items():
        if row["Type"] != declared[name]["type"]:
            wrong.append("%s is a %s, the guide says %s" % (name, declared[name]["type"],
                                                            row["Type"]))
        if set(ticked(row["Labels"])) != declared[name]["labels"]:
            wrong.append("%s has labels %s, the guide says %s" % (
                name, sorted(declared[name]["labels"]), ticked(row["Labels"])))
    assert not wrong, "\n".join(wrong)


def test_every_daemon_declares_the_runtime_and_events_series(described):
    shared = None
    for svc, d in described.items():
        mine = {n for n, m in d["metric"].items() if m["table"] in ("runtime", "events")}
        shared = mine if shared is None else shared
        assert mine == shared and mine, "%s declares other shared series" % svc


def served_families(port):
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M)}


def test_running_daemons_serve_only_declared_series(described, users, bids, auctions,
                                                     notifications):
    for d in (users, bids, auctions, notifications):
        served = {f for f in served_families(d.env["GAVEL_METRICS_PORT"])
                  if f.startswith("gavel_")}
        undeclared = sorted(served - set(described[d.svc]["metric"]))
        assert not undeclared, "%s serves %s, declared in no table" % (d.svc, undeclared)
        # The daemon's table is registered before post_init: its series are
        # there from the start, not from their first use.
        own = {n for n, m in described[d.svc]["metric"].items() if m["table"] == "daemon"}
        assert own <= served, "%s does not serve %s" % (d.svc, sorted(own - served))
