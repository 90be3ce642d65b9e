"""The generated chart against a real kube-apiserver (tests/apiserver.py): installs, upgrades and
uninstalls under PodSecurity `restricted` with no warnings, strict server-side validation of every
object, Pods made from each pod template admitted, and the ServiceMonitor and PrometheusRule exactly when
their values switch them on (an install without their CRDs fails)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import gen
import pytest
import yaml
from apiserver import APIServer

pytestmark = pytest.mark.slow

#: Answer sets whose charts are installed (defaults, a tuned prestop/HPA set, a minimal hot-reload set).
ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": gen.ANSWER_SETS["defaults"],
    "tuned": {
        "service_name": "orders-api",
        "http_port": 8181,
        "admin_port": 9191,
        "drain_mode": "prestop",
        "cpu_limit": "1500m",
        "memory_limit": "512Mi",
        "memory_request": "512Mi",
        "hpa_enabled": True,
        "hpa_min_replicas": 3,
        "kubernetes_version": "1.34",
    },
    "minimal": {
        "service_name": "old-cluster-svc",
        "service_monitor": False,
        "network_policy": False,
        "hot_reload": True,
        "replicas": 1,
    },
}
SM_CRD = "servicemonitors.monitoring.coreos.com"
_counter = iter(range(10_000))


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Render every answer set once; return its chart directory."""
    base = tmp_path_factory.mktemp("apiserver-projects")
    out = {}
    for name, answers in ANSWERS.items():
        project = gen.render(base / name, answers)
        (chart,) = (project / "deploy" / "helm").iterdir()
        out[name] = chart
    return out


def values_files(chart: Path) -> list[str]:
    """Return "" (chart defaults) plus every ci/*.yaml of the chart."""
    return ["", *sorted(str(p.relative_to(chart)) for p in (chart / "ci").glob("*.yaml"))]


def new_namespace(api: APIServer) -> str:
    """Create a fresh namespace enforcing PodSecurity restricted."""
    return api.restricted_namespace(f"t{next(_counter)}")


def warnings_in(text: str) -> list[str]:
    """Return the lines of helm/kubectl stderr that are server or client warnings."""
    return [line for line in text.splitlines() if re.search(r"(?i)\bwarning\b|^W\d{4} ", line)]


def render(api: APIServer, chart: Path, ns: str, *extra: str) -> str:
    """Return `helm template` output rendered for the server's version and API groups."""
    proc = api.helm("template", "rel", str(chart), "--namespace", ns, *extra)
    return proc.stdout


def objects(manifest: str) -> list[dict[str, Any]]:
    """Parse a multi-document manifest."""
    return [d for d in yaml.safe_load_all(manifest) if d]


def owned(api: APIServer, ns: str, release: str) -> list[str]:
    """Return every namespaced object labelled with the release's instance label."""
    kinds = api.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    got = api.kubectl("get", ",".join(kinds), "-n", ns, "-l", f"app.kubernetes.io/instance={release}",
                      "-o", "name", "--ignore-not-found").stdout
    return sorted(got.split())


def pod_from_template(deploy: dict[str, Any], ns: str) -> dict[str, Any]:
    """Return the Pod a ReplicaSet controller would create from `deploy`'s pod template."""
    tmpl = deploy["spec"]["template"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{deploy['metadata']['name']}-probe", "namespace": ns,
                     "labels": tmpl["metadata"].get("labels", {})},
        "spec": tmpl["spec"],
    }


