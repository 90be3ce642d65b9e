"""The generated chart in a real single-node cluster (tests/cluster.py): installed with an image of the
built service under PodSecurity `restricted`, Ready through its own probes, `helm test` passing, and
`helm upgrade` rollouts under keep-alive GET and POST load through the Service's ClusterIP that lose
no request, while the same rollout with the drain disabled does (negative control). Four answer sets are
installed as generated: the defaults, a 500m CPU + 512Mi memory limit set (GOMAXPROCS/GOMEMLIMIT from the
kubelet's cgroup, an in-place resize), hot reload (a ConfigMap change through the kubelet) and
drain_mode=prestop. The OpenTelemetry Collector sidecar (tests/tools/otelcol in an image) is rolled under load
with every request sampled: as a native sidecar every span of the old pods arrives downstream; as a regular
container (sidecarsMode legacy, the control) some are lost.

The cluster enforces NetworkPolicies (kube-router's network policy controller): every test here runs with
the chart's policy enforced, and the `networkpolicy` tests check each port and the egress rules with traffic
sent from client pods, each with a control that deletes the policy.

Needs root and the tools of scripts/cluster-tools.sh; skipped with the reason otherwise
(GOSMITH_SKIP_CLUSTER=1 skips them too).
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gen
import podnet
import pytest
import yaml
from cluster import DNS_IP, GATEWAY, PAUSE_IMAGE, SERVICE_CIDR, TEST_CLIENT_IMAGE, TOOLS_BIN, Cluster
from otlp_receiver import GrpcReceiver
from packaging.version import Version
from released import CURRENT, OLD_ANSWERS, RELEASED, generate_released, values_path

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

IMAGE_TAG = "suite"
#: Answer sets installed besides the defaults (rendered once per run, like gen.PROJECTS).
PRESTOP = ("cluster-prestop", {"service_name": "demo-prestop", "drain_mode": "prestop"})
HOT_RELOAD = ("cluster-reload", {"service_name": "demo-reload", "hot_reload": True})
#: A CPU limit with a memory limit at generation time: the chart's own resources, GOMAXPROCS/GOMEMLIMIT rules.
LIMITS = ("cluster-limits", {"service_name": "demo-limits", "cpu_limit": "500m",
                             "memory_request": "512Mi", "memory_limit": "512Mi"})


def chart_of(cluster: Cluster, rendered: Any, name: str, answers: dict[str, Any] | None = None) -> Path:
    """The chart of answer set `name`, with the service's image (built binary, empty base, uid 65532) imported
    as gosmith.local/<service>:suite."""
    project = rendered(name, answers)
    service = rendered.answers(name)["service_name"]
    if answers is None:
        binary = rendered.binary(name)
    else:  # a set of this module's own (rendered.binary knows gen.PROJECTS only)
        binary = gen.go_build(project, cluster.workdir / "images" / f"{service}.bin")
    cluster.image(f"gosmith.local/{service}:{IMAGE_TAG}", {f"/{service}": binary}, [f"/{service}"])
    return project / "deploy" / "helm" / service


@pytest.fixture(scope="module")
def chart(cluster: Cluster, rendered: Any) -> Path:
    """The default answer set's chart and image."""
    return chart_of(cluster, rendered, "defaults")


def values(chart: Path, *extra: str) -> list[str]:
    """helm --set arguments: the local image, the suite's test client, no collector to export to, no
    ServiceMonitor/PrometheusRule (this cluster runs no Prometheus Operator and serves none of its CRDs)."""
    sets = [f"image.repository=gosmith.local/{chart.name}", f"image.tag={IMAGE_TAG}",
            f"tests.image={TEST_CLIENT_IMAGE}", "otel.enabled=false", "serviceMonitor.enabled=false",
            "prometheusRule.enabled=false", *extra]
    return [arg for s in sets for arg in ("--set", s)]


def install(cluster: Cluster, chart: Path, ns: str, *extra: str) -> str:
    cluster.restricted_namespace(ns)
    out = cluster.helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m", *values(chart, *extra))
    assert "STATUS: deployed" in out.stdout, out.stdout
    return ns


def assert_helm_test_passes(cluster: Cluster, ns: str) -> None:
    """`helm test` of release `rel`: the chart's test pod (the suite's client image) reaches the Service by name."""
    test = cluster.helm("test", "rel", "-n", ns, "--timeout", "2m")
    phases = re.findall(r"^Phase:\s+(\S+)", test.stdout, re.M)
    assert phases and set(phases) == {"Succeeded"}, test.stdout


def service_ip(cluster: Cluster, ns: str) -> tuple[str, int]:
    svcs = cluster.get_json("-n", ns, "services")["items"]
    svc = next(s for s in svcs if not s["metadata"]["name"].endswith("-metrics"))
    return svc["spec"]["clusterIP"], int(svc["spec"]["ports"][0]["port"])


def test_install_ready_through_probes_and_helm_test(cluster: Cluster, chart: Path) -> None:
    ns = install(cluster, chart, "install")
    pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    assert len(pods) == 2
    for pod in pods:
        spec = pod["spec"]["containers"][0]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= spec.keys()
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
    labels = cluster.get_json("namespace", ns)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert_helm_test_passes(cluster, ns)
    # the ClusterIP answers from the node through kube-proxy
    ip, port = service_ip(cluster, ns)
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    conn.request("GET", "/v1/hello/cluster")
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    conn.close()
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")


