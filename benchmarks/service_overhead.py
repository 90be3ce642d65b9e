"""Benchmark: the generated service's business route vs a bare net/http handler doing the same work.

Renders a project with gosmith's template, builds its binary and two stdlib-only helpers
(benchmarks/go: the bare server and a Go load generator), then measures each server in turn on
loopback with the same load and prints requests/s, p50/p99 and the ratios. The generated service
runs as deployed (access log to /dev/null, tracing on with the default sampler, no exporter).
Both servers and the load generator share the machine's cores: compare ratios, not absolutes.

Usage: .venv/bin/python benchmarks/service_overhead.py [--seconds 5] [--connections 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gen import free_port, go_build, render, wait_http  # noqa: E402

GO_DIR = Path(__file__).resolve().parent / "go"


def build_helpers(out: Path) -> tuple[Path, Path]:
    """Build the bare server and the load generator."""
    env = {**os.environ, "CGO_ENABLED": "0"}
    for name in ("bare", "loadgen"):
        cmd = ["go", "build", "-trimpath", "-o", str(out / name), f"./{name}"]
        subprocess.run(cmd, cwd=GO_DIR, env=env, check=True)
    return out / "bare", out / "loadgen"


def measure(loadgen: Path, url: str, seconds: float, connections: int) -> dict:
    """Run the load generator once against `url`."""
    proc = subprocess.run(
        [str(loadgen), "-url", url, "-c", str(connections), "-d", f"{seconds}s"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )
    return json.loads(proc.stdout)


def run_server(cmd: list[str], env: dict[str, str], health: str) -> subprocess.Popen[bytes]:
    """Start a server and wait until `health` answers."""
    proc = subprocess.Popen(cmd, env={"PATH": "/usr/bin:/bin", **env}, stdout=subprocess.DEVNULL)
    wait_http(health)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    """Build, measure alternately, print the report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement (max 60)")
    ap.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per server (max 5)")
    args = ap.parse_args()
    seconds, rounds = min(args.seconds, 60.0), min(args.rounds, 5)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        project = render(work / "svc", {"service_name": "bench-svc"})
        service = go_build(project, work / "bench-svc", ldflags="-s -w")
        bare, loadgen = build_helpers(work)
        results: dict[str, list[dict]] = {"bare": [], "generated": []}
        for _ in range(rounds):
            port = free_port()
            proc = run_server([str(bare), "-addr", f"127.0.0.1:{port}"], {}, f"http://127.0.0.1:{port}/v1/hello/x")
            try:
                measure(loadgen, f"http://127.0.0.1:{port}/v1/hello/bench", 1.0, args.connections)  # warm-up
                results["bare"].append(measure(loadgen, f"http://127.0.0.1:{port}/v1/hello/bench", seconds,
                                               args.connections))
            finally:
                stop(proc)
            app, admin = free_port(), free_port()
            proc = run_server([str(service)], {
                "HTTP_ADDR": f"127.0.0.1:{app}", "ADMIN_ADDR": f"127.0.0.1:{admin}", "DRAIN_DELAY": "0s",
                "OTEL_TRACES_EXPORTER": "none",
            }, f"http://127.0.0.1:{admin}/readyz")
            try:
                measure(loadgen, f"http://127.0.0.1:{app}/v1/hello/bench", 1.0, args.connections)
                results["generated"].append(measure(loadgen, f"http://127.0.0.1:{app}/v1/hello/bench", seconds,
                                                     args.connections))
            finally:
                stop(proc)

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    go_version = subprocess.run(["go", "version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"go: {go_version}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"load: {args.connections} keep-alive connections, {seconds:g}s x {rounds} rounds per server, "
          f"loopback, GET /v1/hello/bench, {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"{'server':<12}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for kind in ("bare", "generated"):
        errors = sum(r["errors"] for r in results[kind])
        print(f"{kind:<12}{med(kind, 'rps'):>12.0f}{med(kind, 'p50_ms'):>10.2f}{med(kind, 'p99_ms'):>10.2f}{errors:>8}")
    print(f"ratio generated/bare: req/s {med('generated', 'rps') / med('bare', 'rps'):.2f}, "
          f"p99 {med('generated', 'p99_ms') / max(med('bare', 'p99_ms'), 1e-9):.2f}")


if __name__ == "__main__":
    main()