def server_dry_run(api: APIServer, manifest: str, ns: str) -> subprocess.CompletedProcess[str]:
    """Validate `manifest` on the server: strict field validation, admission included, nothing stored."""
    return api.kubectl("apply", "-n", ns, "--dry-run=server", "--validate=strict", "-f", "-",
                       input=manifest, check=False)


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_install_upgrade_uninstall_every_values_file(kube_api: APIServer, charts: dict[str, Path],
                                                       answers: str) -> None:
    chart = charts[answers]
    for values_file in values_files(chart):
        ns = new_namespace(kube_api)
        extra = ["-f", str(chart / values_file)] if values_file else []
        where = f"{answers} {values_file or 'defaults'}"

        manifest = render(kube_api, chart, ns, *extra)
        dry = server_dry_run(kube_api, manifest, ns)
        assert dry.returncode == 0 and not warnings_in(dry.stderr), f"{where}: {dry.stdout}{dry.stderr}"
        install = kube_api.helm("install", "rel", str(chart), "-n", ns, *extra)
        assert not warnings_in(install.stderr), f"{where}: {install.stderr}"
        assert "STATUS: deployed" in install.stdout
        # no controllers run here: create (dry-run) the Pods the ReplicaSet controller would, so that
        # PodSecurity admission judges the real pod spec, with its ServiceAccount now in place
        for deploy in [o for o in objects(manifest) if o["kind"] == "Deployment"]:
            pod = kube_api.kubectl("create", "--dry-run=server", "-f", "-",
                                   input=json.dumps(pod_from_template(deploy, ns)), check=False)
            assert pod.returncode == 0 and not warnings_in(pod.stderr), f"{where}: pod {pod.stderr}"
        deploy = kube_api.get_json("deployment", "-n", ns, "-l", "app.kubernetes.io/instance=rel")["items"]
        assert len(deploy) == 1, where

        upgrade = kube_api.helm("upgrade", "rel", str(chart), "-n", ns, *extra,
                                "--set", "podAnnotations.rollout=second", "--set", "app.logLevel=debug")
        assert not warnings_in(upgrade.stderr), f"{where}: {upgrade.stderr}"
        (after,) = kube_api.get_json("deployment", "-n", ns, "-l", "app.kubernetes.io/instance=rel")["items"]
        tmpl = after["spec"]["template"]
        assert tmpl["metadata"]["annotations"]["rollout"] == "second"
        env = {e["name"]: e.get("value") for e in tmpl["spec"]["containers"][0]["env"]}
        assert env["LOG_LEVEL"] == "debug"
        assert after["metadata"]["generation"] == 2

        kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
        assert owned(kube_api, ns, "rel") == [], where
        kube_api.kubectl("delete", "namespace", ns, "--wait=false")