@dataclass
class Load:
    """Keep-alive GET and POST clients to one address until stopped; every failure is kept."""

    host: str
    port: int
    gets: int = 4
    posts: int = 4
    #: Send from inside this network namespace (a client pod's, tests/podnet.py) instead of the node.
    netns: Path | None = None
    ok: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _worker(self, method: str) -> None:
        if self.netns is not None:
            podnet.enter(self.netns)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        body = b'{"message": "rollout"}'
        while not self._stop.is_set():
            try:
                if method == "GET":
                    conn.request("GET", "/v1/hello/rollout")
                else:
                    conn.request("POST", "/v1/echo", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                if resp.status >= 500:
                    raise RuntimeError(f"HTTP {resp.status}")
                with self._lock:
                    self.ok += 1
            except Exception as exc:  # every failure counts
                with self._lock:
                    self.failures.append((time.monotonic(), f"{method}: {type(exc).__name__}: {exc}"))
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                time.sleep(0.01)
        conn.close()

    def __enter__(self) -> Load:
        for method in ["GET"] * self.gets + ["POST"] * self.posts:
            t = threading.Thread(target=self._worker, args=(method,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(20)


def rollouts(cluster: Cluster, chart: Path, ns: str, count: int, *extra: str, netns: Path | None = None) -> Load:
    """`helm upgrade` with a changed pod annotation `count` times under load (from the node, or from network
    namespace `netns`); wait for the old pods to go."""
    ip, port = service_ip(cluster, ns)
    start = time.monotonic()
    with Load(ip, port, netns=netns) as load:
        time.sleep(2)
        for i in range(count):
            cluster.helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m",
                         *values(chart, f"podAnnotations.rollout=r{i}", *extra))

            def settled() -> bool:
                pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
                return len(pods) == 2 and all(p["status"].get("phase") == "Running" and
                                              "deletionTimestamp" not in p["metadata"] for p in pods)
            cluster.wait(settled, 120, "old pods gone", interval=1)
        time.sleep(1)
    took = time.monotonic() - start
    print(f"\n{ns}: {count} rollouts in {took:.0f}s, {load.ok} ok ({load.ok / took:.0f}/s), "
          f"{len(load.failures)} failed: {load.failures[:3]}")
    return load


def test_rollout_under_load_loses_no_request(cluster: Cluster, chart: Path) -> None:
    ns = install(cluster, chart, "rollout")
    load = rollouts(cluster, chart, ns, 2)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"


def test_rollout_without_drain_loses_requests(cluster: Cluster, chart: Path) -> None:
    """Negative control: with no drain delay the old pods stop accepting while kube-proxy still routes to them."""
    ns = install(cluster, chart, "nodrain", "timeouts.drainDelay=0s")
    load = rollouts(cluster, chart, ns, 3, "timeouts.drainDelay=0s")  # 6 pods terminated: 6 chances to lose
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000
    assert load.failures, f"no request failed in {load.ok} without a drain: the rollout test has no teeth"


def test_rollout_with_prestop_drain_loses_no_request(cluster: Cluster, rendered: Any) -> None:
    """drain_mode=prestop: the kubelet's native preStop sleep holds SIGTERM back while endpoints update, and the
    service closes no keep-alive connection under a client that just used it (lost 1-8 requests before a2eee2a)."""
    chart = chart_of(cluster, rendered, *PRESTOP)
    ns = install(cluster, chart, "prestop")
    pod = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"][0]
    assert pod["spec"]["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert_helm_test_passes(cluster, ns)
    load = rollouts(cluster, chart, ns, 2)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"


def test_hot_reload_configmap_change_reaches_running_pods(cluster: Cluster, rendered: Any) -> None:
    """hot_reload: a changed ConfigMap reaches the running pods through the kubelet's volume update
    (its atomic `..data` swap) and the service applies it without a restart or a rollout."""
    chart = chart_of(cluster, rendered, *HOT_RELOAD)
    ns = install(cluster, chart, "reload", "config.enabled=true")
    assert_helm_test_passes(cluster, ns)
    before = {p["metadata"]["name"] for p in
              cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]}
    ip, port = service_ip(cluster, ns)

    def greetings() -> set[str]:
        seen = set()
        for _ in range(8):  # both pods, through the ClusterIP (new connections: kube-proxy picks at random)
            conn = http.client.HTTPConnection(ip, port, timeout=5)
            conn.request("GET", "/v1/hello/cluster")
            seen.add(json.loads(conn.getresponse().read())["message"])
            conn.close()
        return seen

    assert all(not g.startswith("Servus") for g in greetings())
    cm = next(c for c in cluster.get_json("-n", ns, "configmaps")["items"]
              if c["metadata"].get("labels", {}).get("app.kubernetes.io/instance") == "rel")
    key = next(iter(cm["data"]))
    changed = time.monotonic()
    cluster.kubectl("-n", ns, "patch", "configmap", cm["metadata"]["name"], "--type", "merge", "-p",
                    json.dumps({"data": {key: json.dumps({"log_level": "info", "greeting": "Servus"})}}))
    cluster.wait(lambda: greetings() == {"Servus, cluster!"}, 120, "the new greeting from every pod", interval=1)
    print(f"\nhot reload: the ConfigMap change reached both pods in {time.monotonic() - changed:.1f}s")
    pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert {p["metadata"]["name"] for p in pods} == before, "the pods were replaced"
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in pods)


class Watch:
    """`kubectl get -w -o json` in the background: every object version with the time it arrived."""

    def __init__(self, cluster: Cluster, *args: str) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._proc = subprocess.Popen([str(TOOLS_BIN / "kubectl"), "get", *args,
                                       "-w", "-o", "json"], env=cluster.env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        decoder, buf = json.JSONDecoder(), ""
        for line in self._proc.stdout:
            buf += line
            while buf.strip():
                try:
                    obj, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break
                self.events.append((time.monotonic(), obj))
                buf = buf.lstrip()[end:]

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)


def test_termination_readiness_flip_endpoint_terminating_exit_0_in_order(cluster: Cluster, chart: Path) -> None:
    """A deleted pod: /readyz 503, its EndpointSlice endpoint terminating, then not serving, then exit 0,
    all inside terminationGracePeriodSeconds."""
    ns = install(cluster, chart, "termination")
    pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    pod = pods[0]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    grace = int(pod["spec"]["terminationGracePeriodSeconds"])
    admin = admin_port(pod)
    pods_watch = Watch(cluster, "-n", ns, "pod", name)
    slices_watch = Watch(cluster, "-n", ns, "endpointslices")
    time.sleep(1)
    readyz_503: float | None = None
    deleted = time.monotonic()
    cluster.kubectl("-n", ns, "delete", "pod", name, "--wait=false")
    while time.monotonic() - deleted < grace + 10:
        try:
            conn = http.client.HTTPConnection(ip, admin, timeout=1)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 503 and readyz_503 is None:
                readyz_503 = time.monotonic()
        except OSError:
            pass
        if cluster.kubectl("-n", ns, "get", "pod", name, check=False).returncode != 0:
            break
        time.sleep(0.1)
    time.sleep(1)
    pods_watch.stop()
    slices_watch.stop()

    def first(events: list[tuple[float, dict[str, Any]]], pred: Any) -> float | None:
        return next((t for t, obj in events if pred(obj)), None)

    def endpoint(obj: dict[str, Any]) -> dict[str, Any]:
        return next((e.get("conditions", {}) for e in obj.get("endpoints") or [] if ip in e.get("addresses", [])), {})

    terminating = first(slices_watch.events, lambda o: endpoint(o).get("terminating") is True)
    not_serving = first(slices_watch.events, lambda o: endpoint(o).get("terminating") is True
                        and endpoint(o).get("serving") is False)
    not_ready = first(pods_watch.events, lambda o: "deletionTimestamp" in o["metadata"] and any(
        c["type"] == "Ready" and c["status"] == "False" for c in o["status"].get("conditions", [])))
    exits = [(t, s["state"]["terminated"]) for t, o in pods_watch.events
             for s in o["status"].get("containerStatuses", []) if "terminated" in s.get("state", {})]
    timeline = {"readyz 503": readyz_503, "endpoint terminating": terminating, "pod not ready": not_ready,
                "endpoint not serving": not_serving, "exited": exits[0][0] if exits else None}
    print(f"\ntermination (grace {grace}s): " + ", ".join(
        f"{k} +{v - deleted:.1f}s" if v else f"{k} never" for k, v in timeline.items()))
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert all(v is not None for v in timeline.values()), timeline
    assert exits[0][1]["exitCode"] == 0, exits[0][1]
    assert readyz_503 < not_ready and terminating < not_serving, timeline  # type: ignore[operator]
    assert not_ready < exits[0][0] and not_serving < exits[0][0], timeline  # type: ignore[operator]
    assert exits[0][0] - deleted < grace, f"exited {exits[0][0] - deleted:.1f}s after deletion, grace {grace}s"


def test_gomaxprocs_gomemlimit_follow_limits_overridden_at_deploy_time(cluster: Cluster, chart: Path) -> None:
    """The default chart (no CPU limit, 256Mi) installed with 500m/512Mi set at deploy time: the service's
    metrics report the GOMAXPROCS and GOMEMLIMIT `gosmith tune` derives for the limits the pod really has."""
    want_procs, want_limit = tuned("500m", "512Mi")
    ns = install(cluster, chart, "limits-override", "resources.limits.cpu=500m", "resources.limits.memory=512Mi",
                 "resources.requests.memory=512Mi")
    pod = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"][0]
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "500m", "memory": "512Mi"}, limits
    samples = runtime_metrics(pod["status"]["podIP"], admin_port(pod))
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert samples.get('app_runtime_gomaxprocs{source="cgroup"}') == want_procs, samples
    assert samples.get('app_runtime_gomemlimit_bytes{source="cgroup"}') == want_limit, samples


