"""Derive runtime, timing, probe and scaling settings from the answers, each with its formula.

Contract (used by the template, the Helm chart and `gosmith tune`): `derive(answers)` returns a
`Tuning` whose `as_context()` is put into the render context as `tuned`. It raises `TuningError`
for invalid answers and impossible combinations, with the numbers in the message. Missing answers
take the defaults in `DEFAULTS` (the same as copier.yml's). docs/tuning.md explains every rule.
Besides the contract keys, the context carries `durations_ms`, `drain_mode` and `why` (key -> reason).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from . import quantities as q
from . import settings


class TuningError(ValueError):
    """The answers describe an impossible configuration; the message says why."""


# ----------------------------------------------------------------------------- constants
#: Memory kept outside GOMEMLIMIT: binary text and data, kernel socket buffers and page cache charged
#: to the cgroup, and the overshoot of a soft limit while the GC catches up.
MIN_HEADROOM = 32 * q.MI
#: Smallest GOMEMLIMIT worth running a Go HTTP service with (runtime, stacks, telemetry buffers).
MIN_GOMEMLIMIT = 32 * q.MI
#: Smallest memory limit accepted: headroom plus the smallest Go memory limit.
MIN_MEMORY_LIMIT = MIN_HEADROOM + MIN_GOMEMLIMIT
#: ReadHeaderTimeout: fixed and short; a client that cannot send its headers in 5 s is broken or hostile.
READ_HEADER_TIMEOUT_MS = 5_000
#: Time allowed after the handler deadline fires to write the response (the 503 or the last bytes).
WRITE_MARGIN_MS = 2_000
#: The app keeps idle keep-alive connections this much longer than the proxy in front does.
IDLE_MARGIN_MS = 5_000
#: Smallest share of the handler's remaining budget kept when calling an upstream: enough to log,
#: record and answer the caller after the call was cut.
UPSTREAM_MARGIN_MIN_MS = 50
#: The upstream margin is this fraction of the handler deadline (1/20 = 5%), at least the minimum.
UPSTREAM_MARGIN_DIVISOR = 20
#: Bound on flushing buffered spans/metrics at shutdown.
TELEMETRY_FLUSH_MS = 5_000
#: Slack in the grace period for process exit and kubelet timing.
GRACE_MARGIN_MS = 2_000
#: The startupProbe window covers this multiple of the expected startup time.
STARTUP_FACTOR = 2
#: First Go minor version whose runtime derives GOMAXPROCS from the cgroup CPU limit.
CGROUP_AWARE_GO_MINOR = 25

#: First Kubernetes minor version with the native preStop sleep action on by default (beta in 1.30).
PRESTOP_SLEEP_KUBE_MINOR = 30
#: First Kubernetes minor version with native sidecars on by default (init containers with
#: `restartPolicy: Always`, stopped after the regular containers; beta in 1.29, GA in 1.33).
NATIVE_SIDECAR_KUBE_MINOR = 29

#: Every answer the rules read; defaults, limits and validators come from the table (hooks/settings.py).
_RULE_INPUTS = (
    "go_version", "cpu_request", "cpu_limit", "memory_request", "memory_limit", "gomemlimit_ratio",
    "gomaxprocs_policy", "slowest_request_seconds", "upstream_timeout_seconds", "proxy_idle_timeout_seconds",
    "endpoint_propagation_seconds", "drain_mode", "probe_timeout_seconds", "readiness_period_seconds",
    "readiness_failure_threshold", "liveness_period_seconds", "liveness_failure_threshold", "startup_seconds",
    "termination_grace_period_seconds", "replicas", "hpa_enabled", "hpa_min_replicas", "hpa_max_replicas",
    "hpa_cpu_target_percent",
)  # fmt: skip
#: Every answer the rules read, with its default (the table's, kept equal to copier.yml's by a test).
DEFAULTS: dict[str, Any] = {name: settings.BY_NAME[name].default for name in _RULE_INPUTS}
#: Single-field validators for the answers the rules read, except go_version: the rules work for any Go
#: 1.x (tests of the pre-1.25 GOMAXPROCS rule use 1.24); the table's range applies through validate.evaluate.
FIELDS: dict[str, Callable[[object], str]] = {name: settings.FIELDS[name] for name in _RULE_INPUTS[1:]}

_number = settings.number
_fmt = settings.fmt
to_bool = settings.to_bool


# ----------------------------------------------------------------------------- result
@dataclass
class Tuning:
    """Derived values plus, for each, the formula that produced it and why the rule exists."""

    values: dict[str, Any]
    reasons: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)

    def as_context(self) -> dict[str, Any]:
        """Return the dict placed in the render context as `tuned`."""
        return {**self.values, "reasons": dict(self.reasons), "warnings": list(self.warnings), "why": dict(self.why)}

    def value(self, key: str) -> Any:
        """Return the value at dotted `key` (e.g. 'durations.write_timeout')."""
        node: Any = self.values
        for part in key.split("."):
            node = node[part]
        return node

    def rows(self) -> list[tuple[str, Any, str, str]]:
        """Return (setting, value, formula, why) for every derived setting, in derivation order."""
        return [(key, self.value(key), formula, self.why.get(key, "")) for key, formula in self.reasons.items()]


# ----------------------------------------------------------------------------- helpers
def go_minor(version: object) -> int:
    """Return the minor number of a Go version like '1.26' or '1.25.3'."""
    m = re.fullmatch(r"1\.(\d+)(\.\d+)?", str(version))
    if not m:
        raise TuningError(f"go_version {version!r} must look like 1.26 or 1.26.3")
    return int(m.group(1))


def go_duration(ms: int) -> str:
    """Return a Go duration string for `ms` milliseconds ('15s', '7500ms')."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _ms(seconds: Fraction) -> int:
    """Return whole milliseconds for `seconds`, rounded up."""
    return math.ceil(seconds * 1000)


