"""The rendered project carries exactly what the tuning rules derive; impossible answers write nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from gen import ANSWER_SETS, PROJECTS, ROOT, Rendered, copy_project, have, render, run
from typer.testing import CliRunner

from gosmith.answers import resolve
from gosmith.cli import app
from gosmith.template import rules

tuning = rules().tuning

TUNING_SETS: dict[str, dict[str, Any]] = {
    "defaults": ANSWER_SETS["defaults"],
    "half-cpu": {
        "service_name": "tune-half",
        "cpu_request": "250m",
        "cpu_limit": "500m",
        "memory_request": "512Mi",
        "memory_limit": "512Mi",
        "slowest_request_seconds": 2.0,
        "proxy_idle_timeout_seconds": 350,
    },
    "prestop-hpa": {
        "service_name": "tune-hpa",
        "cpu_request": "1",
        "cpu_limit": "2500m",
        "gomaxprocs_policy": "ceil",
        "memory_request": "1Gi",
        "memory_limit": "2Gi",
        "gomemlimit_ratio": 0.8,
        "drain_mode": "prestop",
        "endpoint_propagation_seconds": 3.5,
        "startup_seconds": 40,
        "probe_timeout_seconds": 2,
        "hpa_enabled": True,
        "hpa_min_replicas": 3,
        "hpa_max_replicas": 12,
        "hpa_cpu_target_percent": 65,
        "termination_grace_period_seconds": 45,
    },
    "go-patch-single": {
        "service_name": "tune-patch",
        "go_version": "1.26.3",
        "cpu_request": "",
        "cpu_limit": "1500m",
        "memory_limit": "",
        "memory_request": "64Mi",
        "replicas": 1,
        "slowest_request_seconds": 0.25,
    },
}

#: Go config constant -> tuned.durations key.
GO_CONSTS = {
    "defaultReadHeaderTimeout": "read_header_timeout",
    "defaultReadTimeout": "read_timeout",
    "defaultWriteTimeout": "write_timeout",
    "defaultIdleTimeout": "idle_timeout",
    "defaultHandlerTimeout": "handler_timeout",
    "defaultDrainDelay": "drain_delay",
    "defaultShutdownTimeout": "shutdown_timeout",
    "defaultTelemetryFlushTimeout": "telemetry_flush_timeout",
    "defaultUpstreamTimeout": "upstream_timeout",
    "defaultUpstreamMargin": "upstream_margin",
}
#: values.yaml timeouts key -> tuned.durations key.
HELM_TIMEOUTS = {
    "readHeader": "read_header_timeout",
    "read": "read_timeout",
    "handler": "handler_timeout",
    "write": "write_timeout",
    "idle": "idle_timeout",
    "drainDelay": "drain_delay",
    "shutdown": "shutdown_timeout",
    "telemetryFlush": "telemetry_flush_timeout",
    "upstreamTimeout": "upstream_timeout",
    "upstreamMargin": "upstream_margin",
}


@pytest.fixture(scope="module", params=list(TUNING_SETS), ids=list(TUNING_SETS))
def tuned(request: pytest.FixtureRequest, rendered: Rendered) -> tuple[Path, Any]:
    """One answer set's project (rendered once per run; the defaults are shared with the other modules) and
    what derive() returns for the same answers."""
    answers = TUNING_SETS[request.param]
    name = request.param if request.param in PROJECTS else f"tuning-{request.param}"
    return rendered(name, answers), tuning.derive(resolve(answers))


def test_recorded_answers_rederive_the_same(tuned: tuple[Path, Any]) -> None:
    project, expected = tuned
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert tuning.derive(recorded).values == expected.values


def test_go_config_defaults_carry_their_formula(tuned: tuple[Path, Any]) -> None:
    """Each derived default of internal/config (durations.go, generated from the rule table) carries its formula
    and inputs in the comment right above it
    (the values themselves: test_go_config_loads_the_derived_durations loads them with Go)."""
    project, expected = tuned
    source = (project / "internal" / "config" / "durations.go").read_text()
    pairs = re.findall(r"^\s*// (.+)\n\s*(default\w+)\s*=", source, re.MULTILINE)
    by_const = {const: text for text, const in pairs}
    for const, key in GO_CONSTS.items():
        assert by_const.get(const) == expected.reasons[f"durations.{key}"], const


GO_PROBE = """package config

import (
	"encoding/json"
	"os"
	"testing"
)

