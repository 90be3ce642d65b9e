"""The generated chart keeps its own invariants for whatever values it is given (issue 11, item 3).

Values change after generation (`--set`, values files, VPA, in-place resize). The chart therefore
passes the GOMAXPROCS policy and the GOMEMLIMIT ratio instead of literals (the service derives both
from its cgroup), derives terminationGracePeriodSeconds in the template from the timeouts, runs
exactly one drain delay, decides the PDB from the effective pod count, and fails `helm template`
with one line naming the values when they cannot work. The duration parser in `_helpers.tpl` is
checked against Go's own time.ParseDuration.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import gen
import k8s_checks as kc
import pytest
import yaml

ROOT = gen.ROOT
TOOLS_BIN = ROOT / ".tools" / "bin"
os.environ["PATH"] = f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
HELMS = ["helm", "helm3"]
KUBE = "1.37.0"

#: A default project: 2 replicas, drain_mode app (drain 15s), shutdown 9.5s, flush 5s -> grace 32.
DEFAULT_GRACE = 32


def need(tool: str) -> None:
    if not gen.have(tool):
        pytest.skip(f"{tool} not on PATH: run scripts/tools.sh")


@pytest.fixture(scope="module")
def charts(rendered: gen.Rendered) -> dict[str, Path]:
    """The default project (shared) and a single-replica project for Kubernetes 1.28 (no native preStop sleep)."""
    projects = {
        "defaults": rendered("defaults"),
        "single": rendered("invariants-single", {"service_name": "inv-single", "replicas": 1,
                                                 "kubernetes_version": "1.28"}),
    }
    return {name: p / "deploy" / "helm" / p.name for name, p in projects.items()}


def render(
    tool: str, chart: Path, *args: str, kube: str = KUBE, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `helm template` on `chart` with extra arguments."""
    proc = subprocess.run([tool, "template", "rel", ".", "--namespace", "shop", "--kube-version", kube, *args],
                          cwd=chart, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} template {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def objects(tool: str, chart: Path, *args: str, kube: str = KUBE) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(tool, chart, *args, kube=kube).stdout) if d]


