"""The generated Prometheus rules: one source rendered as deploy/prometheus/rules.yml and as the chart's
PrometheusRule (equal for the default values), `promtool check rules`, the shipped `promtool test rules`
unit tests (every alert fires and stays silent), a runbook section per alert, and the chart's switches."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import gen
import pytest
import yaml
from conftest import unavailable_tools

KUBE = "1.37.0"
PR_API = "monitoring.coreos.com/v1/PrometheusRule"
#: Answer sets: defaults (handler deadline 7.5s -> threshold 5s) and a fast service (deadline 1.3s -> 1s).
ANSWERS: dict[str, dict[str, Any]] = {
    "defaults": gen.ANSWER_SETS["defaults"],
    "fast": {"service_name": "orders-api", "module_path": "github.com/acme/orders-api",
             "slowest_request_seconds": 0.3, "service_monitor": False},
}
THRESHOLD = {"defaults": "5", "fast": "1"}
ALERTS = ["AvailabilityBudgetBurnFast", "AvailabilityBudgetBurnSlow", "LatencyBudgetBurnFast",
          "LatencyBudgetBurnSlow", "TargetDown", "PodNotReady", "ContainerRestarting", "CPUThrottled",
          "MemoryNearGOMEMLIMIT", "MemoryNearLimit", "LoadShedding"]


def tool(name: str) -> str:
    """Return the path of `name`, or skip with the reason scripts/tools.sh recorded."""
    found = shutil.which(name)
    if found is None:
        reason = unavailable_tools().get("prometheus", "run scripts/tools.sh")
        pytest.skip(f"{name} not on PATH: prometheus unavailable: {reason}")
    return found


def helm_bin() -> str:
    helm = gen.ROOT / ".tools" / "bin" / "helm"
    if not helm.exists():
        pytest.skip("helm not built: run scripts/tools.sh")
    return str(helm)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rules-projects")
    return {name: gen.render(base / name, answers) for name, answers in ANSWERS.items()}


def chart_of(project: Path) -> Path:
    (chart,) = (project / "deploy" / "helm").iterdir()
    return chart


def helm_template(chart: Path, *extra: str, api: bool = True, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = [helm_bin(), "template", "rel", str(chart), "--namespace", "shop", "--kube-version", KUBE, *extra]
    if api:
        args += ["--api-versions", PR_API]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def prometheus_rules(chart: Path, *extra: str) -> list[dict[str, Any]]:
    """Return the PrometheusRule objects `helm template` renders."""
    docs = [d for d in yaml.safe_load_all(helm_template(chart, *extra).stdout) if d]
    return [d for d in docs if d["kind"] == "PrometheusRule"]


def alerts_of(groups: list[dict[str, Any]]) -> list[str]:
    return [r["alert"] for g in groups for r in g["rules"] if "alert" in r]


def plain_rules(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / "deploy" / "prometheus" / "rules.yml").read_text())


def strings(node: Any, fn: Any) -> Any:
    """Apply `fn` to every string in a YAML tree."""
    if isinstance(node, dict):
        return {k: strings(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [strings(v, fn) for v in node]
    return fn(node) if isinstance(node, str) else node


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_chart_rules_equal_the_plain_rules_file(projects: dict[str, Path], answers: str) -> None:
    """The PrometheusRule with default values is rules.yml, but for the chart's selectors (namespace, release)."""
    project = projects[answers]
    name = ANSWERS[answers]["service_name"]
    (rule,) = prometheus_rules(chart_of(project), "--set", "prometheusRule.enabled=true")
    fullname = f"rel-{name}"

    def unscope(s: str) -> str:
        s = s.replace(f'job="{fullname}", namespace="shop"', f'job="{name}"')
        s = s.replace('namespace="shop", container=', "container=")
        return s.replace(f'namespace="shop", pod=~"{fullname}-', f'pod=~"{name}-')

    assert strings(rule["spec"], unscope) == plain_rules(project)
    assert alerts_of(rule["spec"]["groups"]) == ALERTS
    # the chart really scopes to its release: every service selector names the release's job and namespace
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all('namespace="shop"' in e for e in exprs if "{" in e)
    assert any(f'job="{fullname}"' in e for e in exprs)


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_latency_threshold_is_the_largest_bucket_within_the_handler_deadline(
        projects: dict[str, Path], answers: str) -> None:
    project = projects[answers]
    values = yaml.safe_load((chart_of(project) / "values.yaml").read_text())
    assert str(values["slo"]["latency"]["thresholdSeconds"]) == THRESHOLD[answers]
    text = (project / "deploy" / "prometheus" / "rules.yml").read_text()
    assert f'le=~"{THRESHOLD[answers]}(\\\\.0)?"' in text