@pytest.fixture(scope="module")
def limits_chart(cluster: Cluster, rendered: Any) -> Path:
    """The chart of the answer set generated with a 500m CPU limit and a 512Mi memory limit."""
    return chart_of(cluster, rendered, *LIMITS)


def test_limits_answer_set_installs_tunes_and_rolls_out_under_load(cluster: Cluster, limits_chart: Path) -> None:
    """The set generated with cpu_limit=500m, memory_limit=512Mi, installed as generated: the pod gets the
    chart's own limits, becomes Ready through its probes, passes `helm test`, reports the GOMAXPROCS and
    GOMEMLIMIT the rules derive from the cgroup the kubelet made, and rolls out under load (CPU-throttled
    pods) with no failed request."""
    want_procs, want_limit = tuned("500m", "512Mi")
    ns = install(cluster, limits_chart, "limits")
    pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}, container["resources"]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= container.keys()
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0
        samples = runtime_metrics(pod["status"]["podIP"], admin_port(pod))
        assert samples.get('app_runtime_gomaxprocs{source="cgroup"}') == want_procs, samples
        assert samples.get('app_runtime_gomemlimit_bytes{source="cgroup"}') == want_limit, samples
    assert_helm_test_passes(cluster, ns)
    load = rollouts(cluster, limits_chart, ns, 2)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"


def tuned(cpu: str, memory: str) -> tuple[int, int]:
    """(GOMAXPROCS, GOMEMLIMIT bytes) that `gosmith tune` derives for these limits."""
    out = subprocess.run([str(Path(sys.executable).parent / "gosmith"), "tune", "--cpu-limit", cpu,
                          "--memory-limit", memory, "--json"], capture_output=True, text=True, check=True).stdout
    values = json.loads(out)["values"]
    assert values["gomemlimit"].endswith("MiB"), values["gomemlimit"]
    return int(values["gomaxprocs"]), int(values["gomemlimit"][:-3]) << 20


def admin_port(pod: dict[str, Any]) -> int:
    """The container port of the service's admin listener (metrics, probes)."""
    return next(p["containerPort"] for p in pod["spec"]["containers"][0]["ports"] if p["name"] != "http")


def runtime_metrics(ip: str, port: int) -> dict[str, float]:
    conn = http.client.HTTPConnection(ip, port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith(("app_runtime_gomaxprocs", "app_runtime_gomemlimit_bytes"))}


def test_gomaxprocs_gomemlimit_follow_an_in_place_resize(cluster: Cluster, limits_chart: Path) -> None:
    """The 500m/512Mi set's pod after `kubectl patch pod --subresource resize` to 2/1Gi: the running service's
    metrics report what `gosmith tune` derives for the new limits (it re-reads its cgroup every
    LIMITS_RECHECK_INTERVAL)."""
    ns = install(cluster, limits_chart, "resize", "replicaCount=1", "podDisruptionBudget.enabled=false")
    pod = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"][0]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    container = pod["spec"]["containers"][0]
    admin = admin_port(pod)
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}, container["resources"]
    procs, limit = tuned("500m", "512Mi")
    before = runtime_metrics(ip, admin)
    assert before.get('app_runtime_gomaxprocs{source="cgroup"}') == procs, before
    want_procs, want_limit = tuned("2", "1Gi")
    assert (want_procs, want_limit) != (procs, limit)
    patch = {"spec": {"containers": [{"name": container["name"], "resources": {
        "requests": container["resources"]["requests"], "limits": {"cpu": "2", "memory": "1Gi"}}}]}}
    resized = cluster.kubectl("-n", ns, "patch", "pod", name, "--subresource", "resize", "--type", "strategic",
                              "-p", json.dumps(patch), check=False)
    if resized.returncode != 0:
        cluster.helm("uninstall", "rel", "-n", ns, "--wait")
        pytest.skip(f"this kubelet/API server refused the resize: {resized.stderr.strip()}")
    # tune's 0 = leave GOMAXPROCS to Go, whose own choice for a 2-CPU limit is max(2, ceil(2)) = 2
    procs_key = f'app_runtime_gomaxprocs{{source="{"cgroup" if want_procs else "default"}"}}'
    want = {procs_key: float(want_procs or 2), 'app_runtime_gomemlimit_bytes{source="cgroup"}': float(want_limit)}
    deadline, now = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        now = runtime_metrics(ip, admin)
        if all(now.get(k) == v for k, v in want.items()):
            break
        time.sleep(1)
    status = cluster.get_json("-n", ns, "pod", name)["status"]
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    if not all(now.get(k) == v for k, v in want.items()):
        conditions = [c for c in status.get("conditions", []) if c["type"].startswith("PodResize")]
        applied = status["containerStatuses"][0].get("resources", {})
        if conditions or applied.get("limits", {}).get("cpu") not in ("2", "2000m"):
            pytest.skip(f"the resize was not applied by this kubelet/containerd: {conditions} {applied}")
    assert all(now.get(k) == v for k, v in want.items()), f"after the resize: {now}, want {want}"
    assert status["containerStatuses"][0]["restartCount"] == 0


