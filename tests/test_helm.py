"""The generated Helm chart, validated for real: helm 4 and helm 3 lint/template, Kubernetes 1.37
schemas in strict mode, the Prometheus-Operator Go types, and cross-object checks."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import gen
import jsonschema
import k8s_checks as kc
import kubernetes_validate
import pytest
import yaml
from k8s_checks import Peer
from schema_strategy import inline_refs

from gosmith.template import rules

ROOT = gen.ROOT
TOOLS_BIN = ROOT / ".tools" / "bin"
os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"

HELMS = ["helm", "helm3"]
KUBE = "1.37.0"
SM_API = "monitoring.coreos.com/v1/ServiceMonitor"
#: Prometheus Operator kinds: no Kubernetes schema of kubernetes-validate covers them.
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")
SMCHECK_SRC = ROOT / "tests" / "tools" / "servicemonitor-check"

#: Answer sets rendered for the chart tests (beyond gen.ANSWER_SETS: every SHIPPING question varies).
ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": gen.ANSWER_SETS["defaults"],
    "custom": {
        **gen.ANSWER_SETS["custom"],
        "kubernetes_version": "1.34",
        "ingress_namespaces": "gateway-system, edge",
        "monitoring_namespace": "observability",
        "drain_mode": "prestop",
        "cpu_limit": "1500m",
        "hpa_enabled": True,
        "hpa_min_replicas": 3,
        "platforms": ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/ppc64le", "linux/s390x"],
    },
    "legacy": {
        "service_name": "old-cluster-svc",
        "kubernetes_version": "1.28",
        "service_monitor": False,
        "network_policy": False,
        "hot_reload": True,
        "replicas": 1,
    },
}


def values_files(chart: Path) -> list[str]:
    """Return "" (the chart defaults) plus the chart's ci/*-values.yaml files, relative to the chart."""
    return ["", *sorted(str(p.relative_to(chart)) for p in (chart / "ci").glob("*-values.yaml"))]


CI_FILES = ["", "ci/autoscaling-values.yaml", "ci/loadbalancer-values.yaml", "ci/minimal-values.yaml",
            "ci/otel-collector-values.yaml", "ci/prestop-values.yaml", "ci/sidecar-values.yaml"]
#: Shipped only by projects generated with hot_reload (the config.* values exist only there).
HOT_FILE = "ci/hot-reload-values.yaml"


def chart_cases() -> list[tuple[str, str]]:
    """(answer set, values file) pairs: every ci file each answer set's chart ships."""
    return [(a, f) for a in ANSWERS for f in CI_FILES + ([HOT_FILE] if ANSWERS[a].get("hot_reload") else [])]


def need(tool: str) -> None:
    """Skip when an external tool is missing (scripts/tools.sh builds it; CI always has it)."""
    if not gen.have(tool):
        pytest.skip(f"{tool} not on PATH: run scripts/tools.sh")


@pytest.fixture(scope="session")
def projects(rendered: gen.Rendered) -> dict[str, Path]:
    """Every answer set, rendered once per run (the defaults shared with the other modules)."""
    return {name: rendered(name if name == "defaults" else f"helm-{name}", answers)
            for name, answers in ANSWERS.items()}


def chart_dir(project: Path) -> Path:
    """Return the chart directory of a rendered project."""
    charts = list((project / "deploy" / "helm").iterdir())
    assert len(charts) == 1, charts
    return charts[0]