def _sec(ms: int) -> str:
    """Return `ms` as seconds for formulas ('7.5s', '15s')."""
    return f"{_fmt(Fraction(ms, 1000))}s"


class _Builder:
    """Collect values with their formula and why in one place."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.reasons: dict[str, str] = {}
        self.why: dict[str, str] = {}
        self.warnings: list[str] = []

    def set(self, key: str, value: Any, formula: str, why: str) -> Any:
        """Store `value` at dotted `key` with its formula and reason; return the value."""
        node = self.values
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        self.reasons[key] = formula
        self.why[key] = why
        return value


# ----------------------------------------------------------------------------- rules
def _validated(answers: dict[str, Any]) -> dict[str, Any]:
    """Return the answers the rules read, defaults filled in, after the single-field validators."""
    a = {k: answers.get(k, v) for k, v in DEFAULTS.items()}
    if "kubernetes_version" in answers:
        a["kubernetes_version"] = answers["kubernetes_version"]
    for name, rule in FIELDS.items():
        if msg := rule(a[name]):
            raise TuningError(msg)
    go_minor(a["go_version"])
    return a


def _resources(b: _Builder, a: dict[str, Any]) -> dict[str, Any]:
    """Resources: requests never above limits; returns the parsed quantities."""
    cpu_req = q.parse_cpu(a["cpu_request"], "cpu_request") if a["cpu_request"] else None
    cpu_lim = q.parse_cpu(a["cpu_limit"], "cpu_limit") if a["cpu_limit"] else None
    mem_req = q.parse_memory(a["memory_request"], "memory_request")
    mem_lim = q.parse_memory(a["memory_limit"], "memory_limit") if a["memory_limit"] else None
    if cpu_req is not None and cpu_lim is not None and cpu_req > cpu_lim:
        raise TuningError(
            f"cpu_request {a['cpu_request']} ({_fmt(cpu_req)} CPU) is above cpu_limit {a['cpu_limit']} "
            f"({_fmt(cpu_lim)} CPU); Kubernetes rejects a request above its limit"
        )
    if mem_lim is not None and mem_req > mem_lim:
        raise TuningError(
            f"memory_request {a['memory_request']} ({mem_req} bytes) is above memory_limit "
            f"{a['memory_limit']} ({mem_lim} bytes); Kubernetes rejects a request above its limit"
        )
    b.set(
        "resources.requests.cpu",
        a["cpu_request"],
        f"cpu_request {a['cpu_request']}" if a["cpu_request"] else "not set (cpu_request empty)",
        "what the scheduler reserves and what the HPA's utilisation is measured against",
    )
    b.set(
        "resources.limits.cpu",
        a["cpu_limit"],
        f"cpu_limit {a['cpu_limit']}" if a["cpu_limit"] else "not set (cpu_limit empty)",
        "CFS quota per 100ms period; no limit means no throttling, the request still reserves CPU",
    )
    b.set(
        "resources.requests.memory",
        a["memory_request"],
        f"memory_request {a['memory_request']}",
        "what the scheduler reserves; using more than it makes the pod an early eviction candidate",
    )
    b.set(
        "resources.limits.memory",
        a["memory_limit"],
        f"memory_limit {a['memory_limit']}" if a["memory_limit"] else "not set (memory_limit empty)",
        "hard cgroup limit: the container is OOM-killed above it",
    )
    if cpu_req is None:
        b.warnings.append("cpu_request is empty: the pod gets no CPU reservation and an HPA cannot scale on CPU")
    if mem_lim is None:
        b.warnings.append(
            "memory_limit is empty: GOMEMLIMIT stays unset and the service can grow until the node runs out"
        )
    elif mem_req < mem_lim:
        b.warnings.append(
            f"memory_request {a['memory_request']} is below memory_limit {a['memory_limit']}: under node "
            "memory pressure the pod can be evicted while it uses more than its request; "
            "request = limit makes memory predictable"
        )
    return {"cpu_request": cpu_req, "cpu_limit": cpu_lim, "memory_request": mem_req, "memory_limit": mem_lim}


def go_default_gomaxprocs(limit: Fraction) -> int:
    """Return what Go >= 1.25 picks under CPU limit `limit` on a node with enough cores: max(2, ceil(limit))."""
    return max(2, math.ceil(limit))


# Pure formulas shared by `derive` (gosmith new/tune) and `gosmith doctor` (checks existing manifests):
# each number is computed in exactly one place.
def gomaxprocs_floor(limit: Fraction) -> int:
    """Return max(1, floor(limit)): GOMAXPROCS that never exceeds the CPU quota (policy floor)."""
    return max(1, math.floor(limit))


def gomaxprocs_ceil(limit: Fraction) -> int:
    """Return max(1, ceil(limit)): the most threads a CPU quota of `limit` cores can keep busy (policy ceil)."""
    return max(1, math.ceil(limit))


def runtime_follows_cgroup(minor: int) -> bool:
    """Return whether Go 1.`minor` derives GOMAXPROCS from the cgroup CPU limit (Go >= 1.25)."""
    return minor >= CGROUP_AWARE_GO_MINOR


def gomemlimit_ceiling(mem_limit: int) -> int:
    """Return the highest GOMEMLIMIT (bytes) that keeps MIN_HEADROOM below the memory limit."""
    return mem_limit - MIN_HEADROOM


def gomemlimit_bytes(mem_limit: int, ratio: Fraction) -> tuple[int, bool]:
    """Return (GOMEMLIMIT, capped): limit x ratio rounded down to MiB, capped at the headroom ceiling in MiB."""
    by_ratio = math.floor(mem_limit * ratio) // q.MI * q.MI
    by_headroom = gomemlimit_ceiling(mem_limit) // q.MI * q.MI
    return (by_ratio, False) if by_ratio <= by_headroom else (by_headroom, True)


def app_idle_timeout_ms(proxy_idle_ms: int) -> int:
    """Return the app's idle timeout for a proxy idle timeout: proxy + IDLE_MARGIN_MS (the proxy closes first)."""
    return proxy_idle_ms + IDLE_MARGIN_MS


