"""Every way a generated chart reaches a cluster deploys the same objects, and a deployed release does not drift.

Render parity, for every answer set and every ci/*-values.yaml: the objects (hooks included) are byte-equal,
after the namespace is normalised, between
  - `helm install` on the suite's API server, which serves the Prometheus Operator's CRDs (`kube_api`);
  - Argo CD: `helm template` with `--api-versions` given as group/version only (`monitoring.coreos.com/v1`)
    and the server's `--kube-version`;
  - plain CI rendering: `helm template` with no capabilities, and `kubectl kustomize --enable-helm` (compared
    as parsed objects: kustomize writes the YAML out again);
  - Flux's helm-controller: the Helm SDK against the live API server (`helm install --dry-run=server`).
Zero drift: after `helm install`, `kubectl diff --server-side` reports nothing, and `helm upgrade` with the
same values changes no object (resourceVersion, generation: no rollout, no pod restarted).
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import gen
import pytest
import yaml
from apiserver import APIServer
from kube_flavors import chart_of
from kubecli import TOOLS_BIN

pytestmark = pytest.mark.slow

#: The answer sets of gen.PROJECTS, the two Kubernetes-client flavors, and the sets that switch the
#: optional objects: the monitoring objects off with hot reload on, a preStop drain with an HPA.
ANSWERS: dict[str, dict[str, Any]] = {
    **gen.PROJECTS,
    "informer": {"service_name": "cm-watcher", "kubernetes_client": "informer"},
    "controller": {"service_name": "widget-op", "kubernetes_client": "controller"},
    "no-monitoring-reload": {"service_name": "quiet-svc", "service_monitor": False, "network_policy": False,
                             "hot_reload": True, "replicas": 1},
    "prestop-hpa": {"service_name": "tuned-api", "drain_mode": "prestop", "cpu_limit": "1500m",
                    "memory_limit": "512Mi", "memory_request": "512Mi", "hpa_enabled": True,
                    "hpa_min_replicas": 3},
}
_counter = iter(range(10_000))


def values_files(chart: Path) -> list[str]:
    """Return "" (the chart's defaults) plus every ci/*-values.yaml of the chart."""
    return ["", *sorted(str(p.relative_to(chart)) for p in (chart / "ci").glob("*.yaml"))]


def documents(manifest: str, ns: str) -> list[str]:
    """Split a manifest into its documents, with namespace `ns` written as NAMESPACE and without the
    `# Source:` comment (Helm keeps a hook's template path beside it, not in it), sorted."""
    docs = [re.sub(r"(?m)^# Source: .*\n", "", d + "\n").strip() for d in re.split(r"(?m)^---\s*$", manifest)]
    out = [re.sub(rf"\b{re.escape(ns)}\b", "NAMESPACE", d) + "\n" for d in docs
           if d and any(not line.startswith("#") for line in d.splitlines() if line.strip())]
    return sorted(out)


def parsed(manifest: str, ns: str) -> list[str]:
    """The objects of a manifest as canonical JSON, with namespace `ns` written as NAMESPACE, sorted."""
    objs = [d for d in yaml.safe_load_all(manifest) if d]
    return sorted(re.sub(rf"\b{re.escape(ns)}\b", "NAMESPACE", json.dumps(o, sort_keys=True)) for o in objs)


def kinds(docs: list[str]) -> list[str]:
    return sorted(yaml.safe_load(d)["kind"] for d in docs)


def fresh_namespace(api: APIServer, chart: Path, extra: list[str]) -> str:
    """A new restricted namespace, plus the other namespaces the chart's objects name (a watched namespace)."""
    ns = api.restricted_namespace(f"paths{next(_counter)}")
    plain = api.helm("template", "rel", str(chart), "-n", ns, *extra).stdout
    for d in yaml.safe_load_all(plain):
        other = (d or {}).get("metadata", {}).get("namespace")
        if other and other != ns:
            api.kubectl("create", "namespace", other, check=False)
    return ns


def server_version(api: APIServer) -> str:
    return str(json.loads(api.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"])


@pytest.fixture(scope="module")
def charts(rendered: Any) -> dict[str, Path]:
    return {name: chart_of(rendered(name, answers)) for name, answers in ANSWERS.items()}


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_every_deploy_path_renders_the_same_objects(kube_api: APIServer, charts: dict[str, Path],
                                                     answers: str, tmp_path: Path) -> None:
    chart = charts[answers]
    kube = server_version(kube_api)
    for values_file in values_files(chart):
        extra = ["-f", str(chart / values_file)] if values_file else []
        where = f"{answers} {values_file or 'defaults'}"
        paths: dict[str, list[str]] = {}
        flux_ns = fresh_namespace(kube_api, chart, extra)  # before the install: a first Flux reconcile
        flux = json.loads(kube_api.helm("install", "rel", str(chart), "-n", flux_ns, "--dry-run=server",
                                        "-o", "json", *extra).stdout)
        flux_manifest = flux["manifest"] + "".join("\n---\n" + h["manifest"] for h in flux.get("hooks") or [])
        paths["Flux (Helm SDK, live server)"] = documents(flux_manifest, flux_ns)
        ns = fresh_namespace(kube_api, chart, extra)
        kube_api.helm("install", "rel", str(chart), "-n", ns, *extra)
        manifest = kube_api.helm("get", "manifest", "rel", "-n", ns).stdout
        hooks = kube_api.helm("get", "hooks", "rel", "-n", ns).stdout
        paths["helm install"] = documents(manifest + "\n---\n" + hooks, ns)

        argo = kube_api.helm("template", "rel", str(chart), "-n", ns, "--kube-version", kube,
                             "--api-versions", "monitoring.coreos.com/v1", *extra).stdout
        paths["Argo CD (group/version only)"] = documents(argo, ns)
        plain = kube_api.helm("template", "rel", str(chart), "-n", ns, *extra).stdout
        paths["helm template (no capabilities)"] = documents(plain, ns)


        # kubectl kustomize --enable-helm: the same helm template run, written out again by kustomize (other
        # YAML formatting and field order, so compared as parsed objects)
        kz = tmp_path / f"kustomize-{values_file.replace('/', '-') or 'defaults'}"
        (kz / "charts").mkdir(parents=True)
        shutil.copytree(chart, kz / "charts" / chart.name)
        spec: dict[str, Any] = {"name": chart.name, "releaseName": "rel", "namespace": ns}
        if values_file:
            shutil.copy(chart / values_file, kz / "values.yaml")
            spec["valuesFile"] = "values.yaml"
        (kz / "kustomization.yaml").write_text(yaml.safe_dump({"helmCharts": [spec]}))
        kustomized = kube_api.kubectl("kustomize", "--enable-helm", "--helm-command", str(TOOLS_BIN / "helm"),
                                      str(kz)).stdout
        assert parsed(kustomized, ns) == parsed("\n---\n".join(paths["helm install"]), "NAMESPACE"), \
            f"{where}: kubectl kustomize --enable-helm renders other objects than helm install"

        want = paths["helm install"]
        monitoring = {"ServiceMonitor", "PrometheusRule"} & set(kinds(want))
        values = yaml.safe_load((chart / "values.yaml").read_text())
        if values_file:
            values.update({k: {**values.get(k, {}), **v} if isinstance(v, dict) else v
                           for k, v in (yaml.safe_load((chart / values_file).read_text()) or {}).items()})
        expect = {k for k, key in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "prometheusRule"))
                  if values[key]["enabled"]}
        assert monitoring == expect, f"{where}: installed {monitoring}, values switch on {expect}"
        for path, got in paths.items():
            assert kinds(got) == kinds(want), f"{where}: {path} renders {kinds(got)}, helm install {kinds(want)}"
            assert got == want, f"{where}: {path} renders other objects than helm install"
        kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
        for name in (ns, flux_ns):
            kube_api.kubectl("delete", "namespace", name, "--wait=false")


def live(api: APIServer, ns: str) -> dict[str, str]:
    """Return {kind/name: the object as JSON (no managedFields, resourceVersion, status)} of release `rel`."""
    kinds_ = api.kubectl("api-resources", "--verbs=list", "--namespaced", "-o", "name").stdout.split()
    got = json.loads(api.kubectl("get", ",".join(kinds_), "-n", ns, "-l", "app.kubernetes.io/instance=rel",
                                 "-o", "json").stdout)["items"]
    out = {}
    for o in got:
        for key in ("managedFields", "resourceVersion"):  # a field manager's bookkeeping, not a change
            o["metadata"].pop(key, None)
        o.pop("status", None)
        out[f"{o['kind']}/{o['metadata']['name']}"] = json.dumps(o, sort_keys=True, indent=1)
    return out


@pytest.mark.parametrize("answers", ["defaults", "informer", "prestop-hpa"])
def test_installed_release_does_not_drift(kube_api: APIServer, charts: dict[str, Path], answers: str) -> None:
    chart = charts[answers]
    ns = fresh_namespace(kube_api, chart, [])
    kube_api.helm("install", "rel", str(chart), "-n", ns)
    before = live(kube_api, ns)
    assert any(k.startswith("Deployment/") for k in before), before

    manifest = kube_api.helm("template", "rel", str(chart), "-n", ns).stdout
    docs = [d for d in yaml.safe_load_all(manifest) if d and "helm.sh/hook" not in
            (d["metadata"].get("annotations") or {})]
    diff = kube_api.kubectl("diff", "--server-side", "--force-conflicts", "-n", ns,
                            "-f", "-", input=yaml.safe_dump_all(docs), check=False)
    assert diff.returncode == 0 and diff.stdout == "", f"kubectl diff --server-side ({diff.returncode}):\n" \
                                                       f"{diff.stdout}{diff.stderr}"

    kube_api.helm("upgrade", "rel", str(chart), "-n", ns)
    after = live(kube_api, ns)
    assert after.keys() == before.keys()
    changed = {k: "".join(difflib.unified_diff(before[k].splitlines(True), v.splitlines(True), n=1))
               for k, v in after.items() if before[k] != v}
    assert changed == {}, f"helm upgrade with unchanged values changed (generation: a rollout) {changed}"
    kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
    kube_api.kubectl("delete", "namespace", ns, "--wait=false")


def test_no_random_or_time_based_values_in_the_templates(charts: dict[str, Path]) -> None:
    """Functions whose output changes from render to render would roll the pods on every sync."""
    banned = re.compile(r"\b(rand\w*|uuidv4|now|date\w*|unixEpoch|genCA|genPrivateKey|genSelfSignedCert\w*|"
                        r"genSignedCert\w*|randBytes|shuffle)\b")
    for name, chart in charts.items():
        for path in sorted((chart / "templates").rglob("*")):
            if path.is_file():
                for expr in re.findall(r"\{\{.*?\}\}", path.read_text(), re.S):
                    assert not banned.search(expr), f"{name}: {path.name}: {expr}"
