"""The built service inside real cgroups: GOMAXPROCS and GOMEMLIMIT derived from the limits it runs
under, reported in its log and metrics, and followed when the limits change while it runs.

Needs root and writable cgroup v1 `cpu` and `memory` hierarchies (cgroup v2 is covered by the Go
unit tests' fixture files); skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gen import Rendered, listeners, stop, wait_http
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

MI = 1 << 20
PERIOD = 100_000
NO_LIMIT = (1 << 63) - 1  # what debug.SetMemoryLimit reports when GOMEMLIMIT is unset
NO_LIMIT_SAMPLE = float(NO_LIMIT)  # the same as a metric sample
CPU_WARNING = "explicit GOMAXPROCS exceeds the cgroup CPU limit: the CFS quota throttles the service under load"
MEMORY_WARNING = (
    "explicit GOMEMLIMIT is not below the cgroup memory limit: the container is OOM-killed before the GC works harder"
)
RECHECK = 0.5  # LIMITS_RECHECK_INTERVAL in seconds, for the tests that change limits
#: The Go collector's metrics of the values really in force.
RUNTIME_VIEW = ("go_sched_gomaxprocs_threads", "go_gc_gomemlimit_bytes")
#: CPUs this process may run on: Go's own GOMAXPROCS without a CPU limit.
CPUS = len(os.sched_getaffinity(0))
#: With one CPU, Go's own GOMAXPROCS is already 1 and the service leaves it alone.
needs_2_cpus = pytest.mark.skipif(CPUS < 2, reason="needs 2 CPUs: with one, Go's own GOMAXPROCS is already 1")


def go_default_gomaxprocs(quota: int) -> int:
    """Go >= 1.25's own GOMAXPROCS under a CPU quota: min(CPUs, max(2, ceil(quota / period)))."""
    return min(CPUS, max(2, -(-quota // PERIOD)))


def v1_hierarchy(controller: str) -> tuple[Path, str] | str:
    """Return (mount point, this process's path) of a v1 controller, or why there is none."""
    own = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hid, controllers, path = line.split(":", 2)
        if hid != "0" and controller in controllers.split(","):
            own = path
    if own is None:
        return f"this process is in no cgroup v1 {controller} hierarchy (cgroup v2 only or no cgroups)"
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, (fstype, _src, opts) = left.split(), right.split()[:3]
        if fstype == "cgroup" and controller in opts.split(",") and fields[3] == "/":
            return Path(fields[4]), own
    return f"no cgroup v1 {controller} mount with root / in /proc/self/mountinfo"


@dataclass
class Cgroups:
    """A fresh cgroup in the v1 cpu and memory hierarchies, below this process's own."""

    cpu: Path
    memory: Path

    def set(self, quota: int | None = None, memory: int | None = None) -> None:
        """Set the CPU quota (us per 100 ms period, -1 = none) and/or the memory limit (bytes, -1 = none)."""
        if quota is not None:
            (self.cpu / "cpu.cfs_quota_us").write_text(str(quota))
        if memory is not None:
            (self.memory / "memory.limit_in_bytes").write_text(str(memory))

    def remove(self) -> None:
        """Remove both directories (retried: the kernel frees an exited task's cgroup lazily)."""
        for path in (self.cpu, self.memory):
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


@pytest.fixture
def cgroups() -> Iterator[Cgroups]:
    """Create the test's cgroups (no limits yet); skip where no writable cgroup v1 exists."""
    if os.geteuid() != 0:
        pytest.skip("creating cgroups needs root")
    found = {c: v1_hierarchy(c) for c in ("cpu", "memory")}
    for reason in found.values():
        if isinstance(reason, str):
            pytest.skip(reason)
    name = f"gosmith-limits-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    dirs = {}
    for controller, (mount, own) in found.items():  # type: ignore[misc]
        path = mount / own.lstrip("/") / name
        try:
            path.mkdir()
        except OSError as exc:
            for made in dirs.values():
                made.rmdir()
            pytest.skip(f"cannot create a cgroup in the v1 {controller} hierarchy ({path}): {exc}")
        dirs[controller] = path
    cg = Cgroups(dirs["cpu"], dirs["memory"])
    (cg.cpu / "cpu.cfs_period_us").write_text(str(PERIOD))
    cg.set(quota=-1, memory=-1)
    yield cg
    cg.remove()


@pytest.fixture(scope="module")
def binary(rendered: Rendered) -> Path:
    """The default service, built like the Dockerfile builds it (shared with the other modules)."""
    return rendered.binary("defaults")


@dataclass
class Service:
    """The service running inside the test's cgroups; stdout lines collected in the background."""

    proc: subprocess.Popen[str]
    admin: str
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.proc.stdout
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
        except ValueError:  # the teardown's stop() read the rest and closed the pipe
            pass

    def log(self) -> list[dict]:
        """Return the JSON log lines so far."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def messages(self, msg: str) -> list[dict]:
        return [line for line in self.log() if line["msg"] == msg]

    def starting(self) -> dict:
        found = self.messages("starting")
        assert len(found) == 1, self.lines
        return found[0]

    def metrics(self) -> dict[str, float]:
        """Return the runtime-limit samples of /metrics, keyed `name` or `name{source}`; the go_* ones
        are the Go runtime's own view (client_golang's Go collector)."""
        with urllib.request.urlopen(self.admin + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith(("app_runtime_", "app_cgroup_")) or s.name in RUNTIME_VIEW:
                    out[s.name + (f"{{{s.labels['source']}}}" if "source" in s.labels else "")] = s.value
        return out


@pytest.fixture
def run(binary: Path, cgroups: Cgroups) -> Iterator[Callable[..., Service]]:
    """Start the service inside `cgroups` (it joins them before exec); stop it at the end."""
    started: list[Service] = []

    def _run(env: dict[str, str] | None = None) -> Service:
        ports = listeners()
        admin = ports.admin
        full = {
            "PATH": "/usr/bin:/bin",
            **ports.env,
            "DRAIN_DELAY": "0s",
            "OTEL_TRACES_EXPORTER": "none",
            "LIMITS_RECHECK_INTERVAL": f"{int(RECHECK * 1000)}ms",
            **(env or {}),
        }
        join = 'echo $$ > "$1" && echo $$ > "$2" && exec "$3"'
        procs = [str(cgroups.cpu / "cgroup.procs"), str(cgroups.memory / "cgroup.procs")]
        cmd = ["/bin/sh", "-c", join, "sh", *procs, str(binary)]
        proc = subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        svc = Service(proc, f"http://127.0.0.1:{admin}")
        started.append(svc)
        threading.Thread(target=svc.read, daemon=True).start()
        try:
            wait_http(svc.admin + "/readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; exit code {svc.proc.poll()}; output: {svc.lines}") from None
        return svc

    yield _run
    for svc in started:
        if svc.proc.poll() is None:
            stop(svc.proc, 10)


def eventually(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll `check` (which raises AssertionError until it holds) for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not within {timeout}s: {exc}") from exc
        time.sleep(0.1)


@needs_2_cpus
def test_500m_and_512mi_give_gomaxprocs_1_and_gomemlimit_460mib(run, cgroups: Cgroups) -> None:
    """Under a 50 ms/100 ms quota and 512Mi: GOMAXPROCS 1 (Go alone picks 2) and GOMEMLIMIT 0.9 x 512Mi."""
    cgroups.set(quota=50_000, memory=512 * MI)
    svc = run()
    start = svc.starting()
    assert (start["gomaxprocs"], start["gomaxprocs_source"]) == (1, "cgroup"), start
    assert (start["gomemlimit"], start["gomemlimit_source"]) == (460 * MI, "cgroup"), start
    assert (start["cgroup_cpu_limit"], start["cgroup_memory_limit"]) == (0.5, 512 * MI), start
    assert (start["gomaxprocs_policy"], start["gomemlimit_ratio"]) == ("floor", "0.9"), start
    m = svc.metrics()
    assert m["app_runtime_gomaxprocs{cgroup}"] == 1 and m["app_runtime_gomemlimit_bytes{cgroup}"] == 460 * MI, m
    assert m["app_cgroup_cpu_limit_cores"] == 0.5 and m["app_cgroup_memory_limit_bytes"] == 512 * MI, m
    assert m["go_sched_gomaxprocs_threads"] == 1 and m["go_gc_gomemlimit_bytes"] == 460 * MI, m  # in force
    assert not svc.messages("no cgroup memory limit: GOMEMLIMIT stays unset")


def test_without_limits_go_decides(run) -> None:
    """No CPU and no memory limit: Go's own GOMAXPROCS (the CPU count) and no GOMEMLIMIT, said once."""
    svc = run()
    start = svc.starting()
    assert (start["gomaxprocs"], start["gomaxprocs_source"]) == (CPUS, "default"), start
    assert (start["gomemlimit"], start["gomemlimit_source"]) == (NO_LIMIT, "default"), start
    assert (start["cgroup_cpu_limit"], start["cgroup_memory_limit"]) == (0, 0), start
    m = svc.metrics()
    assert m["app_runtime_gomaxprocs{default}"] == CPUS, m
    assert m["app_runtime_gomemlimit_bytes{default}"] == NO_LIMIT_SAMPLE, m
    assert m["app_cgroup_cpu_limit_cores"] == 0 and m["app_cgroup_memory_limit_bytes"] == 0, m
    assert m["go_sched_gomaxprocs_threads"] == CPUS and m["go_gc_gomemlimit_bytes"] == NO_LIMIT_SAMPLE, m
    time.sleep(3 * RECHECK)
    assert len(svc.messages("no cgroup memory limit: GOMEMLIMIT stays unset")) == 1
    assert not svc.messages("runtime limits changed"), svc.lines


@needs_2_cpus
def test_follows_a_resize_while_running(run, cgroups: Cgroups) -> None:
    """Raising the quota to 3 CPUs hands GOMAXPROCS back to Go; lowering it takes it again; memory follows."""
    cgroups.set(quota=50_000, memory=512 * MI)
    svc = run()
    assert svc.starting()["gomaxprocs"] == 1
    within = 4 * RECHECK + 2  # a re-check plus scheduling slack on a busy machine

    cgroups.set(quota=300_000, memory=1024 * MI)
    want = go_default_gomaxprocs(300_000)

    def raised() -> None:
        m = svc.metrics()
        assert m.get("app_runtime_gomaxprocs{default}") == want, m
        assert m.get("app_runtime_gomemlimit_bytes{cgroup}") == 921 * MI, m  # floor(0.9 x 1024) MiB
        assert m["app_cgroup_cpu_limit_cores"] == 3 and "app_runtime_gomaxprocs{cgroup}" not in m, m
        assert m["go_sched_gomaxprocs_threads"] == want and m["go_gc_gomemlimit_bytes"] == 921 * MI, m

    eventually(raised, within, "GOMAXPROCS back to Go's own value after the quota was raised")
    changed = svc.messages("runtime limits changed")
    assert changed and changed[-1]["gomaxprocs"] == want and changed[-1]["gomaxprocs_source"] == "default", changed
    assert changed[-1]["previous"]["gomaxprocs"] == 1, changed

    cgroups.set(quota=50_000)

    def lowered() -> None:
        m = svc.metrics()
        assert m.get("app_runtime_gomaxprocs{cgroup}") == 1 and m["app_cgroup_cpu_limit_cores"] == 0.5, m
        assert m["go_sched_gomaxprocs_threads"] == 1, m

    eventually(lowered, within, "GOMAXPROCS 1 after the quota was lowered again")
    last = svc.messages("runtime limits changed")[-1]
    assert (last["gomaxprocs"], last["gomaxprocs_source"], last["cgroup_cpu_limit"]) == (1, "cgroup", 0.5), last

    cgroups.set(memory=-1)

    def unlimited() -> None:
        m = svc.metrics()
        assert m.get("app_runtime_gomemlimit_bytes{default}") == NO_LIMIT_SAMPLE, m
        assert m["app_cgroup_memory_limit_bytes"] == 0 and m["go_gc_gomemlimit_bytes"] == NO_LIMIT_SAMPLE, m

    eventually(unlimited, within, "GOMEMLIMIT unset after the memory limit was removed")


def test_explicit_env_wins_and_is_warned_about(run, cgroups: Cgroups) -> None:
    """GOMAXPROCS=2 and GOMEMLIMIT=600MiB stay as set under 500m/512Mi and after a resize, with warnings."""
    cgroups.set(quota=50_000, memory=512 * MI)
    svc = run({"GOMAXPROCS": "2", "GOMEMLIMIT": "600MiB"})
    start = svc.starting()
    assert (start["gomaxprocs"], start["gomaxprocs_source"]) == (2, "env"), start
    assert (start["gomemlimit"], start["gomemlimit_source"]) == (600 * MI, "env"), start
    warnings = {line["msg"]: line for line in svc.log() if line["level"] == "warn"}
    cpu_warning, mem_warning = warnings[CPU_WARNING], warnings[MEMORY_WARNING]
    assert cpu_warning["gomaxprocs"] == 2 and cpu_warning["cgroup_cpu_limit"] == 0.5
    assert mem_warning["gomemlimit"] == 600 * MI and mem_warning["cgroup_memory_limit"] == 512 * MI

    cgroups.set(quota=25_000)

    def seen() -> None:
        m = svc.metrics()
        assert m["app_cgroup_cpu_limit_cores"] == 0.25, m

    eventually(seen, 4 * RECHECK + 2, "the new quota in the metrics")
    m = svc.metrics()
    assert m["app_runtime_gomaxprocs{env}"] == 2 and m["app_runtime_gomemlimit_bytes{env}"] == 600 * MI, m
    assert m["go_sched_gomaxprocs_threads"] == 2 and m["go_gc_gomemlimit_bytes"] == 600 * MI, m
