"""deploy/k8s/ rendered by `kubectl kustomize` (base and each overlay), then
checked object by object against the daemons' own declarations
(--describe: settings and the calls each makes) and docs/operations.md's
ports. Needs kubectl with kustomize 5 (Debian's kubernetes-client bundles
kustomize 2, which cannot read these files); without it the tests skip."""
import os
import re
import shutil
import subprocess

import pytest
import yaml

import gavel_deploy as d

K8S = os.path.join(d.ROOT, "deploy", "k8s")
TREES = ["base", "overlays/dev", "overlays/prod"]


def kubectl():
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.skip("kubectl not installed: deploy/k8s cannot be rendered")
    p = subprocess.run([exe, "version", "--client"], capture_output=True, text=True, timeout=60)
    m = re.search(r"Kustomize Version: v(\d+)", p.stdout)
    if not m or int(m.group(1)) < 5:
        pytest.skip("kubectl's kustomize is older than v5 (%s)" % p.stdout.strip())
    return exe


@pytest.fixture(scope="module", params=TREES)
def objs(request):
    p = subprocess.run([kubectl(), "kustomize", os.path.join(K8S, request.param)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, "kubectl kustomize %s:\n%s" % (request.param, p.stderr)
    docs = [o for o in yaml.safe_load_all(p.stdout) if o]
    assert docs
    return docs


def kind(objs, k):
    return [o for o in objs if o["kind"] == k]


def workloads(objs):
    """{daemon: workload} (Deployments and the StatefulSet)."""
    out = {}
    for o in kind(objs, "Deployment") + kind(objs, "StatefulSet"):
        name = o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
        out[name] = o
    return out


def container(w):
    cs = w["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


def env_of(objs, w):
    """The container's environment as the kubelet builds it: envFrom's
    ConfigMaps first, then env in order (a value's $(VAR) expanded from
    what is defined before it). A value from a Secret or the downward API
    reads "<from ...>"."""
    maps = {o["metadata"]["name"]: o.get("data", {}) for o in kind(objs, "ConfigMap")}
    c = container(w)
    env = {}
    for src in c.get("envFrom", []):
        ref = src["configMapRef"]["name"]
        assert ref in maps, "envFrom names a missing ConfigMap %s" % ref
        env.update(maps[ref])
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)),
                                    e["value"])
        else:
            env[e["name"]] = "<from %s>" % list(e["valueFrom"])[0]
    return env


def grpc_port(svc, ports):
    return ports[svc][0]