def test_monitoring_objects_follow_their_values_and_need_their_crds(kube_api: APIServer, charts: dict[str, Path],
                                                                   monitoring_crds: dict[str, str]) -> None:
    """The values alone switch the ServiceMonitor and PrometheusRule: with the CRDs served they are created
    (and accepted strictly by their CRDs); without, `helm install` fails loudly instead of dropping them."""
    chart = charts["defaults"]
    crds = {"ServiceMonitor": SM_CRD, "PrometheusRule": "prometheusrules.monitoring.coreos.com"}
    try:
        kube_api.kubectl("delete", "crd", *crds.values(), "--ignore-not-found", "--wait")
        ns = new_namespace(kube_api)
        failed = kube_api.helm("install", "rel", str(chart), "-n", ns, check=False)
        assert failed.returncode != 0 and 'no matches for kind "ServiceMonitor"' in failed.stderr, failed.stderr
        kube_api.helm("uninstall", "rel", "-n", ns, "--wait", check=False)
        off = ["--set", "serviceMonitor.enabled=false", "--set", "prometheusRule.enabled=false"]
        kube_api.helm("install", "rel", str(chart), "-n", ns, *off)
        kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
    finally:
        kube_api.serve_crds(monitoring_crds)

    fresh = new_namespace(kube_api)  # a namespace without the release: kubectl apply creates, not patches
    manifest = render(kube_api, chart, fresh)
    assert sorted(o["kind"] for o in objects(manifest) if o["kind"] in crds) == ["PrometheusRule", "ServiceMonitor"]
    dry = server_dry_run(kube_api, manifest, fresh)  # strict field validation against the CRD schemas
    assert dry.returncode == 0 and not warnings_in(dry.stderr), dry.stderr

    ns = new_namespace(kube_api)
    install = kube_api.helm("install", "rel", str(chart), "-n", ns)
    assert not warnings_in(install.stderr), install.stderr
    (sm,) = kube_api.get_json("servicemonitors.monitoring.coreos.com", "-n", ns)["items"]
    assert sm["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "demo-svc", "app.kubernetes.io/instance": "rel"}
    assert [e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"]
    (rule,) = kube_api.get_json("prometheusrules.monitoring.coreos.com", "-n", ns)["items"]
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts and all(a for a in alerts)

    off_up = kube_api.helm("upgrade", "rel", str(chart), "-n", ns, "--set", "serviceMonitor.enabled=false",
                           "--set", "prometheusRule.enabled=false")
    assert not warnings_in(off_up.stderr), off_up.stderr
    assert kube_api.get_json("servicemonitors.monitoring.coreos.com", "-n", ns)["items"] == []
    assert kube_api.get_json("prometheusrules.monitoring.coreos.com", "-n", ns)["items"] == []
    kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
    assert owned(kube_api, ns, "rel") == []


def test_restricted_namespace_has_teeth(kube_api: APIServer) -> None:
    """The namespaces these tests install into really enforce PodSecurity restricted."""
    ns = new_namespace(kube_api)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root-pod", "namespace": ns},
           "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]}}
    proc = kube_api.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert proc.returncode != 0 and "violates PodSecurity \"restricted:latest\"" in proc.stderr, proc.stderr


def test_switching_to_the_hpa_keeps_the_replica_count(kube_api: APIServer, charts: dict[str, Path]) -> None:
    """Helm drops `replicas` when the HPA takes over; the chart keeps the live count instead of falling to 1."""
    chart = charts["defaults"]
    ns = new_namespace(kube_api)
    kube_api.helm("install", "rel", str(chart), "-n", ns, "--set", "replicaCount=4")
    kube_api.helm("upgrade", "rel", str(chart), "-n", ns, "--set", "replicaCount=4",
                  "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=2")
    (deploy,) = kube_api.get_json("deployment", "-n", ns)["items"]
    assert deploy["spec"]["replicas"] == 4
    (hpa,) = kube_api.get_json("hpa", "-n", ns)["items"]
    assert hpa["spec"]["minReplicas"] == 2
    # without the lookup (a fresh `helm template`), no replicas field is rendered at all
    assert "replicas:" not in render(kube_api, chart, ns, "--set", "autoscaling.enabled=true").split(
        "kind: Deployment")[1].split("template:")[0]
    kube_api.helm("uninstall", "rel", "-n", ns, "--wait")


def test_legacy_extra_egress_shorthand_still_works(kube_api: APIServer, charts: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """values.yaml files written for 0.1.0 use {cidr, except, ports}: they render the same ipBlock rule."""
    chart = charts["defaults"]
    ns = new_namespace(kube_api)
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(yaml.safe_dump({"networkPolicy": {"extraEgress": [
        {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"], "ports": [{"port": 5432, "protocol": "TCP"}]}]}}))
    manifest = render(kube_api, chart, ns, "-f", str(legacy))
    (np,) = [o for o in objects(manifest) if o["kind"] == "NetworkPolicy"]
    assert np["spec"]["egress"][-1] == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.1.0/24"]}}],
                                        "ports": [{"port": 5432, "protocol": "TCP"}]}
    dry = server_dry_run(kube_api, manifest, ns)
    assert dry.returncode == 0, dry.stderr
    bad = kube_api.helm("template", "rel", str(chart), "-n", ns,
                        "--set", "networkPolicy.extraEgress[0].cidr=10.0.0.0/33", check=False)
    assert bad.returncode != 0 and "cidr" in bad.stderr


def test_helm_test_pod_uses_pull_secrets_and_digest(kube_api: APIServer, charts: dict[str, Path]) -> None:
    chart = charts["defaults"]
    digest = "sha256:" + "ab" * 32
    manifest = render(kube_api, chart, "default", "--set", "imagePullSecrets[0].name=regcred",
                      "--set", f"tests.digest={digest}")
    (pod,) = [o for o in objects(manifest) if o["kind"] == "Pod"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["containers"][0]["image"].endswith("@" + digest)


def test_notes_reach_the_metrics_service_for_public_service_types(kube_api: APIServer, charts: dict[str, Path]) -> None:
    """NOTES' port-forward commands name the Services that really carry each port."""
    chart = charts["defaults"]
    for kind, metrics_svc in (("ClusterIP", "rel-demo-svc"), ("LoadBalancer", "rel-demo-svc-metrics")):
        out = kube_api.helm("install", "rel", str(chart), "--dry-run=client", "-n", "notes",
                            "--set", f"service.type={kind}").stdout
        notes = out[out.index("NOTES:"):]
        assert f"port-forward svc/{metrics_svc} " in notes and ":metrics" in notes, notes
        manifest = render(kube_api, chart, "notes", "--set", f"service.type={kind}")
        services = {o["metadata"]["name"]: [p["name"] for p in o["spec"]["ports"]]
                    for o in objects(manifest) if o["kind"] == "Service"}
        assert "metrics" in services[metrics_svc], services
