"""Shared helpers for tests: render the template with real copier (gosmith.projects) and run Go in the result."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

# the answer sets and the renderer are gosmith.projects' (shared with scripts/ and benchmarks/)
from gosmith.projects import ANSWER_SETS as ANSWER_SETS
from gosmith.projects import CONTROLLER as CONTROLLER
from gosmith.projects import PROJECTS, render

ROOT = Path(__file__).resolve().parents[1]

#: The git identity of the commits tests make (copier's, gosmith's, their own) without the user's git config.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

#: The approved Go 1.27 toolchain (fetched through the module proxy) for projects answering go_version 1.27.
GO127 = {"GOTOOLCHAIN": "go1.27.3"}


def run(cmd: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Run `cmd` in `cwd`; raise AssertionError with its output when it fails; return stdout."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}) in {cwd}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc.stdout


def go_env(project: Path) -> dict[str, str]:
    """The environment Go commands need in `project`: a go 1.27 project needs the approved 1.27 toolchain
    (the local Go may be 1.26)."""
    return dict(GO127) if "\ngo 1.27" in (project / "go.mod").read_text() else {}


def go_build(project: Path, out: Path, *, tags: str = "", ldflags: str = "", env: dict[str, str] | None = None) -> Path:
    """Build the service binary of `project` into `out` (CGO off, -trimpath, like the Dockerfile)."""
    name = next((project / "cmd").iterdir()).name
    cmd = ["go", "build", "-trimpath", "-o", str(out)]
    if tags:
        cmd += ["-tags", tags]
    if ldflags:
        cmd += ["-ldflags", ldflags]
    cmd.append(f"./cmd/{name}")
    run(cmd, project, env={"CGO_ENABLED": "0", **go_env(project), **(env or {})})
    return out


def copy_project(src: Path, dst: Path) -> Path:
    """Copy the project `src` to `dst` (which must not exist) and return `dst`: a test that changes a
    shared project (adds files, builds into it, commits it) works on a copy."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def stamp_ldflags(module: str, stamp: dict[str, str]) -> str:
    """-ldflags that strip the binary and set internal/buildinfo's version/commit/date from `stamp`."""
    return "-s -w " + " ".join(f"-X {module}/internal/buildinfo.{k}={v}" for k, v in stamp.items())