def stop_ms(prestop_ms: int, drain_ms: int, shutdown_ms: int, flush_ms: int) -> int:
    """Return how long the service runs after termination starts: preStop + drain + shutdown + flush."""
    return prestop_ms + drain_ms + shutdown_ms + flush_ms


def grace_needed_ms(prestop_ms: int, drain_ms: int, shutdown_ms: int, flush_ms: int) -> int:
    """Return the time the grace period must cover: preStop + drain + shutdown + flush + GRACE_MARGIN_MS."""
    return stop_ms(prestop_ms, drain_ms, shutdown_ms, flush_ms) + GRACE_MARGIN_MS


def sidecar_grace_needed_ms(app_needed_ms: int, sidecar_prestop_ms: int, sidecar_shutdown_ms: int) -> int:
    """Return the grace period a native sidecar needs: it is stopped only after the service exited, so the
    service's needs (grace_needed_ms) plus the sidecar's own preStop + shutdown + GRACE_MARGIN_MS."""
    return app_needed_ms + grace_needed_ms(sidecar_prestop_ms, 0, sidecar_shutdown_ms, 0)


def grace_seconds(total_ms: int) -> int:
    """Return whole seconds of terminationGracePeriodSeconds covering `total_ms` (rounded up)."""
    return math.ceil(Fraction(total_ms, 1000))


