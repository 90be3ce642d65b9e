"""kubernetes_client=informer (issue 16): a client-go informer service, generated, built, tested and deployed for real.

The answer's files appear only in the informer flavor (the none flavor's go.mod stays without client-go);
the generated Go passes gofmt, vet, build, golangci-lint and `go test -race` with its envtest tests
running against the kube-apiserver + etcd the suite builds (scripts/kube-tools.sh); the chart gives the
pods read access to ConfigMaps (token, Role, RoleBinding, API-server egress) and installs under
PodSecurity `restricted` on the suite's API server, where the built service runs as the chart's
ServiceAccount; `gosmith update -d kubernetes_client=informer` switches a `none` project and keeps edits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gen
import k8s_checks as kc
import pytest
import yaml
from apiserver import APIServer
from gen import ROOT, render, run
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
INFORMER: dict[str, Any] = {
    "service_name": "cm-watcher",
    "module_path": "github.com/acme/cm-watcher",
    "kubernetes_client": "informer",
}
#: The informer with every other answer that changes Go files or modules flipped.
INFORMER_ALL: dict[str, Any] = {
    "service_name": "cm-edge",
    "kubernetes_client": "informer",
    "otlp_protocol": "http",
    "b3_propagation": True,
    "hot_reload": True,
    "go_version": "1.26.5",
}
#: The module versions the informer flavor pins.
K8S_MODULES = {
    "k8s.io/client-go": "v0.37.2",
    "k8s.io/api": "v0.37.2",
    "k8s.io/apimachinery": "v0.37.2",
    "sigs.k8s.io/controller-runtime": "v0.25.2",
}
#: The generated tests that need a real API server (envtest).
ENVTEST_TESTS = {"TestInformerAgainstAPIServer", "TestReadyzWaitsForTheInformerCache", "TestRunServesAndStops"}


@pytest.fixture(scope="module")
def informer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("informer") / "cm-watcher", INFORMER)


@pytest.fixture(scope="module")
def informer_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("informer-all") / "cm-edge", INFORMER_ALL)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(tmp_path_factory.mktemp("plain") / "plain-svc", {"service_name": "plain-svc"})


# ----------------------------------------------------------------------------- the answer
def test_answer_is_a_choice_of_the_rule_table(tmp_path: Path) -> None:
    settings = rules().settings
    s = settings.BY_NAME["kubernetes_client"]
    assert (s.default, s.choices) == ("none", ("none", "informer", "controller"))
    assert settings.check("kubernetes_client", "informer") == ""
    assert settings.check("kubernetes_client", "controller") == ""
    assert settings.check("kubernetes_client", "operator") == (
        "kubernetes_client must be one of none, informer, controller, got 'operator'")
    with pytest.raises(ValueError, match=r"kubernetes_client.*operator"):
        render(tmp_path / "p", {"service_name": "x", "kubernetes_client": "operator"})
    assert not (tmp_path / "p").exists()


def test_none_flavor_has_no_kubernetes_client(plain: Path) -> None:
    """The default flavor: no client-go module, no kube package, no API access in the chart."""
    gomod, gosum = (plain / "go.mod").read_text(), (plain / "go.sum").read_text()
    assert "k8s.io" not in gomod + gosum
    assert not (plain / "internal" / "kube").exists()
    config = (plain / "internal" / "config" / "config.go").read_text()
    assert "Kube Kube" not in config and "p.kube()" not in config
    stub = (plain / "internal" / "app" / "kube.go").read_text()
    assert "kubernetes_client none" in stub and "k8s.io" not in stub
    chart = chart_of(plain)
    assert "kubernetesClient" not in yaml.safe_load((chart / "values.yaml").read_text())
    assert not (chart / "templates" / "rbac.yaml").exists()
    assert not (chart / "ci" / "kubernetes-client-values.yaml").exists()
    for rel in (".github/workflows/ci.yml", "Makefile", "README.md"):
        text = (plain / rel).read_text()
        assert "envtest" not in text and "KUBEBUILDER_ASSETS" not in text, rel


def test_informer_flavor_files(informer: Path) -> None:
    gomod = (informer / "go.mod").read_text()
    for module, version in K8S_MODULES.items():
        assert require(module, gomod) == version, module
    for rel in ("internal/kube/controller.go", "internal/kube/client.go", "internal/kube/metrics.go",
                "internal/kube/reconcile.go", "internal/kube/logr.go", "internal/kube/kubetest/kubetest.go",
                "internal/kube/envtest_test.go", "internal/kube/controller_test.go", "internal/config/kube.go",
                "internal/config/kube_test.go", "internal/app/kube.go", "internal/app/kube_test.go"):
        assert (informer / rel).is_file(), rel
    assert not list(informer.rglob("*.jinja"))
    # envtest is a test dependency only: no production package imports it.
    for path in informer.rglob("*.go"):
        if not path.name.endswith("_test.go") and "kubetest" not in path.parts:
            assert "\"sigs.k8s.io/controller-runtime" not in path.read_text(), path
    ci = yaml.safe_load((informer / ".github" / "workflows" / "ci.yml").read_text())
    steps = ci["jobs"]["test"]["steps"]
    names = [s.get("name", "") for s in steps]
    envtest = next(i for i, n in enumerate(names) if "setup-envtest" in n)
    test = names.index("Test")
    assert envtest < test and "KUBEBUILDER_ASSETS" in steps[envtest]["run"]
    assert steps[test]["env"] == {"KUBE_CACHE_MUTATION_DETECTOR": "true"}
    makefile = (informer / "Makefile").read_text()
    assert "setup-envtest@v0.25.1" in makefile and re.search(r"(?m)^envtest: ## ", makefile)
    assert "| `make envtest` |" in (informer / "README.md").read_text()


def test_ci_workflow_passes_actionlint(informer: Path) -> None:
    actionlint = str(gen.actionlint_binary())  # built once from the Go module proxy when missing
    shellcheck = shutil.which("shellcheck") or ""
    proc = subprocess.run([actionlint, "-no-color", "-shellcheck", shellcheck, ".github/workflows/ci.yml"],
                          cwd=informer, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The README table of the variables the service reads, against the code (the informer flavor's rows).
_TABLE = re.compile(r"<!-- env-vars:begin -->\n(.*?)<!-- env-vars:end -->", re.S)
_GETENV = re.compile(r"[Gg]etenv\(\s*\"([A-Z][A-Z0-9_]*)\"\s*\)")
_CONFIG_READ = re.compile(r"\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"\s*,\s*(\w+)\s*\)")
_CONST = re.compile(r"^\s*(\w+)\s*=\s*(\"[^\"]*\"|\d+)", re.M)


def test_readme_documents_the_informer_variables(informer: Path) -> None:
    m = _TABLE.search((informer / "README.md").read_text())
    assert m
    table = {c[0].strip("`"): c[1] for c in
             ([x.strip() for x in row.strip("|").split("|")] for row in m[1].splitlines() if row.startswith("| `"))}
    sources = [p for p in informer.rglob("*.go") if not p.name.endswith("_test.go") and "kubetest" not in p.parts]
    read: set[str] = set()
    for p in sources:
        read |= set(_GETENV.findall(p.read_text()))
        if p.parent.name == "config":
            read |= {name for name, _ in _CONFIG_READ.findall(p.read_text())}
    new = {"KUBECONFIG", "HOME", "WATCH_NAMESPACE", "WATCH_LABEL_SELECTOR", "KUBE_WORKERS", "KUBE_RESYNC_PERIOD"}
    assert new <= read, sorted(new - read)
    assert read <= set(table), f"read but not in the README: {sorted(read - set(table))}"
    kube_go = (informer / "internal" / "config" / "kube.go").read_text()
    consts = {name: value.strip('"') for name, value in _CONST.findall(kube_go)}
    checked = 0
    for name, const in _CONFIG_READ.findall(kube_go):
        if const in consts:
            assert f"`{consts[const]}`" in table[name], (name, table[name], consts[const])
            checked += 1
    assert checked == 3


# ----------------------------------------------------------------------------- the chart
def test_chart_gives_the_informer_read_access(informer: Path) -> None:
    chart = chart_of(informer)
    for values in ("", "ci/kubernetes-client-values.yaml"):
        helm("lint", "--strict", ".", *(["-f", values] if values else []), cwd=chart)
    objs = template(chart)
    sa = kc.one(objs, "ServiceAccount")
    deploy = kc.one(objs, "Deployment")
    spec = kc.pod_template(deploy)["spec"]
    assert sa["automountServiceAccountToken"] is True and spec["automountServiceAccountToken"] is True
    problems = [p for p in kc.check_restricted_pss(spec, "deployment") if "automountServiceAccountToken" not in p]
    assert problems == []
    role, binding = kc.one(objs, "Role"), kc.one(objs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "shop"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "shop"}]
    env = kc.env_of(spec["containers"][0])
    assert (env["WATCH_NAMESPACE"], env["WATCH_LABEL_SELECTOR"], env["KUBE_WORKERS"], env["KUBE_RESYNC_PERIOD"]) == (
        "shop", "app.kubernetes.io/part-of=cm-watcher", "2", "10m")
    assert api_egress(objs, "172.18.0.2", 6443) and api_egress(objs, "52.1.2.3", 443)
    assert not api_egress(objs, "52.1.2.3", 80)

    # Another watched namespace and the control plane's addresses only.
    objs = template(chart, "-f", "ci/kubernetes-client-values.yaml")
    role, binding = kc.one(objs, "Role"), kc.one(objs, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "platform-config"
    assert binding["subjects"][0]["namespace"] == "shop"
    env = kc.env_of(kc.pod_template(kc.one(objs, "Deployment"))["spec"]["containers"][0])
    assert (env["WATCH_NAMESPACE"], env["KUBE_WORKERS"], env["KUBE_RESYNC_PERIOD"]) == ("platform-config", "4", "0s")
    assert api_egress(objs, "10.0.0.9", 6443) and api_egress(objs, "172.20.0.10", 6443)
    assert not api_egress(objs, "10.0.0.9", 443) and not api_egress(objs, "10.0.0.17", 6443)

    # Switched off: no token, no Role, no egress to the API server (as in a chart without the client).
    objs = template(chart, "--set", "kubernetesClient.enabled=false")
    assert kc.one(objs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert kc.pod_template(kc.one(objs, "Deployment"))["spec"]["automountServiceAccountToken"] is False
    assert not kc.by_kind(objs, "Role") and not kc.by_kind(objs, "RoleBinding")
    assert not api_egress(objs, "172.18.0.2", 6443)


def test_chart_without_the_client_keeps_the_token_unmounted(plain: Path) -> None:
    objs = template(chart_of(plain))
    assert kc.one(objs, "ServiceAccount")["automountServiceAccountToken"] is False
    assert kc.pod_template(kc.one(objs, "Deployment"))["spec"]["automountServiceAccountToken"] is False
    assert not kc.by_kind(objs, "Role") and "WATCH_NAMESPACE" not in json.dumps(objs)


BAD_VALUES = {
    "no workers": (["--set", "kubernetesClient.workers=0"], "workers"),
    "too many workers": (["--set", "kubernetesClient.workers=65"], "workers"),
    "resync below 1s": (["--set", "kubernetesClient.resyncPeriod=10ms"],
                        "kubernetesClient.resyncPeriod must be 0s (never) or at least 1s, got 10ms"),
    "negative resync": (["--set", "kubernetesClient.resyncPeriod=-1m"], "resyncPeriod"),
    "resync without unit": (["--set", "kubernetesClient.resyncPeriod=10"], "resyncPeriod"),
    "empty selector": (["--set", "kubernetesClient.labelSelector="], "labelSelector"),
    "bad namespace": (["--set", "kubernetesClient.watchNamespace=Config_NS"], "watchNamespace"),
    "host bits in the CIDR": (["--set", "kubernetesClient.apiServer.cidrs[0]=10.0.0.1/8"],
                              "kubernetesClient.apiServer.cidrs[0]"),
    "no port": (["--set-json", "kubernetesClient.apiServer.ports=[]"], "ports"),
    "unknown key": (["--set", "kubernetesClient.qps=50"], "qps"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_chart_rejects_bad_client_values(informer: Path, case: str) -> None:
    extra, needle = BAD_VALUES[case]
    proc = helm("template", "rel", ".", *extra, cwd=chart_of(informer), check=False)
    assert proc.returncode != 0 and needle in proc.stderr, proc.stderr


def test_client_values_are_documented(informer: Path) -> None:
    """Every kubernetesClient key has a helm-docs `# --` comment (or only documented children)."""
    lines = (chart_of(informer) / "values.yaml").read_text().splitlines()
    start = lines.index("kubernetesClient:")
    block = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        block.append(line)
    previous = ""
    for line in block:
        m = re.match(r"^(\s+)([A-Za-z]+):(.*)$", line)
        if m and m[3].strip() and m[2] != "apiServer":
            assert previous.strip().startswith("# --"), f"kubernetesClient.{m[2]} has no `# --` comment"
        if m and m[2] in ("cidrs", "ports"):
            assert previous.strip().startswith("# --"), m[2]
        previous = line


# ----------------------------------------------------------------------------- the Go code
@pytest.fixture(scope="module", params=["informer", "informer_all"])
def variant(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue(request.param)


@pytest.mark.slow
def test_go_mod_tidy_changes_nothing(variant: Path) -> None:
    assert run(["go", "mod", "tidy", "-diff"], variant) == ""


@pytest.mark.slow
def test_gofmt_vet_build(variant: Path, tmp_path: Path) -> None:
    assert run(["gofmt", "-l", "."], variant).strip() == ""
    for tags in ([], ["-tags", "pprof"]):
        run(["go", "vet", *tags, "./..."], variant, timeout=1500)
        run(["go", "build", *tags, "-o", f"{tmp_path}/", "./..."], variant, env={"CGO_ENABLED": "0"}, timeout=1500)


def go_test_events(project: Path, *args: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Run `go test -json` and return its events; fail with the output of failed tests."""
    proc = subprocess.run(["go", "test", "-json", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=1800)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    failed = {(e["Package"], e.get("Test")) for e in events if e["Action"] == "fail"}
    if proc.returncode != 0 or failed:
        output = "".join(e.get("Output", "") for e in events if (e["Package"], e.get("Test")) in failed)
        raise AssertionError(f"go test failed: {sorted(failed, key=str)}\n{output[-20000:]}\n{proc.stderr[-5000:]}")
    return events


@pytest.mark.slow
def test_go_test_race_against_a_real_api_server(variant: Path) -> None:
    """The generated tests, race detector and client-go's cache mutation detector on, envtest binaries from
    the suite's own build: the envtest tests run (none is skipped) and pass."""
    events = go_test_events(variant, "-race", "-count=1", "./...",
                            env={"KUBEBUILDER_ASSETS": kube_assets(), "KUBE_CACHE_MUTATION_DETECTOR": "true"})
    outcome = {e["Test"]: e["Action"] for e in events if e.get("Test") and e["Action"] in ("pass", "skip")}
    assert {t: outcome.get(t) for t in ENVTEST_TESTS} == dict.fromkeys(ENVTEST_TESTS, "pass")
    for test in ("TestWorkerReadsTheCacheNotTheEvent", "TestFailuresAreRetriedWithBackoff", "TestPanicIsAFailure",
                 "TestExampleReconcilerLeavesTheCacheAlone", "TestKubeDefaults", "TestKubeRejects"):
        assert outcome.get(test) == "pass", test
    packages = {e["Package"].rsplit("/", 1)[-1] for e in events if e["Action"] == "pass" and not e.get("Test")}
    assert {"kube", "app", "config", "server", "metrics"} <= packages


@pytest.mark.slow
def test_envtest_tests_skip_with_a_reason_without_assets(informer: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBEBUILDER_ASSETS"}
    proc = subprocess.run(["go", "test", "-count=1", "-v", "-run", "TestInformerAgainstAPIServer|TestReadyzWaits",
                           "./internal/kube/", "./internal/app/"], cwd=informer, capture_output=True, text=True,
                          env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("--- SKIP") == 2, proc.stdout
    assert "KUBEBUILDER_ASSETS is unset: this test needs a real kube-apiserver and etcd" in proc.stdout


@pytest.mark.slow
def test_golangci_lint_finds_nothing(informer: Path) -> None:
    lint = TOOLS_BIN / "golangci-lint"
    if not lint.exists():
        pytest.skip("golangci-lint missing: run scripts/tools.sh")
    for extra in ([], ["--build-tags=pprof"]):
        out = run([str(lint), "run", "--allow-serial-runners", "--max-issues-per-linter=0", *extra, "./..."],
                  informer, timeout=1800)
        assert "0 issues" in out, out


# ----------------------------------------------------------------------------- on the suite's API server
_counter = iter(range(10_000))


@pytest.mark.slow
def test_chart_installs_under_restricted_and_grants_only_reads(kube_api: APIServer, informer: Path) -> None:
    """Install, upgrade and uninstall (defaults and the ci values) with no warnings; the Pod the
    ReplicaSet would create is admitted; the ServiceAccount may read ConfigMaps and nothing else."""
    chart = chart_of(informer)
    for values in ("", "ci/kubernetes-client-values.yaml"):
        ns = kube_api.restricted_namespace(f"kube{next(_counter)}")
        extra = ["-f", str(chart / values)] if values else []
        watched = ns
        if values:
            watched = "platform-config"
            kube_api.kubectl("create", "namespace", watched, check=False)
        manifest = kube_api.helm("template", "rel", str(chart), "--namespace", ns, *extra).stdout
        # the Role and RoleBinding name their namespace (the watched one); everything else is the release's
        docs = [d for d in yaml.safe_load_all(manifest) if d]
        for d in docs:
            d["metadata"].setdefault("namespace", ns)
        dry = kube_api.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                               input=yaml.safe_dump_all(docs), check=False)
        assert dry.returncode == 0 and not warnings_in(dry.stderr), dry.stdout + dry.stderr
        install = kube_api.helm("install", "rel", str(chart), "-n", ns, *extra)
        assert "STATUS: deployed" in install.stdout and not warnings_in(install.stderr), install.stderr
        (deploy,) = [d for d in docs if d["kind"] == "Deployment"]
        tmpl = deploy["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "informer-probe", "namespace": ns, "labels": tmpl["metadata"]["labels"]},
               "spec": tmpl["spec"]}
        created = kube_api.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
        assert created.returncode == 0 and not warnings_in(created.stderr), created.stderr

        sa = f"system:serviceaccount:{ns}:rel-cm-watcher"
        for verb, resource, where, allowed in (
            ("list", "configmaps", watched, "yes"), ("watch", "configmaps", watched, "yes"),
            ("get", "configmaps", watched, "yes"), ("update", "configmaps", watched, "no"),
            ("list", "secrets", watched, "no"), ("list", "configmaps", "kube-system", "no"),
        ):
            got = kube_api.kubectl("auth", "can-i", verb, resource, "-n", where, "--as", sa, check=False).stdout.strip()
            assert got == allowed, (values, verb, resource, where, got)

        up = kube_api.helm("upgrade", "rel", str(chart), "-n", ns, *extra, "--set", "kubernetesClient.workers=3")
        assert not warnings_in(up.stderr), up.stderr
        kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
        left = kube_api.kubectl("get", "roles,rolebindings", "-n", watched, "-l", "app.kubernetes.io/instance=rel",
                                "-o", "name").stdout
        assert left.strip() == "", left
        kube_api.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.fixture(scope="module")
def binary(informer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gen.go_build(informer, tmp_path_factory.mktemp("bin") / "cm-watcher")


@pytest.fixture
def service_account_kubeconfig(kube_api: APIServer, informer: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The chart installed in a fresh restricted namespace; a kubeconfig that authenticates as its ServiceAccount."""
    ns = kube_api.restricted_namespace(f"kube{next(_counter)}")
    kube_api.helm("install", "rel", str(chart_of(informer)), "-n", ns)
    token = kube_api.kubectl("create", "token", "rel-cm-watcher", "-n", ns, "--duration=10m").stdout.strip()
    config = json.loads(kube_api.kubeconfig.read_text())
    config["users"] = [{"name": "admin", "user": {"token": token}}]
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    yield ns, path
    kube_api.helm("uninstall", "rel", "-n", ns, "--wait")
    kube_api.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.mark.slow
def test_service_runs_as_the_charts_service_account(kube_api: APIServer, binary: Path,
                                                     service_account_kubeconfig: tuple[str, Path]) -> None:
    """The built binary, with only the chart's RBAC: ready once its cache synced, a labelled ConfigMap
    reaches its worker (an unlabelled one does not), every line it writes is JSON, SIGTERM stops it."""
    ns, kubeconfig = service_account_kubeconfig
    ports = gen.listeners()
    env = {**os.environ, **ports.env, "KUBECONFIG": str(kubeconfig), "WATCH_NAMESPACE": ns,
           "OTEL_TRACES_EXPORTER": "none", "DRAIN_DELAY": "0s", "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        gen.wait_http(f"{ports.admin_url}/readyz", timeout=30)
        labelled = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "flags", "namespace": ns,
                                 "labels": {"app.kubernetes.io/part-of": "cm-watcher"}},
                    "data": {"beta": " on "}}
        kube_api.kubectl("apply", "-f", "-", input=json.dumps(labelled))
        kube_api.kubectl("create", "configmap", "unrelated", "-n", ns, "--from-literal=a=b")
        deadline = time.monotonic() + 20
        metrics = ""
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{ports.admin_url}/metrics", timeout=5) as resp:
                metrics = resp.read().decode()
            if 'app_reconcile_total{queue="configmaps",result="success"} 1' in metrics:
                break
            time.sleep(0.1)
        assert 'app_reconcile_total{queue="configmaps",result="success"} 1' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines()]  # every line JSON
    reconciled = [ln for ln in lines if ln["msg"] == "configmap reconciled"]
    assert [(ln["name"], ln["keys"], ln["bytes"]) for ln in reconciled] == [("flags", ["beta"], 2)]
    watching = next(ln for ln in lines if ln["msg"] == "watching configmaps")
    assert watching["namespace"] == ns and watching["config_source"] == "KUBECONFIG"
    msgs = [ln["msg"] for ln in lines]
    assert msgs.index("informer cache synced") < msgs.index("configmap reconciled")
    assert msgs.index("shutting down") < msgs.index("informer stopped") < msgs.index("stopped")


# ----------------------------------------------------------------------------- gosmith update
@pytest.mark.slow
def test_update_switches_a_none_project_to_the_informer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = team_project(tmp_path, monkeypatch)
    assert not (project.path / "internal" / "kube").exists()
    chart_values = update_to(project, "informer")
    assert chart_values["kubernetesClient"]["enabled"] is True
    assert (project.path / "internal" / "kube" / "controller.go").is_file()
    assert (chart_of(project.path) / "templates" / "rbac.yaml").is_file()
    gomod = (project.path / "go.mod").read_text()
    assert require("k8s.io/client-go", gomod) == "v0.37.2"
    assert "<<<<<<<" not in (project.path / "internal" / "app" / "app.go").read_text()
    assert run(["go", "mod", "tidy", "-diff"], project.path) == ""
    run(["go", "build", "./..."], project.path, env={"CGO_ENABLED": "0"}, timeout=1500)
    run(["go", "vet", "./internal/..."], project.path, timeout=1500)