#: (release, answer set, target or None for the working template): every release x two answer sets to the
#: working template, and 0.1.0 -> 0.2.0, the update 0.1.0 users were first offered.
ROLLOUTS = [(r, a, None) for r in RELEASED for a in OLD_ANSWERS] + [
    (r, "defaults", t) for r, t in itertools.pairwise(RELEASED) if str(r) == "0.1.0"]


def deploy_sets(chart: Path, tag: str) -> list[str]:
    """`values(chart)` for image tag `tag`, keeping only the keys the chart knows (an old chart's strict schema
    refuses keys that came later, e.g. 0.1.0 has no prometheusRule)."""
    known = yaml.safe_load((chart / "values.yaml").read_text())

    def has(key: str) -> bool:
        node: Any = known
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    args = values(chart, f"image.tag={tag}")
    pairs = [(args[i + 1].split("=", 1)[0], args[i + 1]) for i in range(0, len(args), 2)]
    return [arg for key, s in pairs if has(key) for arg in ("--set", s)]


def exits_of(events: list[tuple[float, dict[str, Any]]], names: set[str]) -> dict[str, dict[str, Any]]:
    """Per pod in `names`, from a pod watch: when its deletion was first seen, its grace period, when its
    container was first seen terminated and the exit code."""
    seen: dict[str, dict[str, Any]] = {}
    for t, pod in events:
        name = pod["metadata"]["name"]
        if name not in names:
            continue
        rec = seen.setdefault(name, {"grace": int(pod["spec"]["terminationGracePeriodSeconds"])})
        if "deletionTimestamp" in pod["metadata"]:
            rec.setdefault("deleted", t)
        for status in pod["status"].get("containerStatuses", []):
            done = status.get("state", {}).get("terminated")
            if done and "exited" not in rec:
                rec["exited"], rec["exit_code"] = t, done["exitCode"]
    return seen


@pytest.mark.usefixtures("gosmith_env")
@pytest.mark.skipif(not RELEASED, reason="no released template snapshot in releases/")
@pytest.mark.parametrize(("released", "answers_id", "target"), ROLLOUTS,
                         ids=[f"{r}-to-{t or 'working'}-{a}" for r, a, t in ROLLOUTS])
def test_template_update_is_a_rollout_under_load(cluster: Cluster, tmp_path: Path, released: Any,
                                                  answers_id: str, target: Any) -> None:
    """A project of a released template runs in the cluster (its chart, an image of its binary) under keep-alive
    GET and POST load; the team runs `gosmith update`, builds the new binary into an image and `helm upgrade`s
    with the project's own values, as a pipeline does: no helm error, every old pod exits by itself (exit 0)
    inside the grace period it was started with, `helm test` passes (the working template's chart), and no
    request fails. From 0.1.0 the old pods still run 0.1.0's drain, which closes idle keep-alive connections
    as it ends (the defect fixed in 0.2.0): the requests that meet that close may fail, and nothing fails
    outside that instant."""
    answers = OLD_ANSWERS[answers_id]
    service = answers["service_name"]
    project = generate_released(released, tmp_path / service, answers)
    chart = values_path(project).parent
    to = target or CURRENT
    old_tag, new_tag = f"v{released}".replace(".", "-"), f"v{released}-to-{to}".replace(".", "-").replace("+", "-")
    image = f"gosmith.local/{service}"
    cluster.image(f"{image}:{old_tag}", {f"/{service}": gen.go_build(project, tmp_path / "old.bin")}, [f"/{service}"])
    ns = cluster.restricted_namespace(f"up-{released}-{answers_id}".replace(".", "-"))
    out = cluster.helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m",
                       *deploy_sets(chart, old_tag))
    assert "STATUS: deployed" in out.stdout, out.stdout
    old = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    old_names, replicas = {p["metadata"]["name"] for p in old}, len(old)
    watch = Watch(cluster, "-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")
    ip, port = service_ip(cluster, ns)
    gosmith = Path(sys.executable).parent / "gosmith"
    started = time.monotonic()
    with Load(ip, port) as load:
        time.sleep(2)
        update = subprocess.run([str(gosmith), "update", *(["--to", str(target)] if target else []), str(project)],
                                capture_output=True, text=True, timeout=600)
        assert update.returncode == 0, update.stdout + update.stderr
        assert f"to {to}" in update.stdout + update.stderr
        cluster.image(f"{image}:{new_tag}", {f"/{service}": gen.go_build(project, tmp_path / "new.bin")},
                      [f"/{service}"])
        upgrade = time.monotonic()
        out = cluster.helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "5m",
                           *deploy_sets(chart, new_tag))
        assert "has been upgraded" in out.stdout, out.stdout

        def settled() -> bool:
            pods = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
            return len(pods) == replicas and all(
                p["metadata"]["name"] not in old_names and p["status"].get("phase") == "Running"
                and "deletionTimestamp" not in p["metadata"] for p in pods)
        cluster.wait(settled, 180, "the old pods gone", interval=1)
        rolled = time.monotonic()
        time.sleep(2)
    took = time.monotonic() - started
    time.sleep(1)
    watch.stop()
    if target is None:
        assert_helm_test_passes(cluster, ns)
    # A released target chart (0.2.0) is not `helm test`ed: its test pod (restartPolicy Never) sends its one
    # request as it starts, before the NetworkPolicy enforcer knows the pod's IP, so under enforcement it is
    # refused every time (the working template's test pod is OnFailure for this; CHANGELOG). The load through
    # the Service during and after the upgrade shows the release serves.
    new = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert {p["spec"]["containers"][0]["image"] for p in new} == {f"{image}:{new_tag}"}
    exits = exits_of(watch.events, old_names)
    ends = [e["exited"] for e in exits.values() if "exited" in e]
    gaps = sorted(min((end - t for end in ends), key=abs) for t, _ in load.failures)
    print(f"\n{released} -> {to} ({answers_id}, {replicas} replicas): {load.ok + len(load.failures)} "
          f"requests in {took:.0f} s, {len(load.failures)} failed; helm upgrade until the old pods were gone "
          f"{rolled - upgrade:.0f} s; old pods: {list(exits.values())}; failures before an old pod's exit "
          f"was seen (s): {[round(g, 2) for g in gaps]}; {sorted({f for _, f in load.failures})[:4]}")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert set(exits) == old_names, f"pods not seen terminating: {old_names - set(exits)}"
    for name, rec in exits.items():
        assert "deleted" in rec and "exited" in rec, (name, rec)
        assert rec["exit_code"] == 0, f"{name} did not exit by itself: {rec}"
        assert rec["exited"] - rec["deleted"] < rec["grace"], f"{name} outlived its grace period: {rec}"
    if released >= Version("0.2.0"):  # the first release whose own drain closes no connection under a client
        assert not load.failures, f"{len(load.failures)} failed: {load.failures[:10]}"
    else:
        # every failure is at an old pod's final close: within 3 s before the watch saw its container exit
        # (the kubelet reports an exit at its next relist, up to about 2 s later)
        stray = [(t, f) for t, f in load.failures if not any(-0.5 <= end - t <= 3.0 for end in ends)]
        assert not stray, f"{len(stray)} of {len(load.failures)} failures away from an old pod's exit: {stray[:10]}"
        # and at one instant per pod: the failures that belong to one pod's exit lie within 0.5 s of each other
        for end in ends:
            near = [t for t, _ in load.failures if -0.5 <= end - t <= 3.0]
            assert not near or max(near) - min(near) < 0.5, f"failures spread over {max(near) - min(near):.2f} s"