func TestZZTunedDefaults(t *testing.T) {
	cfg, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{
		"read_header_timeout":     cfg.ReadHeaderTimeout.Milliseconds(),
		"read_timeout":            cfg.ReadTimeout.Milliseconds(),
		"handler_timeout":         cfg.HandlerTimeout.Milliseconds(),
		"write_timeout":           cfg.WriteTimeout.Milliseconds(),
		"idle_timeout":            cfg.IdleTimeout.Milliseconds(),
		"drain_delay":             cfg.DrainDelay.Milliseconds(),
		"shutdown_timeout":        cfg.ShutdownTimeout.Milliseconds(),
		"telemetry_flush_timeout": cfg.TelemetryFlushTimeout.Milliseconds(),
		"upstream_timeout":        cfg.UpstreamTimeout.Milliseconds(),
		"upstream_margin":         cfg.UpstreamMargin.Milliseconds(),
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("TUNED_OUT"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
"""


@pytest.mark.slow
@pytest.mark.skipif(not have("go"), reason="Go toolchain not installed")
def test_go_config_loads_the_derived_durations(tuned: tuple[Path, Any], tmp_path: Path) -> None:
    """The generated Go config, loaded with an empty environment, holds exactly the derived durations."""
    project, expected = tuned
    project = copy_project(project, tmp_path / project.name)  # the probe is a file of the project
    (project / "internal" / "config" / "zz_tuned_probe_test.go").write_text(GO_PROBE)
    out = tmp_path / "tuned.json"
    run(["go", "test", "-count=1", "-run", "TestZZTunedDefaults", "./internal/config/"], project,
        env={"TUNED_OUT": str(out), "CGO_ENABLED": "0"})  # fmt: skip
    assert json.loads(out.read_text()) == expected.values["durations_ms"]


def _values(project: Path) -> tuple[dict[str, Any], str]:
    path = project / "deploy" / "helm" / project.name / "values.yaml"
    if not path.is_file():
        pytest.skip("the Helm chart is not part of the template yet")
    text = path.read_text()
    return yaml.safe_load(text), text


def test_helm_values_equal_derive(tuned: tuple[Path, Any]) -> None:
    """values.yaml holds what is known at generation; what depends on deploy-time values is decided later.

    GOMAXPROCS/GOMEMLIMIT: the service derives them from its cgroup (policy and ratio passed, no literals);
    terminationGracePeriodSeconds and the PDB: the chart derives them from the values (0 / enabled = decide).
    """
    project, expected = tuned
    values, text = _values(project)
    v = expected.values
    answers = {**tuning.DEFAULTS, **TUNING_SETS[_set_name(project)]}
    assert {k: values["timeouts"][k] for k in HELM_TIMEOUTS} == {k: v["durations"][d] for k, d in HELM_TIMEOUTS.items()}
    assert values["runtime"] == {
        "gomaxprocsPolicy": answers["gomaxprocs_policy"], "gomemlimitRatio": str(answers["gomemlimit_ratio"]),
        "gomaxprocs": 0, "gomemlimit": "",
    }
    for kind in ("requests", "limits"):
        assert values["resources"][kind] == {k: x for k, x in v["resources"][kind].items() if x}
    for name in ("startup", "readiness", "liveness"):
        assert values["probes"][name] == v["probes"][name]
    # 0 = derived in the chart at deploy time; an explicit answer stays explicit.
    assert values["terminationGracePeriodSeconds"] == answers["termination_grace_period_seconds"]
    assert values["preStopSleepSeconds"] == v["prestop_sleep_seconds"]
    assert values["replicaCount"] == v["replicas"]
    assert values["autoscaling"] == v["hpa"]
    assert values["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": v["pdb"]["maxUnavailable"]}
    # The comments state the formulas (e.g. "# 460MiB = 0.9 x limits.memory 512Mi"), as what the generated values give.
    for key in ("gomemlimit", "gomaxprocs", "termination_grace_period_seconds", "durations.write_timeout"):
        assert expected.reasons[key] in text, key


def _set_name(project: Path) -> str:
    """Return the TUNING_SETS key a rendered project came from."""
    (name,) = [k for k, a in TUNING_SETS.items() if a["service_name"] == project.name]
    return name


@pytest.mark.skipif(not (ROOT / ".tools" / "bin" / "helm").exists() and not have("helm"), reason="helm not built")
def test_helm_template_deployment_carries_the_tuning(tuned: tuple[Path, Any]) -> None:
    project, expected = tuned
    _values(project)
    helm = str(ROOT / ".tools" / "bin" / "helm") if (ROOT / ".tools" / "bin" / "helm").exists() else "helm"
    chart = project / "deploy" / "helm" / project.name
    out = subprocess.run(
        [helm, "template", "rel", str(chart), "--kube-version", "1.31.0"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    v = expected.values
    answers = {**tuning.DEFAULTS, **TUNING_SETS[_set_name(project)]}
    # The template derives the grace period from the values with the rule's formula: the same number.
    assert spec["terminationGracePeriodSeconds"] == v["termination_grace_period_seconds"]
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    # No GOMAXPROCS/GOMEMLIMIT literals: the service derives them from its cgroup with the policy and ratio.
    assert "GOMEMLIMIT" not in env and "GOMAXPROCS" not in env
    assert env["GOMAXPROCS_POLICY"] == answers["gomaxprocs_policy"]
    assert env["GOMEMLIMIT_RATIO"] == str(answers["gomemlimit_ratio"])
    assert env["WRITE_TIMEOUT"] == v["durations"]["write_timeout"]
    assert env["DRAIN_DELAY"] == v["durations"]["drain_delay"]
    for name, field in (("startup", "startupProbe"), ("readiness", "readinessProbe"), ("liveness", "livenessProbe")):
        probe = container[field]
        assert {k: probe[k] for k in v["probes"][name]} == v["probes"][name]
    prestop = container.get("lifecycle", {}).get("preStop", {})
    if v["prestop_sleep_seconds"]:
        assert prestop == {"sleep": {"seconds": v["prestop_sleep_seconds"]}}
    else:
        assert not prestop
    kinds = {d["kind"] for d in docs}
    assert ("HorizontalPodAutoscaler" in kinds) == v["hpa"]["enabled"]
    pods = v["hpa"]["minReplicas"] if v["hpa"]["enabled"] else v["replicas"]  # the template decides on the floor
    assert ("PodDisruptionBudget" in kinds) == (pods >= 2)


# ----------------------------------------------------------------------------- impossible answers write nothing
IMPOSSIBLE = {
    "grace-too-small": {"termination_grace_period_seconds": 10},
    "request-above-limit": {"memory_request": "1Gi", "memory_limit": "512Mi"},
    "memory-too-small": {"memory_limit": "48Mi", "memory_request": "48Mi"},
    "hpa-without-request": {"hpa_enabled": True, "cpu_request": ""},
    "liveness-stricter": {"liveness_period_seconds": 5, "liveness_failure_threshold": 2},
}


@pytest.mark.parametrize("answers", list(IMPOSSIBLE.values()), ids=list(IMPOSSIBLE))
def test_impossible_answers_via_copier_api_leave_no_directory(tmp_path: Path, answers: dict[str, Any]) -> None:
    dst = tmp_path / "out" / "svc"
    with pytest.raises(Exception) as exc:  # copier re-raises what the context hook or a validator raised
        render(dst, {"service_name": "svc", **answers})
    from copier.errors import UserMessageError

    # a validator's ValueError, or the context hook's one-line UserMessageError
    assert isinstance(exc.value, (ValueError, UserMessageError)), exc.value
    assert not dst.exists()
    assert not (tmp_path / "out").exists()


def test_tuning_error_inside_copier_cli_leaves_no_directory(tmp_path: Path) -> None:
    """Plain `copier copy` (the user's own copier): the ContextHook's TuningError aborts and copier cleans up."""
    copier = Path(sys.executable).with_name("copier")
    dst = tmp_path / "svc"
    proc = subprocess.run(
        [str(copier), "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         "--data", "service_name=svc", "--data", "termination_grace_period_seconds=5", str(ROOT), str(dst)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "termination_grace_period_seconds 5 is too small" in proc.stderr.splitlines()[-1]
    assert "Traceback" not in proc.stderr  # copier prints the reason as one line
    assert not dst.exists()


@pytest.mark.parametrize("answers", list(IMPOSSIBLE.values()), ids=list(IMPOSSIBLE))
def test_impossible_answers_via_gosmith_new_exit_2_and_write_nothing(
    tmp_path: Path, answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = [arg for k, val in answers.items() for arg in ("--data", f"{k}={str(val).lower() if val is True else val}")]
    result = CliRunner().invoke(app, ["new", "svc", "--defaults", *data])
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1].startswith("error: ")
    assert not (tmp_path / "svc").exists()
    assert list(tmp_path.iterdir()) == []
