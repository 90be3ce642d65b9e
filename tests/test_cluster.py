"""The generated chart in a real single-node cluster (tests/cluster.py): installed with an image of the
built service under PodSecurity `restricted`, Ready through its own probes, `helm test` passing, and
`helm upgrade` rollouts under keep-alive GET and POST load through the Service's ClusterIP that lose
no request, while the same rollout with the drain disabled does (negative control).

Needs root and the tools of scripts/cluster-tools.sh; skipped with the reason otherwise. The rollout
tests run only with GOSMITH_CLUSTER_TESTS=1 (see README: not yet proven reliable enough for CI).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cluster import TEST_CLIENT_IMAGE, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ANSWERS = "defaults"
IMAGE_REPO = "gosmith.local/demo-svc"
IMAGE_TAG = "suite"
rollout_enabled = pytest.mark.skipif(
    os.environ.get("GOSMITH_CLUSTER_TESTS") != "1",
    reason="rollout-under-load tests run with GOSMITH_CLUSTER_TESTS=1 (about 4 min; not yet in the default run)")


@pytest.fixture(scope="module")
def chart(cluster: Cluster, rendered: Any) -> Path:
    """The default answer set's chart, with the service's image (built binary, empty base, uid 65532) imported."""
    project = rendered(ANSWERS)
    service = rendered.answers(ANSWERS)["service_name"]
    binary = rendered.binary(ANSWERS)
    cluster.image(f"{IMAGE_REPO}:{IMAGE_TAG}", {f"/{service}": binary}, [f"/{service}"])
    return project / "deploy" / "helm" / service


def values(*extra: str) -> list[str]:
    """helm --set arguments: the local image, the suite's test client, no collector to export to."""
    sets = [f"image.repository={IMAGE_REPO}", f"image.tag={IMAGE_TAG}", f"tests.image={TEST_CLIENT_IMAGE}",
            "otel.enabled=false", *extra]
    return [arg for s in sets for arg in ("--set", s)]


def install(cluster: Cluster, chart: Path, ns: str, *extra: str) -> str:
    cluster.restricted_namespace(ns)
    out = cluster.helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m", *values(*extra))
    assert "STATUS: deployed" in out.stdout, out.stdout
    return ns


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
    test = cluster.helm("test", "rel", "-n", ns, "--timeout", "2m")
    assert "Phase:         Succeeded" in test.stdout or "Succeeded" in test.stdout, test.stdout
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
    ok: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _worker(self, method: str) -> None:
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
                    self.failures.append((time.time(), f"{method}: {type(exc).__name__}: {exc}"))
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


def rollouts(cluster: Cluster, chart: Path, ns: str, count: int, *extra: str) -> Load:
    """`helm upgrade` with a changed pod annotation `count` times under load; wait for the old pods to go."""
    ip, port = service_ip(cluster, ns)
    start = time.monotonic()
    with Load(ip, port) as load:
        time.sleep(2)
        for i in range(count):
            cluster.helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m",
                         *values(f"podAnnotations.rollout=r{i}", *extra))

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


@rollout_enabled
def test_rollout_under_load_loses_no_request(cluster: Cluster, chart: Path) -> None:
    ns = install(cluster, chart, "rollout")
    load = rollouts(cluster, chart, ns, 2)
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000, f"too little traffic to tell: {load.ok}"
    assert not load.failures, f"{len(load.failures)} failed of {load.ok + len(load.failures)}: {load.failures[:10]}"


@rollout_enabled
def test_rollout_without_drain_loses_requests(cluster: Cluster, chart: Path) -> None:
    """Negative control: with no drain delay the old pods stop accepting while kube-proxy still routes to them."""
    ns = install(cluster, chart, "nodrain", "timeouts.drainDelay=0s")
    load = rollouts(cluster, chart, ns, 2, "timeouts.drainDelay=0s")
    cluster.helm("uninstall", "rel", "-n", ns, "--wait")
    assert load.ok > 1000
    assert load.failures, f"no request failed in {load.ok} without a drain: the rollout test has no teeth"