def probe_window_seconds(period: int, failure_threshold: int) -> int:
    """Return how long a probe must fail before it acts: periodSeconds x failureThreshold."""
    return period * failure_threshold


def probe_timeout_fits(timeout: int, period: int) -> bool:
    """Return whether a probe times out before the next one is due (timeoutSeconds < periodSeconds)."""
    return timeout < period


def liveness_more_lenient(l_period: int, l_fail: int, r_period: int, r_fail: int) -> bool:
    """Return whether liveness acts strictly later than readiness (a busy pod leaves rotation before a restart)."""
    return probe_window_seconds(l_period, l_fail) > probe_window_seconds(r_period, r_fail)


def _gomaxprocs(b: _Builder, a: dict[str, Any], cpu_limit: Fraction | None) -> int:
    """GOMAXPROCS from the CPU limit, the policy and whether the Go runtime is cgroup-aware."""
    policy = a["gomaxprocs_policy"]
    minor = go_minor(a["go_version"])
    why = "a CPU limit below the parallelism the runtime schedules makes the CFS quota throttle, hurting p99"
    if cpu_limit is None:
        return b.set("gomaxprocs", 0, "unset: no CPU limit, the runtime uses every CPU the pod may run on", why)
    lim = q.format_cpu(cpu_limit)
    go_choice = go_default_gomaxprocs(cpu_limit)
    go_text = f"Go's own choice max(2, ceil({lim})) = {go_choice}"
    floor_v = gomaxprocs_floor(cpu_limit)
    ceil_v = gomaxprocs_ceil(cpu_limit)
    if not runtime_follows_cgroup(minor):
        value, formula = {
            "floor": (floor_v, f"max(1, floor(limits.cpu {lim}))"),
            "ceil": (ceil_v, f"max(1, ceil(limits.cpu {lim}))"),
            "go": (go_choice, f"max(2, ceil(limits.cpu {lim})), what Go 1.25+ would pick"),
        }[policy]
        b.warnings.append(
            f"go_version {a['go_version']} ignores the cgroup CPU limit: GOMAXPROCS is set explicitly to "
            f"{value}; the runtime will not follow later limit changes"
        )
        return b.set("gomaxprocs", value, f"{value} = {formula} (Go 1.{minor} ignores cgroup limits, always set)", why)
    if policy == "go":
        if cpu_limit < 2:
            b.warnings.append(
                f"gomaxprocs_policy go under cpu_limit {lim}: Go runs {go_choice} threads against a "
                f"{lim}-CPU quota, which throttles under load (policy floor would set 1)"
            )
        return b.set("gomaxprocs", 0, f"unset: policy go keeps {go_text}", why)
    want, formula = (
        (floor_v, f"max(1, floor(limits.cpu {lim}))")
        if policy == "floor"
        else (
            ceil_v,
            f"max(1, ceil(limits.cpu {lim}))",
        )
    )
    lower_only = policy == "floor"
    if (lower_only and want < go_choice) or (not lower_only and want != go_choice):
        return b.set("gomaxprocs", want, f"{want} = {formula}, below {go_text}", why)
    return b.set(
        "gomaxprocs",
        0,
        f"unset: {formula} = {want} equals {go_text}; unset keeps tracking limit changes",
        why,
    )


