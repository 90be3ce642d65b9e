"""Shared helpers for gosmith's benchmarks: machine facts, render/build a service, run it, load it, report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
for _p in (ROOT / "src",):  # gosmith from this checkout even without an install
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

#: Business route measured by the load benchmarks (the generated service's example handler).
DEFAULT_PATH = "/v1/hello/bench"
#: Environment every benchmarked service gets: loopback listeners only, no collector to export to.
BASE_ENV = {"APP_ENV": "bench", "LOG_LEVEL": "warn", "OTEL_SDK_DISABLED": "true"}


def machine() -> dict[str, str]:
    """Return the facts that make a benchmark number comparable: CPUs, CPU model, kernel, Go, Python."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        go = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        go = "go: not found"
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": model,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "go": go,
        "python": platform.python_version(),
        # Other work on the machine skews every number: record the 1-minute load average at the start.
        "load": f"{os.getloadavg()[0]:.2f}",
    }


def parser(description: str) -> argparse.ArgumentParser:
    """Return an argument parser with the options every benchmark shares (--json, --keep)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, help="also write the result as JSON to this file (used by run_all.py)")
    p.add_argument("--workdir", type=Path, help="work in this directory (default: a temporary one, removed after)")
    return p


@dataclass
class Report:
    """One benchmark's result: a table of metric/value rows plus the context needed to reproduce it."""

    benchmark: str
    title: str
    command: str = field(default_factory=lambda: shlex.join([Path(sys.executable).name, *sys.argv]))
    machine: dict[str, str] = field(default_factory=machine)
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""

    def header(self) -> None:
        """Print what runs where, before the work starts."""
        m = self.machine
        print(f"== {self.title}")
        print(f"machine: {m['nproc']} CPUs, {m['cpu']}, {m['kernel']}, load average {m['load']}")
        print(f"go: {m['go']}; python {m['python']}")
        print(f"command: {self.command}", flush=True)

    def add(self, metric: str, value: str) -> None:
        """Record and print one result row."""
        self.rows.append((metric, value))
        print(f"  {metric}: {value}", flush=True)

    def note(self, text: str) -> None:
        """Record and print a note that qualifies the numbers."""
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def finish(self, path: Path | None) -> None:
        """Write the JSON result when asked."""
        if path:
            data = {
                "benchmark": self.benchmark,
                "title": self.title,
                "command": self.command,
                "machine": self.machine,
                "rows": self.rows,
                "notes": self.notes,
                "skipped": self.skipped,
            }
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@contextmanager
def workdir(given: Path | None) -> Iterator[Path]:
    """Yield `given` (created) or a temporary directory that is removed afterwards."""
    if given:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    tmp = Path(tempfile.mkdtemp(prefix="gosmith-bench-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run `cmd`; raise with its output when it fails; return stdout."""
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def gosmith_cmd() -> list[str]:
    """Return the command that runs the gosmith CLI of this checkout."""
    exe = Path(sys.executable).with_name("gosmith")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gosmith.cli"]


def render(dst: Path, name: str = "bench-svc", answers: dict[str, Any] | None = None) -> Path:
    """Generate a service with `gosmith new NAME --defaults` (plus `-d` answers) and fetch its modules."""
    cmd = [*gosmith_cmd(), "new", name, "-o", str(dst), "--defaults"]
    for k, v in (answers or {}).items():
        cmd += ["-d", f"{k}={v}"]
    run(cmd)
    if not (dst / "go.sum").exists():
        run(["go", "mod", "tidy"], cwd=dst)
    return dst


def module_of(project: Path) -> str:
    """Return the module path in `project`/go.mod."""
    for line in (project / "go.mod").read_text().splitlines():
        if line.startswith("module "):
            return line.split()[1]
    raise RuntimeError(f"{project}/go.mod has no module line")


def build_service(project: Path, out: Path, tags: str = "") -> Path:
    """Build the service like the Dockerfile does: CGO off, -trimpath, stripped and version-stamped."""
    mod = module_of(project)
    ldflags = f"-s -w -X {mod}/internal/buildinfo.version=bench -X {mod}/internal/buildinfo.commit=bench"
    name = next((project / "cmd").iterdir()).name
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out)]
    if tags:
        cmd += ["-tags", tags]
    run([*cmd, f"./cmd/{name}"], cwd=project, env={"CGO_ENABLED": "0"})
    return out


def build_loadgen(out: Path) -> Path:
    """Build the load generator (benchmarks/loadgen, standard library only)."""
    run(["go", "build", "-trimpath", "-o", str(out), "."], cwd=BENCH / "loadgen", env={"CGO_ENABLED": "0"})
    return out


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = 2.0) -> int:
    """Return the HTTP status of GET `url`, or 0 when the request fails."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


@dataclass
class Service:
    """A running service binary on loopback ports."""

    proc: subprocess.Popen[bytes]
    http: str
    admin: str
    started: float

    def rss_kib(self) -> int:
        """Return the resident set size of the process in KiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def wait_ready(self, timeout: float = 30.0, interval: float = 0.001) -> float:
        """Poll /readyz until it answers 200; return the seconds since exec."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode} before it was ready")
            if http_status(self.admin + "/readyz", timeout=1) == 200:
                return time.monotonic() - self.started
            time.sleep(interval)
        raise RuntimeError(f"service not ready within {timeout}s")

    def stop(self) -> None:
        """Stop the service if it still runs (SIGKILL after 30 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_service(
    binary: Path, env: dict[str, str] | None = None, preexec: Any = None, log: Path | None = None
) -> Service:
    """Exec the service with loopback listeners on free ports; stdout goes to `log` (or nowhere).

    The debug listener gets a free port too: its default, 127.0.0.1:6060, collides with any other
    service (or benchmark) running on this machine.
    """
    hp, ap, dp = free_port(), free_port(), free_port()
    full = {
        **os.environ,
        **BASE_ENV,
        "HTTP_ADDR": f"127.0.0.1:{hp}",
        "ADMIN_ADDR": f"127.0.0.1:{ap}",
        "DEBUG_ADDR": f"127.0.0.1:{dp}",
        **(env or {}),
    }
    full.pop("KUBERNETES_SERVICE_HOST", None)
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    started = time.monotonic()
    proc = subprocess.Popen([str(binary)], env=full, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec)
    return Service(proc, f"http://127.0.0.1:{hp}", f"http://127.0.0.1:{ap}", started)


def loadgen(
    binary: Path, url: str, *, rate: float = 0, conc: int = 16, duration: float = 5, n: int = 0, body: int = 0
) -> list[str]:
    """Return the load generator command line (`body` > 0: POST that many bytes instead of GET)."""
    cmd = [str(binary), "-url", url, "-c", str(conc), "-d", f"{duration}s", "-n", str(n)]
    if rate:
        cmd += ["-rate", str(rate)]
    if body:
        cmd += ["-body", str(body)]
    return cmd


def median(xs: list[float]) -> float:
    """Return the median of `xs`."""
    return statistics.median(xs)


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1000:.1f} ms"
