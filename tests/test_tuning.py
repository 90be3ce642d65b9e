"""Tuning rules (hooks/tuning.py): worked examples per rule, and properties over every valid input."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gosmith.template import rules, template_root

tuning = rules().tuning
q = rules().quantities
MI = 1024 * 1024


def derive(**answers: Any) -> Any:
    """Derive with `answers` over the defaults."""
    return tuning.derive(answers)


def ms(duration: str) -> int:
    """Parse the Go duration strings the rules emit ('15s', '7500ms') into milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s)", duration)
    assert m, duration
    return int(m[1]) * (1 if m[2] == "ms" else 1000)


# ----------------------------------------------------------------------------- defaults and contract
def test_defaults_match_copier_yml() -> None:
    questions = yaml.safe_load((template_root() / "copier.yml").read_text())
    for name, default in tuning.DEFAULTS.items():
        assert name in questions, name
        assert questions[name]["default"] == default, name


def test_every_tuning_question_has_type_help_default_validator() -> None:
    questions = yaml.safe_load((template_root() / "copier.yml").read_text())
    for name in tuning.FIELDS:
        spec = questions[name]
        assert {"type", "help", "default", "validator"} <= set(spec), name
        assert spec["validator"] == rules().settings.copier_validator(name), name
        assert rules().validate.FIELDS[name] is tuning.FIELDS[name]


