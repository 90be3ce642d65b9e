"""One case table, three evaluators: Python (`gosmith tune --json`), Helm (the chart) and Go (the service).

tests/data/tuning_cases.yaml lists answers -> derived values (GOMAXPROCS, GOMEMLIMIT, the server
durations, DRAIN_DELAY, the preStop sleep and terminationGracePeriodSeconds). Each evaluator must
produce exactly those values; a property test adds random valid answers and requires the three
evaluators to agree with each other. Any disagreement fails.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import gen
import k8s_checks as kc
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gosmith.cli import app
from gosmith.template import rules

CASES: list[dict[str, Any]] = yaml.safe_load((gen.ROOT / "tests" / "data" / "tuning_cases.yaml").read_text())
IDS = [c["name"] for c in CASES]
TOOLS_BIN = gen.ROOT / ".tools" / "bin"
HELMS = ["helm", "helm3"]
KUBE = "1.37.0"  # native preStop sleep available
DEFAULTS = rules().tuning.DEFAULTS
q = rules().quantities
#: duration key -> (values key under `timeouts`, env var)
DURATIONS = {
    "read_header_timeout": ("readHeader", "READ_HEADER_TIMEOUT"),
    "read_timeout": ("read", "READ_TIMEOUT"),
    "handler_timeout": ("handler", "HANDLER_TIMEOUT"),
    "write_timeout": ("write", "WRITE_TIMEOUT"),
    "idle_timeout": ("idle", "IDLE_TIMEOUT"),
    "drain_delay": ("drainDelay", "DRAIN_DELAY"),
    "shutdown_timeout": ("shutdown", "SHUTDOWN_TIMEOUT"),
    "telemetry_flush_timeout": ("telemetryFlush", "TELEMETRY_FLUSH_TIMEOUT"),
    "upstream_timeout": ("upstreamTimeout", "UPSTREAM_TIMEOUT"),
    "upstream_margin": ("upstreamMargin", "UPSTREAM_MARGIN"),
}


def answer(answers: dict[str, Any], name: str) -> Any:
    return answers.get(name, DEFAULTS[name])


def text(value: Any) -> str:
    """An answer as `-d`/`--set-string` text (YAML floats like 2.0 stay '2.0', 0.875 stays '0.875')."""
    return str(value)


def ms(duration: str) -> int:
    """Milliseconds of the duration strings the rules write ('15s', '7500ms', '0s')."""
    m = re.fullmatch(r"(\d+)(ms|s)", duration)
    assert m, duration
    return int(m[1]) * (1 if m[2] == "ms" else 1000)


def mib_bytes(gomemlimit: str) -> int:
    """Bytes of a GOMEMLIMIT string the rules write ('460MiB'); '' (unset) is 0."""
    return int(gomemlimit.removesuffix("MiB")) * q.MI if gomemlimit else 0


def expected_of(values: dict[str, Any]) -> dict[str, Any]:
    """The case-table view of a `tune --json` values object."""
    return {
        "gomaxprocs": values["gomaxprocs"],
        "gomemlimit": values["gomemlimit"],
        "durations": values["durations"],
        "termination_grace_period_seconds": values["termination_grace_period_seconds"],
        "prestop_sleep_seconds": values["prestop_sleep_seconds"],
    }


# ----------------------------------------------------------------------------- (a) Python, through the CLI
def python_eval(answers: dict[str, Any]) -> dict[str, Any]:
    args = [a for k, v in answers.items() for a in ("-d", f"{k}={text(v)}")]
    result = CliRunner().invoke(app, ["tune", "--json", *args])
    assert result.exit_code == 0, result.stderr
    return expected_of(json.loads(result.stdout)["values"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_python_matches_the_case_table(case: dict[str, Any]) -> None:
    assert python_eval(case["answers"]) == case["expect"]


def test_case_table_covers_every_policy_drain_mode_and_limit_shape() -> None:
    seen = {(answer(c["answers"], "gomaxprocs_policy"), bool(answer(c["answers"], "cpu_limit"))) for c in CASES}
    assert {("floor", True), ("ceil", True), ("go", True), ("floor", False)} <= seen
    assert {answer(c["answers"], "drain_mode") for c in CASES} == {"app", "prestop"}
    assert {c["expect"]["gomemlimit"] == "" for c in CASES} == {True, False}
    assert any(c["answers"].get("termination_grace_period_seconds") for c in CASES)


# ----------------------------------------------------------------------------- (b) Helm
@pytest.fixture(scope="module")
def project(rendered: gen.Rendered) -> Path:
    """The generated project with default answers (shared): its chart and its Go packages evaluate every case."""
    return rendered("defaults")


def helm_args(answers: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """--set overrides for a case: resources, policy, ratio from its answers; durations, preStop from the table."""
    args: list[str] = []
    for kind, cpu, mem in (("requests", "cpu_request", "memory_request"), ("limits", "cpu_limit", "memory_limit")):
        for res, name in (("cpu", cpu), ("memory", mem)):
            if value := answer(answers, name):
                args += ["--set-string", f"resources.{kind}.{res}={value}"]
            elif DEFAULTS[name]:  # drop what the default project's values.yaml sets (null deletes a key)
                args += ["--set", f"resources.{kind}.{res}=null"]
    args += ["--set-string", f"runtime.gomaxprocsPolicy={answer(answers, 'gomaxprocs_policy')}",
             "--set-string", f"runtime.gomemlimitRatio={text(answer(answers, 'gomemlimit_ratio'))}"]
    for key, (value_key, _) in DURATIONS.items():
        args += ["--set-string", f"timeouts.{value_key}={expect['durations'][key]}"]
    args += ["--set", f"preStopSleepSeconds={expect['prestop_sleep_seconds']}",
             "--set", f"terminationGracePeriodSeconds={answer(answers, 'termination_grace_period_seconds')}"]
    return args


def helm_eval(tool: str, chart: Path, answers: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
    """Render the chart with the case and return what the Deployment says, in case-table form."""
    proc = subprocess.run([str(TOOLS_BIN / tool), "template", "rel", ".", "--kube-version", KUBE,
                           *helm_args(answers, expect)], cwd=chart, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    objs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    spec = kc.pod_template(kc.one(objs, "Deployment"))["spec"]
    container = spec["containers"][0]
    env = kc.env_of(container)
    # The chart passes the rule, never a literal derived from resources: the service derives both.
    assert "GOMAXPROCS" not in env and "GOMEMLIMIT" not in env, env
    assert env["GOMAXPROCS_POLICY"] == answer(answers, "gomaxprocs_policy")
    assert env["GOMEMLIMIT_RATIO"] == text(answer(answers, "gomemlimit_ratio"))
    limits = container["resources"].get("limits", {})
    assert limits.get("cpu", "") == answer(answers, "cpu_limit")
    assert limits.get("memory", "") == answer(answers, "memory_limit")
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    return {
        "durations": {key: env[var] for key, (_, var) in DURATIONS.items()},
        "termination_grace_period_seconds": spec["terminationGracePeriodSeconds"],
        "prestop_sleep_seconds": sleep,
    }


def helm_view(expect: dict[str, Any]) -> dict[str, Any]:
    return {k: expect[k] for k in ("durations", "termination_grace_period_seconds", "prestop_sleep_seconds")}


@pytest.mark.parametrize("tool", HELMS)
def test_helm_matches_the_case_table(project: Path, tool: str) -> None:
    if not (TOOLS_BIN / tool).is_file():
        pytest.skip(f"{tool} not built: run scripts/tools.sh")
    chart = project / "deploy" / "helm" / project.name
    for case in CASES:
        assert helm_eval(tool, chart, case["answers"], case["expect"]) == helm_view(case["expect"]), case["name"]


# ----------------------------------------------------------------------------- (c) Go
GO_TEST = """package crosscheck_test

