"""values.schema.json against the real API server: whatever the schema and the chart accept, the server
accepts (a property over values generated from the schema); values the server would reject fail early,
at `helm template`, with a message that names the value."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import gen
import pytest
import yaml
from apiserver import APIServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_strategy import inline_refs, instances

pytestmark = pytest.mark.slow

ANSWERS = {"service_name": "prop-svc", "hot_reload": True}


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated chart with every optional part (hot reload on)."""
    project = gen.render(tmp_path_factory.mktemp("schema-prop") / "p", ANSWERS)
    (chart,) = (project / "deploy" / "helm").iterdir()
    return chart


@pytest.fixture(scope="module")
def namespace(kube_api: APIServer) -> str:
    """One restricted namespace for the dry runs."""
    return kube_api.restricted_namespace("schema-prop")


def helm_template(api: APIServer, chart: Path, ns: str, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Render `chart` with `values` as a values file (as a user's -f file would be)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(values, f)
    try:
        return api.helm("template", "rel", str(chart), "--namespace", ns, "-f", f.name, check=False)
    finally:
        Path(f.name).unlink()


def server_accepts(api: APIServer, ns: str, manifest: str) -> subprocess.CompletedProcess[str]:
    """Strict server-side dry run of every object, plus the Pod each Deployment would create."""
    proc = api.kubectl("apply", "-n", ns, "--dry-run=server", "--validate=strict", "-f", "-", input=manifest,
                       check=False)
    if proc.returncode != 0:
        return proc
    for obj in [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"]:
        tmpl = obj["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "probe", "namespace": ns, "labels": tmpl["metadata"].get("labels", {})},
               "spec": {**tmpl["spec"], "serviceAccountName": "default"}}
        # whether the named PriorityClass exists is cluster state, not something values can promise
        pod["spec"].pop("priorityClassName", None)
        proc = api.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        if proc.returncode != 0:
            return proc
    return proc


#: Values that are whole Kubernetes objects passed through to the pod spec: their schema is the API
#: server's own (random objects would only test the server's validation), so they are not generated.
PASS_THROUGH = ("global", "affinity", "extraVolumes", "extraVolumeMounts", "initContainers", "sidecars")


def partial_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The values schema for a user's override file: the same rules (each top-level key's standing alone,
    its shared definitions inlined), but no top-level key required."""
    out = inline_refs(schema)
    out.pop("required", None)
    out.pop("$schema", None)
    for key in PASS_THROUGH:
        out["properties"].pop(key, None)
    return out


def test_schema_accepted_values_are_accepted_by_the_server(kube_api: APIServer, chart: Path, namespace: str) -> None:
    schema = partial_schema(json.loads((chart / "values.schema.json").read_text()))
    tried: list[int] = [0, 0]  # rendered, refused by the chart

    # a user's override file sets a few top-level keys: draw 1-4 of them, each from its own schema
    keys = sorted(schema["properties"])
    overrides = st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({k: instances(schema["properties"][k]) for k in chosen}))

    # CI runs a fixed sequence of examples (a deterministic gate); elsewhere every run draws new ones
    @settings(max_examples=60, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
              suppress_health_check=list(HealthCheck))
    @given(values=overrides)
    def prop(values: dict[str, Any]) -> None:
        rendered = helm_template(kube_api, chart, namespace, values)
        if rendered.returncode != 0:
            tried[1] += 1
            # refused early is fine, but only with a one-line reason (helm's `Error: ...`)
            assert rendered.stderr.strip().startswith("Error:"), rendered.stderr
            return
        tried[0] += 1
        proc = server_accepts(kube_api, namespace, rendered.stdout)
        assert proc.returncode == 0, f"values {values!r} passed schema and chart; the server said:\n{proc.stderr}"

    prop()
    assert tried[0] >= 20, f"too few renderings reached the server: {tried}"


#: Values the schema once accepted and the server rejects (or that break the service): each must fail
#: at `helm template` with a message naming the value (one entry: --set arguments, text expected).
KNOWN_BAD: dict[str, tuple[list[str], str]] = {
    "duplicate service ports": (["service.port=9090", "service.metricsPort=9090"], "service.port"),
    "http port equals admin port": (["ports.http=9090", "ports.admin=9090"], "ports.http"),
    "requests above limits": (["resources.requests.cpu=2", "resources.limits.cpu=1"], "resources.requests.cpu"),
    "readiness probe grace period": (["probes.readiness.terminationGracePeriodSeconds=5"],
                                     "terminationGracePeriodSeconds"),
    "preStop not below the grace period": (["preStopSleepSeconds=40", "terminationGracePeriodSeconds=30"],
                                           "terminationGracePeriodSeconds"),
    "PDB above 100%": (["podDisruptionBudget.maxUnavailable=150%"], "maxUnavailable"),
    "no surge and no unavailable": (["strategy.maxSurge=0", "strategy.maxUnavailable=0"], "strategy"),
    "bad CIDR": (["networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.0.0.0/33",
                  "networkPolicy.extraEgress[0].ports[0].port=5432"], "cidr"),
    "toleration Exists with a value": (["tolerations[0].key=dedicated", "tolerations[0].operator=Exists",
                                        "tolerations[0].value=api"], "tolerations"),
    "uppercase fullnameOverride": (["fullnameOverride=Orders"], "fullnameOverride"),
    "invalid priorityClassName": (["priorityClassName=Bad_Class"], "priorityClassName"),
    "podLabels override selector labels": (["podLabels.app\\.kubernetes\\.io/instance=other"], "podLabels"),
}


@pytest.mark.parametrize("case", list(KNOWN_BAD))
def test_known_bad_values_fail_at_template_naming_the_value(kube_api: APIServer, chart: Path, namespace: str,
                                                            case: str) -> None:
    sets, named = KNOWN_BAD[case]
    args = [a for s in sets for a in ("--set", s)]
    proc = kube_api.helm("template", "rel", str(chart), "--namespace", namespace, *args, check=False)
    assert proc.returncode != 0, f"{case}: helm template accepted {sets}"
    assert named in proc.stderr, proc.stderr
