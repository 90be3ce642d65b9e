"""kubernetes_client=controller (issue 16): a controller-runtime controller of an example CRD, generated,
built, tested and deployed for real.

The answer's files appear only in the controller flavor; the generated Go passes gofmt, vet, build,
golangci-lint and `go test -race` with its envtest tests (reconcile cases, a two-process leader handover)
running against the kube-apiserver + etcd the suite builds (scripts/kube-tools.sh); the committed
controller-gen output (deep copies, CRD, RBAC) matches what controller-gen makes from the markers; the
chart installs the CRD and the generated RBAC under PodSecurity `restricted` on the suite's API server,
where the built service reconciles a Widget as the chart's ServiceAccount; `gosmith update -d
kubernetes_client=controller` switches a `none` project and keeps edits.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gen
import k8s_checks as kc
import pytest
import yaml
from apiserver import APIServer
from gen import ROOT, run
from kube_flavors import (
    api_egress,
    chart_of,
    helm,
    kube_assets,
    require,
    team_project,
    template,
    update_to,
    warnings_in,
)

from gosmith.template import rules

TOOLS_BIN = ROOT / ".tools" / "bin"
CONTROLLER = gen.CONTROLLER  # also the golden render tests/golden/controller
SERVICE = CONTROLLER["service_name"]
GROUP = f"{SERVICE}.example.com"
#: The module versions the controller flavor pins (the informer's).
K8S_MODULES = {
    "k8s.io/client-go": "v0.37.2",
    "k8s.io/api": "v0.37.2",
    "k8s.io/apimachinery": "v0.37.2",
    "sigs.k8s.io/controller-runtime": "v0.25.2",
}
#: The rules the Widget reconciler's +kubebuilder:rbac markers grant (controller-gen's order).
GENERATED_RULES = [
    {"apiGroups": [""], "resources": ["configmaps"],
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
    {"apiGroups": [GROUP], "resources": ["widgets"], "verbs": ["get", "list", "patch", "update", "watch"]},
    {"apiGroups": [GROUP], "resources": ["widgets/finalizers"], "verbs": ["update"]},
    {"apiGroups": [GROUP], "resources": ["widgets/status"], "verbs": ["get", "patch", "update"]},
]
#: The generated tests that need a real API server (envtest), subtests included.
ENVTEST_TESTS = {
    "TestWidgetReconcilerAgainstAPIServer",
    "TestWidgetReconcilerAgainstAPIServer/happy_path",
    "TestWidgetReconcilerAgainstAPIServer/transient_error_retried_with_backoff",
    "TestWidgetReconcilerAgainstAPIServer/terminal_error_not_retried_and_reported",
    "TestWidgetReconcilerAgainstAPIServer/finalizer_cleans_up_before_deletion",
    "TestWidgetReconcilerAgainstAPIServer/periodic_requeue",
    "TestLeaderHandoverOnSIGTERM",
    "TestRunServesAndStops",
}
#: controller-gen's outputs, committed in the template (paths in a rendered project).
GENERATED = ("api/v1alpha1/zz_generated.deepcopy.go", f"deploy/helm/{SERVICE}/crds/{GROUP}_widgets.yaml",
             f"deploy/helm/{SERVICE}/files/role.yaml")


@pytest.fixture(scope="module")
def controller(rendered: Any) -> Path:
    project: Path = rendered("controller-widget-op", CONTROLLER)
    return project


# ----------------------------------------------------------------------------- the answer and the files
def test_controller_is_a_choice_of_copier_and_the_rule_table() -> None:
    copier = yaml.safe_load((ROOT / "copier.yml").read_text())["kubernetes_client"]
    assert copier["choices"] == ["none", "informer", "controller"] and copier["default"] == "none"
    assert "controller" in copier["help"]
    settings = rules().settings
    assert settings.BY_NAME["kubernetes_client"].choices == ("none", "informer", "controller")
    assert settings.check("kubernetes_client", "controller") == ""


def test_controller_flavor_files(controller: Path) -> None:
    gomod = (controller / "go.mod").read_text()
    for module, version in K8S_MODULES.items():
        assert require(module, gomod) == version, module
    for rel in ("api/v1alpha1/groupversion_info.go", "api/v1alpha1/widget_types.go", *GENERATED,
                "internal/kube/widget_controller.go", "internal/kube/manager.go", "internal/kube/metrics.go",
                "internal/kube/client.go", "internal/kube/logr.go", "internal/kube/kubetest/kubetest.go",
                "internal/kube/widget_controller_test.go", "internal/kube/metrics_test.go",
                "internal/config/kube.go", "internal/config/kube_test.go", "internal/app/kube.go",
                "internal/app/kube_test.go", f"deploy/helm/{SERVICE}/templates/rbac.yaml",
                f"deploy/helm/{SERVICE}/ci/kubernetes-client-values.yaml"):
        assert (controller / rel).is_file(), rel
    # none of the informer's files
    for rel in ("internal/kube/controller.go", "internal/kube/reconcile.go"):
        assert not (controller / rel).exists(), rel
    assert not list(controller.rglob("*.jinja"))
    # envtest is a test dependency only
    for path in controller.rglob("*.go"):
        if not path.name.endswith("_test.go") and "kubetest" not in path.parts:
            assert "controller-runtime/pkg/envtest" not in path.read_text(), path
    manager = (controller / "internal" / "kube" / "manager.go").read_text()
    for needle in ("LeaderElectionReleaseOnCancel: true", 'BindAddress: "0"', 'HealthProbeBindAddress:        "0"'):
        assert needle in manager, needle
    ci = yaml.safe_load((controller / ".github" / "workflows" / "ci.yml").read_text())
    steps = ci["jobs"]["test"]["steps"]
    names = [s.get("name", "") for s in steps]
    envtest = next(i for i, n in enumerate(names) if "setup-envtest" in n)
    assert envtest < names.index("Test") and "KUBEBUILDER_ASSETS" in steps[envtest]["run"]
    makefile = (controller / "Makefile").read_text()
    assert "setup-envtest@" in makefile and "controller-gen@v0.23.0" in makefile
    assert re.search(r"(?m)^envtest: ## ", makefile) and re.search(r"(?m)^manifests: ## ", makefile)
    readme = (controller / "README.md").read_text()
    assert "| `make manifests` |" in readme and "## Kubernetes API (controller)" in readme


def test_other_flavors_have_no_crd(rendered: Any) -> None:
    chart = chart_of(rendered("defaults"))
    assert not (chart / "crds").exists() and not (chart / "files").exists()
    assert not (chart.parents[2] / "api").exists()


def test_ci_workflow_passes_actionlint(controller: Path) -> None:
    actionlint = str(gen.actionlint_binary())
    proc = subprocess.run([actionlint, "-no-color", "-shellcheck", shutil.which("shellcheck") or "",
                           ".github/workflows/ci.yml"], cwd=controller, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


_TABLE = re.compile(r"<!-- env-vars:begin -->\n(.*?)<!-- env-vars:end -->", re.S)
_CONFIG_READ = re.compile(r"\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"\s*,\s*(\w+)\s*\)")
_GETENV = re.compile(r"[Gg]etenv\(\s*\"([A-Z][A-Z0-9_]*)\"\s*\)")


def test_readme_documents_the_controller_variables(controller: Path) -> None:
    m = _TABLE.search((controller / "README.md").read_text())
    assert m
    table = {c[0].strip("`") for c in
             ([x.strip() for x in row.strip("|").split("|")] for row in m[1].splitlines() if row.startswith("| `"))}
    kube_go = (controller / "internal" / "config" / "kube.go").read_text()
    read = {name for name, _ in _CONFIG_READ.findall(kube_go)} | set(_GETENV.findall(kube_go))
    new = {"KUBECONFIG", "WATCH_NAMESPACE", "KUBE_WORKERS", "KUBE_RESYNC_PERIOD", "LEADER_ELECT",
           "LEADER_ELECTION_ID", "LEADER_ELECTION_NAMESPACE", "LEADER_ELECTION_LEASE_DURATION",
           "LEADER_ELECTION_RENEW_DEADLINE", "LEADER_ELECTION_RETRY_PERIOD"}
    assert new <= read, sorted(new - read)
    assert read <= table, f"read but not in the README: {sorted(read - table)}"
    assert "WATCH_LABEL_SELECTOR" not in table


# ----------------------------------------------------------------------------- the chart
def roles(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in kc.by_kind(objs, "Role")}


def test_chart_grants_the_generated_rbac(controller: Path) -> None:
    chart = chart_of(controller)
    for values in ("", "ci/kubernetes-client-values.yaml"):
        helm("lint", "--strict", ".", *(["-f", values] if values else []), cwd=chart)
    generated = yaml.safe_load((chart / "files" / "role.yaml").read_text())
    assert generated["rules"] == GENERATED_RULES
    crd = yaml.safe_load((chart / "crds" / f"{GROUP}_widgets.yaml").read_text())
    assert crd["metadata"]["name"] == f"widgets.{GROUP}" and crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    shown = helm("show", "crds", ".", cwd=chart).stdout
    assert f"name: widgets.{GROUP}" in shown

    objs = template(chart)
    assert not kc.by_kind(objs, "CustomResourceDefinition")  # crds/ is installed by Helm, not templated
    sa, deploy = kc.one(objs, "ServiceAccount"), kc.one(objs, "Deployment")
    spec = kc.pod_template(deploy)["spec"]
    assert sa["automountServiceAccountToken"] is True and spec["automountServiceAccountToken"] is True
    assert [p for p in kc.check_restricted_pss(spec, "deployment") if "automountServiceAccountToken" not in p] == []
    by_name = roles(objs)
    assert set(by_name) == {"rel-widget-op", "rel-widget-op-leader-election"}
    main, leader = by_name["rel-widget-op"], by_name["rel-widget-op-leader-election"]
    assert main["metadata"]["namespace"] == "shop" and main["rules"] == GENERATED_RULES
    assert "namespace" not in leader["metadata"]  # the release namespace
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]} in leader["rules"]
    bindings = {b["metadata"]["name"]: b for b in kc.by_kind(objs, "RoleBinding")}
    assert set(bindings) == set(by_name)
    for name, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "shop"}]
    env = kc.env_of(spec["containers"][0])
    assert (env["WATCH_NAMESPACE"], env["KUBE_WORKERS"], env["KUBE_RESYNC_PERIOD"], env["LEADER_ELECT"]) == (
        "shop", "2", "10m", "true")
    assert "WATCH_LABEL_SELECTOR" not in env
    assert api_egress(objs, "172.18.0.2", 6443) and api_egress(objs, "52.1.2.3", 443)
    assert not api_egress(objs, "52.1.2.3", 80)

    # Another namespace, one replica without leader election, the control plane's addresses only.
    objs = template(chart, "-f", "ci/kubernetes-client-values.yaml")
    assert set(roles(objs)) == {"rel-widget-op"} and roles(objs)["rel-widget-op"]["metadata"]["namespace"] == (
        "platform-widgets")
    env = kc.env_of(kc.pod_template(kc.one(objs, "Deployment"))["spec"]["containers"][0])
    assert (env["WATCH_NAMESPACE"], env["KUBE_WORKERS"], env["LEADER_ELECT"]) == ("platform-widgets", "4", "false")
    assert api_egress(objs, "10.0.0.9", 6443) and not api_egress(objs, "10.0.0.9", 443)

    # Switched off: no token, no Role, no egress to the API server.
    objs = template(chart, "--set", "kubernetesClient.enabled=false")
    assert kc.one(objs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert not kc.by_kind(objs, "Role") and not api_egress(objs, "172.18.0.2", 6443)


BAD_VALUES = {
    "no workers": (["--set", "kubernetesClient.workers=0"], "workers"),
    "leader election not a bool": (["--set", "kubernetesClient.leaderElection.enabled=maybe"], "enabled"),
    "unknown leader election key": (["--set", "kubernetesClient.leaderElection.leaseDuration=15s"], "leaseDuration"),
    "resync below 1s": (["--set", "kubernetesClient.resyncPeriod=10ms"],
                        "kubernetesClient.resyncPeriod must be 0s (never) or at least 1s, got 10ms"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_chart_rejects_bad_controller_values(controller: Path, case: str) -> None:
    extra, needle = BAD_VALUES[case]
    proc = helm("template", "rel", ".", *extra, cwd=chart_of(controller), check=False)
    assert proc.returncode != 0 and needle in proc.stderr, proc.stderr


def test_controller_values_are_documented(controller: Path) -> None:
    """Every kubernetesClient leaf key has a helm-docs `# --` comment on the line above it."""
    lines = (chart_of(controller) / "values.yaml").read_text().splitlines()
    start = lines.index("kubernetesClient:")
    previous, checked = "", 0
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        m = re.match(r"^(\s+)([A-Za-z]+):(.*)$", line)
        if m and m[2] not in ("apiServer", "leaderElection"):
            assert previous.strip().startswith("# --"), f"kubernetesClient.{m[2]} has no `# --` comment"
            checked += 1
        previous = line
    assert checked == 7  # enabled, watchNamespace, workers, resyncPeriod, leaderElection.enabled, cidrs, ports


# ----------------------------------------------------------------------------- controller-gen drift
def controller_gen() -> Path:
    cg = gen.load_module(ROOT / "scripts" / "controller_gen.py", "controller_gen")  # builds the pinned binary once
    try:
        path: Path = cg.binary()
    except (OSError, subprocess.CalledProcessError) as exc:  # no Go module proxy: reported like .tools/unavailable
        pytest.skip(f"controller-gen {cg.VERSION} could not be built into .tools/bin: {exc}")
    return path


@pytest.mark.slow
def test_committed_crd_and_rbac_match_controller_gen(controller: Path, tmp_path: Path) -> None:
    """`make manifests` (controller-gen v0.23.0) on a rendered project reproduces the committed deep copies,
    CRD and RBAC byte for byte; a changed marker changes the output (so the comparison can fail)."""
    binary = controller_gen()
    project = gen.copy_project(controller, tmp_path / SERVICE)
    for rel in GENERATED:
        (project / rel).unlink()
    run(["make", "-s", "manifests", f"CONTROLLER_GEN={binary}"], project, timeout=600)
    for rel in GENERATED:
        assert filecmp.cmp(project / rel, controller / rel, shallow=False), (
            f"{rel} differs from controller-gen's output: run scripts/controller_gen.py")
    assert sorted(p.name for p in (chart_of(project) / "crds").iterdir()) == [f"{GROUP}_widgets.yaml"]

    reconciler = project / "internal" / "kube" / "widget_controller.go"
    reconciler.write_text(reconciler.read_text().replace(
        "resources=configmaps,verbs=get;list;watch;create;update;patch;delete",
        "resources=configmaps,verbs=get;list;watch;create;update;patch;delete\n"
        "// +kubebuilder:rbac:groups=\"\",resources=secrets,verbs=get"))
    run(["make", "-s", "manifests", f"CONTROLLER_GEN={binary}"], project, timeout=600)
    role = project / GENERATED[2]
    assert not filecmp.cmp(role, controller / GENERATED[2], shallow=False)
    assert "secrets" in role.read_text()


# ----------------------------------------------------------------------------- the Go code
@pytest.mark.slow
def test_gofmt_tidy_vet_build(controller: Path, tmp_path: Path) -> None:
    assert run(["gofmt", "-l", "."], controller).strip() == ""
    assert run(["go", "mod", "tidy", "-diff"], controller) == ""
    run(["go", "vet", "./..."], controller, timeout=1500)
    run(["go", "build", "-o", f"{tmp_path}/", "./..."], controller, env={"CGO_ENABLED": "0"}, timeout=1500)


@pytest.mark.slow
def test_golangci_lint_finds_nothing(controller: Path) -> None:
    lint = TOOLS_BIN / "golangci-lint"
    if not lint.exists():
        pytest.skip("golangci-lint missing: run scripts/tools.sh")
    out = run([str(lint), "run", "--allow-serial-runners", "--max-issues-per-linter=0", "./..."], controller,
              timeout=1800)
    assert "0 issues" in out, out


@pytest.mark.slow
def test_go_test_race_against_a_real_api_server(controller: Path) -> None:
    """The generated tests with the race detector, envtest binaries from the suite's own build: the
    reconcile cases and the two-process leader handover run (none is skipped) and pass."""
    proc = subprocess.run(["go", "test", "-json", "-race", "-count=1", "./..."], cwd=controller,
                          capture_output=True, text=True, env={**os.environ, "KUBEBUILDER_ASSETS": kube_assets()},
                          timeout=1800)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failed = {(e["Package"], e.get("Test")) for e in events if e["Action"] == "fail"}
    if proc.returncode != 0 or failed:
        output = "".join(e.get("Output", "") for e in events if (e["Package"], e.get("Test")) in failed)
        raise AssertionError(f"go test failed: {sorted(failed, key=str)}\n{output[-20000:]}\n{proc.stderr[-5000:]}")
    outcome = {e["Test"]: e["Action"] for e in events if e.get("Test") and e["Action"] in ("pass", "skip")}
    assert {t: outcome.get(t) for t in ENVTEST_TESTS} == dict.fromkeys(ENVTEST_TESTS, "pass")
    unit = ("TestGatheredMetricsKeepTheirTypeAndLabels", "TestGateReadiness", "TestKubeDefaults", "TestKubeOverrides",
            "TestKubeRejects")
    for test in unit:
        assert outcome.get(test) == "pass", test
    handover = "".join(e.get("Output", "") for e in events if e.get("Test") == "TestLeaderHandoverOnSIGTERM")
    m = re.search(r"took over ([0-9.]+)(ms|s) after SIGTERM", handover)
    assert m, handover
    took = float(m[1]) / (1000 if m[2] == "ms" else 1)
    assert took < 5, f"the second replica took over {took}s after SIGTERM (lease duration 15s)"


# ----------------------------------------------------------------------------- on the suite's API server
@pytest.fixture(scope="module")
def installed(kube_api: APIServer, controller: Path) -> Iterator[str]:
    """The chart installed (CRD included) in a fresh namespace enforcing PodSecurity restricted."""
    ns = kube_api.restricted_namespace("widgets1")
    install = kube_api.helm("install", "rel", str(chart_of(controller)), "-n", ns)
    assert "STATUS: deployed" in install.stdout and not warnings_in(install.stderr), install.stderr
    yield ns
    kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
    kube_api.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.slow
def test_chart_installs_under_restricted_and_grants_the_generated_rules(
        kube_api: APIServer, controller: Path, installed: str) -> None:
    ns = installed
    crd = kube_api.get_json("crd", f"widgets.{GROUP}")
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    manifest = kube_api.helm("get", "manifest", "rel", "-n", ns).stdout
    (deploy,) = [d for d in yaml.safe_load_all(manifest) if d and d["kind"] == "Deployment"]
    tmpl = deploy["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "controller-probe", "namespace": ns, "labels": tmpl["metadata"]["labels"]},
           "spec": tmpl["spec"]}
    created = kube_api.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert created.returncode == 0 and not warnings_in(created.stderr), created.stderr
    sa = f"system:serviceaccount:{ns}:rel-{SERVICE}"
    for verb, resource, where, allowed in (
        ("watch", f"widgets.{GROUP}", ns, "yes"), ("update", f"widgets.{GROUP}/status", ns, "yes"),
        ("update", f"widgets.{GROUP}/finalizers", ns, "yes"), ("delete", f"widgets.{GROUP}", ns, "no"),
        ("create", "configmaps", ns, "yes"), ("update", "leases.coordination.k8s.io", ns, "yes"),
        ("list", "secrets", ns, "no"), ("list", f"widgets.{GROUP}", "kube-system", "no"),
    ):
        got = kube_api.kubectl("auth", "can-i", verb, resource, "-n", where, "--as", sa, check=False).stdout.strip()
        assert got == allowed, (verb, resource, where, got)
    up = kube_api.helm("upgrade", "rel", str(chart_of(controller)), "-n", ns, "--set", "kubernetesClient.workers=3")
    assert not warnings_in(up.stderr), up.stderr


@pytest.mark.slow
def test_service_reconciles_as_the_charts_service_account(
        kube_api: APIServer, controller: Path, installed: str, tmp_path: Path) -> None:
    """The built binary with only the chart's RBAC: ready once its cache synced, takes the Lease, reconciles a
    Widget (ConfigMap written, status Ready with observedGeneration), cleans up on delete, stops on SIGTERM."""
    ns = installed
    binary = gen.go_build(controller, tmp_path / SERVICE)
    token = kube_api.kubectl("create", "token", f"rel-{SERVICE}", "-n", ns, "--duration=10m").stdout.strip()
    config = json.loads(kube_api.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    ports = gen.listeners()
    env = {**os.environ, **ports.env, "KUBECONFIG": str(kubeconfig), "WATCH_NAMESPACE": ns,
           "OTEL_TRACES_EXPORTER": "none", "DRAIN_DELAY": "0s", "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    widget = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Widget", "metadata": {"name": "w1", "namespace": ns},
              "spec": {"message": "hello"}}
    try:
        gen.wait_http(f"{ports.admin_url}/readyz", timeout=30)
        kube_api.kubectl("apply", "-f", "-", input=json.dumps(widget))
        deadline, status = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            status = kube_api.get_json(f"widgets.{GROUP}", "w1", "-n", ns).get("status", {})
            if status.get("observedGeneration") == 1 and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])):
                break
            time.sleep(0.2)
        assert status.get("observedGeneration") == 1, status
        assert kube_api.get_json("configmap", "w1", "-n", ns)["data"] == {"message": "hello"}
        lease = kube_api.get_json("lease", f"{SERVICE}-controller", "-n", ns)
        assert lease["spec"]["holderIdentity"]
        kube_api.kubectl("delete", f"widgets.{GROUP}", "w1", "-n", ns, "--timeout=30s")
        assert kube_api.kubectl("get", "configmap", "w1", "-n", ns, check=False).returncode != 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines()]  # every line JSON
    msgs = [ln["msg"] for ln in lines]
    assert msgs.index("controller cache synced") < msgs.index("widget cleaned up")
    assert msgs.index("controller stopped") < msgs.index("stopped")
    released = kube_api.get_json("lease", f"{SERVICE}-controller", "-n", ns)
    assert not released["spec"].get("holderIdentity"), released  # released on SIGTERM


# ----------------------------------------------------------------------------- gosmith update
@pytest.mark.slow
def test_update_switches_a_none_project_to_the_controller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = team_project(tmp_path, monkeypatch)
    assert not (project.path / "internal" / "kube").exists()
    chart_values = update_to(project, "controller")
    assert chart_values["kubernetesClient"]["leaderElection"] == {"enabled": True}
    for rel in ("internal/kube/widget_controller.go", "api/v1alpha1/zz_generated.deepcopy.go"):
        assert (project.path / rel).is_file(), rel
    assert (chart_of(project.path) / "crds" / "orders.example.com_widgets.yaml").is_file()
    assert (chart_of(project.path) / "files" / "role.yaml").is_file()
    assert_builds_as_controller(project.path)


@pytest.mark.slow
def test_update_switches_an_informer_project_to_the_controller(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """informer -> controller: the informer's own files go, the controller's come, the team's work stays, and
    the result builds and vets (no leftover informer code beside the controller's)."""
    project = team_project(tmp_path, monkeypatch, "-d", "kubernetes_client=informer")
    kube = project.path / "internal" / "kube"

    def names(flavor: str) -> set[str]:
        return {p.name.removesuffix(".jinja") for p in (ROOT / "template" / "internal" / flavor).iterdir()}

    informer_only = names("{% if kubernetes_client == 'informer' %}kube{% endif %}") - names(
        "{% if kubernetes_client == 'controller' %}kube{% endif %}")
    assert informer_only and informer_only <= {p.name for p in kube.iterdir()}
    update_to(project, "controller")
    left = informer_only & {p.name for p in kube.iterdir()}
    assert not left, f"informer files left beside the controller's: {sorted(left)}"
    assert (kube / "widget_controller.go").is_file()
    # the same files as a project generated as a controller (no informer chart template or test left behind)
    fresh = team_project(tmp_path / "fresh", monkeypatch, "-d", "kubernetes_client=controller").path

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}

    assert files(project.path) == files(fresh), (files(project.path) ^ files(fresh))
    assert_builds_as_controller(project.path)
    assert run(["gofmt", "-l", "."], project.path) == ""
    run(["go", "vet", "./..."], project.path, timeout=1500)


def assert_builds_as_controller(project: Path) -> None:
    """The updated project requires controller-runtime, is tidy, has no conflict left, and builds."""
    assert require("sigs.k8s.io/controller-runtime", (project / "go.mod").read_text()) == "v0.25.2"
    assert "<<<<<<<" not in (project / "internal" / "app" / "app.go").read_text()
    assert run(["go", "mod", "tidy", "-diff"], project) == ""
    run(["go", "build", "./..."], project, env={"CGO_ENABLED": "0"}, timeout=1500)