def test_context_keeps_the_contract_keys() -> None:
    ctx = tuning.derive({}).as_context()
    assert isinstance(ctx["gomaxprocs"], int)
    assert isinstance(ctx["gomemlimit"], str)
    assert set(ctx["durations"]) == {
        "read_header_timeout", "read_timeout", "handler_timeout", "write_timeout",
        "idle_timeout", "drain_delay", "shutdown_timeout", "telemetry_flush_timeout",
        "upstream_timeout", "upstream_margin",
    }  # fmt: skip
    assert isinstance(ctx["termination_grace_period_seconds"], int)
    assert isinstance(ctx["prestop_sleep_seconds"], int)
    assert set(ctx["resources"]) == {"requests", "limits"}
    for kind in ("requests", "limits"):
        assert set(ctx["resources"][kind]) == {"cpu", "memory"}
    assert set(ctx["probes"]) == {"startup", "readiness", "liveness"}
    assert isinstance(ctx["replicas"], int)
    assert set(ctx["hpa"]) >= {"enabled", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"}
    assert set(ctx["pdb"]) >= {"enabled", "maxUnavailable"}
    assert isinstance(ctx["reasons"], dict) and isinstance(ctx["warnings"], list)
    # every reason names a real value
    t = tuning.derive({})
    for key in t.reasons:
        t.value(key)


# ----------------------------------------------------------------------------- GOMAXPROCS
@pytest.mark.parametrize(
    ("limit", "policy", "go", "expected"),
    [
        ("500m", "floor", "1.26", 1),  # Go would pick 2 under a half-CPU quota
        ("1", "floor", "1.26", 1),  # Go: max(2, 1) = 2
        ("1500m", "floor", "1.26", 1),  # Go: 2
        ("2", "floor", "1.26", 0),  # floor 2 == Go's 2: leave the runtime in charge
        ("2500m", "floor", "1.26", 2),  # Go: 3
        ("3", "floor", "1.25", 0),
        ("500m", "ceil", "1.26", 1),  # ceil 1 != Go's 2
        ("1500m", "ceil", "1.26", 0),  # ceil 2 == Go's 2
        ("2500m", "ceil", "1.26", 0),  # ceil 3 == Go's 3
        ("500m", "go", "1.26", 0),
        ("4", "go", "1.27", 0),
        ("500m", "floor", "1.24", 1),  # runtime ignores cgroups before 1.25: always set
        ("2", "floor", "1.24", 2),
        ("2500m", "ceil", "1.24", 3),
        ("500m", "go", "1.24.3", 2),  # policy go emulates Go 1.25's choice
        ("", "floor", "1.26", 0),  # no limit: unset
        ("", "floor", "1.24", 0),
    ],
)
def test_gomaxprocs(limit: str, policy: str, go: str, expected: int) -> None:
    t = derive(cpu_limit=limit, cpu_request="", gomaxprocs_policy=policy, go_version=go)
    assert t.values["gomaxprocs"] == expected
    assert t.reasons["gomaxprocs"]


def test_gomaxprocs_reason_states_the_formula() -> None:
    t = derive(cpu_limit="500m", cpu_request="250m")
    assert t.reasons["gomaxprocs"].startswith("1 = max(1, floor(limits.cpu 500m))")
    assert "max(2, ceil(500m)) = 2" in t.reasons["gomaxprocs"]


def test_gomaxprocs_warnings() -> None:
    assert any("ignores the cgroup" in w for w in derive(cpu_limit="1", go_version="1.24").warnings)
    assert any("throttles" in w for w in derive(cpu_limit="500m", cpu_request="", gomaxprocs_policy="go").warnings)


# ----------------------------------------------------------------------------- GOMEMLIMIT
@pytest.mark.parametrize(
    ("limit", "ratio", "expected"),
    [
        ("512Mi", 0.9, "460MiB"),  # 460.8 rounded down
        ("1Gi", 0.9, "921MiB"),  # 921.6
        ("2Gi", 0.8, "1638MiB"),  # 1638.4
        ("1G", 0.9, "858MiB"),  # 900,000,000 B = 858.3 MiB
        ("256Mi", 0.9, "224MiB"),  # 230.4 would leave < 32MiB headroom: 256 - 32
        ("64Mi", 0.5, "32MiB"),  # the smallest accepted limit
        ("300Mi", 0.95, "268MiB"),  # 285 would leave 15MiB: 300 - 32
        ("", 0.9, ""),  # no memory limit: unset
    ],
)
def test_gomemlimit(limit: str, ratio: float, expected: str) -> None:
    t = derive(memory_limit=limit, memory_request="64Mi", gomemlimit_ratio=ratio)
    assert t.values["gomemlimit"] == expected


def test_gomemlimit_reason_matches_the_helm_comment_format() -> None:
    t = derive(memory_limit="512Mi", memory_request="512Mi")
    assert t.reasons["gomemlimit"] == "460MiB = 0.9 x limits.memory 512Mi, rounded down to MiB"


@pytest.mark.parametrize("limit", ["63Mi", "32Mi", "1Mi", "60M", "1"])
def test_memory_limit_too_small_is_refused_with_numbers(limit: str) -> None:
    with pytest.raises(tuning.TuningError, match=r"too small.*64Mi = 32Mi for the Go runtime \+ 32Mi headroom"):
        derive(memory_limit=limit, memory_request="1")


def test_requests_above_limits_are_refused() -> None:
    with pytest.raises(tuning.TuningError, match=r"memory_request 1Gi .* above memory_limit 512Mi"):
        derive(memory_request="1Gi", memory_limit="512Mi")
    with pytest.raises(tuning.TuningError, match=r"cpu_request 2 .* above cpu_limit 1500m"):
        derive(cpu_request="2", cpu_limit="1500m")
    # equal is fine, and a request without a limit too
    assert derive(cpu_request="1500m", cpu_limit="1.5").values["resources"]["limits"]["cpu"] == "1.5"
    assert derive(cpu_request="8", cpu_limit="").values["resources"]["requests"]["cpu"] == "8"


def test_memory_warnings() -> None:
    assert any("GOMEMLIMIT stays unset" in w for w in derive(memory_limit="").warnings)
    assert any("below memory_limit" in w for w in derive(memory_request="128Mi", memory_limit="256Mi").warnings)
    assert derive().warnings == []


# ----------------------------------------------------------------------------- time budget
def test_time_budget_worked_example() -> None:
    t = derive(slowest_request_seconds=5, proxy_idle_timeout_seconds=60, endpoint_propagation_seconds=5)
    d = t.values["durations"]
    assert d == {
        "read_header_timeout": "5s",
        "handler_timeout": "7500ms",  # 1.5 x 5s
        "read_timeout": "12500ms",  # 5s + 7.5s
        "write_timeout": "9500ms",  # 7.5s + 2s
        "idle_timeout": "65s",  # 60s + 5s
        "drain_delay": "15s",  # 5s + 5s x 2
        "shutdown_timeout": "9500ms",  # = write
        "telemetry_flush_timeout": "5s",
        "upstream_margin": "380ms",  # 7.5s / 20 rounded up to 10ms
        "upstream_timeout": "7120ms",  # 7.5s - 0.38s
    }
    assert t.values["prestop_sleep_seconds"] == 0
    assert t.values["termination_grace_period_seconds"] == 32  # ceil(15 + 9.5 + 5 + 2)
    assert t.reasons["termination_grace_period_seconds"] == (
        "32 = ceil(drain 15s + shutdown 9.5s + telemetry flush 5s + margin 2s = 31.5s)"
    )


@pytest.mark.parametrize(
    ("slowest", "handler"),
    [(0.5, "1500ms"), (1, "2s"), (2, "3s"), (2.2, "3300ms"), (3.33, "5s"), (30, "45s"), (0.01, "1010ms")],
)
def test_handler_timeout(slowest: float, handler: str) -> None:
    assert derive(slowest_request_seconds=slowest).values["durations"]["handler_timeout"] == handler


@pytest.mark.parametrize(
    ("slowest", "upstream", "timeout", "margin"),
    [(5, 0, "7120ms", "380ms"), (5, 2, "2s", "380ms"), (0.01, 0, "950ms", "60ms"), (0.5, 0.9, "900ms", "80ms"),
     (30, 42.75, "42750ms", "2250ms")],
)
def test_upstream_timeout_and_margin(slowest: float, upstream: float, timeout: str, margin: str) -> None:
    d = derive(slowest_request_seconds=slowest, upstream_timeout_seconds=upstream).values["durations"]
    assert (d["upstream_timeout"], d["upstream_margin"]) == (timeout, margin)


def test_upstream_timeout_longer_than_the_handler_deadline_is_refused() -> None:
    with pytest.raises(tuning.TuningError, match=r"upstream_timeout_seconds 7\.2 is longer than the handler deadline "
                       r"allows: handler_timeout 7\.5s - upstream_margin 0\.38s = 7\.12s"):
        derive(upstream_timeout_seconds=7.2)
    with pytest.raises(tuning.TuningError, match="upstream_timeout_seconds 60"):
        derive(upstream_timeout_seconds=60)


def test_prestop_mode_moves_the_drain_out_of_the_app() -> None:
    t = derive(drain_mode="prestop", endpoint_propagation_seconds=2.5)
    assert t.values["durations"]["drain_delay"] == "0s"
    assert t.values["prestop_sleep_seconds"] == 3  # ceil(2.5)
    assert t.values["termination_grace_period_seconds"] == 20  # ceil(3 + 9.5 + 5 + 2)
    assert any("1.30" in w for w in t.warnings)


def test_prestop_mode_refused_below_kubernetes_1_30() -> None:
    with pytest.raises(tuning.TuningError, match=r"kubernetes_version is 1\.29"):
        tuning.derive({"drain_mode": "prestop", "kubernetes_version": "1.29"})
    assert tuning.derive({"drain_mode": "prestop", "kubernetes_version": "1.30"}).values["prestop_sleep_seconds"] == 5


def test_explicit_grace_period() -> None:
    assert derive(termination_grace_period_seconds=60).values["termination_grace_period_seconds"] == 60
    assert derive(termination_grace_period_seconds=32).values["termination_grace_period_seconds"] == 32
    with pytest.raises(tuning.TuningError) as exc:
        derive(termination_grace_period_seconds=30)
    assert str(exc.value) == (
        "termination_grace_period_seconds 30 is too small: drain 15s + shutdown 9.5s + telemetry flush 5s + "
        "margin 2s = 31.5s, so it must be at least 32 (or 0 to derive it)"
    )



def test_native_sidecar_grace_adds_the_sidecars_stop_and_its_own_margin() -> None:
    """A native sidecar stops after the service: its preStop + shutdown + GRACE_MARGIN_MS come on top."""
    assert tuning.stop_ms(10_000, 15_000, 10_000, 5_000) == 40_000
    app = tuning.grace_needed_ms(10_000, 15_000, 10_000, 5_000)
    assert app == 42_000
    assert tuning.sidecar_grace_needed_ms(app, 0, 0) == 44_000
    assert tuning.sidecar_grace_needed_ms(app, 1_000, 5_000) == 50_000
    assert tuning.NATIVE_SIDECAR_KUBE_MINOR == 29

# ----------------------------------------------------------------------------- probes
def test_probes_worked_example() -> None:
    p = derive(startup_seconds=10, probe_timeout_seconds=1).values["probes"]
    assert p["startup"] == {"periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 10, "successThreshold": 1}
    assert p["readiness"] == {"periodSeconds": 5, "timeoutSeconds": 1, "failureThreshold": 2, "successThreshold": 1}
    assert p["liveness"] == {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3, "successThreshold": 1}


def test_startup_probe_covers_slow_starts() -> None:
    p = derive(startup_seconds=45, probe_timeout_seconds=3, readiness_period_seconds=5, liveness_period_seconds=10)
    s = p.values["probes"]["startup"]
    assert s["periodSeconds"] == 4  # above the 3s timeout
    assert s["periodSeconds"] * s["failureThreshold"] >= 90


def test_probe_timeout_must_be_below_period() -> None:
    with pytest.raises(tuning.TuningError, match="probe_timeout_seconds 5 must be below readiness_period_seconds 5"):
        derive(probe_timeout_seconds=5)


def test_liveness_must_be_more_lenient_than_readiness() -> None:
    with pytest.raises(tuning.TuningError, match=r"liveness 10s x 2 = 20s must exceed readiness 5s x 4 = 20s"):
        derive(liveness_period_seconds=10, liveness_failure_threshold=2, readiness_failure_threshold=4)


# ----------------------------------------------------------------------------- HPA / PDB
def test_pdb_only_with_two_possible_replicas() -> None:
    assert derive(replicas=1).values["pdb"]["enabled"] is False
    assert any("single replica" in w for w in derive(replicas=1).warnings)
    assert derive(replicas=2).values["pdb"] == {"enabled": True, "maxUnavailable": 1}
    hpa = derive(hpa_enabled=True, hpa_min_replicas=1, hpa_max_replicas=3, replicas=1)
    assert hpa.values["pdb"]["enabled"] is True  # the HPA can reach 3
    assert hpa.values["replicas"] == 1
    assert derive(hpa_enabled=True, hpa_min_replicas=1, hpa_max_replicas=1).values["pdb"]["enabled"] is False


def test_hpa_worked_example() -> None:
    t = derive(hpa_enabled=True, hpa_min_replicas=3, hpa_max_replicas=10, hpa_cpu_target_percent=70, cpu_request="500m")
    assert t.values["hpa"] == {
        "enabled": True, "minReplicas": 3, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70,
    }  # fmt: skip
    assert t.values["replicas"] == 3
    assert t.reasons["hpa"] == "3..10 replicas at 70% of requests.cpu 500m (= 350m per pod)"


def test_hpa_rules() -> None:
    with pytest.raises(tuning.TuningError, match="hpa_min_replicas 5 must not exceed hpa_max_replicas 3"):
        derive(hpa_enabled=True, hpa_min_replicas=5, hpa_max_replicas=3)
    with pytest.raises(tuning.TuningError, match="hpa_enabled needs cpu_request"):
        derive(hpa_enabled=True, cpu_request="")
    target = r"^hpa_cpu_target_percent must be 1-100% \(a percentage of the CPU request\), got 150$"
    with pytest.raises(tuning.TuningError, match=target):
        derive(hpa_enabled=True, hpa_cpu_target_percent=150)
    # string booleans from --data are understood, not truthy
    assert derive(hpa_enabled="false").values["hpa"]["enabled"] is False
    assert derive(hpa_enabled="true").values["hpa"]["enabled"] is True


# ----------------------------------------------------------------------------- invalid single answers
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cpu_limit", "1.5.5"),
        ("cpu_request", "-1"),
        ("cpu_limit", "0"),
        ("memory_limit", "10MiB"),
        ("memory_request", ""),
        ("memory_request", "abc"),
        ("gomemlimit_ratio", 1.0),
        ("gomemlimit_ratio", 0.2),
        ("gomemlimit_ratio", "nan"),
        ("gomaxprocs_policy", "auto"),
        ("drain_mode", "both"),
        ("slowest_request_seconds", 0),
        ("slowest_request_seconds", -1),
        ("slowest_request_seconds", 0.0001),
        ("proxy_idle_timeout_seconds", 0),
        ("proxy_idle_timeout_seconds", 1.5),
        ("endpoint_propagation_seconds", 0),
        ("probe_timeout_seconds", 0),
        ("readiness_failure_threshold", 0),
        ("startup_seconds", True),
        ("termination_grace_period_seconds", -5),
        ("replicas", 0),
        ("hpa_enabled", "maybe"),
        ("go_version", "2.0"),
    ],
)
def test_invalid_answers_raise(name: str, value: object) -> None:
    with pytest.raises(tuning.TuningError):
        tuning.derive({name: value})