class Rendered:
    """Projects rendered once per run and shared, by answer-set name (see PROJECTS).

    `rendered(name)` renders gen.PROJECTS[name] (or `answers`, for a set one module owns) the first
    time and returns the same directory afterwards. Tests only read and run what is in it; a test
    that changes files copies it first (`copy(name, dst)`). Nothing here writes into a project:
    `tidy_diff` runs `go mod tidy -diff` once per render and binaries go to a directory of their own,
    built once per (name, tags, ldflags).

    Every result lives in `base` under a name derived from its inputs and is made under a file lock, so
    processes that share `base` (pytest-xdist workers) make each one once and share it too.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self._answers: dict[str, dict[str, Any]] = {}

    def _once(self, key: str, make: Callable[[Path], object]) -> Path:
        """Return `base/key`, calling `make(path)` to create it unless this or another process did."""
        path = self.base / key
        done = self.base / f"{key}.done"
        if done.exists():
            return path
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                try:
                    make(path)
                except BaseException:
                    shutil.rmtree(path, ignore_errors=True)
                    raise
                done.touch()
        return path

    def __call__(self, name: str, answers: dict[str, Any] | None = None) -> Path:
        """Return the project rendered from answer set `name` (rendered on first use)."""
        if answers is None:
            answers = PROJECTS[name]
        known = self._answers.setdefault(name, PROJECTS.get(name, answers))
        assert known == answers, f"answer set {name!r} asked for with other answers: {answers} != {known}"
        return self._once(name, lambda path: render(path / answers["service_name"], answers)) / answers["service_name"]

    def answers(self, name: str) -> dict[str, Any]:
        """The answers of a set rendered (or registered in PROJECTS)."""
        return self._answers.get(name) or PROJECTS[name]

    def copy(self, name: str, dst: Path) -> Path:
        """A private copy of the project of `name` at `dst`, for a test that changes it."""
        return copy_project(self(name), dst)

    def tidy_diff(self, name: str) -> str:
        """What `go mod tidy` would change in the shipped go.mod/go.sum ('' when they are tidy); run once
        per render, without writing (go mod tidy -diff)."""
        project = self(name)

        def tidy(out: Path) -> None:
            proc = subprocess.run(
                ["go", "mod", "tidy", "-diff"],
                cwd=project,
                capture_output=True,
                text=True,
                env={**os.environ, **go_env(project)},
                timeout=900,
            )
            if proc.returncode not in (0, 1) or (proc.returncode == 1 and not proc.stdout):
                raise AssertionError(f"go mod tidy -diff failed ({proc.returncode}) in {project}\n{proc.stderr}")
            out.write_text(proc.stdout)

        return self._once(f"{name}.tidy-diff", tidy).read_text()

    def binary(self, name: str, *, tags: str = "", ldflags: str = "") -> Path:
        """The service binary of `name` built like the Dockerfile builds it (once per tags/ldflags)."""
        project, service = self(name), self.answers(name)["service_name"]
        flavour = hashlib.sha256(f"{tags}\0{ldflags}".encode()).hexdigest()[:12]

        def build(out: Path) -> None:
            out.mkdir()
            go_build(project, out / service, tags=tags, ldflags=ldflags)

        return self._once(f"{name}.bin-{flavour}", build) / service


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Listeners:
    """Free 127.0.0.1 ports for the three listeners of a built service (app, admin, debug).

    A service started without DEBUG_ADDR binds its debug listener to 127.0.0.1:6060, which collides
    with any other service the suite (or a benchmark, or a developer) runs at the same time: every
    place that runs the binary takes its addresses from here.
    """

    app: int
    admin: int
    debug: int

    @property
    def env(self) -> dict[str, str]:
        """HTTP_ADDR, ADMIN_ADDR and DEBUG_ADDR for these ports."""
        return {
            "HTTP_ADDR": f"127.0.0.1:{self.app}",
            "ADMIN_ADDR": f"127.0.0.1:{self.admin}",
            "DEBUG_ADDR": f"127.0.0.1:{self.debug}",
        }

    @property
    def app_url(self) -> str:
        """Base URL of the app listener."""
        return f"http://127.0.0.1:{self.app}"

    @property
    def admin_url(self) -> str:
        """Base URL of the admin (probes, metrics) listener."""
        return f"http://127.0.0.1:{self.admin}"

    @property
    def debug_url(self) -> str:
        """Base URL of the debug (log level, pprof) listener."""
        return f"http://127.0.0.1:{self.debug}"


def listeners() -> Listeners:
    """Return three different free loopback ports for a service's app, admin and debug listeners (bound
    together while they are chosen: one at a time, the kernel may hand out the same port twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(3)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        app, admin, debug = (s.getsockname()[1] for s in socks)
    return Listeners(app, admin, debug)


def wait_http(url: str, *, timeout: float = 15.0, status: int = 200) -> None:
    """Poll `url` until it answers `status` or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == status:
                    return
                last = resp.status
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s (last: {last})")


def have(tool: str) -> bool:
    """Return whether `tool` is on PATH."""
    return shutil.which(tool) is not None


def load_module(path: Path, name: str) -> ModuleType:
    """Import the Python file at `path` as a module called `name` (scripts and hooks are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stop(proc: subprocess.Popen, timeout: float) -> str:
    """Send SIGTERM, wait up to `timeout` s (then kill), and return what the process printed."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


#: Metrics the generated Grafana dashboard takes from the kubelet's cAdvisor, not from the service.
DASHBOARD_CADVISOR_METRICS = frozenset({"container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_periods_total"})


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (panel title, PromQL) for every target of every panel of a Grafana dashboard (rows skipped)."""
    return [(p["title"], t["expr"]) for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]


def substitute_dashboard_variables(expr: str, values: dict[str, str]) -> str:
    """Replace Grafana's $variables in `expr` (longest names first, so $__rate_interval is not cut at $__)."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${name}", values[name])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


#: actionlint is a Go program; the suite builds this pinned version from the Go module proxy once.
ACTIONLINT_VERSION = "v1.7.12"
ACTIONLINT_PKG = "github.com/rhysd/actionlint/cmd/actionlint"

def actionlint_binary() -> Path:
    """Return actionlint from PATH or .tools/bin, building the pinned version there when missing."""
    found = shutil.which("actionlint")
    if found:
        return Path(found)
    bin_dir = ROOT / ".tools" / "bin"
    binary, stamp = bin_dir / "actionlint", bin_dir / ".actionlint.version"
    want = f"{ACTIONLINT_PKG}@{ACTIONLINT_VERSION}"
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return binary
    bin_dir.mkdir(parents=True, exist_ok=True)
    run(
        ["go", "install", "-trimpath", "-ldflags", "-s -w", want], ROOT, env={"GOBIN": str(bin_dir), "CGO_ENABLED": "0"}
    )
    stamp.write_text(want + "\n")
    return binary