def _gomemlimit(b: _Builder, a: dict[str, Any], mem_limit: int | None) -> str:
    """GOMEMLIMIT = limit x ratio rounded down to MiB, keeping at least MIN_HEADROOM below the limit."""
    why = "a soft limit makes the GC work harder before the cgroup OOM-kills the container"
    if mem_limit is None:
        return b.set("gomemlimit", "", "unset: no memory limit", why)
    lim = a["memory_limit"]
    if mem_limit < MIN_MEMORY_LIMIT:
        raise TuningError(
            f"memory_limit {lim} ({mem_limit // 1024}Ki) is too small: the service needs at least "
            f"{q.format_bytes(MIN_MEMORY_LIMIT)} = {MIN_GOMEMLIMIT // q.MI}Mi for the Go runtime + "
            f"{MIN_HEADROOM // q.MI}Mi headroom"
        )
    ratio = _number(a["gomemlimit_ratio"], "gomemlimit_ratio")
    assert isinstance(ratio, Fraction)
    value, capped = gomemlimit_bytes(mem_limit, ratio)
    if not capped:
        formula = f"{q.format_mib(value)} = {_fmt(ratio)} x limits.memory {lim}, rounded down to MiB"
    else:
        formula = (
            f"{q.format_mib(value)} = limits.memory {lim} - {MIN_HEADROOM // q.MI}MiB headroom "
            f"({_fmt(ratio)} x limit would leave less)"
        )
    return b.set("gomemlimit", q.format_mib(value), formula, why)