# ----------------------------------------------------------------------------- properties
CPU = st.one_of(
    st.just(""),
    st.integers(min_value=1, max_value=64_000).map(lambda m: f"{m}m"),
    st.integers(min_value=1, max_value=64).map(str),
    st.decimals(min_value="0.001", max_value="64", places=3).map(str),
)
MEM_MI = st.integers(min_value=64, max_value=64 * 1024)
SECONDS = st.decimals(min_value="0.01", max_value="600", places=2).map(float)


@st.composite
def valid_answers(draw: st.DrawFn) -> dict[str, Any]:
    """Answers that satisfy every rule (constructed so that cross-field rules hold)."""
    cpu_limit = draw(CPU)
    cpu_request = draw(CPU)
    if cpu_limit and cpu_request and q.parse_cpu(cpu_request) > q.parse_cpu(cpu_limit):
        cpu_request, cpu_limit = cpu_limit, cpu_request
    mem_limit_mi = draw(st.one_of(st.none(), MEM_MI))
    mem_request_mi = draw(st.integers(min_value=1, max_value=mem_limit_mi or 64 * 1024))
    timeout = draw(st.integers(min_value=1, max_value=10))
    r_period = draw(st.integers(min_value=timeout + 1, max_value=60))
    r_fail = draw(st.integers(min_value=1, max_value=10))
    l_period = draw(st.integers(min_value=max(timeout + 1, r_period * r_fail // 90 + 1), max_value=120))
    l_fail = draw(
        st.integers(min_value=r_period * r_fail // l_period + 1, max_value=r_period * r_fail // l_period + 10)
    )
    hpa = draw(st.booleans())
    lo = draw(st.integers(min_value=1, max_value=20))
    answers = {
        "go_version": draw(st.sampled_from(["1.24", "1.25", "1.26", "1.27.1"])),
        "cpu_request": cpu_request if (cpu_request or not hpa) else (cpu_limit or "100m"),
        "cpu_limit": cpu_limit,
        "memory_request": f"{mem_request_mi}Mi",
        "memory_limit": f"{mem_limit_mi}Mi" if mem_limit_mi else "",
        "gomemlimit_ratio": float(draw(st.decimals(min_value="0.5", max_value="0.95", places=2))),
        "gomaxprocs_policy": draw(st.sampled_from(["floor", "ceil", "go"])),
        "slowest_request_seconds": draw(SECONDS),
        "proxy_idle_timeout_seconds": draw(st.integers(min_value=1, max_value=3600)),
        "endpoint_propagation_seconds": draw(st.decimals(min_value="1", max_value="60", places=1).map(float)),
        "drain_mode": draw(st.sampled_from(["app", "prestop"])),
        "probe_timeout_seconds": timeout,
        "readiness_period_seconds": r_period,
        "readiness_failure_threshold": r_fail,
        "liveness_period_seconds": l_period,
        "liveness_failure_threshold": l_fail,
        "startup_seconds": draw(st.integers(min_value=1, max_value=600)),
        "replicas": draw(st.integers(min_value=1, max_value=50)),
        "hpa_enabled": hpa,
        "hpa_min_replicas": lo,
        "hpa_max_replicas": draw(st.integers(min_value=lo, max_value=50)),
        "hpa_cpu_target_percent": draw(st.integers(min_value=1, max_value=100)),
    }
    derived = tuning.derive({**answers, "termination_grace_period_seconds": 0})
    needed = derived.values["termination_grace_period_seconds"]
    answers["termination_grace_period_seconds"] = draw(st.sampled_from([0, needed, needed + 30]))
    return answers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_answers())
def test_invariants_hold_for_every_valid_input(a: dict[str, Any]) -> None:
    t = tuning.derive(a)
    v = t.values
    d = {k: ms(x) for k, x in v["durations"].items()}
    assert v["durations_ms"] == d

    # time budget
    slowest_ms = Fraction(str(a["slowest_request_seconds"])) * 1000
    assert d["handler_timeout"] >= slowest_ms * Fraction(3, 2) and d["handler_timeout"] >= slowest_ms + 1000
    assert d["write_timeout"] > d["handler_timeout"]
    assert d["read_header_timeout"] < d["read_timeout"]
    assert d["idle_timeout"] > a["proxy_idle_timeout_seconds"] * 1000
    assert d["shutdown_timeout"] >= d["write_timeout"]
    assert d["upstream_timeout"] > 0 and d["upstream_margin"] >= tuning.UPSTREAM_MARGIN_MIN_MS
    assert d["upstream_timeout"] + d["upstream_margin"] <= d["handler_timeout"]
    assert 0 < d["telemetry_flush_timeout"] <= 10_000
    # exactly one drain delay
    assert (d["drain_delay"] > 0) != (v["prestop_sleep_seconds"] > 0)
    drain_ms = d["drain_delay"] + v["prestop_sleep_seconds"] * 1000
    assert drain_ms >= Fraction(str(a["endpoint_propagation_seconds"])) * 1000
    if a["drain_mode"] == "app":
        assert drain_ms >= a["readiness_period_seconds"] * a["readiness_failure_threshold"] * 1000
    grace = v["termination_grace_period_seconds"]
    assert grace * 1000 >= drain_ms + d["shutdown_timeout"] + d["telemetry_flush_timeout"] + tuning.GRACE_MARGIN_MS
    if a["termination_grace_period_seconds"]:
        assert grace == a["termination_grace_period_seconds"]

    # memory
    if a["memory_limit"]:
        limit = q.parse_memory(a["memory_limit"])
        gml = int(v["gomemlimit"].removesuffix("MiB")) * MI
        assert v["gomemlimit"].endswith("MiB")
        assert tuning.MIN_GOMEMLIMIT <= gml <= limit - tuning.MIN_HEADROOM
        assert gml <= limit * Fraction(str(a["gomemlimit_ratio"]))
    else:
        assert v["gomemlimit"] == ""

    # CPU
    g = v["gomaxprocs"]
    assert isinstance(g, int) and g >= 0
    if not a["cpu_limit"]:
        assert g == 0
    else:
        lim = q.parse_cpu(a["cpu_limit"])
        go_choice = max(2, -(-lim.numerator // lim.denominator))
        cgroup_aware = a["go_version"] not in ("1.24",)
        if not cgroup_aware:
            assert g >= 1
        elif a["gomaxprocs_policy"] == "go":
            assert g == 0
        elif a["gomaxprocs_policy"] == "floor":
            assert g == 0 or (1 <= g < go_choice and g <= max(1, lim))
        else:
            assert g == 0 or g != go_choice

    # probes
    p = v["probes"]
    for probe in p.values():
        assert probe["timeoutSeconds"] < probe["periodSeconds"]
        assert probe["successThreshold"] == 1
    window = {name: pr["periodSeconds"] * pr["failureThreshold"] for name, pr in p.items()}
    assert window["liveness"] > window["readiness"]
    assert window["startup"] >= a["startup_seconds"]

    # scaling
    most = v["hpa"]["maxReplicas"] if v["hpa"]["enabled"] else v["replicas"]
    assert v["pdb"]["enabled"] == (most >= 2)
    if v["hpa"]["enabled"]:
        assert 1 <= v["hpa"]["minReplicas"] <= v["hpa"]["maxReplicas"]
        assert 1 <= v["hpa"]["targetCPUUtilizationPercentage"] <= 100
        assert v["resources"]["requests"]["cpu"]
        assert v["replicas"] == v["hpa"]["minReplicas"]

    # every derived value is explained
    assert all(t.reasons[k] and t.why[k] for k in t.reasons)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(tuning.FIELDS)),
    st.one_of(
        st.text(max_size=8), st.integers(min_value=-(10**6), max_value=10**6), st.floats(), st.booleans(), st.none()
    ),
)
def test_any_answer_is_either_valid_or_raises(name: str, value: object) -> None:
    """A single answer either derives (and is then accepted by its validator) or raises TuningError."""
    try:
        t = tuning.derive({name: value})
    except tuning.TuningError as exc:
        assert str(exc)
        return
    assert tuning.FIELDS[name](value) == ""
    assert t.values["termination_grace_period_seconds"] >= 1


@settings(max_examples=200, deadline=None)
@given(valid_answers(), st.integers(min_value=1, max_value=1000))
def test_too_small_grace_always_raises_with_the_sum(a: dict[str, Any], shortfall: int) -> None:
    needed = tuning.derive({**a, "termination_grace_period_seconds": 0}).values["termination_grace_period_seconds"]
    if needed - shortfall < 1:
        return
    with pytest.raises(tuning.TuningError, match=rf"must be at least {needed} "):
        tuning.derive({**a, "termination_grace_period_seconds": needed - shortfall})


@settings(max_examples=200, deadline=None)
@given(MEM_MI, st.integers(min_value=1, max_value=64 * 1024))
def test_request_above_limit_always_raises(limit_mi: int, extra: int) -> None:
    with pytest.raises(tuning.TuningError, match="above memory_limit"):
        tuning.derive({"memory_limit": f"{limit_mi}Mi", "memory_request": f"{limit_mi + extra}Mi"})


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=20),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=1, max_value=20),
)
def test_probe_rules_raise_exactly_when_violated(
    timeout: int, r_period: int, r_fail: int, l_period: int, l_fail: int
) -> None:
    answers = {
        "probe_timeout_seconds": timeout,
        "readiness_period_seconds": r_period,
        "readiness_failure_threshold": r_fail,
        "liveness_period_seconds": l_period,
        "liveness_failure_threshold": l_fail,
    }
    violated = timeout >= r_period or timeout >= l_period or l_period * l_fail <= r_period * r_fail
    if violated:
        with pytest.raises(tuning.TuningError):
            tuning.derive(answers)
    else:
        assert tuning.derive(answers).values["probes"]["liveness"]["failureThreshold"] == l_fail


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=1000))
def test_hpa_bounds_raise_exactly_when_min_above_max(lo: int, hi: int) -> None:
    answers = {"hpa_enabled": True, "hpa_min_replicas": lo, "hpa_max_replicas": hi}
    if lo > hi:
        with pytest.raises(tuning.TuningError, match=f"hpa_min_replicas {lo} must not exceed hpa_max_replicas {hi}"):
            tuning.derive(answers)
    else:
        assert tuning.derive(answers).values["hpa"]["minReplicas"] == lo


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=64_000).map(lambda m: f"{m}m"),
    st.integers(min_value=1, max_value=64_000).map(lambda m: f"{m}m"),
)
def test_cpu_request_above_limit_raises_exactly_then(request: str, limit: str) -> None:
    answers = {"cpu_request": request, "cpu_limit": limit}
    if int(request[:-1]) > int(limit[:-1]):
        with pytest.raises(tuning.TuningError, match="above cpu_limit"):
            tuning.derive(answers)
    else:
        assert tuning.derive(answers).values["resources"]["limits"]["cpu"] == limit
