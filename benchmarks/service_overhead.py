"""Overhead benchmark: the generated service's business route vs a bare net/http handler, same run.

Generates a service with `gosmith new --defaults`, builds it like the Dockerfile does, builds a
bare net/http server that serves the same route with the same JSON body (benchmarks/go/bare), and
loads each in turn on loopback with the same closed-loop load (benchmarks/loadgen), alternating
for several rounds. The generated service runs twice: as deployed (access log on, tracing on with
the default sampler and no exporter) and with access logs and tracing off, which shows where the
overhead goes. Servers and load generator share the machine's cores: read the ratios.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

#: Environment of each measured configuration of the generated service.
GENERATED = {
    "generated, as deployed": {"LOG_LEVEL": "info", "OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "none"},
    "generated, logs and tracing off": {"LOG_LEVEL": "warn", "OTEL_SDK_DISABLED": "true"},
}


def build_bare(out: Path) -> Path:
    """Build the bare net/http server (standard library only)."""
    c.run(["go", "build", "-trimpath", "-o", str(out), "./bare"], cwd=c.BENCH / "go", env={"CGO_ENABLED": "0"})
    return out


def load(loadgen: Path, url: str, seconds: float, conc: int) -> dict:
    """Run the load generator once; return its JSON result."""
    return json.loads(c.run(c.loadgen(loadgen, url, conc=conc, duration=seconds), timeout=seconds + 60))


def wait_ok(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + timeout
    while c.http_status(url, timeout=1) != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready within {timeout}s")
        time.sleep(0.01)


def main() -> int:
    """Measure both servers alternately; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0, help="length of each measurement (default 5, max 60)")
    p.add_argument("--conc", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per server (default 3, max 5)")
    args = p.parse_args()
    seconds, rounds = min(args.seconds, 60.0), max(1, min(args.rounds, 5))
    rep = c.Report("service_overhead", "Overhead: generated service vs bare net/http, same route")
    rep.header()
    results: dict[str, list[dict]] = {"bare net/http": [], **{k: [] for k in GENERATED}}
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        service = c.build_service(project, wd / "bench-svc.bin")
        bare = build_bare(wd / "bare.bin")
        loadgen = c.build_loadgen(wd / "loadgen.bin")
        for _ in range(rounds):
            port = c.free_port()
            proc = subprocess.Popen(
                [str(bare), "-addr", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, env={**os.environ}
            )
            try:
                url = f"http://127.0.0.1:{port}{c.DEFAULT_PATH}"
                wait_ok(url)
                load(loadgen, url, 1.0, args.conc)  # warm-up
                results["bare net/http"].append(load(loadgen, url, seconds, args.conc))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            for kind, env in GENERATED.items():
                svc = c.start_service(service, {**env, "DRAIN_DELAY": "0s"})
                try:
                    svc.wait_ready()
                    url = svc.http + c.DEFAULT_PATH
                    load(loadgen, url, 1.0, args.conc)
                    results[kind].append(load(loadgen, url, seconds, args.conc))
                finally:
                    svc.stop()

    def med(kind: str, key: str) -> float:
        return c.median([r[key] for r in results[kind]])

    base_rps, base_p99 = med("bare net/http", "rps"), med("bare net/http", "p99_ms")
    for kind, runs in results.items():
        failed = sum(r["failed"] for r in runs)
        rep.add(
            f"{kind}: req/s, p50, p99",
            f"{med(kind, 'rps'):.0f} req/s, {med(kind, 'p50_ms'):.2f} ms, "
            f"{med(kind, 'p99_ms'):.2f} ms ({failed} failed)",
        )
        if kind != "bare net/http":
            rep.add(
                f"{kind} / bare: req/s ratio, p99 ratio",
                f"{med(kind, 'rps') / base_rps:.2f}, {med(kind, 'p99_ms') / max(base_p99, 1e-9):.2f}",
            )
    rep.note(
        f"GET {c.DEFAULT_PATH}, {args.conc} keep-alive connections, {seconds:g} s x {rounds} alternating "
        "rounds per server (medians), loopback; servers and load generator share the CPUs"
    )
    rep.note(
        "as deployed = one access-log line per request (to /dev/null), a span per request "
        "(parent-based 10% sampling, no exporter), RED metrics, handler deadline, panic recovery"
    )
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