def _durations(b: _Builder, a: dict[str, Any]) -> dict[str, int]:
    """The request time budget, drain and shutdown, in milliseconds."""
    slowest = _ms(Fraction(str(a["slowest_request_seconds"])))
    proxy_idle = int(a["proxy_idle_timeout_seconds"]) * 1000
    propagation = _ms(Fraction(str(a["endpoint_propagation_seconds"])))
    r_period = int(a["readiness_period_seconds"])
    r_fail = int(a["readiness_failure_threshold"])

    rht = b.set(
        "durations.read_header_timeout",
        READ_HEADER_TIMEOUT_MS,
        f"{_sec(READ_HEADER_TIMEOUT_MS)} fixed",
        "bounds slow-header (Slowloris) clients; without it net/http falls back to ReadTimeout",
    )
    handler = max(math.ceil(slowest * 3 / 2 / 100) * 100, slowest + 1000)
    b.set(
        "durations.handler_timeout",
        handler,
        f"{_sec(handler)} = max(1.5 x slowest_request {_sec(slowest)} rounded up to 100ms, slowest + 1s)",
        "normal requests finish well inside it; a stuck one gets a 503 instead of holding a connection",
    )
    b.set(
        "durations.read_timeout",
        rht + handler,
        f"{_sec(rht + handler)} = read_header_timeout {_sec(rht)} + handler_timeout {_sec(handler)}",
        "headers, then the body read by the handler inside its own deadline",
    )
    write = b.set(
        "durations.write_timeout",
        handler + WRITE_MARGIN_MS,
        f"{_sec(handler + WRITE_MARGIN_MS)} = handler_timeout {_sec(handler)} + {_sec(WRITE_MARGIN_MS)}",
        "must exceed the handler deadline, or the connection is cut before the timeout response is written",
    )
    idle = app_idle_timeout_ms(proxy_idle)
    b.set(
        "durations.idle_timeout",
        idle,
        f"{_sec(idle)} = proxy_idle_timeout {_sec(proxy_idle)} + {_sec(IDLE_MARGIN_MS)}",
        "the proxy must close idle keep-alive connections first, or it reuses one the app just closed (502)",
    )
    if a["drain_mode"] == "app":
        drain = propagation + r_period * r_fail * 1000
        b.set(
            "durations.drain_delay",
            drain,
            f"{_sec(drain)} = endpoint_propagation {_sec(propagation)} + readiness period {r_period}s x "
            f"failureThreshold {r_fail} (the app fails /readyz on SIGTERM, keeps serving, then shuts down)",
            "endpoint removal and failing readiness take effect while the app still accepts requests",
        )
        sleep = 0
        b.set("prestop_sleep_seconds", 0, "0: drain_mode app drains in the app", "exactly one drain delay")
    else:
        sleep = math.ceil(Fraction(propagation, 1000))
        b.set("durations.drain_delay", 0, "0s: drain_mode prestop sleeps in preStop instead", "exactly one drain delay")
        b.set(
            "prestop_sleep_seconds",
            sleep,
            f"{sleep} = ceil(endpoint_propagation {_sec(propagation)}) (native preStop sleep, before SIGTERM)",
            "the pod keeps serving while endpoints are removed; SIGTERM arrives after the sleep",
        )
        kube = re.fullmatch(r"1\.(\d+)", str(a.get("kubernetes_version", "")))
        if kube and int(kube.group(1)) < PRESTOP_SLEEP_KUBE_MINOR:
            raise TuningError(
                f"drain_mode prestop needs the native preStop sleep action (Kubernetes >= 1.30), but "
                f"kubernetes_version is {a['kubernetes_version']}: use drain_mode app"
            )
        if not kube:
            b.warnings.append(
                "drain_mode prestop uses the native lifecycle.preStop.sleep action: Kubernetes >= 1.30 "
                "(beta, on by default; GA in 1.34)"
            )
        drain = sleep * 1000
    shutdown = b.set(
        "durations.shutdown_timeout",
        write,
        f"{_sec(write)} = write_timeout {_sec(write)}",
        "a request accepted just before shutdown may run for write_timeout; Shutdown waits that long",
    )
    flush = b.set(
        "durations.telemetry_flush_timeout",
        TELEMETRY_FLUSH_MS,
        f"{_sec(TELEMETRY_FLUSH_MS)} fixed",
        "flushing spans and metrics at exit must be bounded so shutdown fits the grace period",
    )
    _upstream(b, a, handler)
    return {"drain": drain, "shutdown": shutdown, "flush": flush}


def upstream_margin_ms(handler_ms: int) -> int:
    """Margin kept from the caller's budget: max(50ms, handler deadline / 20 rounded up to 10ms)."""
    return max(UPSTREAM_MARGIN_MIN_MS, math.ceil(Fraction(handler_ms, UPSTREAM_MARGIN_DIVISOR * 10)) * 10)