#: The label a changed selector adds in the selector-migration test (a future template's hypothetical change).
NEW_SELECTOR_LABEL = ("app.kubernetes.io/component", "web")


def with_wider_selector(chart: Path, dst: Path) -> Path:
    """A copy of `chart` whose selector labels (Deployment selector, Service, PDB, NetworkPolicy) gain a label."""
    shutil.copytree(chart, dst)
    helpers = dst / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    define = f'{{{{- define "{chart.name}.selectorLabels" -}}}}\n'
    start = text.index(define) + len(define)
    end = text.index("{{- end }}", start)
    key, value = NEW_SELECTOR_LABEL
    helpers.write_text(text[:end] + f"{key}: {value}\n" + text[end:])
    return dst


def test_selector_change_migration_from_the_docs_loses_no_request(cluster: Cluster, chart: Path,
                                                                   tmp_path: Path) -> None:
    """A chart whose Deployment selector changed cannot be `helm upgrade`d in place ("field is immutable"); the
    migration docs/updating.md gives for it ("When a chart cannot be upgraded in place") moves a running release
    under keep-alive load without a failed request, and leaves only pods of the new chart."""
    wider = with_wider_selector(chart, tmp_path / chart.name)
    key, value = NEW_SELECTOR_LABEL
    # negative control: the plain upgrade fails on the immutable selector
    ns = install(cluster, chart, "selector-plain")
    plain = cluster.helm("upgrade", "rel", str(wider), "-n", ns, "--wait", "--timeout", "2m", *values(wider),
                         check=False)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert plain.returncode != 0 and "field is immutable" in plain.stderr, plain.stdout + plain.stderr
    # the documented migration, under load
    ns = install(cluster, chart, "selector-migration")
    selector = "app.kubernetes.io/instance=rel"
    deployment = cluster.get_json("-n", ns, "deployments", "-l", selector)["items"][0]["metadata"]["name"]
    ip, port = service_ip(cluster, ns)
    with Load(ip, port) as load:
        time.sleep(2)
        # 1. the running pods get the new selector's label, so the new Service still selects them
        cluster.kubectl("-n", ns, "label", "pods", "-l", selector, f"{key}={value}")
        # 2. remember the old ReplicaSets; 3. delete the Deployment and keep its ReplicaSets and pods
        old_rs = cluster.kubectl("-n", ns, "get", "replicasets", "-l", selector, "-o", "name").stdout.split()
        cluster.kubectl("-n", ns, "delete", "deployment", deployment, "--cascade=orphan")
        # 4. the upgrade creates the new Deployment; 5. the old ReplicaSets go, their pods drain as usual
        cluster.helm("upgrade", "rel", str(wider), "-n", ns, "--wait", "--timeout", "3m", *values(wider))
        cluster.kubectl("-n", ns, "delete", *old_rs)

        def settled() -> bool:
            pods = cluster.get_json("-n", ns, "pods", "-l", selector)["items"]
            return len(pods) == 2 and all("deletionTimestamp" not in p["metadata"] and
                                          p["metadata"]["ownerReferences"][0]["name"] not in
                                          {r.split("/")[-1] for r in old_rs} for p in pods)
        cluster.wait(settled, 180, "only the new chart's pods", interval=1)
        time.sleep(2)
    assert_helm_test_passes(cluster, ns)
    now = cluster.get_json("-n", ns, "deployments", deployment)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert now["spec"]["selector"]["matchLabels"][key] == value
    print(f"\nselector migration: {load.ok} requests, {len(load.failures)} failed: {load.failures[:3]}")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed: {load.failures[:10]}"


COLLECTOR_IMAGE = "gosmith.local/otelcol:suite"


@dataclass
class FollowedLog:
    """`kubectl logs -f` of one container, read in the background until the container exits."""

    pod: str
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def _read(self) -> None:
        assert self.proc.stdout
        self.lines.extend(self.proc.stdout)

    def json_lines(self, timeout: float) -> list[dict[str, Any]]:
        """The JSON lines once the stream ended (the container exited)."""
        self.proc.wait(timeout=timeout)
        assert self.thread
        self.thread.join(timeout=10)
        return [json.loads(x) for x in self.lines if x.startswith("{")]


def follow(cluster: Cluster, ns: str, pod: str, container: str) -> FollowedLog:
    proc = subprocess.Popen([str(TOOLS_BIN / "kubectl"), "-n", ns, "logs", "-f", pod, "-c", container],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    log = FollowedLog(pod, proc)
    log.thread = threading.Thread(target=log._read, daemon=True)
    log.thread.start()
    return log


@dataclass
class SpanAccount:
    """One old pod of a rollout: the spans its service logged, counted as exported, and that arrived."""

    pod: str
    logged: set[str]
    exported: int
    failed: int
    received: set[str]
    stopped: bool


def rollout_spans(cluster: Cluster, chart: Path, otelcol: Path, ns: str, *extra: str) -> tuple[Load, list[SpanAccount]]:
    """Install the chart with the collector sidecar exporting to a receiver on the bridge address (every request
    sampled), roll it once under load, and account for the spans of each old pod."""
    from cluster import GATEWAY
    from otlp_receiver import GrpcReceiver

    cluster.image(COLLECTOR_IMAGE, {"/otelcol": otelcol}, ["/otelcol"])
    repo, tag = COLLECTOR_IMAGE.rsplit(":", 1)
    with GrpcReceiver(f"{GATEWAY}:0") as receiver:
        sets = ["otel.enabled=true", f"otel.endpoint={receiver.endpoint}", "otel.sampler=always_on",
                "otel.collector.sidecar.enabled=true", f"otel.collector.sidecar.image.repository={repo}",
                f"otel.collector.sidecar.image.tag={tag}", "networkPolicy.otlp.namespace=",
                f"networkPolicy.otlp.ports[0]={receiver.port}", *extra]
        install(cluster, chart, ns, *sets)
        old = [p["metadata"]["name"] for p in
               cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]]
        logs = [follow(cluster, ns, pod, chart.name) for pod in old]
        time.sleep(1)
        load = rollouts(cluster, chart, ns, 1, *sets)
        accounts = []
        for log in logs:
            lines = log.json_lines(timeout=60)
            logged = {x["span_id"] for x in lines if x.get("msg") == "request" and x.get("span_id")}
            last = lines[-1] if lines else {}
            accounts.append(SpanAccount(log.pod, logged, int(last.get("spans_exported", -1)),
                                        int(last.get("spans_failed", -1)), set(), last.get("msg") == "stopped"))
        time.sleep(2)  # a legacy collector may still be exporting what it had
        for span in list(receiver.store.spans):
            for a in accounts:
                if span.resource.get("k8s.pod.name") == a.pod:
                    a.received.add(span.span_id)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    for a in accounts:
        print(f"{ns} {a.pod}: logged {len(a.logged)}, exported {a.exported}, failed {a.failed}, "
              f"received {len(a.received)}, stopped line {a.stopped}")
    return load, accounts