def helm(tool: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm (`helm` = v4, `helm3` = v3); raise with the output when `check` and it fails."""
    proc = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def template(tool: str, chart: Path, *extra: str, kube: str = KUBE, api: bool = True) -> list[dict[str, Any]]:
    """Render the chart with `helm template` and return the parsed objects."""
    args = ["template", "rel", ".", "--namespace", "shop", "--kube-version", kube, *extra]
    if api:
        args += ["--api-versions", SM_API]
    out = helm(tool, *args, cwd=chart).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `over` merged in the way Helm merges values files."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def merged_values(chart: Path, values_file: str) -> dict[str, Any]:
    """Return the chart's values.yaml with `values_file` merged in."""
    values = yaml.safe_load((chart / "values.yaml").read_text())
    if values_file:
        values = deep_merge(values, yaml.safe_load((chart / values_file).read_text()))
    return values


@pytest.fixture(scope="session")
def smcheck() -> Path:
    """Build (once per source change) the strict ServiceMonitor checker from the Go module proxy."""
    if not gen.have("go"):
        pytest.skip("go not on PATH")
    digest = hashlib.sha256(
        b"".join((SMCHECK_SRC / f).read_bytes() for f in ("go.mod", "go.sum", "main.go"))
    ).hexdigest()
    binary, stamp = TOOLS_BIN / "servicemonitor-check", TOOLS_BIN / ".servicemonitor-check.sha256"
    if not (binary.exists() and stamp.exists() and stamp.read_text() == digest):
        TOOLS_BIN.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_name(f"{binary.name}.{os.getpid()}.tmp")  # atomic: xdist workers may race
        gen.run(["go", "build", "-trimpath", "-o", str(tmp), "."], SMCHECK_SRC, env={"CGO_ENABLED": "0"})
        tmp.replace(binary)
        stamp.write_text(digest)
    return binary




def strict_schema(node: Any) -> Any:
    """Forbid unknown fields wherever an OpenAPI schema lists properties (what `kubectl --validate=strict` does)."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for v in node.values():
            strict_schema(v)
    elif isinstance(node, list):
        for v in node:
            strict_schema(v)
    return node


@pytest.fixture(scope="session")
def servicemonitor_crd(servicemonitor_crd_yaml: str) -> jsonschema.Draft7Validator:
    """The ServiceMonitor CRD's v1 schema (controller-gen output, see conftest), strict like `--validate=strict`."""
    crd = yaml.safe_load(servicemonitor_crd_yaml)
    assert crd["spec"]["names"]["kind"] == "ServiceMonitor"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(strict_schema(version["schema"]["openAPIV3Schema"]))


def crd_errors(validator: jsonschema.Draft7Validator, obj: dict[str, Any]) -> list[str]:
    """Return the CRD schema violations of a ServiceMonitor."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def check_servicemonitors(smcheck: Path, objs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """Run the strict Go-types ServiceMonitor checker on `objs`."""
    return subprocess.run([str(smcheck)], input=json.dumps(objs), capture_output=True, text=True, timeout=60)


def validate_k8s(objs: list[dict[str, Any]], smcheck: Path, crd: jsonschema.Draft7Validator) -> None:
    """Validate every object strictly: Kubernetes 1.37 schemas; ServiceMonitors against the Go types and the CRD
    (PrometheusRules are checked against their CRD on the API server, test_chart_apiserver, and by promtool)."""
    for obj in objs:
        if obj["kind"] in MONITORING_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBE, strict=True)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {err}") from err
    sms = kc.by_kind(objs, "ServiceMonitor")
    if sms:
        proc = check_servicemonitors(smcheck, sms)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for sm in sms:
        assert crd_errors(crd, sm) == []


# ------------------------------------------------------------------ lint and template, both Helm majors


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize(("answers", "values_file"), chart_cases())
def test_lint_strict(projects: dict[str, Path], answers: str, values_file: str, tool: str) -> None:
    """`helm lint --strict` passes for every answer set and values file."""
    need(tool)
    chart = chart_dir(projects[answers])
    assert values_file in values_files(chart)
    args = ["lint", "--strict", "."] + (["-f", values_file] if values_file else [])
    out = helm(tool, *args, cwd=chart).stdout
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize(("answers", "values_file"), chart_cases())
def test_rendered_objects_valid_and_consistent(
    projects: dict[str, Path], smcheck: Path, servicemonitor_crd: jsonschema.Draft7Validator,
    answers: str, values_file: str, tool: str,
) -> None:
    """Every rendered object is schema-valid (strict) and the objects agree with each other and the values."""
    need(tool)
    chart = chart_dir(projects[answers])
    values = merged_values(chart, values_file)
    objs = template(tool, chart, *(["-f", values_file] if values_file else []))
    validate_k8s(objs, smcheck, servicemonitor_crd)
    answer = {**gen.ANSWER_SETS["defaults"], **ANSWERS[answers]}
    http_port, admin_port = answer.get("http_port", 8080), answer.get("admin_port", 9090)

    kinds = sorted(o["kind"] for o in objs)
    deploy = kc.one(objs, "Deployment")
    spec = kc.pod_template(deploy)["spec"]
    container = spec["containers"][0]
    env = kc.env_of(container)

    # Optional objects follow their switches.
    assert ("ServiceMonitor" in kinds) == values["serviceMonitor"]["enabled"]
    assert ("NetworkPolicy" in kinds) == values["networkPolicy"]["enabled"]
    assert ("HorizontalPodAutoscaler" in kinds) == values["autoscaling"]["enabled"]
    config_on = values.get("config", {}).get("enabled", False)
    dashboards = [o for o in kc.by_kind(objs, "ConfigMap") if values["dashboard"]["label"] in o["metadata"]["labels"]]
    assert len(dashboards) == int(values["dashboard"]["enabled"])
    collector_on = values["otel"]["enabled"] and values["otel"]["collector"]["sidecar"]["enabled"]
    assert kinds.count("ConfigMap") - len(dashboards) == int(config_on) + int(collector_on)
    assert ("ServiceAccount" in kinds) == values["serviceAccount"]["create"]
    floor = values["autoscaling"]["minReplicas"] if values["autoscaling"]["enabled"] else values["replicaCount"]
    assert ("PodDisruptionBudget" in kinds) == (values["podDisruptionBudget"]["enabled"] and floor >= 2)
    assert ("replicas" in deploy["spec"]) == (not values["autoscaling"]["enabled"])
    public = values["service"]["type"] != "ClusterIP"
    assert kinds.count("Service") == (2 if public else 1) and kinds.count("Pod") == 1  # the helm test pod

    # Cross-object consistency.
    assert kc.check_service_selects_pods(objs) == []
    assert kc.check_servicemonitor(objs) == []
    assert kc.check_selectors_exact(objs) == []
    service_ports = {p["name"]: p["targetPort"] for s in kc.by_kind(objs, "Service") for p in s["spec"]["ports"]}
    assert service_ports == {"http": "http", "metrics": "metrics"}  # named ports, each to its container port
    for svc in kc.by_kind(objs, "Service"):  # the admin listener is never on a NodePort/LoadBalancer
        names = [p["name"] for p in svc["spec"]["ports"]]
        assert names == (["metrics"] if svc["spec"]["type"] == "ClusterIP" and public else
                         ["http"] if public else ["http", "metrics"]), svc
    assert kc.check_probes(deploy, admin_port) == []
    assert kc.check_ports_match_config(deploy, http_port, admin_port) == []
    assert kc.check_restricted_pss(spec, "Deployment") == []
    for where, sc in (("pod", spec["securityContext"]), ("container", container["securityContext"])):
        # The distroless image's USER 65532:65532, numerically (PSS restricted, issue contract).
        assert (sc.get("runAsUser"), sc.get("runAsGroup")) == (65532, 65532), (where, sc)
    test_pod = kc.one(objs, "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert kc.check_restricted_pss(test_pod["spec"], "test pod") == []
    assert not kc.selects(deploy["spec"]["selector"], test_pod["metadata"]["labels"])
    for hpa in kc.by_kind(objs, "HorizontalPodAutoscaler"):
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "name": deploy["metadata"]["name"]}
    for pdb in kc.by_kind(objs, "PodDisruptionBudget"):
        assert kc.selects(pdb["spec"]["selector"], kc.pod_template(deploy)["metadata"]["labels"])
    for tsc in spec.get("topologySpreadConstraints", []):
        assert kc.selects(tsc["labelSelector"], kc.pod_template(deploy)["metadata"]["labels"])

    # Environment: tuned values, Downward API, runtime knobs only when set.
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    timeouts = values["timeouts"]
    for var, key in [("READ_HEADER_TIMEOUT", "readHeader"), ("READ_TIMEOUT", "read"), ("WRITE_TIMEOUT", "write"),
                     ("IDLE_TIMEOUT", "idle"), ("HANDLER_TIMEOUT", "handler"), ("SHUTDOWN_TIMEOUT", "shutdown"),
                     ("TELEMETRY_FLUSH_TIMEOUT", "telemetryFlush")]:
        assert env[var] == timeouts[key], var
    assert env["LOG_LEVEL"] == values["app"]["logLevel"]
    # The service derives GOMAXPROCS/GOMEMLIMIT from its cgroup; the chart passes the rule, literals only when set.
    assert env["GOMAXPROCS_POLICY"] == values["runtime"]["gomaxprocsPolicy"]
    assert env["GOMEMLIMIT_RATIO"] == str(values["runtime"]["gomemlimitRatio"])
    assert ("GOMAXPROCS" in env) == (values["runtime"]["gomaxprocs"] > 0)
    if values["runtime"]["gomaxprocs"] > 0:
        assert env["GOMAXPROCS"] == str(values["runtime"]["gomaxprocs"])
    assert env.get("GOMEMLIMIT", "") == values["runtime"]["gomemlimit"]
    assert ("OTEL_SDK_DISABLED" in env) == (not values["otel"]["enabled"])
    assert ("OTEL_EXPORTER_OTLP_ENDPOINT" in env) == (values["otel"]["enabled"] and bool(values["otel"]["endpoint"]))
    assert ("CONFIG_FILE" in env) == config_on
    if values["otel"]["enabled"]:
        attrs = env["OTEL_RESOURCE_ATTRIBUTES"].split(",")
        assert attrs[:3] == ["k8s.pod.name=$(POD_NAME)", "k8s.namespace.name=$(POD_NAMESPACE)",
                             "k8s.node.name=$(NODE_NAME)"]
        assert ",".join(attrs[3:]) == values["otel"]["resourceAttributes"]
        names = [e["name"] for e in container["env"]]
        assert names.index("POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")  # $(VAR) needs VAR first
    grace = derived_grace(values, native_sleep=True)
    assert grace <= spec["terminationGracePeriodSeconds"] == (values["terminationGracePeriodSeconds"] or grace)
    assert spec["automountServiceAccountToken"] is False
    assert container["resources"] == json.loads(json.dumps(values["resources"]))

    # preStop sleep at 1.37 exactly when configured; never both a sleep and the app's drain delay.
    sleep = values["preStopSleepSeconds"]
    if sleep > 0:
        assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": sleep}}}
    else:
        assert "lifecycle" not in container
    assert env["DRAIN_DELAY"] == ("0s" if sleep > 0 else timeouts["drainDelay"])

    # NetworkPolicy semantics.
    if values["networkPolicy"]["enabled"]:
        check_network_policy(objs, values)

    # Helm 4 and Helm 3 render the same objects.
    other = HELMS[1 - HELMS.index(tool)]
    if gen.have(other):
        assert template(other, chart, *(["-f", values_file] if values_file else [])) == objs


GO_UNITS_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}


def go_ns(text: str) -> int:
    """Nanoseconds of a plain Go duration ("15s", "7500ms", "1m30s"); test_chart_invariants tests the full grammar."""
    parts = re.findall(r"([0-9.]+)(ns|us|µs|μs|ms|s|m|h)", text)
    assert text == "0" or "".join(n + u for n, u in parts) == text, text
    return sum(int(Fraction(n) * GO_UNITS_NS[u]) for n, u in parts)


def derived_grace(values: dict[str, Any], *, native_sleep: bool, native_sidecars: bool = True) -> int:
    """terminationGracePeriodSeconds the chart derives: preStop + drain + shutdown + flush + 2s, rounded up; with
    sidecars (and the collector sidecar), their stop (longest preStop sleep + the larger of sidecarShutdownSeconds
    and otel.collector.sidecar.shutdownSeconds + 2s) follows it (native sidecars are
    stopped after the service) or runs beside it (regular containers: the larger of the two)."""
    t, sleep = values["timeouts"], values["preStopSleepSeconds"]
    drain = sleep * 10**9 if sleep > 0 else go_ns(t["drainDelay"])  # native sleep or the app's delay, never both
    total = drain + go_ns(t["shutdown"]) + go_ns(t["telemetryFlush"]) + 2 * 10**9
    assert native_sleep or sleep == 0 or drain == sleep * 10**9
    app = math.ceil(Fraction(total, 10**9))
    sidecars = values.get("sidecars") or []
    shutdown = int(values.get("sidecarShutdownSeconds") or 0)
    collector = ((values.get("otel") or {}).get("collector") or {}).get("sidecar") or {}
    if values.get("otel", {}).get("enabled") and collector.get("enabled"):  # the collector sidecar
        sidecars = [*sidecars, {"name": "otel-collector"}]
        shutdown = max(shutdown, int(collector["shutdownSeconds"]))
    if not sidecars:
        return app
    pre = max(int(((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0))
              for c in sidecars)
    side = pre + shutdown + 2
    return app + side if native_sidecars else max(app, side)


def check_network_policy(objs: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """Assert who may reach which port of the pods, and where the pods may connect."""
    np = values["networkPolicy"]
    policies = kc.by_kind(objs, "NetworkPolicy")
    deploy = kc.one(objs, "Deployment")
    labels = kc.pod_template(deploy)["metadata"]["labels"]
    named = kc.container_ports(kc.pod_template(deploy)["spec"])
    http, metrics = named["http"], named["metrics"]
    assert all(kc.selects(p["spec"]["podSelector"], labels) for p in policies)

    def ingress(peer: Peer, port: int) -> bool:
        return kc.np_allows(policies, "shop", labels, named, "Ingress", peer, port)

    def egress(peer: Peer, port: int, proto: str = "TCP") -> bool:
        return kc.np_allows(policies, "shop", labels, named, "Egress", peer, port, proto)

    scraper = Peer(np["metrics"]["namespace"], {**np["metrics"]["podLabels"], "app": "prometheus"})
    neighbour = Peer("shop", {"app": "frontend"})
    stranger = Peer("elsewhere", {"app": "x", **np["ingress"]["podLabels"]})
    assert ingress(scraper, metrics)
    assert not ingress(Peer(np["metrics"]["namespace"], {"app": "other"}), metrics) or not np["metrics"]["podLabels"]
    assert ingress(neighbour, http) == np["ingress"]["allowSameNamespace"]
    assert not ingress(neighbour, metrics)
    assert not ingress(stranger, http) and not ingress(stranger, metrics)
    assert not ingress(neighbour, 22)
    for ns in np["ingress"]["namespaces"]:
        gateway = Peer(ns, {**np["ingress"]["podLabels"], "app": "gw"})
        assert ingress(gateway, http)
        assert not ingress(gateway, metrics)
        if np["ingress"]["podLabels"]:
            assert not ingress(Peer(ns, {"app": "gw"}), http)
    if np["metrics"]["namespace"] not in np["ingress"]["namespaces"]:
        assert not ingress(scraper, http)
    test_pod = kc.one(objs, "Pod")
    assert ingress(Peer("shop", test_pod["metadata"]["labels"]), metrics)

    dns = Peer(np["dns"]["namespace"], np["dns"]["podLabels"])
    assert egress(dns, 53, "UDP") and egress(dns, 53, "TCP")
    assert not egress(Peer(np["dns"]["namespace"], {"app": "not-dns"}), 53, "UDP")
    assert not egress(dns, 443)
    assert not egress(Peer(ip="93.184.216.34"), 443)
    assert not egress(Peer("shop", {"app": "db"}), 5432)
    assert egress(Peer(ip=np["dns"]["nodeLocalIP"] or "169.254.20.10"), 53, "UDP") == bool(np["dns"]["nodeLocalIP"])
    otlp = np["otlp"]
    otlp_on = values["otel"]["enabled"] and otlp["enabled"]
    for port in otlp["ports"]:
        collector = Peer(otlp["namespace"] or "anywhere", otlp["podLabels"])
        assert egress(collector, port) == otlp_on
        assert egress(Peer("not-observability", {}), port) == (otlp_on and not otlp["namespace"])
    for rule in np["extraEgress"]:
        # a NetworkPolicyEgressRule, or the 0.1.0 shorthand {cidr, except, ports}
        peers = ([{"ipBlock": {"cidr": rule["cidr"], "except": rule.get("except", [])}}] if "cidr" in rule
                 else rule.get("to", []))
        ports = [(p["port"], p.get("protocol", "TCP")) for p in rule.get("ports", [])]
        for peer in peers:
            if "ipBlock" in peer:
                host = peer["ipBlock"]["cidr"].split("/")[0].rsplit(".", 1)[0] + ".9"
                for port, proto in ports:
                    assert egress(Peer(ip=host), port, proto)
                for ex in peer["ipBlock"].get("except", []):
                    excluded = ex.split("/")[0].rsplit(".", 1)[0] + ".9"
                    assert not egress(Peer(ip=excluded), ports[0][0])
            else:
                ns = (peer.get("namespaceSelector") or {}).get("matchLabels", {}).get(
                    "kubernetes.io/metadata.name", "shop")
                wanted = (peer.get("podSelector") or {}).get("matchLabels", {})
                for port, proto in ports:
                    assert egress(Peer(ns, wanted), port, proto)
                    if wanted:
                        assert not egress(Peer(ns, {"app": "something-else"}), port, proto)
    if values["service"]["type"] != "ClusterIP":  # load-balancer clients reach the http port, never metrics
        for cidr in values["service"].get("loadBalancerSourceRanges") or ["0.0.0.0/0"]:
            client = Peer(ip=cidr.split("/")[0].rsplit(".", 1)[0] + ".9")
            assert ingress(client, http) and not ingress(client, metrics)


def test_values_files_listed(projects: dict[str, Path]) -> None:
    """The parametrisation above covers every ci/*-values.yaml the chart ships; config.* only with hot reload."""
    for name in ANSWERS:
        chart = chart_dir(projects[name])
        assert values_files(chart) == sorted(f for a, f in chart_cases() if a == name), name
        values = yaml.safe_load((chart / "values.yaml").read_text())
        assert ("config" in values) == bool(ANSWERS[name].get("hot_reload")), name


# ------------------------------------------------------------------ Kubernetes version gates


@pytest.mark.parametrize("tool", HELMS)
def test_prestop_sleep_follows_cluster_version(projects: dict[str, Path], tool: str) -> None:
    """The native preStop sleep renders on >= 1.30 only; below, the app drains for as long instead."""
    need(tool)
    custom = chart_dir(projects["custom"])
    values = merged_values(custom, "")
    assert values["preStopSleepSeconds"] > 0, "drain_mode prestop must produce a preStop sleep"
    c = kc.pod_template(kc.one(template(tool, custom, kube="1.34.0"), "Deployment"))["spec"]["containers"][0]
    assert c["lifecycle"]["preStop"]["sleep"]["seconds"] == values["preStopSleepSeconds"]
    assert kc.env_of(c)["DRAIN_DELAY"] == "0s"  # the sleep is the drain delay: never both

    legacy = chart_dir(projects["legacy"])
    for kube, native in [("1.28.0", False), ("1.29.5", False), ("1.30.0", True), ("1.37.0", True)]:
        objs = template(tool, legacy, "--set", "preStopSleepSeconds=7", kube=kube)
        c = kc.pod_template(kc.one(objs, "Deployment"))["spec"]["containers"][0]
        assert ("lifecycle" in c) == native, kube
        assert kc.env_of(c)["DRAIN_DELAY"] == ("0s" if native else "7s"), kube  # one 7s delay, wherever it runs
        want = derived_grace({**merged_values(legacy, ""), "preStopSleepSeconds": 7}, native_sleep=native)
        assert kc.pod_template(kc.one(objs, "Deployment"))["spec"]["terminationGracePeriodSeconds"] == want, kube
    # Chart.yaml kubeVersion refuses clusters older than the kubernetes_version answer.
    proc = helm(tool, "template", "rel", ".", "--kube-version", "1.27.0", cwd=legacy, check=False)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr
    proc = helm(tool, "template", "rel", ".", "--kube-version", "1.33.0", cwd=custom, check=False)
    assert proc.returncode != 0 and "kubeVersion" in proc.stderr


SIDECAR_EXTRA = {
    "initContainers": [{"name": "wait", "image": "registry.example.com/tools/wait:1.0",
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}}}],
}


@pytest.mark.parametrize("tool", HELMS)
def test_sidecars_follow_cluster_version_and_mode(projects: dict[str, Path], tool: str, tmp_path: Path) -> None:
    """`sidecars` (ci/sidecar-values.yaml) are native sidecars on >= 1.29 in mode auto, first in initContainers with
    restartPolicy: Always; regular containers below 1.29 or in mode legacy; mode native refuses < 1.29. Either way
    they keep their probes and resources and get the service's restricted securityContext when they set none, and
    the derived grace period holds the service's stop, then (native) or beside it (regular) the sidecars' stop."""
    need(tool)
    chart = chart_dir(projects["legacy"])  # kubeVersion floor 1.28
    extra = tmp_path / "extra.yaml"
    extra.write_text(yaml.safe_dump(SIDECAR_EXTRA))
    files = ["-f", "ci/sidecar-values.yaml", "-f", str(extra)]
    values = deep_merge(merged_values(chart, "ci/sidecar-values.yaml"), SIDECAR_EXTRA)
    declared = values["sidecars"][0]
    assert "securityContext" not in declared and declared["startupProbe"] and values["sidecarShutdownSeconds"] > 0
    app = derived_grace({**values, "sidecars": []}, native_sleep=False)
    cases = [("1.28.0", "auto", False), ("1.29.0", "auto", True), ("1.30.0", "auto", True), ("1.37.0", "auto", True),
             ("1.30.0", "legacy", False), ("1.28.0", "legacy", False), ("1.30.0", "native", True)]
    for kube, mode, native in cases:
        objs = template(tool, chart, *files, "--set", f"sidecarsMode={mode}", kube=kube)
        tmpl = kc.pod_template(kc.one(objs, "Deployment"))
        spec = tmpl["spec"]
        service = spec["containers"][0]
        inits = [c["name"] for c in spec.get("initContainers", [])]
        names = [c["name"] for c in spec["containers"]]
        if native:
            assert inits == ["proxy", "wait"] and names == [service["name"]], (kube, mode)
            proxy = spec["initContainers"][0]
            assert proxy["restartPolicy"] == "Always", (kube, mode)
            assert "restartPolicy" not in spec["initContainers"][1]  # the user's init container stays one
        else:
            assert inits == ["wait"] and names == [service["name"], "proxy"], (kube, mode)
            proxy = spec["containers"][1]
            assert "restartPolicy" not in proxy, (kube, mode)
        assert {k: proxy[k] for k in declared} == json.loads(json.dumps(declared)), (kube, mode)  # probes, resources
        assert proxy["securityContext"] == service["securityContext"], (kube, mode)  # the restricted PSS default
        assert kc.check_restricted_pss(spec, "Deployment") == [], (kube, mode)
        side = values["sidecarShutdownSeconds"] + 2
        want = app + side if native else max(app, side)
        assert spec["terminationGracePeriodSeconds"] == want == derived_grace(
            values, native_sleep=False, native_sidecars=native), (kube, mode)
        assert tmpl["metadata"]["annotations"]["gosmith.dev/sidecar-shutdown-timeout"] == \
            f"{values['sidecarShutdownSeconds']}s"  # what gosmith doctor reads for sidecar-grace-headroom
        # An explicit grace must hold the sidecars' stop too (native: after the service's).
        if native:
            line = helm(tool, "template", "rel", ".", *files, "--set", f"sidecarsMode={mode}",
                        "--set", f"terminationGracePeriodSeconds={want - 1}", "--kube-version", kube,
                        cwd=chart, check=False).stderr
            assert f"terminationGracePeriodSeconds {want - 1} is too short" in line, line
            assert "sidecarShutdownSeconds 5s" in line and f"at least {want}" in line, line
        objs = template(tool, chart, *files, "--set", f"sidecarsMode={mode}",
                        "--set", f"terminationGracePeriodSeconds={want}", kube=kube)
        assert kc.pod_template(kc.one(objs, "Deployment"))["spec"]["terminationGracePeriodSeconds"] == want

    # A sidecar's own preStop sleep and securityContext are kept; the sleep adds to the grace after the service.
    own = {"sidecars": [{**declared, "lifecycle": {"preStop": {"sleep": {"seconds": 4}}},
                         "securityContext": {**SIDECAR_EXTRA["initContainers"][0]["securityContext"],
                                             "runAsUser": 1337}}]}
    extra.write_text(yaml.safe_dump({**SIDECAR_EXTRA, **own}))
    spec = kc.pod_template(kc.one(template(tool, chart, *files, kube="1.30.0"), "Deployment"))["spec"]
    proxy = spec["initContainers"][0]
    assert proxy["securityContext"] == own["sidecars"][0]["securityContext"]
    assert proxy["lifecycle"] == {"preStop": {"sleep": {"seconds": 4}}}
    assert spec["terminationGracePeriodSeconds"] == app + 4 + values["sidecarShutdownSeconds"] + 2

    # Without sidecarShutdownSeconds the native sidecars still get their 2s margin after the service.
    spec = kc.pod_template(kc.one(template(tool, chart, "-f", "ci/sidecar-values.yaml", "--set",
                                           "sidecarShutdownSeconds=0", kube="1.30.0"), "Deployment"))
    assert spec["spec"]["terminationGracePeriodSeconds"] == app + 2
    assert "gosmith.dev/sidecar-shutdown-timeout" not in (spec["metadata"].get("annotations") or {})
    # No sidecars: the grace period and the pod are as before.
    spec = kc.pod_template(kc.one(template(tool, chart, kube="1.30.0"), "Deployment"))["spec"]
    assert spec["terminationGracePeriodSeconds"] == app and "initContainers" not in spec

    # sidecarsMode native on a cluster without native sidecars fails with one line.
    proc = helm(tool, "template", "rel", ".", *files, "--set", "sidecarsMode=native", "--kube-version", "1.28.0",
                cwd=chart, check=False)
    assert proc.returncode != 0 and "sidecarsMode native needs Kubernetes >= 1.29" in proc.stderr, proc.stderr


def collector_config(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The collector sidecar's configuration from its rendered ConfigMap."""
    (cm,) = [o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-otel-collector")]
    config: dict[str, Any] = yaml.safe_load(cm["data"]["config.yaml"])
    return config


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """A container's plain env values by name."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


@pytest.mark.parametrize("tool", HELMS)
def test_collector_sidecar_values(projects: dict[str, Path], rendered: gen.Rendered, tool: str) -> None:
    """otel.collector.sidecar (ci/otel-collector-values.yaml): a collector placed by sidecarsMode (native, last in
    initContainers, on >= 1.29; a regular container below or in mode legacy), restricted PSS, its config from a
    ConfigMap (OTLP receiver on 127.0.0.1 only, memory_limiter + batch, the service's OTLP exporter with a sending
    queue and retries to otel.endpoint, the file's extra exporter header merged in); the service exports to
    127.0.0.1; the grace period holds the collector's shutdownSeconds after the service's stop; the OTLP egress
    of the NetworkPolicy still lets the pod reach otel.endpoint; off by default and with otel.enabled false."""
    need(tool)
    chart = chart_dir(projects["defaults"])  # OTLP/gRPC, NetworkPolicy on
    old_chart = chart_dir(projects["legacy"])  # kubeVersion floor 1.28
    values = merged_values(chart, "ci/otel-collector-values.yaml")
    side = values["otel"]["collector"]["sidecar"]
    cases = [("1.28.0", "auto", False), ("1.29.0", "auto", True), ("1.30.0", "auto", True),
             ("1.30.0", "legacy", False), ("1.30.0", "native", True)]
    for kube, mode, native in cases:
        c = old_chart if kube < "1.30" else chart
        v = merged_values(c, "ci/otel-collector-values.yaml")
        app = derived_grace(deep_merge(v, {"otel": {"collector": {"sidecar": {"enabled": False}}}}),
                            native_sleep=kube >= "1.30")
        objs = template(tool, c, "-f", "ci/otel-collector-values.yaml",
                        "--set", f"sidecarsMode={mode}", "--set", "sidecars[0].name=proxy",
                        "--set", "sidecars[0].image=registry.k8s.io/pause:3.10", kube=kube)
        tmpl = kc.pod_template(kc.one(objs, "Deployment"))
        spec = tmpl["spec"]
        service = spec["containers"][0]
        if native:
            # the user's sidecars first, the collector last: native sidecars stop in reverse order
            assert [c["name"] for c in spec["initContainers"]] == ["proxy", "otel-collector"], (kube, mode)
            collector = spec["initContainers"][1]
            assert collector["restartPolicy"] == "Always"
        else:
            assert [c["name"] for c in spec["containers"]] == [service["name"], "proxy", "otel-collector"]
            collector = spec["containers"][2]
            assert "restartPolicy" not in collector and "initContainers" not in spec
        assert collector["image"] == f"{side['image']['repository']}:{side['image']['tag']}"
        assert collector["args"] == ["--config=/etc/otelcol/config.yaml"]
        assert collector["resources"] == side["resources"]
        assert env_of(collector) == {"GOMEMLIMIT": f"{side['memoryLimitMiB']}MiB"}
        assert collector["securityContext"] == service["securityContext"]
        assert kc.check_restricted_pss(spec, "Deployment") == [], (kube, mode)
        (volume,) = [v for v in spec["volumes"] if v["name"] == "otel-collector-config"]
        assert volume["configMap"]["name"] == f"rel-{c.name}-otel-collector"
        assert {"name": "otel-collector-config", "mountPath": "/etc/otelcol", "readOnly": True} in \
            collector["volumeMounts"]
        assert env_of(service)["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
        want = app + side["shutdownSeconds"] + 2 if native else max(app, side["shutdownSeconds"] + 2)
        assert spec["terminationGracePeriodSeconds"] == want == derived_grace(
            v, native_sleep=kube >= "1.30", native_sidecars=native), (kube, mode)
        assert tmpl["metadata"]["annotations"]["gosmith.dev/sidecar-shutdown-timeout"] == f"{side['shutdownSeconds']}s"
        assert tmpl["metadata"]["annotations"]["checksum/otel-collector-config"]
        if native:  # an explicit grace below it fails, naming the collector's value
            line = helm(tool, "template", "rel", ".", "-f", "ci/otel-collector-values.yaml",
                        "--set", f"terminationGracePeriodSeconds={want - 1}", "--kube-version", kube,
                        cwd=c, check=False).stderr
            assert f"otel.collector.sidecar.shutdownSeconds {side['shutdownSeconds']}s" in line, line
    config = collector_config(objs)
    assert config["receivers"] == {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"},
                                                          "http": {"endpoint": "127.0.0.1:4318"}}}}
    exporter = config["exporters"]["otlp_grpc"]
    assert exporter["endpoint"] == values["otel"]["endpoint"] and exporter["tls"] == {"insecure": True}
    assert exporter["sending_queue"] == {"enabled": True, "queue_size": side["queueSize"]}
    assert exporter["retry_on_failure"]["enabled"] is True
    assert exporter["headers"] == {"x-tenant": "shop"}  # merged from otel.collector.sidecar.config
    assert config["service"]["pipelines"] == {"traces": {
        "receivers": ["otlp"], "processors": ["memory_limiter", "batch"], "exporters": ["otlp_grpc"]}}
    assert config["processors"]["memory_limiter"]["limit_mib"] == side["memoryLimitMiB"]
    # The pod still reaches otel.endpoint: the OTLP egress rule is there with the sidecar.
    (np,) = [o for o in objs if o["kind"] == "NetworkPolicy"]
    otlp_ports = [[p["port"] for p in rule["ports"]] for rule in np["spec"]["egress"]]
    assert [4317] in otlp_ports or any(4317 in p for p in otlp_ports), np["spec"]["egress"]
    # A changed collector config rolls the pods.
    def checksum(*extra: str) -> str:
        objs = template(tool, chart, "-f", "ci/otel-collector-values.yaml", *extra)
        annotations = kc.pod_template(kc.one(objs, "Deployment"))["metadata"]["annotations"]
        return str(annotations["checksum/otel-collector-config"])

    assert checksum("--set", "otel.collector.sidecar.queueSize=10") != checksum()
    # https endpoints keep TLS on.
    tls = collector_config(template(tool, chart, "-f", "ci/otel-collector-values.yaml",
                                    "--set", "otel.endpoint=https://otel.example.com:4317"))
    assert "tls" not in tls["exporters"]["otlp_grpc"]
    # Off by default, and off when tracing is off.
    for extra in ([], ["-f", "ci/otel-collector-values.yaml", "--set", "otel.enabled=false"]):
        objs = template(tool, chart, *extra)
        spec = kc.pod_template(kc.one(objs, "Deployment"))["spec"]
        assert "otel-collector" not in [c["name"] for c in spec["containers"] + spec.get("initContainers", [])]
        assert not [o for o in objs if o["metadata"]["name"].endswith("-otel-collector")]
        assert spec["terminationGracePeriodSeconds"] == derived_grace(merged_values(chart, ""), native_sleep=True)
    # The HTTP/protobuf variant: the service sends to 4318 and the collector exports over OTLP/HTTP.
    http = chart_dir(rendered("http-go1265-ports"))
    objs = template(tool, http, "--set", "otel.collector.sidecar.enabled=true")
    assert env_of(kc.pod_template(kc.one(objs, "Deployment"))["spec"]["containers"][0])[
        "OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert list(collector_config(objs)["exporters"]) == ["otlp_http"]


@pytest.mark.parametrize("tool", HELMS)
def test_collector_sidecar_schema(projects: dict[str, Path], tool: str) -> None:
    """values.schema.json is strict under otel.collector.sidecar: unknown keys, a non-positive shutdownSeconds,
    a bad image tag and a tiny memory limit fail at render time."""
    need(tool)
    chart = chart_dir(projects["defaults"])
    for bad in ("otel.collector.sidecar.imagee=x", "otel.collector.sidecar.shutdownSeconds=0",
                "otel.collector.sidecar.image.tag=bad tag", "otel.collector.sidecar.memoryLimitMiB=1",
                "otel.collector.unknown=true"):
        proc = helm(tool, "template", "rel", ".", "--set", "otel.collector.sidecar.enabled=true", "--set", bad,
                    cwd=chart, check=False)
        assert proc.returncode != 0 and "schema" in proc.stderr.lower(), (bad, proc.stderr)


@pytest.mark.parametrize("tool", HELMS)
def test_notes_warn_about_regular_sidecars(projects: dict[str, Path], tool: str, tmp_path: Path) -> None:
    """NOTES.txt warns that regular-container sidecars stop together with the service (below 1.29, or in mode
    legacy), and says native sidecars stop after it otherwise. `helm install --dry-run` has no --kube-version, so
    the NOTES are rendered per cluster version through a probe template in a copy of the chart."""
    need(tool)
    chart = tmp_path / "chart"
    shutil.copytree(chart_dir(projects["legacy"]), chart)
    (chart / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include (print .Chart.Name "/templates/NOTES.txt") . | quote }}\n')

    def notes(kube: str, *extra: str) -> str:
        out = helm(tool, "template", "rel", ".", "--namespace", "shop", "--kube-version", kube,
                   "--show-only", "templates/notes-probe.yaml", *extra, cwd=chart).stdout
        return str(yaml.safe_load(out)["data"]["notes"])

    old = notes("1.28.0", "-f", "ci/sidecar-values.yaml")
    assert "WARNING: sidecars proxy run as regular containers" in old, old
    assert "Kubernetes v1.28.0 has no native sidecars" in old and "stop together with it" in old, old
    legacy = notes("1.30.0", "-f", "ci/sidecar-values.yaml", "--set", "sidecarsMode=legacy")
    assert "WARNING: sidecars proxy run as regular containers (sidecarsMode legacy)" in legacy, legacy
    native = notes("1.30.0", "-f", "ci/sidecar-values.yaml")
    assert "WARNING" not in native and "proxy run as native sidecars" in native, native
    assert "then the sidecars' 7s: preStop sleep + sidecarShutdownSeconds + 2s" in native, native
    assert "sidecar" not in notes("1.28.0").lower()
    # The collector sidecar is named like any other sidecar, with its own shutdown value.
    collector = notes("1.30.0", "-f", "ci/otel-collector-values.yaml", "--set", "sidecarsMode=legacy")
    assert "WARNING: sidecars otel-collector run as regular containers (sidecarsMode legacy)" in collector, collector
    collector = notes("1.30.0", "-f", "ci/otel-collector-values.yaml")
    assert "otel-collector run as native sidecars" in collector, collector
    assert "then the sidecars' 10s: preStop sleep + otel.collector.sidecar.shutdownSeconds + 2s" in collector, collector
    if tool == "helm":  # the real NOTES of a (client-side) install, at Helm's own cluster version
        out = helm(tool, "install", "rel", ".", "--dry-run=client", "-f", "ci/sidecar-values.yaml",
                   cwd=chart_dir(projects["legacy"])).stdout
        assert "proxy run as native sidecars" in out[out.index("NOTES:") :]


@pytest.mark.parametrize("tool", HELMS)
def test_servicemonitor_follows_its_value_alone(projects: dict[str, Path], tool: str) -> None:
    """serviceMonitor.enabled alone decides: the same ServiceMonitor with the kind advertised, with only the
    group/version (Argo CD's `--api-versions monitoring.coreos.com/v1`) and with no capabilities at all."""
    need(tool)
    chart = chart_dir(projects["defaults"])
    with_kind = kc.by_kind(template(tool, chart, api=True), "ServiceMonitor")
    assert with_kind
    assert kc.by_kind(template(tool, chart, "--api-versions", "monitoring.coreos.com/v1", api=False),
                      "ServiceMonitor") == with_kind
    assert kc.by_kind(template(tool, chart, api=False), "ServiceMonitor") == with_kind
    assert not kc.by_kind(template(tool, chart, "--set", "serviceMonitor.enabled=false", api=True), "ServiceMonitor")


# ------------------------------------------------------------------ the schema and template guards

BAD_VALUES = {
    "misspelled top-level key": ["--set", "replicaCont=3"],
    "negative replica count": ["--set", "replicaCount=-1"],
    "non-quantity memory limit": ["--set-string", "resources.limits.memory=lots"],
    "unknown nested key": ["--set", "networkPolicy.ingres.namespaces={a}"],
    "bad log level": ["--set", "app.logLevel=verbose"],
    "bad scrape interval": ["--set", "serviceMonitor.interval=30 seconds"],
    "bad Go duration": ["--set", "timeouts.read=soon"],
    "bad sidecars mode": ["--set", "sidecarsMode=sidecar"],
    "negative sidecar shutdown": ["--set", "sidecarShutdownSeconds=-1"],
}
GOOD_VALUES = {
    "misspelled top-level key": ["--set", "replicaCount=3"],
    "negative replica count": ["--set", "replicaCount=0"],
    "non-quantity memory limit": ["--set-string", "resources.limits.memory=1.5Gi"],
    "unknown nested key": ["--set", "networkPolicy.ingress.namespaces={a}"],
    "bad log level": ["--set", "app.logLevel=debug"],
    "bad scrape interval": ["--set", "serviceMonitor.interval=1m"],
    "bad Go duration": ["--set", "timeouts.read=1m30s"],
    "bad sidecars mode": ["--set", "sidecarsMode=legacy"],
    "negative sidecar shutdown": ["--set", "sidecarShutdownSeconds=10"],
}


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_schema_rejects_bad_values(projects: dict[str, Path], case: str, tool: str) -> None:
    """values.schema.json makes lint and template fail on the bad value, and accept a good one."""
    need(tool)
    chart = chart_dir(projects["defaults"])
    for cmd in (["lint", "--strict", "."], ["template", "rel", ".", "--kube-version", KUBE]):
        bad = helm(tool, *cmd, *BAD_VALUES[case], cwd=chart, check=False)
        assert bad.returncode != 0, f"{case}: {' '.join(cmd)} accepted it"
        assert "schema" in (bad.stdout + bad.stderr).lower(), bad.stdout + bad.stderr
        helm(tool, *cmd, *GOOD_VALUES[case], cwd=chart)


@pytest.mark.parametrize("tool", HELMS)
def test_scrape_timeout_must_be_shorter_than_interval(projects: dict[str, Path], tool: str) -> None:
    """The template fails when scrapeTimeout >= interval (Prometheus would reject the target)."""
    need(tool)
    chart = chart_dir(projects["defaults"])
    for timeout, interval in [("30s", "30s"), ("2m", "1m"), ("1500ms", "1s")]:
        proc = helm(tool, "template", "rel", ".", "--kube-version", KUBE, "--api-versions", SM_API,
                    "--set", f"serviceMonitor.scrapeTimeout={timeout}", "--set", f"serviceMonitor.interval={interval}",
                    cwd=chart, check=False)
        assert proc.returncode != 0 and "must be shorter" in proc.stderr, (timeout, interval, proc.stderr)
    ok = template(tool, chart, "--set", "serviceMonitor.scrapeTimeout=59s", "--set", "serviceMonitor.interval=1m")
    ep = kc.one(ok, "ServiceMonitor")["spec"]["endpoints"][0]
    assert (ep["scrapeTimeout"], ep["interval"]) == ("59s", "1m")


def test_schema_is_self_contained_and_strict(projects: dict[str, Path]) -> None:
    """No remote $ref, and every object schema with fixed properties forbids unknown keys (except the
    pass-through Kubernetes objects, which the API server's own schema validates: test_chart_schema_vs_server).
    The shared definitions are checked where they are used: each `$ref` inlined."""
    schema_text = (chart_dir(projects["defaults"]) / "values.schema.json").read_text()
    assert not re.search(r'"\$ref"\s*:\s*"https?:', schema_text)
    raw = json.loads(schema_text)
    schema = inline_refs(raw)  # refuses a keyword beside a $ref (draft-07 ignores it)
    used = set(re.findall(r'"\$ref"\s*:\s*"#/\$defs/([^/"]+)', schema_text))
    assert used == set(raw["$defs"]), f"unused definitions: {sorted(set(raw['$defs']) - used)}"

    def walk(node: Any, path: str) -> Iterator[str]:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False and path != "$.global":
                yield path
            for k, v in node.items():
                yield from walk(v, f"{path}.{k}" if k not in ("properties", "items", "anyOf", "oneOf") else path)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v, path)

    assert sorted(walk(schema, "$")) == sorted([  # resources: any resource name
        "$.resources.requests", "$.resources.limits", "$.otel.collector.sidecar.resources.requests",
        "$.otel.collector.sidecar.resources.limits", "$.extraVolumes", "$.extraVolumeMounts", "$.initContainers",
        "$.sidecars"])
    values = yaml.safe_load((chart_dir(projects["defaults"]) / "values.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(raw)
    jsonschema.Draft7Validator(raw).validate(values)
    jsonschema.Draft7Validator(schema).validate(values)


#: Durations each kind of duration value takes and refuses (the values keys: DURATION_KEYS).
DURATIONS: dict[str, tuple[list[str], list[str]]] = {
    "goDuration": (["0", "1m30s", "300ms", "1.5h", ".5s", "2h45m", "10us", "10µs", "-1s", "+3s"],
                   ["", "soon", "1m30", "30 s", "1d", "s", "1.s.", "0s0", "1e3s"]),
    "promDuration": (["30s", "1m", "1500ms", "2h"], ["", "0s", "1.5m", "1d", "30", "30 s", "-1m", "1m30s"]),
    "ruleDuration": (["5m", "1h", "3d", "4w", "500ms"], ["", "0m", "1.5h", "1y", "5 m", "-5m"]),
}
#: Every duration-valued key of values.yaml and the shared duration definition its schema uses (None: a
#: pattern of its own, the unsigned Go duration of the resync period).
DURATION_KEYS: dict[str, str | None] = {
    **{f"timeouts.{k}": "goDuration" for k in ("readHeader", "read", "handler", "write", "idle", "drainDelay",
                                                "shutdown", "telemetryFlush", "upstreamTimeout", "upstreamMargin")},
    "app.shedTargetLatency": "goDuration",
    "serviceMonitor.interval": "promDuration", "serviceMonitor.scrapeTimeout": "promDuration",
    "slo.for.page": "ruleDuration", "slo.for.ticket": "ruleDuration",
    **{f"slo.windows.{w}.{k}": "ruleDuration" for w in ("pageFast", "pageSlow", "ticketFast", "ticketSlow")
       for k in ("long", "short")},
    "kubernetesClient.resyncPeriod": None,
}  # fmt: skip


@pytest.mark.parametrize("kind", list(DURATIONS))
def test_duration_definitions_check_the_syntax(projects: dict[str, Path], kind: str) -> None:
    """Each shared duration definition accepts its language's durations and refuses the rest."""
    raw = json.loads((chart_dir(projects["defaults"]) / "values.schema.json").read_text())
    validator = jsonschema.Draft7Validator({**raw["$defs"][kind], "$defs": raw["$defs"]})
    good, bad = DURATIONS[kind]
    assert [d for d in good if not validator.is_valid(d)] == []
    assert [d for d in bad if validator.is_valid(d)] == []


def schema_at(raw: dict[str, Any], path: str) -> dict[str, Any]:
    """Return the schema node of a dotted values path as written (a $ref on the way is followed)."""
    node: Any = raw
    for part in path.split("."):
        if "$ref" in node:
            node = raw["$defs"][node["$ref"].removeprefix("#/$defs/")]
        node = node["properties"][part]
    return dict(node)


def test_every_duration_value_is_checked_by_pattern(projects: dict[str, Path]) -> None:
    """Every values key holding a duration (by its value in any answer set) has its syntax checked by a
    pattern, not only its presence: the shared duration definition DURATION_KEYS names."""
    duration = re.compile(r"^[0-9.]+(ns|us|µs|ms|s|m|h|d|w)([0-9.]+(ns|us|µs|ms|s|m|h))*$")

    def leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, f"{path}.{k}" if path else k)
        else:
            yield path, node

    found: set[str] = set()
    for project in projects.values():
        chart = chart_dir(project)
        raw = json.loads((chart / "values.schema.json").read_text())
        for path, value in leaves(yaml.safe_load((chart / "values.yaml").read_text()), ""):
            if not (isinstance(value, str) and duration.match(value)) or "resources." in f".{path}":
                continue  # resources (the service's, the collector sidecar's): quantities ("100m" is a tenth of a CPU)
            found.add(path)
            assert path in DURATION_KEYS, f"{path}: a duration value that DURATION_KEYS does not know"
            node, kind = schema_at(raw, path), DURATION_KEYS[path]
            if kind:
                assert node.get("$ref") == f"#/$defs/{kind}", (path, node)
            validator = jsonschema.Draft7Validator(inline_refs(node, raw))
            assert validator.is_valid(value) and not validator.is_valid("soon"), (path, value)
    assert found >= {k for k, kind in DURATION_KEYS.items() if kind}, sorted(set(DURATION_KEYS) - found)


# ------------------------------------------------------------------ values.yaml documentation


def undocumented_keys(text: str) -> list[str]:
    """Return the dotted keys of values.yaml that neither have a `# --` comment nor only documented children."""
    entries: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    prev_comment = ""
    block_indent = -1
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent >= 0:
            if stripped and indent <= block_indent:
                block_indent = -1
            else:
                continue
        if not stripped:
            prev_comment = ""
            continue
        if stripped.startswith("#"):
            prev_comment = stripped
            continue
        m = re.match(r"^([A-Za-z0-9_.\-/]+):(\s|$)", stripped)
        if m:
            entries.append((indent, m.group(1), prev_comment.startswith("# --")))
            if stripped.endswith(("|", ">", "|-", ">-")):
                block_indent = indent
        prev_comment = ""

    def ok(i: int) -> tuple[bool, int, list[str]]:
        indent, key, documented = entries[i]
        j, children, missing = i + 1, [], []
        while j < len(entries) and entries[j][0] > indent:
            good, nxt, miss = ok(j)
            children.append(good)
            missing += [f"{key}.{k}" for k in miss]
            j = nxt
        if documented:
            return True, j, []
        if children and all(children):
            return True, j, []
        return False, j, missing or [key]

    missing: list[str] = []
    i = 0
    while i < len(entries):
        _, i2, miss = ok(i)
        missing += miss
        i = i2
    return missing


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_values_documented_and_tuned(projects: dict[str, Path], answers: str) -> None:
    """Every value has a `# --` comment; tuned values equal hooks.tuning and state their formula."""
    text = (chart_dir(projects[answers]) / "values.yaml").read_text()
    assert undocumented_keys(text) == []
    assert undocumented_keys("a:\n  # -- ok\n  b: 1\n  c: 2\n") == ["a.c"]  # the checker itself catches gaps

    answer_file = yaml.safe_load((projects[answers] / ".copier-answers.yml").read_text())
    tuned = rules(ROOT).tuning.derive({k: v for k, v in answer_file.items() if not k.startswith("_")}).as_context()
    values = yaml.safe_load(text)
    assert values["replicaCount"] == tuned["replicas"]
    # No literals derived from resources: the policy and ratio answers; explicit overrides start unset.
    assert values["runtime"] == {
        "gomaxprocsPolicy": answer_file["gomaxprocs_policy"], "gomemlimitRatio": str(answer_file["gomemlimit_ratio"]),
        "gomaxprocs": 0, "gomemlimit": "",
    }
    d = tuned["durations"]
    assert values["timeouts"] == {
        "readHeader": d["read_header_timeout"], "read": d["read_timeout"], "handler": d["handler_timeout"],
        "write": d["write_timeout"], "idle": d["idle_timeout"], "drainDelay": d["drain_delay"],
        "shutdown": d["shutdown_timeout"], "telemetryFlush": d["telemetry_flush_timeout"],
        "upstreamTimeout": d["upstream_timeout"], "upstreamMargin": d["upstream_margin"],
    }
    # 0 = derived in the template (an explicit answer stays explicit); the template's number equals the rule's.
    assert values["terminationGracePeriodSeconds"] == answer_file["termination_grace_period_seconds"]
    assert (values["terminationGracePeriodSeconds"] or derived_grace(values, native_sleep=True)) \
        == tuned["termination_grace_period_seconds"]
    assert values["preStopSleepSeconds"] == tuned["prestop_sleep_seconds"]
    assert values["probes"] == tuned["probes"]
    for kind in ("requests", "limits"):
        want = {k: v for k, v in tuned["resources"][kind].items() if v}
        assert values["resources"][kind] == want
    assert values["autoscaling"] == tuned["hpa"]
    # The PDB is decided in the template from the effective pod count, for every answer set.
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": tuned["pdb"]["maxUnavailable"]}
    doc_lines = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("# --"))
    for key, reason in tuned["reasons"].items():
        if key != "pdb":  # decided at deploy time, so no generation-time formula
            assert reason in doc_lines, f"formula for {key} missing from the `# --` comments"


# ------------------------------------------------------------------ the validators are strict


def test_validators_reject_broken_objects(
    projects: dict[str, Path], smcheck: Path, servicemonitor_crd: jsonschema.Draft7Validator
) -> None:
    """kubernetes-validate (strict), the ServiceMonitor checker and the cross checks catch breakage."""
    need("helm")
    objs = template("helm", chart_dir(projects["defaults"]))
    deploy = kc.one(objs, "Deployment")

    bad = copy.deepcopy(deploy)
    bad["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBE, strict=True)

    sm = kc.one(objs, "ServiceMonitor")
    assert check_servicemonitors(smcheck, [sm]).returncode == 0
    assert crd_errors(servicemonitor_crd, sm) == []
    for mutate in (
        lambda s: s["spec"]["endpoints"][0].update(intervall="30s"),
        lambda s: s["spec"]["endpoints"][0].update(interval="30 seconds"),
        lambda s: s["spec"]["endpoints"][0].update(scheme="ftp"),
        lambda s: s["spec"].update(endpoints="metrics"),
    ):
        broken = copy.deepcopy(sm)
        mutate(broken)
        assert check_servicemonitors(smcheck, [broken]).returncode == 1, broken
        assert crd_errors(servicemonitor_crd, broken), broken

    svc_broken = [copy.deepcopy(o) for o in objs]
    kc.one(svc_broken, "Service")["spec"]["selector"]["app.kubernetes.io/name"] = "other"
    assert kc.check_service_selects_pods(svc_broken)
    sm_broken = [copy.deepcopy(o) for o in objs]
    kc.one(sm_broken, "ServiceMonitor")["spec"]["endpoints"][0]["port"] = "http-metrics"
    assert kc.check_servicemonitor(sm_broken)
    kc.one(sm_broken, "ServiceMonitor")["spec"]["selector"]["matchLabels"] = {}
    kc.one(sm_broken, "ServiceMonitor")["spec"]["endpoints"][0]["port"] = "metrics"
    sm_broken.append({**copy.deepcopy(kc.one(objs, "Service")), "metadata": {"name": "x", "labels": {"a": "b"}}})
    assert kc.check_servicemonitor(sm_broken)
    assert kc.check_selectors_exact(objs) == []
    for kind, path in (("NetworkPolicy", ("spec", "podSelector")), ("ServiceMonitor", ("spec", "selector")),
                       ("PodDisruptionBudget", ("spec", "selector"))):
        loose = [copy.deepcopy(o) for o in objs]
        sel = kc.one(loose, kind)[path[0]][path[1]]
        sel["matchLabels"].pop("app.kubernetes.io/instance")  # would match every release of the chart
        assert len(kc.check_selectors_exact(loose)) == 2, kind
        sel.clear()  # an empty selector matches everything
        assert len(kc.check_selectors_exact(loose)) == 2, kind
    wide = [copy.deepcopy(o) for o in objs]
    kc.one(wide, "ServiceMonitor")["spec"]["namespaceSelector"] = {"any": True}
    assert kc.check_selectors_exact(wide)
    pod = copy.deepcopy(kc.pod_template(deploy)["spec"])
    pod["containers"][0]["securityContext"]["capabilities"]["drop"] = []
    pod["containers"][0]["securityContext"].pop("runAsUser")
    pod["securityContext"].pop("runAsUser")
    assert len(kc.check_restricted_pss(pod, "pod")) == 2
    assert kc.check_ports_match_config(deploy, 8081, 9090)
    assert kc.check_probes(deploy, 8080)
    np_policies = kc.by_kind(objs, "NetworkPolicy")
    labels = kc.pod_template(deploy)["metadata"]["labels"]
    named = kc.container_ports(kc.pod_template(deploy)["spec"])
    assert kc.np_allows(np_policies, "shop", labels, named, "Ingress", Peer("monitoring", {}), named["metrics"])
    open_policy = copy.deepcopy(np_policies)
    open_policy[0]["spec"]["ingress"][1]["from"] = [{"namespaceSelector": {}}]
    assert kc.np_allows(open_policy, "shop", labels, named, "Ingress", Peer("elsewhere", {}), named["metrics"])


# ------------------------------------------------------------------ config checksum


def settings_config_map(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the hot-reload settings ConfigMap (the dashboard ConfigMap is another one)."""
    (cm,) = [c for c in kc.by_kind(objs, "ConfigMap") if not c["metadata"]["name"].endswith("-dashboard")]
    return cm


@pytest.mark.parametrize("tool", HELMS)
def test_config_checksum_rolls_pods(projects: dict[str, Path], tool: str, tmp_path: Path) -> None:
    """With rollOnChange the pod template carries a checksum that changes with the config content."""
    need(tool)
    chart = chart_dir(projects["legacy"])  # hot_reload answered yes

    def annotation(content: str) -> str:
        values = tmp_path / "config-values.yaml"
        values.write_text(yaml.safe_dump({"config": {"rollOnChange": True, "content": content}}))
        objs = template(tool, chart, "-f", str(values), kube="1.28.0")
        cm = settings_config_map(objs)
        assert list(cm["data"].values()) == [content]
        return kc.pod_template(kc.one(objs, "Deployment"))["metadata"]["annotations"]["checksum/config"]

    info, debug = '{"log_level": "info"}\n', '{"log_level": "debug"}\n'
    first, second = annotation(info), annotation(debug)
    assert re.fullmatch(r"[0-9a-f]{64}", first) and first != second
    assert annotation(info) == first
    plain = kc.pod_template(kc.one(template(tool, chart, kube="1.28.0"), "Deployment"))
    assert "checksum/config" not in (plain["metadata"].get("annotations") or {})


# ------------------------------------------------------------------ the chart's env runs the real binary


@pytest.mark.slow
def test_chart_env_is_accepted_by_the_service(tmp_path: Path) -> None:
    """The built service, given exactly the env the Deployment sets, listens on the container ports."""
    need("helm")
    answers = {"service_name": "env-check", "http_port": 18473, "admin_port": 19473, "hot_reload": True}
    project = gen.render(tmp_path / "p", answers)
    chart = chart_dir(project)
    objs = template("helm", chart, "-f", "ci/prestop-values.yaml", "-f", "ci/hot-reload-values.yaml",
                    "--set", "runtime.gomaxprocs=2")
    deploy = kc.one(objs, "Deployment")
    container = kc.pod_template(deploy)["spec"]["containers"][0]
    ports = kc.container_ports(kc.pod_template(deploy)["spec"])
    assert ports == {"http": 18473, "metrics": 19473}

    fake = {"metadata.name": "env-check-0", "metadata.namespace": "shop", "spec.nodeName": "node-1"}
    env: dict[str, str] = {}
    for e in container["env"]:
        value = e["value"] if "value" in e else fake[e["valueFrom"]["fieldRef"]["fieldPath"]]
        env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)
    # The ConfigMap file, where the pod would mount it.
    cm = settings_config_map(objs)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for name, content in cm["data"].items():
        (config_dir / name).write_text(content)
    env["CONFIG_FILE"] = str(config_dir / Path(env["CONFIG_FILE"]).name)
    env["OTEL_SDK_DISABLED"] = "true"  # no collector here; the exporter settings are still parsed
    env["DEBUG_ADDR"] = gen.listeners().env["DEBUG_ADDR"]  # the chart leaves the default, 127.0.0.1:6060

    binary = gen.go_build(project, tmp_path / "svc")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GO"))}
    proc = subprocess.Popen([str(binary)], env={**base_env, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        gen.wait_http(f"http://127.0.0.1:{ports['metrics']}/livez", timeout=30)
        gen.wait_http(f"http://127.0.0.1:{ports['metrics']}/readyz", timeout=30)
        gen.wait_http(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=10)
        # The app listener is on the container's http port and greets with the ConfigMap's settings file.
        greeting = json.loads(yaml.safe_load((chart / "ci" / "hot-reload-values.yaml").read_text())
                              ["config"]["content"])["greeting"]
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/v1/hello/k8s", timeout=5) as resp:
            assert json.load(resp)["message"] == f"{greeting}, k8s!"
    finally:
        out = gen.stop(proc, timeout=60)
    assert proc.returncode == 0, out


# ------------------------------------------------------------------ SHIPPING answers are validated

BAD_ANSWERS = {
    "kubernetes_version": ({"kubernetes_version": "1.2.0"}, "kubernetes_version must look like"),
    "kubernetes_version minor": ({"kubernetes_version": "1.2"}, "kubernetes_version must be 1.25 to 1.37"),
    "too old": ({"kubernetes_version": "1.24"}, "1.25 to 1.37"),
    "prestop on 1.28": ({"kubernetes_version": "1.28", "drain_mode": "prestop"}, "1.30"),
    "ingress namespace": ({"ingress_namespaces": "edge, Bad_NS"}, "Bad_NS"),
    "empty ingress namespace": ({"ingress_namespaces": "a,,b"}, "ingress_namespaces"),
    "monitoring namespace": ({"monitoring_namespace": "-x"}, "monitoring_namespace"),
    "no platform": ({"platforms": []}, "at least one platform"),
    "unknown platform": ({"platforms": ["linux/mips"]}, "linux/mips"),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_shipping_answers_validated(tmp_path: Path, case: str) -> None:
    """copier rejects bad SHIPPING answers passed as data= (the validators run)."""
    answers, message = BAD_ANSWERS[case]
    with pytest.raises(Exception, match=re.escape(message)):
        gen.render(tmp_path / "p", {"service_name": "bad-answers", **answers})
    assert not (tmp_path / "p" / "Dockerfile").exists()


def test_shipping_answers_reach_the_chart(tmp_path: Path) -> None:
    """Namespaces and switches from the answers end up in values.yaml."""
    project = gen.render(tmp_path / "p", {"service_name": "ns-check", "ingress_namespaces": " edge ,gateway-system",
                                          "monitoring_namespace": "prom", "network_policy": False,
                                          "service_monitor": False, "kubernetes_version": "1.31"})
    chart = chart_dir(project)
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["networkPolicy"]["ingress"]["namespaces"] == ["edge", "gateway-system"]
    assert values["networkPolicy"]["metrics"]["namespace"] == "prom"
    assert values["networkPolicy"]["enabled"] is False and values["serviceMonitor"]["enabled"] is False
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["kubeVersion"] == ">= 1.31.0-0"


def test_notes_render(projects: dict[str, Path]) -> None:
    """NOTES.txt renders (Helm 4 client-side dry-run install) with the release's names, ports and policy."""
    need("helm")
    chart = chart_dir(projects["custom"])
    out = helm("helm", "install", "rel", ".", "--dry-run=client", "--namespace", "shop", cwd=chart).stdout
    notes = out[out.index("NOTES:") :]
    assert "kubectl -n shop port-forward svc/rel-orders-api 8181:http 9191:metrics" in notes
    assert "helm test rel -n shop" in notes
    assert "kubectl -n shop port-forward deploy/rel-orders-api 6060:6060" in notes  # the loopback debug listener
    assert "namespaces gateway-system, edge" in notes and "only from namespace observability" in notes


def test_valid_on_every_supported_kubernetes_version(tmp_path: Path) -> None:
    """Rendered for each cluster version 1.25-1.37, the objects validate against that version's schemas."""
    need("helm")
    project = gen.render(tmp_path / "p", {"service_name": "kube-sweep", "kubernetes_version": "1.25",
                                          "hot_reload": True})
    chart = chart_dir(project)
    for minor in range(25, 38):
        kube = f"1.{minor}.0"
        for values_file in values_files(chart):
            objs = template("helm", chart, "--set", "preStopSleepSeconds=3",
                            *(["-f", values_file] if values_file else []), kube=kube)
            for obj in objs:
                if obj["kind"] not in MONITORING_KINDS:
                    try:
                        kubernetes_validate.validate(obj, kube, strict=True)
                    except kubernetes_validate.ValidationError as err:
                        raise AssertionError(f"{kube} {values_file}: {obj['kind']}: {err}") from err
            c = kc.pod_template(kc.one(objs, "Deployment"))["spec"]["containers"][0]
            assert ("lifecycle" in c) == (minor >= 30), kube