def _upstream(b: _Builder, a: dict[str, Any], handler: int) -> None:
    """Upstream call timeout and margin; the timeout must fit the handler deadline minus the margin."""
    margin = upstream_margin_ms(handler)
    b.set(
        "durations.upstream_margin",
        margin,
        f"{_sec(margin)} = max({_sec(UPSTREAM_MARGIN_MIN_MS)}, handler_timeout {_sec(handler)} / "
        f"{UPSTREAM_MARGIN_DIVISOR} rounded up to 10ms)",
        "a call cut at the caller's deadline leaves no time to answer the caller; the margin does",
    )
    fits = handler - margin
    explicit = _ms(Fraction(str(a["upstream_timeout_seconds"])))
    why = "a call that may outlive the handler deadline is cut by it anyway, after the caller got its 503"
    if explicit == 0:
        b.set("durations.upstream_timeout", fits,
              f"{_sec(fits)} = handler_timeout {_sec(handler)} - upstream_margin {_sec(margin)}", why)
        return
    if explicit > fits:
        raise TuningError(
            f"upstream_timeout_seconds {_fmt(Fraction(explicit, 1000))} is longer than the handler deadline "
            f"allows: handler_timeout {_sec(handler)} - upstream_margin {_sec(margin)} = {_sec(fits)} "
            "(raise slowest_request_seconds, or 0 to derive it)"
        )
    b.set("durations.upstream_timeout", explicit,
          f"{_sec(explicit)} = answer (<= handler_timeout {_sec(handler)} - upstream_margin {_sec(margin)})", why)


def _grace(b: _Builder, a: dict[str, Any], t: dict[str, int]) -> int:
    """terminationGracePeriodSeconds >= drain + shutdown + flush + margin (derived when 0)."""
    total = grace_needed_ms(0, t["drain"], t["shutdown"], t["flush"])
    needed = grace_seconds(total)
    drain_name = "preStop sleep" if a["drain_mode"] == "prestop" else "drain"
    sum_text = (
        f"{drain_name} {_sec(t['drain'])} + shutdown {_sec(t['shutdown'])} + telemetry flush "
        f"{_sec(t['flush'])} + margin {_sec(GRACE_MARGIN_MS)} = {_sec(total)}"
    )
    why = "the kubelet sends SIGKILL when the grace period (which includes preStop) runs out"
    explicit = int(a["termination_grace_period_seconds"])
    if explicit == 0:
        return b.set("termination_grace_period_seconds", needed, f"{needed} = ceil({sum_text})", why)
    if explicit < needed:
        raise TuningError(
            f"termination_grace_period_seconds {explicit} is too small: {sum_text}, so it must be at least "
            f"{needed} (or 0 to derive it)"
        )
    return b.set(
        "termination_grace_period_seconds", explicit, f"{explicit} = answer (>= {needed} = ceil({sum_text}))", why
    )


def _probes(b: _Builder, a: dict[str, Any]) -> None:
    """Probe timing: timeout < period, liveness more lenient than readiness, startup covers startup time."""
    timeout = int(a["probe_timeout_seconds"])
    r_period, r_fail = int(a["readiness_period_seconds"]), int(a["readiness_failure_threshold"])
    l_period, l_fail = int(a["liveness_period_seconds"]), int(a["liveness_failure_threshold"])
    startup = int(a["startup_seconds"])
    for name, period in (("readiness", r_period), ("liveness", l_period)):
        if not probe_timeout_fits(timeout, period):
            raise TuningError(
                f"probe_timeout_seconds {timeout} must be below {name}_period_seconds {period}: "
                "a probe must time out before the next one starts"
            )
    if not liveness_more_lenient(l_period, l_fail, r_period, r_fail):
        raise TuningError(
            f"liveness must be more lenient than readiness: liveness {l_period}s x {l_fail} = "
            f"{l_period * l_fail}s must exceed readiness {r_period}s x {r_fail} = {r_period * r_fail}s, "
            "or a slow pod is restarted before it is merely taken out of rotation"
        )
    s_period = max(2, timeout + 1)
    s_fail = max(3, math.ceil(Fraction(STARTUP_FACTOR * startup, s_period)))
    b.set(
        "probes.startup",
        {"periodSeconds": s_period, "timeoutSeconds": timeout, "failureThreshold": s_fail, "successThreshold": 1},
        f"period {s_period}s x failureThreshold {s_fail} = {s_period * s_fail}s >= {STARTUP_FACTOR} x "
        f"startup_seconds {startup}s",
        "liveness and readiness only start after the startup probe succeeds, so a slow start is not killed",
    )
    b.set(
        "probes.readiness",
        {"periodSeconds": r_period, "timeoutSeconds": timeout, "failureThreshold": r_fail, "successThreshold": 1},
        f"out of rotation after {r_period}s x {r_fail} = {r_period * r_fail}s of failures; timeout {timeout}s",
        "readiness takes an overloaded or draining pod out of rotation without restarting it",
    )
    b.set(
        "probes.liveness",
        {"periodSeconds": l_period, "timeoutSeconds": timeout, "failureThreshold": l_fail, "successThreshold": 1},
        f"restart after {l_period}s x {l_fail} = {l_period * l_fail}s > readiness {r_period * r_fail}s",
        "a restart is the last resort: only for a process that is stuck, never for one that is just busy",
    )