// Written by tests/test_cross_evaluators.py: evaluates cases with the service's own packages.

import (
	"encoding/json"
	"os"
	"testing"

	"MODULE/internal/config"
	"MODULE/internal/limits"
)

type input struct {
	Name        string            `json:"name"`
	CPUMillis   int64             `json:"cpu_millis"`
	MemoryBytes int64             `json:"memory_bytes"`
	Policy      string            `json:"policy"`
	Ratio       string            `json:"ratio"`
	Env         map[string]string `json:"env"`
}

type output struct {
	Name       string           `json:"name"`
	GOMAXPROCS int              `json:"gomaxprocs"`
	GOMEMLIMIT int64            `json:"gomemlimit"`
	Durations  map[string]int64 `json:"durations_ms"`
	Error      string           `json:"error"`
}

func TestCrossCheck(t *testing.T) {
	data, err := os.ReadFile(os.Getenv("CROSSCHECK_IN"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []input
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	outs := []output{}
	for _, c := range cases {
		cg := limits.Cgroup{MemoryLimit: c.MemoryBytes}
		if c.CPUMillis > 0 {
			cg.CPUQuota, cg.CPUPeriod = c.CPUMillis*100, 100000 // the kubelet's 100ms CFS period
		}
		o := output{Name: c.Name, GOMAXPROCS: limits.GOMAXPROCS(cg, c.Policy)}
		o.GOMEMLIMIT = limits.GOMEMLIMIT(c.MemoryBytes, c.Ratio)
		cfg, err := config.Load(func(k string) string { return c.Env[k] })
		if err != nil {
			o.Error = err.Error()
		} else {
			o.Durations = map[string]int64{
				"read_header_timeout": cfg.ReadHeaderTimeout.Milliseconds(),
				"read_timeout":        cfg.ReadTimeout.Milliseconds(),
				"handler_timeout": cfg.HandlerTimeout.Milliseconds(), "write_timeout": cfg.WriteTimeout.Milliseconds(),
				"idle_timeout": cfg.IdleTimeout.Milliseconds(), "drain_delay": cfg.DrainDelay.Milliseconds(),
				"shutdown_timeout": cfg.ShutdownTimeout.Milliseconds(),
				"telemetry_flush_timeout": cfg.TelemetryFlushTimeout.Milliseconds(),
				"upstream_timeout": cfg.UpstreamTimeout.Milliseconds(),
				"upstream_margin":  cfg.UpstreamMargin.Milliseconds(),
			}
		}
		outs = append(outs, o)
	}
	out, _ := json.Marshal(outs)
	if err := os.WriteFile(os.Getenv("CROSSCHECK_OUT"), out, 0o600); err != nil {
		t.Fatal(err)
	}
}
"""


@pytest.fixture(scope="module")
def go_binary(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test binary of a copy of the generated project that evaluates cases with internal/limits and config."""
    if not gen.have("go"):
        pytest.skip("go not on PATH")
    project = gen.copy_project(project, tmp_path_factory.mktemp("cross") / project.name)
    module = re.search(r"^module (\S+)", (project / "go.mod").read_text(), re.M)
    assert module
    pkg = project / "internal" / "crosscheck"
    pkg.mkdir()
    (pkg / "crosscheck_test.go").write_text(GO_TEST.replace("MODULE", module[1]))
    binary = tmp_path_factory.mktemp("crossbin") / "crosscheck.test"
    gen.run(["go", "test", "-c", "-o", str(binary), "./internal/crosscheck"], project, env={"CGO_ENABLED": "0"})
    return binary


def go_inputs(name: str, answers: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
    cpu = answer(answers, "cpu_limit")
    mem = answer(answers, "memory_limit")
    env = {var: expect["durations"][key] for key, (_, var) in DURATIONS.items()}
    env |= {"GOMAXPROCS_POLICY": answer(answers, "gomaxprocs_policy"),
            "GOMEMLIMIT_RATIO": text(answer(answers, "gomemlimit_ratio"))}
    return {
        "name": name,
        "cpu_millis": int(q.parse_cpu(cpu) * 1000) if cpu else 0,
        "memory_bytes": q.parse_memory(mem) if mem else 0,
        "policy": answer(answers, "gomaxprocs_policy"),
        "ratio": text(answer(answers, "gomemlimit_ratio")),
        "env": env,
    }


def go_eval(binary: Path, tmp: Path, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    src, dst = tmp / "in.json", tmp / "out.json"
    src.write_text(json.dumps(inputs))
    gen.run([str(binary), "-test.run", "^TestCrossCheck$"], tmp,
            env={"CROSSCHECK_IN": str(src), "CROSSCHECK_OUT": str(dst)})
    return json.loads(dst.read_text())


def go_view(expect: dict[str, Any]) -> dict[str, Any]:
    return {
        "gomaxprocs": expect["gomaxprocs"],
        "gomemlimit": mib_bytes(expect["gomemlimit"]),
        "durations_ms": {k: ms(v) for k, v in expect["durations"].items()},
        "error": "",
    }


@pytest.mark.slow
def test_go_matches_the_case_table(go_binary: Path, tmp_path: Path) -> None:
    results = go_eval(go_binary, tmp_path, [go_inputs(c["name"], c["answers"], c["expect"]) for c in CASES])
    for case, got in zip(CASES, results, strict=True):
        assert {k: got[k] for k in ("gomaxprocs", "gomemlimit", "durations_ms", "error")} == go_view(case["expect"]), (
            case["name"]
        )


@pytest.mark.slow
def test_go_defaults_are_the_default_case(go_binary: Path, tmp_path: Path) -> None:
    """With no env at all, config.Load's generated defaults are the durations of the default case."""
    default = next(c for c in CASES if not c["answers"])
    got = go_eval(go_binary, tmp_path, [{**go_inputs("defaults", {}, default["expect"]), "env": {}}])[0]
    assert got["error"] == "" and got["durations_ms"] == go_view(default["expect"])["durations_ms"]


# ----------------------------------------------------------------------------- random cases, all three
@st.composite
def random_answers(draw: st.DrawFn) -> dict[str, Any]:
    """Valid answers over the inputs the three evaluators share."""
    a: dict[str, Any] = {
        "gomaxprocs_policy": draw(st.sampled_from(["floor", "ceil", "go"])),
        "gomemlimit_ratio": float(Fraction(draw(st.integers(500, 950)), 1000)),
        "slowest_request_seconds": draw(st.integers(10, 120_000)) / 1000,
        "proxy_idle_timeout_seconds": draw(st.integers(1, 3600)),
        "endpoint_propagation_seconds": draw(st.integers(1000, 30_000)) / 1000,
        "drain_mode": draw(st.sampled_from(["app", "prestop"])),
        "readiness_period_seconds": draw(st.integers(2, 10)),
        "readiness_failure_threshold": draw(st.integers(1, 5)),
        "liveness_period_seconds": 30,
        "cpu_request": "",
    }
    cpu = draw(st.one_of(st.just(0), st.integers(1, 80).map(lambda n: n * 100)))
    a["cpu_limit"] = f"{cpu}m" if cpu else ""
    mem = draw(st.one_of(st.just(0), st.integers(64, 4096)))
    a["memory_limit"] = f"{mem}Mi" if mem else ""
    a["memory_request"] = a["memory_limit"] or "256Mi"
    if draw(st.booleans()):
        a["termination_grace_period_seconds"] = draw(st.integers(300, 400))  # always long enough
    return a


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=random_answers())
def test_random_answers_agree_everywhere(project: Path, go_binary: Path, tmp_path: Path, a: dict[str, Any]) -> None:
    expect = python_eval(a)
    # The Python values follow the rules' closed forms (independent of the implementation's code path).
    assert math.ceil(Fraction(ms(expect["durations"]["drain_delay"]) + ms(expect["durations"]["shutdown_timeout"])
                              + 7000, 1000) + expect["prestop_sleep_seconds"]) <= (
        expect["termination_grace_period_seconds"])
    assert (expect["prestop_sleep_seconds"] > 0) == (a["drain_mode"] == "prestop")
    assert (ms(expect["durations"]["drain_delay"]) == 0) == (a["drain_mode"] == "prestop")
    chart = project / "deploy" / "helm" / project.name
    for tool in HELMS:
        if (TOOLS_BIN / tool).is_file():
            assert helm_eval(tool, chart, a, expect) == helm_view(expect), tool
    got = go_eval(go_binary, tmp_path, [go_inputs("random", a, expect)])[0]
    assert {k: got[k] for k in ("gomaxprocs", "gomemlimit", "durations_ms", "error")} == go_view(expect)