def test_collector_sidecar_delivers_every_span_through_a_rollout(cluster: Cluster, chart: Path, otelcol: Path) -> None:
    """The collector as a native sidecar: during a rollout under load with every request sampled, each old pod
    logs its "stopped" line, and the spans received downstream from it are exactly the spans of the requests it
    logged, as many as its exported counter says; no request fails."""
    load, accounts = rollout_spans(cluster, chart, otelcol, "collector")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"
    assert len(accounts) == 2
    for a in accounts:
        assert a.stopped, f"{a.pod}: no stopped line"
        assert len(a.logged) > 100, f"{a.pod}: too few traced requests to tell ({len(a.logged)})"
        assert a.failed == 0, a.pod
        assert a.received == a.logged, f"{a.pod}: {len(a.logged - a.received)} logged spans never arrived"
        assert len(a.received) == a.exported, a.pod


def test_collector_as_regular_container_loses_spans(cluster: Cluster, chart: Path, otelcol: Path) -> None:
    """Control: sidecarsMode legacy (the collector is a regular container, SIGTERMed with the service): it stops
    receiving while the service still drains, and spans of the old pods' last requests never arrive."""
    _, accounts = rollout_spans(cluster, chart, otelcol, "collector-legacy", "sidecarsMode=legacy")
    lost = sum(len(a.logged - a.received) for a in accounts)
    assert all(a.stopped for a in accounts), accounts
    assert lost > 0, "no span was lost with a regular-container collector: the sidecar test has no teeth"
# ---- NetworkPolicy, enforced by the cluster's enforcer (kube-router's network policy controller)
#
# Clients are pause pods in namespaces of their own; each probe is sent from inside the client pod's network
# namespace (tests/podnet.py), so it leaves with the pod's IP through the pod's interface. Probes go to the
# service pod's IP (ports as the pod declares them); the rollout test goes through the ClusterIP. Traffic
# from the node itself (kubelet probes, the other tests' load) is always allowed by the enforcer.

NP_APP, NP_GATEWAY, NP_MONITORING, NP_OBSERVABILITY, NP_OTHER = (
    "np-app", "np-gateway", "np-monitoring", "np-observability", "np-other")
#: The default answer set's ports (the fixture checks the pod declares them) and the debug listener's.
HTTP_PORT, ADMIN_PORT, OTLP_PORT, DEBUG_PORT = 8080, 9090, 4317, 6060
#: Client pods: name -> (namespace, labels).
CLIENTS = {
    "same-namespace": (NP_APP, {"role": "peer"}),
    "gateway": (NP_GATEWAY, {"role": "gateway"}),
    "gateway-unlabelled": (NP_GATEWAY, {"role": "other"}),
    "scraper": (NP_MONITORING, {"app": "prometheus"}),
    "scraper-unlabelled": (NP_MONITORING, {"app": "other"}),
    "other": (NP_OTHER, {"role": "gateway", "app": "prometheus"}),
}