def _scaling(b: _Builder, a: dict[str, Any], cpu_request: Fraction | None) -> None:
    """Replicas, HPA bounds and the PDB."""
    hpa = bool(to_bool(a["hpa_enabled"]))
    if hpa:
        lo, hi, target = int(a["hpa_min_replicas"]), int(a["hpa_max_replicas"]), int(a["hpa_cpu_target_percent"])
        if lo > hi:
            raise TuningError(f"hpa_min_replicas {lo} must not exceed hpa_max_replicas {hi}")
        if cpu_request is None:
            raise TuningError("hpa_enabled needs cpu_request: the HPA's CPU utilisation is a percentage of the request")
        b.set(
            "hpa",
            {"enabled": True, "minReplicas": lo, "maxReplicas": hi, "targetCPUUtilizationPercentage": target},
            f"{lo}..{hi} replicas at {target}% of requests.cpu {a['cpu_request']} "
            f"(= {q.format_cpu(cpu_request * target / 100)} per pod)",
            "scale out before the pods saturate; utilisation is measured against the CPU request",
        )
        replicas = b.set("replicas", lo, f"{lo} = hpa_min_replicas (the HPA owns the count)", "starting size")
        most = hi
    else:
        replicas = int(a["replicas"])
        b.set(
            "hpa",
            {
                "enabled": False,
                "minReplicas": int(a["hpa_min_replicas"]),
                "maxReplicas": int(a["hpa_max_replicas"]),
                "targetCPUUtilizationPercentage": int(a["hpa_cpu_target_percent"]),
            },
            "disabled (hpa_enabled false)",
            "fixed replica count",
        )
        b.set("replicas", replicas, f"{replicas} = replicas", "fixed replica count")
        most = replicas
    if most >= 2:
        b.set(
            "pdb",
            {"enabled": True, "maxUnavailable": 1},
            f"enabled, maxUnavailable 1 (up to {most} replicas)",
            "voluntary disruptions (node drains) evict one pod at a time; never blocks a drain outright",
        )
    else:
        b.set(
            "pdb",
            {"enabled": False, "maxUnavailable": 1},
            "disabled: at most 1 replica can exist",
            "a PDB on a single replica either blocks node drains or protects nothing",
        )
        b.warnings.append("a single replica: every node drain or crash is an outage")
    if hpa and replicas < 2 <= most:
        b.warnings.append(
            "hpa_min_replicas 1: at minimum size a node drain evicts the only pod (the PDB allows 1 unavailable)"
        )


def derive(answers: dict[str, Any]) -> Tuning:
    """Return the tuned values for `answers`; raise TuningError for invalid or impossible answers."""
    a = _validated(answers)
    b = _Builder()
    res = _resources(b, a)
    _gomaxprocs(b, a, res["cpu_limit"])
    _gomemlimit(b, a, res["memory_limit"])
    times = _durations(b, a)
    _grace(b, a, times)
    _probes(b, a)
    _scaling(b, a, res["cpu_request"])
    values = b.values
    values["durations_ms"] = dict(values["durations"])
    values["durations"] = {k: go_duration(v) for k, v in values["durations"].items()}
    values["drain_mode"] = a["drain_mode"]
    return Tuning(values=values, reasons=b.reasons, warnings=b.warnings, why=b.why)