def test_every_daemon_has_a_workload_with_probes_limits_and_no_privileges(objs, ports):
    ws = workloads(objs)
    assert set(ws) == set(d.DAEMONS), "workloads %s, daemons %s" % (sorted(ws), d.DAEMONS)
    for svc, w in ws.items():
        pod = w["spec"]["template"]["spec"]
        c = container(w)
        assert c["image"].rsplit(":", 1)[0].endswith("/" + svc), c["image"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert c[probe]["grpc"]["port"] == grpc_port(svc, ports), (svc, probe)
        for k in ("cpu", "memory"):
            assert c["resources"]["limits"][k] and c["resources"]["requests"][k], (svc, k)
        psc, csc = pod["securityContext"], c["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, svc
        assert csc["readOnlyRootFilesystem"] is True, svc
        assert csc["allowPrivilegeEscalation"] is False, svc
        assert csc["capabilities"]["drop"] == ["ALL"], svc
        assert pod["automountServiceAccountToken"] is False, svc
        # Longer than GAVEL_DRAIN_MS (10 s).
        assert pod["terminationGracePeriodSeconds"] > 10, svc
        named = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert named["grpc"] == ports[svc][0] and named["metrics"] == ports[svc][1], svc
        if ports[svc][2] is not None:
            assert named["http"] == ports[svc][2], svc


def test_every_service_selects_pods_and_names_their_ports(objs):
    ws = workloads(objs)
    for s in kind(objs, "Service"):
        sel = s["spec"]["selector"]
        matched = [w for w in ws.values()
                   if sel.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert matched, "Service %s selects no pods" % s["metadata"]["name"]
        names = {p["name"] for w in matched for p in container(w)["ports"]}
        for p in s["spec"]["ports"]:
            assert p["targetPort"] in names, (s["metadata"]["name"], p)
    for svc in d.DAEMONS:
        assert any(s["metadata"]["name"] == svc for s in kind(objs, "Service")), svc


def test_every_setting_without_a_safe_default_is_set(objs, describes, ports):
    services = {s["metadata"]["name"]: s for s in kind(objs, "Service")}
    ws = workloads(objs)
    for svc, w in ws.items():
        env = env_of(objs, w)
        cfg = describes[svc]["config"]
        need = d.required_settings(svc, cfg)
        missing = sorted(v for v in need if not env.get(v))
        assert not missing, "%s does not set %s" % (svc, missing)
        read = set(cfg) | {"PGHOST", "PGPORT", "PGUSER", "PGSSLMODE", "PGPASSWORD"}
        unknown = sorted(v for v in env if v not in read)
        assert all(v.endswith(("_ADDR", "_ADDRS")) for v in unknown), (svc, unknown)
        assert int(env["GAVEL_LISTEN_ADDR"].rpartition(":")[2]) == ports[svc][0], svc
        assert int(env["GAVEL_METRICS_PORT"]) == ports[svc][1], svc
        assert env["GAVEL_BIND_ADDR"] == "0.0.0.0", svc
        if "GAVEL_PG_DSN" in cfg:
            assert env["PGPASSWORD"] == "<from secretKeyRef>", svc
            assert re.fullmatch(r"dbname=gavel_%s(_<from fieldRef>)?" % svc,
                                env["GAVEL_PG_DSN"]), (svc, env["GAVEL_PG_DSN"])
            assert env["PGHOST"], svc
            # One database per bids instance: its index, from the pod.
            assert ("<from" in env["GAVEL_PG_DSN"]) == (svc == "bids"), svc
        # Every address of a daemon it calls is a Service port of that daemon.
        for callee in describes[svc]["calls"]:
            var = "GAVEL_BIDS_ADDRS" if (callee, svc) == ("bids", "auctions") else \
                "GAVEL_%s_ADDR" % callee.upper()
            for host, port in d.host_ports(env[var]):
                svc_name = host.split(".")[-1]
                assert svc_name == callee and svc_name in services, (svc, var, host)
                assert port in {p["port"] for p in services[svc_name]["spec"]["ports"]}
                assert port == ports[callee][0], (svc, var, port)


def test_bids_instances_come_from_the_pod_ordinal(objs, describes):
    sts = {o["metadata"]["name"]: o for o in kind(objs, "StatefulSet")}["bids"]
    n = sts["spec"]["replicas"]
    c = container(sts)
    order = [e["name"] for e in c["env"]]
    inst = next(e for e in c["env"] if e["name"] == "GAVEL_BIDS_INSTANCE")
    assert inst["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['apps.kubernetes.io/pod-index']"
    # $(GAVEL_BIDS_INSTANCE) expands only when defined before the DSN.
    assert order.index("GAVEL_BIDS_INSTANCE") < order.index("GAVEL_PG_DSN")
    env = env_of(objs, sts)
    assert int(env["GAVEL_BIDS_INSTANCES"]) == n
    headless = {s["metadata"]["name"]: s for s in kind(objs, "Service")}[sts["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    want = ["bids-%d.%s" % (i, sts["spec"]["serviceName"]) for i in range(n)]
    for svc, w in workloads(objs).items():
        e = env_of(objs, w)
        var = {"auctions": "GAVEL_BIDS_ADDRS", "gateway": "GAVEL_BIDS_ADDR"}.get(svc)
        if var:
            assert [h for h, _ in d.host_ports(e[var])] == want, (svc, e[var])


def test_secrets_are_referenced_not_rendered(objs):
    assert not kind(objs, "Secret"), "a Secret is rendered into the manifests"
    for svc, w in workloads(objs).items():
        vols = {v["name"]: v for v in w["spec"]["template"]["spec"]["volumes"]}
        keys = {i["key"] for i in vols["keys"]["secret"]["items"]}
        assert {"jwt.pub", "service.pub", "service.key"} <= keys, svc
        # Only the users daemon holds the key that signs user tokens.
        assert ("jwt.key" in keys) == (svc == "users"), svc


def test_hpa_pdb_and_ingress(objs):
    ws = workloads(objs)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in kind(objs, "HorizontalPodAutoscaler")}
    assert "gateway" in hpas and hpas["gateway"]["spec"]["minReplicas"] >= 1
    # An HPA's target sets no replicas, or each apply would reset them.
    assert "replicas" not in ws["gateway"]["spec"]
    for h in hpas.values():
        assert h["spec"]["scaleTargetRef"]["name"] in ws
        assert h["spec"]["maxReplicas"] >= h["spec"]["minReplicas"]
    for p in kind(objs, "PodDisruptionBudget"):
        sel = p["spec"]["selector"]["matchLabels"]
        target = [w for w in ws.values()
                  if sel.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert target, "PDB %s selects nothing" % p["metadata"]["name"]
        hpa = hpas.get(target[0]["metadata"]["name"])
        reps = hpa["spec"]["minReplicas"] if hpa else target[0]["spec"].get("replicas", 1)
        # A budget no eviction can meet blocks every node drain.
        assert p["spec"].get("minAvailable", 0) < reps, p["metadata"]["name"]
    ing = {i["metadata"]["name"]: i for i in kind(objs, "Ingress")}["gateway"]
    ann = ing["metadata"]["annotations"]
    for k in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(ann["nginx.ingress.kubernetes.io/" + k]) >= 3600, k
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "gateway", "port": {"name": "http"}}


def pod_selector_name(peer):
    ps = peer.get("podSelector")
    if ps is None or "namespaceSelector" in peer or "ipBlock" in peer:
        return None
    return ps["matchLabels"]["app.kubernetes.io/name"]


def test_network_policies_allow_exactly_the_calls(objs, describes, ports):
    nps = kind(objs, "NetworkPolicy")
    default = [n for n in nps if n["spec"]["podSelector"] == {}
               and set(n["spec"]["policyTypes"]) == {"Ingress", "Egress"}
               and not n["spec"].get("ingress") and not n["spec"].get("egress")]
    assert default, "no default-deny policy"
    by_svc = {}
    for n in nps:
        labels = n["spec"]["podSelector"].get("matchLabels", {})
        if "app.kubernetes.io/name" in labels:
            by_svc.setdefault(labels["app.kubernetes.io/name"], []).append(n)
    callers = {svc: {c for c in d.DAEMONS if svc in describes[c]["calls"]} for svc in d.DAEMONS}
    for svc in d.DAEMONS:
        assert by_svc.get(svc), "no NetworkPolicy for %s" % svc
        egress_pods, ingress_pods = set(), set()
        egress_ports = set()
        for n in by_svc[svc]:
            for rule in n["spec"].get("egress", []):
                rports = {p["port"] for p in rule.get("ports", [])}
                peers = rule.get("to", [])
                if not peers:
                    egress_ports |= rports
                for peer in peers:
                    name = pod_selector_name(peer)
                    assert name is not None or "namespaceSelector" in peer, (svc, peer)
                    if name:
                        assert rports == {ports[name][0]}, (svc, name, rports)
                        egress_pods.add(name)
            for rule in n["spec"].get("ingress", []):
                rports = {p["port"] for p in rule.get("ports", [])}
                for peer in rule.get("from", []):
                    name = pod_selector_name(peer)
                    if name:
                        assert rports == {ports[svc][0]}, (svc, name, rports)
                        ingress_pods.add(name)
        assert egress_pods == describes[svc]["calls"], (
            "%s may call %s, but calls %s" % (svc, sorted(egress_pods),
                                              sorted(describes[svc]["calls"])))
        assert ingress_pods == callers[svc], (
            "%s admits %s, but is called by %s" % (svc, sorted(ingress_pods),
                                                   sorted(callers[svc])))
        # Infrastructure by port: Redis for all (tokens), PostgreSQL and
        # Kafka for the daemons with a database (outbox, consumers).
        want = {d.INFRA_PORTS["redis"]}
        if "GAVEL_PG_DSN" in describes[svc]["config"]:
            want |= {d.INFRA_PORTS["postgres"], d.INFRA_PORTS["kafka"]}
        # A daemon that sends email reaches its mail server, by the port
        # of the URL it is given, and no other.
        if "GAVEL_SMTP_URL" in describes[svc]["config"]:
            url = env_of(objs, workloads(objs)[svc]).get("GAVEL_SMTP_URL", "")
            if url:
                want.add(smtp_port(url))
        # The payments daemon reaches its card provider the same way.
        if "GAVEL_PAYMENTS_PROVIDER_URL" in describes[svc]["config"]:
            url = env_of(objs, workloads(objs)[svc])["GAVEL_PAYMENTS_PROVIDER_URL"]
            assert url.startswith("https://"), "provider not over HTTPS: %r" % url
            want.add(https_port(url))
        assert egress_ports == want, (svc, egress_ports)


def test_provider_secrets_come_from_a_secret(objs, describes):
    """The provider's key and webhook secret are Secret references, the
    same Secret in every tree; nothing renders their values."""
    for svc, w in workloads(objs).items():
        cfg = describes[svc]["config"]
        for var in ("GAVEL_PAYMENTS_PROVIDER_KEY", "GAVEL_PAYMENTS_WEBHOOK_SECRET"):
            if var not in cfg:
                continue
            e = next((e for e in container(w)["env"] if e["name"] == var), None)
            assert e is not None, "%s does not set %s" % (svc, var)
            assert e["valueFrom"]["secretKeyRef"]["name"] == "gavel-payments", (svc, var)


def https_port(url):
    """The TCP port of an https:// URL (443 by default)."""
    m = re.fullmatch(r"https://(?:[^@/]*@)?(\[[^]]+\]|[^:/]+)(?::(\d+))?(?:/.*)?", url)
    assert m, "not an HTTPS URL: %r" % url
    return int(m.group(2)) if m.group(2) else 443


def smtp_port(url):
    """The TCP port of an smtp:// or smtps:// URL (25 and 465 by default)."""
    m = re.fullmatch(r"(smtps?)://(?:[^@/]*@)?(\[[^]]+\]|[^:/]+)(?::(\d+))?/?.*", url)
    assert m, "not an SMTP URL: %r" % url
    return int(m.group(3)) if m.group(3) else {"smtp": 25, "smtps": 465}[m.group(1)]