def pause_pod(cluster: Cluster, ns: str, name: str, labels: dict[str, str]) -> tuple[str, Path]:
    """A pause pod (restricted PodSecurity) `name` in `ns`: its IP and network namespace."""
    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
                   "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                                                "seccompProfile": {"type": "RuntimeDefault"}},
                            "containers": [{"name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never",
                                            "resources": {"requests": {"cpu": "5m", "memory": "8Mi"},
                                                          "limits": {"memory": "16Mi"}},
                                            "securityContext": {"allowPrivilegeEscalation": False,
                                                                "capabilities": {"drop": ["ALL"]}}}]}})
    cluster.kubectl("-n", ns, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=90s", timeout=100)
    ip = cluster.get_json("-n", ns, "pod", name)["status"]["podIP"]
    return ip, podnet.netns_of(ip)


@dataclass
class Fenced:
    """The default chart installed in NP_APP with its NetworkPolicy set for the client pods around it."""

    cluster: Cluster
    chart: Path
    sets: list[str]
    clients: dict[str, Path]
    collector_ip: str
    collector: Path
    receiver: GrpcReceiver
    policy: dict[str, Any]

    def service_pod(self) -> tuple[dict[str, Any], str, Path]:
        """A running service pod: the object, its IP, its network namespace."""
        pods = self.cluster.get_json("-n", NP_APP, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
        pod = next(p for p in pods if "deletionTimestamp" not in p["metadata"] and p["status"].get("podIP"))
        return pod, pod["status"]["podIP"], podnet.netns_of(pod["status"]["podIP"])

    def probe(self, client: str, port: int, path: str = "/") -> str:
        """GET `path` on the service pod's `port` from client pod `client`: `HTTP <status>` or the error."""
        _, ip, _ = self.service_pod()
        return podnet.run_in(self.clients[client], podnet.http_get, ip, port, path)

    def all_probes(self, port: int, path: str) -> dict[str, str]:
        return {c: self.probe(c, port, path) for c in self.clients}

    @contextlib.contextmanager
    def policy_removed(self) -> Iterator[None]:
        """Control: the chart's NetworkPolicy deleted (the enforcer lets everything through), then restored."""
        name = self.policy["metadata"]["name"]
        self.cluster.kubectl("-n", NP_APP, "delete", "networkpolicy", name)
        try:
            self.cluster.wait(lambda: self.probe("other", HTTP_PORT) == "HTTP 404", 60, "the policy lifted",
                              interval=0.5)
            yield
        finally:
            self.cluster.apply(self.policy)
            self.cluster.wait(lambda: not self.probe("other", HTTP_PORT).startswith("HTTP"), 60,
                              "the policy enforced again", interval=0.5)


@pytest.fixture(scope="module")
def fenced(cluster: Cluster, chart: Path) -> Iterator[Fenced]:
    """Client pods in five namespaces, an OTLP/gRPC receiver in a collector pod's network namespace behind a
    Service, and the default chart in NP_APP with ingress from NP_GATEWAY's role=gateway pods, scraping from
    NP_MONITORING's app=prometheus pods and OTLP egress to NP_OBSERVABILITY's app=collector pods."""
    for ns in (NP_APP, NP_GATEWAY, NP_MONITORING, NP_OBSERVABILITY, NP_OTHER):
        cluster.restricted_namespace(ns)
    clients = {name: pause_pod(cluster, ns, name, labels)[1] for name, (ns, labels) in CLIENTS.items()}
    collector_ip, collector = pause_pod(cluster, NP_OBSERVABILITY, "collector", {"app": "collector"})
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "collector", "namespace": NP_OBSERVABILITY},
                   "spec": {"selector": {"app": "collector"},
                            "ports": [{"name": "otlp-grpc", "port": OTLP_PORT, "targetPort": OTLP_PORT}]}})
    receiver = podnet.run_in(collector, lambda: GrpcReceiver(f"0.0.0.0:{OTLP_PORT}").__enter__())
    sets = ["otel.enabled=true", f"otel.endpoint=http://collector.{NP_OBSERVABILITY}.svc:{OTLP_PORT}",
            "otel.sampler=always_on", f"networkPolicy.ingress.namespaces={{{NP_GATEWAY}}}",
            "networkPolicy.ingress.podLabels.role=gateway", f"networkPolicy.metrics.namespace={NP_MONITORING}",
            "networkPolicy.metrics.podLabels.app=prometheus", f"networkPolicy.otlp.namespace={NP_OBSERVABILITY}",
            "networkPolicy.otlp.podLabels.app=collector", f"networkPolicy.otlp.ports={{{OTLP_PORT}}}"]
    out = cluster.helm("install", "rel", str(chart), "-n", NP_APP, "--wait", "--timeout", "3m", *values(chart, *sets))
    assert "STATUS: deployed" in out.stdout, out.stdout
    policy = cluster.get_json("-n", NP_APP, "networkpolicies")["items"][0]
    policy["metadata"] = {k: policy["metadata"][k] for k in ("name", "namespace", "labels")}
    f = Fenced(cluster, chart, sets, clients, collector_ip, collector, receiver, policy)
    pod = f.service_pod()[0]
    assert {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]} == \
        {"http": HTTP_PORT, "metrics": ADMIN_PORT}
    # enforced once the unrelated namespace's pod is refused
    cluster.wait(lambda: not f.probe("other", HTTP_PORT).startswith("HTTP"), 60, "the policy enforced", interval=0.5)
    yield f
    receiver.__exit__(None, None, None)
    cluster.helm("uninstall", "rel", "-n", NP_APP, "--wait")
    for ns in (NP_APP, NP_GATEWAY, NP_MONITORING, NP_OBSERVABILITY, NP_OTHER):
        cluster.kubectl("delete", "namespace", ns, "--wait=false")


def test_networkpolicy_app_port_only_from_the_allowed_peers(fenced: Fenced) -> None:
    """The http port answers the release namespace's pods and NP_GATEWAY's role=gateway pods only; with the
    policy removed (control) every client gets through."""
    path = "/v1/hello/np"
    enforced = fenced.all_probes(HTTP_PORT, path)
    with fenced.policy_removed():
        lifted = fenced.all_probes(HTTP_PORT, path)
    print(f"\napp port, enforced: {enforced}\napp port, policy removed: {lifted}")
    assert {c: r == "HTTP 200" for c, r in enforced.items()} == {
        "same-namespace": True, "gateway": True, "gateway-unlabelled": False, "scraper": False,
        "scraper-unlabelled": False, "other": False}, enforced
    assert set(lifted.values()) == {"HTTP 200"}, lifted


def test_networkpolicy_metrics_admin_and_debug_ports(fenced: Fenced) -> None:
    """The admin listener (/metrics, /readyz, /livez) answers NP_MONITORING's app=prometheus pods only, the
    kubelet's probes (from the node) keep passing and `helm test` (its test pod is allowed) passes; the debug
    listener (loopback in the pod) answers inside the pod and no other pod, policy or not."""
    cluster = fenced.cluster
    enforced = {path: fenced.all_probes(ADMIN_PORT, path) for path in ("/metrics", "/readyz")}
    debug = fenced.all_probes(DEBUG_PORT, "/")
    pod, _, pod_ns = fenced.service_pod()
    inside = podnet.run_in(pod_ns, podnet.http_get, "127.0.0.1", DEBUG_PORT, "/")
    assert_helm_test_passes(cluster, NP_APP)
    pods = cluster.get_json("-n", NP_APP, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
    with fenced.policy_removed():
        lifted = {path: fenced.all_probes(ADMIN_PORT, path) for path in ("/metrics", "/readyz")}
        debug_lifted = fenced.all_probes(DEBUG_PORT, "/")
    print(f"\nadmin port, enforced: {enforced}\nadmin port, policy removed: {lifted}\n"
          f"debug port from pods: {debug} / removed: {debug_lifted}; inside the pod: {inside}")
    for path, results in enforced.items():
        assert {c: r == "HTTP 200" for c, r in results.items()} == {
            "same-namespace": False, "gateway": False, "gateway-unlabelled": False, "scraper": True,
            "scraper-unlabelled": False, "other": False}, (path, results)
    for path, results in lifted.items():
        assert set(results.values()) == {"HTTP 200"}, (path, results)
    assert inside.startswith("HTTP"), f"the debug listener does not answer inside the pod: {inside}"
    assert not any(r.startswith("HTTP") for r in [*debug.values(), *debug_lifted.values()]), (debug, debug_lifted)
    for p in pods:  # the kubelet's probes pass through the enforced policy
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"]), p["status"]
        assert p["status"]["containerStatuses"][0]["restartCount"] == 0
    assert pod["metadata"]["name"] in {p["metadata"]["name"] for p in pods}


def test_networkpolicy_egress_dns_and_otlp_only(fenced: Fenced) -> None:
    """From the service pod: DNS answers, the OTLP port of the collector pods is open and the service's own
    spans reach the collector through the policy; the collector's other ports, other pods and the API server
    are refused. With the policy removed (control) they are reachable."""
    cluster = fenced.cluster
    _, _, pod_ns = fenced.service_pod()
    other_ip = cluster.get_json("-n", NP_OTHER, "pod", "other")["status"]["podIP"]
    first_service_ip = SERVICE_CIDR.rsplit(".", 1)[0] + ".1"

    def egress() -> dict[str, str]:
        return {
            "dns": podnet.run_in(pod_ns, podnet.dns_a, DNS_IP, "kubernetes.default.svc.cluster.local"),
            "otlp": podnet.run_in(pod_ns, podnet.tcp_connect, fenced.collector_ip, OTLP_PORT),
            "collector-other-port": podnet.run_in(pod_ns, podnet.tcp_connect, fenced.collector_ip, 4318),
            "other-pod": podnet.run_in(pod_ns, podnet.tcp_connect, other_ip, 8081),
            "api-server": podnet.run_in(pod_ns, podnet.tcp_connect, GATEWAY, cluster.api_port),
        }

    with podnet.listening(fenced.collector, 4318), podnet.listening(fenced.clients["other"], 8081):
        enforced = egress()
        # the service's own traffic: a request from the gateway pod, its span exported to the collector
        for _ in range(3):
            assert fenced.probe("gateway", HTTP_PORT, "/v1/hello/otlp") == "HTTP 200"
        spans = fenced.receiver.store.wait(1, timeout=30)
        with fenced.policy_removed():
            lifted = egress()
    print(f"\negress, enforced: {enforced}\negress, policy removed: {lifted}\nspans: {[s.name for s in spans][:5]}")
    assert enforced["dns"] == first_service_ip, enforced
    assert enforced["otlp"] == "connected", enforced
    assert all(enforced[k] != "connected" for k in ("collector-other-port", "other-pod", "api-server")), enforced
    assert set(lifted.values()) - {first_service_ip} == {"connected"}, lifted
    assert any(s.resource.get("k8s.namespace.name") == NP_APP for s in spans), [s.resource for s in spans][:3]


#: The informer flavor (a client-go informer behind /readyz): its NetworkPolicy egress to the API server.
INFORMER = ("cluster-informer", {"service_name": "demo-informer", "kubernetes_client": "informer"})


def readyz(cluster: Cluster, ns: str) -> list[str]:
    """`HTTP <status> <body>` of /readyz of each of the release's pods, from the node (always allowed)."""
    out = []
    for pod in cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]:
        if pod["status"].get("podIP") and "deletionTimestamp" not in pod["metadata"]:
            conn = http.client.HTTPConnection(pod["status"]["podIP"], admin_port(pod), timeout=5)
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            out.append(f"HTTP {resp.status} {resp.read().decode().strip()}")
            conn.close()
    return out