@pytest.mark.parametrize("answers", list(ANSWERS))
def test_promtool_check_and_unit_tests(projects: dict[str, Path], answers: str, tmp_path: Path) -> None:
    """promtool accepts rules.yml and the chart's rules; the shipped unit tests pass."""
    promtool = tool("promtool")
    project = projects[answers]
    rules_dir = project / "deploy" / "prometheus"
    check = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=rules_dir, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 27 rules found" in check.stdout, check.stdout + check.stderr
    (rule,) = prometheus_rules(chart_of(project), "--set", "prometheusRule.enabled=true")
    (tmp_path / "chart-rules.yml").write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run([promtool, "check", "rules", "chart-rules.yml"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=rules_dir, capture_output=True, text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_unit_tests_cover_every_alert_firing_and_silent(projects: dict[str, Path]) -> None:
    tests = yaml.safe_load((projects["defaults"] / "deploy" / "prometheus" / "rules_test.yml").read_text())
    cases = [c for t in tests["tests"] for c in t["alert_rule_test"]]
    fires = {c["alertname"] for c in cases if c["exp_alerts"]}
    silent = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fires == set(ALERTS) and silent == set(ALERTS)


def test_unit_tests_fail_when_a_rule_breaks(projects: dict[str, Path], tmp_path: Path) -> None:
    """The unit tests have teeth: a wrong threshold or a misspelt metric makes promtool fail."""
    promtool = tool("promtool")
    src = projects["defaults"] / "deploy" / "prometheus"
    shutil.copy2(src / "rules_test.yml", tmp_path / "rules_test.yml")
    text = (src / "rules.yml").read_text()
    for broken in (text.replace("> 0.25", "> 0.6"), text.replace("go_memstats_sys_bytes{", "go_memstats_sys_byte{"),
                   text.replace('code=~"5.."', 'code=~"4..'),
                   text.replace("(14.4 *", "(1000 *").replace("(6 *", "(1000 *")):
        assert broken != text
        (tmp_path / "rules.yml").write_text(broken)
        proc = subprocess.run([promtool, "test", "rules", "rules_test.yml"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode != 0, broken


def test_every_alert_has_its_runbook_section(projects: dict[str, Path]) -> None:
    project = projects["defaults"]
    runbook = (project / "docs" / "runbook.md").read_text()
    sections = re.findall(r"^## (\w+)$", runbook, re.M)
    assert sections == ALERTS
    for group in plain_rules(project)["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                ann = rule["annotations"]
                assert ann["summary"] and ann["description"]
                assert ann["runbook_url"] == f"https://example.com/demo-svc/blob/main/docs/runbook.md#{rule['alert'].lower()}"


def test_prometheusrule_follows_its_switch_alone(projects: dict[str, Path]) -> None:
    """prometheusRule.enabled alone decides, whatever capabilities `helm template` is given (Argo CD passes
    only group/versions, plain CI rendering none)."""
    chart = chart_of(projects["defaults"])
    (rule,) = prometheus_rules(chart)
    for extra in (["--api-versions", "monitoring.coreos.com/v1"], []):
        docs = [d for d in yaml.safe_load_all(helm_template(chart, *extra, api=False).stdout) if d]
        assert [d for d in docs if d["kind"] == "PrometheusRule"] == [rule], extra
    assert prometheus_rules(chart, "--set", "prometheusRule.enabled=false") == []
    # the answer service_monitor=false turns the default off too
    assert prometheus_rules(chart_of(projects["fast"])) == []


def test_values_change_the_rules(projects: dict[str, Path]) -> None:
    chart = chart_of(projects["defaults"])
    (rule,) = prometheus_rules(chart, "--set", "slo.windows.pageFast.long=10m",
                               "--set", "slo.windows.pageFast.short=1m",
                               "--set-json", "slo.availability.objective=99.5",
                               "--set", "prometheusRule.labels.release=kps",
                               "--set-json", "slo.latency.thresholdSeconds=0.25")
    text = "\n".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    assert "[10m]" in text and "[1m]" in text and "(14.4 * (100 - 99.5) / 100)" in text
    assert 'le=~"0.25(\\\\.0)?"' in text
    assert rule["metadata"]["labels"]["release"] == "kps"


@pytest.mark.parametrize("bad", [
    ["--set", "slo.availability.objective=100"],
    ["--set", "slo.availability.objective=80"],
    ["--set", "slo.latency.thresholdSeconds=3"],
    ["--set", "slo.windows.pageFast.long=1x"],
    ["--set", "slo.windows.pageFast.burnRate=0"],
    ["--set", "prometheusRule.memoryRatio=1.5"],
    ["--set", "prometheusRule.runbookUrl=not a url"],
    ["--set", "slo.nope=1"],
    ["--set", "slo.windows.pageFast.short=2h"],  # not shorter than the long window (1h)
    ["--set", "slo.windows.ticketSlow.short=3d"],
])
def test_bad_slo_values_fail_the_render(projects: dict[str, Path], bad: list[str]) -> None:
    proc = helm_template(chart_of(projects["defaults"]), *bad, check=False)
    assert proc.returncode != 0
    key = bad[1].split("=")[0].split(".")[-1]
    assert key in proc.stderr or "slo" in proc.stderr, proc.stderr