def pod(objs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return (pod spec, container, env by name) of the Deployment."""
    spec = kc.pod_template(kc.one(objs, "Deployment"))["spec"]
    container = spec["containers"][0]
    return spec, container, kc.env_of(container)


def failure(tool: str, chart: Path, *args: str, kube: str = KUBE) -> str:
    """Return the one-line error of a render that must fail."""
    proc = render(tool, chart, *args, kube=kube, check=False)
    assert proc.returncode != 0, f"{' '.join(args)} rendered:\n{proc.stdout[:2000]}"
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]  # helm may add a --debug hint
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ------------------------------------------------------------------ the five overrides of issue 11


@pytest.mark.parametrize("tool", HELMS)
def test_memory_limit_override_leaves_gomemlimit_to_the_service(
    charts: dict[str, Path], tool: str, tmp_path: Path
) -> None:
    """`--set resources.limits.memory=128Mi`: no GOMEMLIMIT literal; the service gets the ratio and derives it."""
    need(tool)
    chart = charts["defaults"]
    _, container, env = pod(objects(tool, chart, "--set", "resources.limits.memory=128Mi",
                                    "--set", "resources.requests.memory=128Mi"))
    assert container["resources"]["limits"]["memory"] == "128Mi"
    assert "GOMEMLIMIT" not in env
    assert env["GOMEMLIMIT_RATIO"] == "0.9"
    # An explicit override still reaches the service, and the ratio follows the values.
    _, _, env = pod(objects(tool, chart, "--set", "runtime.gomemlimit=100MiB", "--set", "runtime.gomemlimitRatio=0.75"))
    assert (env["GOMEMLIMIT"], env["GOMEMLIMIT_RATIO"]) == ("100MiB", "0.75")
    values = tool_values(tmp_path, "runtime:\n  gomemlimitRatio: 0.8\n")
    assert pod(objects(tool, chart, "-f", str(values)))[2]["GOMEMLIMIT_RATIO"] == "0.8"  # a YAML number works too


def tool_values(directory: Path, text: str) -> Path:
    """A values file holding `text` in `directory` (not in the chart: the project is shared)."""
    path = directory / f"extra-{abs(hash(text))}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("tool", HELMS)
def test_cpu_limit_override_leaves_gomaxprocs_to_the_service(charts: dict[str, Path], tool: str) -> None:
    """`--set resources.limits.cpu=4`: no GOMAXPROCS literal; the service applies the policy to the new limit."""
    need(tool)
    chart = charts["defaults"]
    _, container, env = pod(objects(tool, chart, "--set", "resources.limits.cpu=4"))
    assert container["resources"]["limits"]["cpu"] == 4
    assert "GOMAXPROCS" not in env
    assert env["GOMAXPROCS_POLICY"] == "floor"
    _, _, env = pod(objects(tool, chart, "--set", "runtime.gomaxprocs=3", "--set", "runtime.gomaxprocsPolicy=ceil"))
    assert (env["GOMAXPROCS"], env["GOMAXPROCS_POLICY"]) == ("3", "ceil")


@pytest.mark.parametrize("tool", HELMS)
def test_shutdown_override_grows_the_grace_period(charts: dict[str, Path], tool: str) -> None:
    """`--set timeouts.shutdown=60s`: the derived grace period grows with it (15 + 60 + 5 + 2 = 82)."""
    need(tool)
    chart = charts["defaults"]
    assert pod(objects(tool, chart))[0]["terminationGracePeriodSeconds"] == DEFAULT_GRACE
    spec, _, env = pod(objects(tool, chart, "--set", "timeouts.shutdown=60s"))
    assert spec["terminationGracePeriodSeconds"] == 82
    assert env["SHUTDOWN_TIMEOUT"] == "60s"
    # Sub-second parts add up before rounding up: 15s + 1m0.3s + 5.2s + 2s = 82.5s -> 83.
    spec, _, _ = pod(objects(tool, chart, "--set", "timeouts.shutdown=1m300ms",
                             "--set", "timeouts.telemetryFlush=5200ms"))
    assert spec["terminationGracePeriodSeconds"] == 83
    # An explicit grace period that fits is kept; one that does not fails with the numbers.
    spec, _, _ = pod(objects(tool, chart, "--set", "terminationGracePeriodSeconds=90"))
    assert spec["terminationGracePeriodSeconds"] == 90
    line = failure(tool, chart, "--set", "timeouts.shutdown=60s", "--set", "terminationGracePeriodSeconds=40")
    assert line.endswith(
        "terminationGracePeriodSeconds 40 is too short: preStop 0s + drain 15s + shutdown 60s + flush 5s + "
        "margin 2s = 82s -> at least 82 (or 0 to derive it)"
    ), line
    line = failure(tool, chart, "--set", "terminationGracePeriodSeconds=31")
    assert "= 31.5s -> at least 32" in line and "shutdown 9.5s" in line, line


@pytest.mark.parametrize("tool", HELMS)
def test_prestop_values_drain_once_and_fit_the_grace_period(charts: dict[str, Path], tool: str) -> None:
    """ci/prestop-values.yaml: a 5s native preStop sleep and DRAIN_DELAY 0s (not both), inside its 25s grace."""
    need(tool)
    chart = charts["defaults"]
    spec, container, env = pod(objects(tool, chart, "-f", "ci/prestop-values.yaml"))
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert env["DRAIN_DELAY"] == "0s"
    assert spec["terminationGracePeriodSeconds"] == 25
    # Derived instead: preStop 5 + drain 0 + shutdown 9.5 + flush 5 + margin 2 = 21.5 -> 22.
    spec, _, _ = pod(objects(tool, chart, "-f", "ci/prestop-values.yaml", "--set", "terminationGracePeriodSeconds=0"))
    assert spec["terminationGracePeriodSeconds"] == 22
    line = failure(tool, chart, "-f", "ci/prestop-values.yaml", "--set", "terminationGracePeriodSeconds=21")
    assert line.endswith("terminationGracePeriodSeconds 21 is too short: preStop 5s + drain 0s + shutdown 9.5s + "
                         "flush 5s + margin 2s = 21.5s -> at least 22 (or 0 to derive it)"), line


@pytest.mark.parametrize("tool", HELMS)
def test_prestop_without_native_sleep_counts_the_app_delay_once(charts: dict[str, Path], tool: str) -> None:
    """Below Kubernetes 1.30 the app waits the preStop seconds instead (DRAIN_DELAY), counted once in the grace."""
    need(tool)
    chart = charts["single"]  # kubernetes_version 1.28
    for kube, native in (("1.28.0", False), ("1.29.9", False), ("1.30.0", True)):
        spec, container, env = pod(objects(tool, chart, "--set", "preStopSleepSeconds=7", kube=kube))
        assert ("lifecycle" in container) == native, kube
        assert env["DRAIN_DELAY"] == ("0s" if native else "7s"), kube
        assert spec["terminationGracePeriodSeconds"] == 24, kube  # 7 + 9.5 + 5 + 2 = 23.5 -> 24 either way
    spec, container, env = pod(objects(tool, chart, kube="1.28.0"))
    assert "lifecycle" not in container and env["DRAIN_DELAY"] == "15s"
    assert spec["terminationGracePeriodSeconds"] == DEFAULT_GRACE


@pytest.mark.parametrize("tool", HELMS)
def test_autoscaling_needs_a_cpu_request(charts: dict[str, Path], tool: str) -> None:
    """`autoscaling.enabled=true` with no CPU request fails: the HPA target is a percentage of the request."""
    need(tool)
    chart = charts["defaults"]
    for extra in (["--set", "resources.requests.cpu=null"], ["--set", "resources.requests=null"],
                  ["--set-string", "resources.requests.cpu=0"], ["--set-string", "resources.requests.cpu=0m"]):
        line = failure(tool, chart, "--set", "autoscaling.enabled=true", *extra)
        assert "autoscaling.enabled needs resources.requests.cpu: the HPA's target of 80% CPU is a percentage of " \
            "the request" in line, (extra, line)
        assert ("(it is not set)" in line) == ("null" in extra[1]), line
    kinds = {o["kind"] for o in objects(tool, chart, "--set", "autoscaling.enabled=true")}
    assert "HorizontalPodAutoscaler" in kinds
    line = failure(tool, chart, "--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=6")
    assert "autoscaling.minReplicas 6 must not exceed autoscaling.maxReplicas 5" in line, line
    # Without the HPA a missing CPU request is allowed (the answers may leave it empty).
    assert objects(tool, chart, "--set", "resources.requests.cpu=null")


@pytest.mark.parametrize("tool", HELMS)
def test_pdb_follows_the_effective_pod_count(charts: dict[str, Path], tool: str) -> None:
    """A replicas=1 project gets no PDB until the HPA (minReplicas 2) is enabled; decided at deploy time."""
    need(tool)
    chart = charts["single"]
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["replicaCount"] == 1 and values["podDisruptionBudget"]["enabled"] is True

    def pdbs(*args: str) -> list[dict[str, Any]]:
        return kc.by_kind(objects(tool, chart, *args, kube="1.30.0"), "PodDisruptionBudget")

    assert pdbs() == []
    (pdb,) = pdbs("--set", "autoscaling.enabled=true")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdbs("--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=1") == []
    assert len(pdbs("--set", "replicaCount=3")) == 1
    assert pdbs("--set", "replicaCount=3", "--set", "podDisruptionBudget.enabled=false") == []


# ------------------------------------------------------------------ timeouts: what the service would refuse at start

BAD_TIMEOUTS = {
    "handler not below write": (
        ["timeouts.handler=9500ms"],
        "timeouts.handler 9500ms must be below timeouts.write 9500ms, or the handler's 503 cannot be written",
    ),
    "read header above read": (
        ["timeouts.readHeader=1h"], "timeouts.readHeader 1h must not exceed timeouts.read 12500ms"
    ),
    "zero read": (["timeouts.idle=0s"], "timeouts.idle must be positive, got 0s"),
    "zero shutdown": (["timeouts.shutdown=0"], "timeouts.shutdown must be positive, got 0"),
    "negative flush": (["timeouts.telemetryFlush=-1s"], "timeouts.telemetryFlush must be positive, got -1s"),
    "negative drain": (["timeouts.drainDelay=-5s"], "timeouts.drainDelay must not be negative, got -5s"),
    "overflow": (["timeouts.shutdown=2562048h"], 'timeouts.shutdown "2562048h" is not a Go duration (overflow)'),
    "upstream timeout past the handler deadline": (
        ["timeouts.upstreamTimeout=7200ms"],
        "timeouts.upstreamTimeout 7200ms + timeouts.upstreamMargin 380ms must not exceed timeouts.handler 7500ms",
    ),
    "handler lowered below the upstream timeout": (
        ["timeouts.handler=2s"],
        "timeouts.upstreamTimeout 7120ms + timeouts.upstreamMargin 380ms must not exceed timeouts.handler 2s",
    ),
    "two errors in one line": (
        ["timeouts.write=1s", "timeouts.read=1s"],
        "timeouts.readHeader 5s must not exceed timeouts.read 1s; "
        "timeouts.handler 7500ms must be below timeouts.write 1s",
    ),
}


@pytest.mark.parametrize("tool", HELMS)
@pytest.mark.parametrize("case", list(BAD_TIMEOUTS))
def test_timeouts_the_service_would_reject_fail_the_render(charts: dict[str, Path], case: str, tool: str) -> None:
    need(tool)
    sets, message = BAD_TIMEOUTS[case]
    args = [a for s in sets for a in ("--set-string", s)]
    line = failure(tool, charts["defaults"], *args)
    assert message in line, line


@pytest.mark.parametrize("tool", HELMS)
def test_go_duration_forms_are_accepted(charts: dict[str, Path], tool: str) -> None:
    """Every spelling Go accepts renders, passed through unchanged; the grace period uses their value."""
    need(tool)
    chart = charts["defaults"]
    sets = {"timeouts.drainDelay": "0.25m", "timeouts.shutdown": "1m30s", "timeouts.telemetryFlush": "1500000us",
            "timeouts.idle": "1h", "timeouts.readHeader": ".5s", "timeouts.handler": "7.5s", "timeouts.write": "8s"}
    args = [a for k, v in sets.items() for a in ("--set-string", f"{k}={v}")]
    spec, _, env = pod(objects(tool, chart, *args))
    got = (env["DRAIN_DELAY"], env["SHUTDOWN_TIMEOUT"], env["TELEMETRY_FLUSH_TIMEOUT"])
    assert got == ("0.25m", "1m30s", "1500000us")
    assert env["READ_HEADER_TIMEOUT"] == ".5s"
    assert spec["terminationGracePeriodSeconds"] == 15 + 90 + 2 + 2  # 15s + 90s + 1.5s + 2s = 108.5 -> 109


# ------------------------------------------------------------------ the duration parser against Go

#: (input, nanoseconds or None when Go rejects it), produced by Go 1.26's time.ParseDuration;
#: test_duration_table_is_what_go_says re-checks it whenever Go is installed.
GO_DURATIONS: list[tuple[str, str | None]] = [
    ("0", "0"), ("-0", "0"), ("+0", "0"), ("", None), ("1m30s", "90000000000"), ("1500ms", "1500000000"),
    ("1.5s", "1500000000"), (".5s", "500000000"), ("1.s", "1000000000"), ("2h", "7200000000000"),
    ("300us", "300000"), ("300µs", "300000"), ("300μs", "300000"), ("1ns", "1"),
    ("1h1m1s1ms1us1ns", "3661001001001"), ("2h45m", "9900000000000"), ("-1.5h", "-5400000000000"),
    ("+5s", "5000000000"), ("0s", "0"), ("00s", "0"), ("0.000000001s", "1"), ("0.0000000001s", "0"),
    ("1.0000000005s", "1000000000"), ("0.3333333333333333333s", "333333333"), ("0.1234567891s", "123456789"),
    ("0.00000000005m", "3"), ("0.6m", "36000000000"), ("0.36h", "1296000000000"), ("3.000000001s", "3000000001"),
    ("9223372036854775807ns", "9223372036854775807"), ("2562047h", "9223369200000000000"),
    ("2562047h47m16.854775807s", "9223372036854775807"), ("9223372036.854775807s", "9223372036854775807"),
    ("1", None), ("00", None), ("1x", None), ("s", None), (".", None), (".s", None), ("1.5.5s", None),
    ("+-1s", None), ("--1s", None), ("- 1s", None), ("1 s", None), (" 1s", None), ("1s ", None), ("1e3s", None),
    ("1sec", None), ("1S", None), ("1M", None), ("1H", None), ("5sms", None), ("1s2", None),
    ("9223372036854775808ns", None), ("2562048h", None), ("2562047h47m16.854775808s", None),
    ("9223372036.854775808s", None), ("100000000000000000000ns", None), ("18446744073709551616ns", None),
    ("1h-1m", None), ("1.5h30.25m", "7215000000000"), ("0.5µs", "500"), ("1.9999999999ns", "1"), ("∞s", None),
    ("1ms1ms", "2000000"),
]

GO_PARSER = """package main

import (
	"encoding/json"
	"os"
	"strconv"
	"time"
)

func main() {
	var in []string
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	out := make([]*string, len(in))
	for i, s := range in {
		if d, err := time.ParseDuration(s); err == nil {
			v := strconv.FormatInt(int64(d), 10)
			out[i] = &v
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
"""

PROBE = """{{- $out := list }}
{{- range .Values.cases }}
{{- $r := include "demo-svc.parseDuration" . | fromJson }}
{{- $out = append $out (ternary nil $r.ns (ne $r.err "")) }}
{{- end }}
results: {{ toJson $out }}
"""


@pytest.fixture(scope="session")
def go_parse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Parse durations with Go's own time.ParseDuration (one `go build` per session)."""
    if not gen.have("go"):
        pytest.skip("go not on PATH")
    src = tmp_path_factory.mktemp("goparse")
    (src / "go.mod").write_text("module goparse\n\ngo 1.22\n")
    (src / "main.go").write_text(GO_PARSER)
    binary = src / "goparse"
    gen.run(["go", "build", "-o", str(binary), "."], src, env={"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"})

    def parse(cases: list[str]) -> list[str | None]:
        proc = subprocess.run([str(binary)], input=json.dumps(cases), capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    return parse


@pytest.fixture(scope="module")
def helm_parse(charts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Parse durations with the chart's <chart>.parseDuration (a probe chart holding only _helpers.tpl)."""
    probe = tmp_path_factory.mktemp("probe-chart")
    (probe / "templates").mkdir()
    (probe / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    shutil.copy(charts["defaults"] / "templates" / "_helpers.tpl", probe / "templates" / "_helpers.tpl")
    (probe / "templates" / "probe.yaml").write_text(PROBE)

    def parse(tool: str, cases: list[str]) -> list[str | None]:
        values = probe / "cases.json"  # JSON keeps every case a string (YAML would turn some into numbers)
        values.write_text(json.dumps({"cases": cases}, ensure_ascii=False))
        out = render(tool, probe, "-f", str(values)).stdout
        return yaml.safe_load(out)["results"]

    return parse


def test_duration_table_is_what_go_says(go_parse: Any) -> None:
    cases = [c for c, _ in GO_DURATIONS]
    assert dict(zip(cases, go_parse(cases), strict=True)) == dict(GO_DURATIONS)


@pytest.mark.parametrize("tool", HELMS)
def test_chart_parses_durations_like_go(helm_parse: Any, tool: str) -> None:
    need(tool)
    cases = [c for c, _ in GO_DURATIONS]
    assert dict(zip(cases, helm_parse(tool, cases), strict=True)) == dict(GO_DURATIONS)


def random_durations(seed: int, n: int) -> list[str]:
    """Duration-like strings: valid and broken numbers, fractions up to 25 digits, known and unknown units."""
    rng = random.Random(seed)
    units = ["ns", "us", "µs", "μs", "ms", "s", "m", "h", "x", "", "sec", "S"]

    def digits(k: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(k))

    def number() -> str:
        k = rng.random()
        if k < 0.3:
            return digits(rng.randint(0, 4))
        if k < 0.6:
            return f"{digits(rng.randint(0, 3))}.{digits(rng.randint(0, 12))}"
        if k < 0.8:
            return digits(rng.randint(0, 20)) + (f".{digits(rng.randint(0, 25))}" if rng.random() < 0.5 else "")
        return rng.choice(["", ".", "0", "00", "0."]) + digits(rng.randint(0, 16))

    out = set()
    while len(out) < n:
        sign = rng.choice(["", "", "", "-", "+"])
        out.add(sign + "".join(number() + rng.choice(units) for _ in range(rng.randint(1, 3))))
        unit = rng.choice(["ns", "us", "ms", "s", "m", "h"])
        out.add(f"{digits(rng.randint(0, 6))}.{'0' * rng.randint(0, 12)}{digits(rng.randint(1, 22))}{unit}")
    return sorted(out)


@pytest.mark.parametrize("tool", HELMS)
def test_chart_parses_random_durations_like_go(go_parse: Any, helm_parse: Any, tool: str) -> None:
    """2000 random duration strings: the chart accepts exactly what Go accepts, with the same nanoseconds."""
    need(tool)
    cases = random_durations(11, 2000)
    want, got = go_parse(cases), helm_parse(tool, cases)
    assert sum(w is not None for w in want) > 500  # the sample exercises both outcomes
    diffs = [(c, w, g) for c, w, g in zip(cases, want, got, strict=True) if w != g]
    assert diffs == []


@pytest.mark.parametrize("tool", HELMS)
def test_rejected_duration_names_the_key(charts: dict[str, Path], tool: str) -> None:
    """A value Go rejects fails in one line naming the values key and the value (schema or parser)."""
    need(tool)
    chart = charts["defaults"]
    line = failure(tool, chart, "--set-string", "timeouts.idle=99999999999999999999ns")
    assert 'timeouts.idle "99999999999999999999ns" is not a Go duration (overflow)' in line, line
    proc = render(tool, chart, "--set-string", "timeouts.read=1m30", check=False)  # the schema catches the syntax
    assert proc.returncode != 0 and "timeouts" in proc.stderr and "read" in proc.stderr, proc.stderr


# ------------------------------------------------------------------ runtime values: schema ranges


@pytest.mark.parametrize("tool", HELMS)
def test_runtime_values_schema(charts: dict[str, Path], tool: str, tmp_path: Path) -> None:
    need(tool)
    chart = charts["defaults"]
    for bad in (["--set-string", "runtime.gomemlimitRatio=0.99"], ["--set-string", "runtime.gomemlimitRatio=0.4"],
                ["--set-string", "runtime.gomemlimitRatio=0.9001"], ["--set", "runtime.gomemlimitRatio=1"],
                ["--set", "runtime.gomaxprocsPolicy=half"], ["--set", "runtime.gomaxprocs=-1"],
                ["--set", "terminationGracePeriodSeconds=-1"]):
        proc = render(tool, chart, *bad, check=False)
        assert proc.returncode != 0 and "schema" in proc.stderr.lower(), (bad, proc.stderr)
    values = tool_values(tmp_path, "runtime:\n  gomemlimitRatio: 0.8125\n")  # a YAML number passes the schema's range
    line = failure(tool, chart, "-f", str(values))
    assert "runtime.gomemlimitRatio 0.8125 must be a decimal from 0.5 to 0.95 with at most 3 decimals" in line, line
    for good in ("0.5", "0.95", "0.875", "0.9"):
        env = pod(objects(tool, chart, "--set-string", f"runtime.gomemlimitRatio={good}"))[2]
        assert env["GOMEMLIMIT_RATIO"] == good