def test_networkpolicy_kubernetes_flavor_reaches_the_api_server_at_its_endpoint(cluster: Cluster,
                                                                                 rendered: Any) -> None:
    """The informer flavor's API-server egress: with the chart's default (any address, ports 443 and 6443) the
    service pod cannot open a connection to this cluster's API server, neither at its endpoint (another port)
    nor through the `kubernetes` Service's 443: the enforcer matches the endpoint behind the Service (control).
    With `kubernetesClient.apiServer` set from the `kubernetes` EndpointSlice, as the chart's values say,
    both connect, the informer's cache syncs (/readyz 200) and other egress stays refused.

    The pods become Ready with the default values too: the connections a pod opens in its first moments,
    before the enforcer has its IP, are not policed (and conntrack keeps them); docs/operations.md."""
    chart = chart_of(cluster, rendered, *INFORMER)
    ns = cluster.restricted_namespace("np-kube")
    bystander_ip, bystander_ns = pause_pod(cluster, ns, "bystander", {"role": "bystander"})
    api_service_ip = SERVICE_CIDR.rsplit(".", 1)[0] + ".1"

    def egress() -> dict[str, str]:
        """From a service pod, once the enforcer refuses its egress to the bystander pod."""
        pod = cluster.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"][0]
        pod_ns = podnet.netns_of(pod["status"]["podIP"])
        cluster.wait(lambda: podnet.run_in(pod_ns, podnet.tcp_connect, bystander_ip, 8081) != "connected", 60,
                     "the service pod's egress policed", interval=0.5)
        return {"api-endpoint": podnet.run_in(pod_ns, podnet.tcp_connect, GATEWAY, cluster.api_port),
                "api-service": podnet.run_in(pod_ns, podnet.tcp_connect, api_service_ip, 443),
                "same-namespace-pod": podnet.run_in(pod_ns, podnet.tcp_connect, bystander_ip, 8081)}

    eps = cluster.get_json("-n", "default", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes")
    addresses = sorted({a for sl in eps["items"] for e in sl["endpoints"] for a in e["addresses"]})
    ports = sorted({p["port"] for sl in eps["items"] for p in sl["ports"]})
    assert addresses == [GATEWAY] and ports == [cluster.api_port], (addresses, ports)
    endpoint_sets = [f"kubernetesClient.apiServer.cidrs={{{','.join(f'{a}/32' for a in addresses)}}}",
                     f"kubernetesClient.apiServer.ports={{{','.join(map(str, ports))}}}"]
    with podnet.listening(bystander_ns, 8081):
        cluster.helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m", *values(chart))
        default = egress()
        cluster.helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m",
                     *values(chart, *endpoint_sets))
        cluster.kubectl("-n", ns, "rollout", "status", "deployment", "--timeout=120s", timeout=150)
        endpoint = egress()
        synced = readyz(cluster, ns)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    cluster.kubectl("delete", "namespace", ns, "--wait=false")
    print(f"\ninformer egress, chart default apiServer: {default}\nfrom the EndpointSlice: {endpoint}, "
          f"/readyz {synced}")
    assert set(default.values()) == {"ConnectionRefusedError"}, default
    assert endpoint == {"api-endpoint": "connected", "api-service": "connected",
                        "same-namespace-pod": "ConnectionRefusedError"}, endpoint
    assert synced and all(r.startswith("HTTP 200") for r in synced), synced


def test_networkpolicy_rollout_under_load_from_an_allowed_pod_loses_no_request(fenced: Fenced) -> None:
    """Two `helm upgrade` rollouts under keep-alive load sent through the ClusterIP from the gateway pod, with the
    policy enforced (new pods get their rules while they start): no request lost. Control: the same ClusterIP
    refuses the unrelated namespace's pod."""
    cluster = fenced.cluster
    ip, port = service_ip(cluster, NP_APP)
    refused = podnet.run_in(fenced.clients["other"], podnet.http_get, ip, port, "/v1/hello/np")
    allowed = podnet.run_in(fenced.clients["gateway"], podnet.http_get, ip, port, "/v1/hello/np")
    assert (allowed, refused.startswith("HTTP")) == ("HTTP 200", False), (allowed, refused)
    load = rollouts(cluster, fenced.chart, NP_APP, 2, *fenced.sets, netns=fenced.clients["gateway"])
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"
    assert not podnet.run_in(fenced.clients["other"], podnet.http_get, ip, port, "/v1/hello/np").startswith("HTTP")
