"""Overhead benchmark: the generated service's business route vs a bare net/http handler, same run.

Generates a service with `gosmith new --defaults`, builds it like the Dockerfile does, builds a
bare net/http server that serves the same route with the same JSON body (benchmarks/go/bare), and
loads each in turn on loopback with the same closed-loop load (benchmarks/loadgen), alternating
for several rounds. The generated service runs as deployed (access log on, tracing on with the
default sampler and no exporter). To show where the overhead goes, a small main built inside the
generated project (benchmarks/go/layers) serves the same routes with the middleware's layers
added one at a time: bare, + recovery, + metrics, + deadline, + tracing, + access log.
Servers and load generator share the machine's cores: read the ratios.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

#: Environment of the generated service as deployed (the chart's defaults, no collector).
DEPLOYED = {"LOG_LEVEL": "info", "OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "none"}
AS_DEPLOYED = "generated, as deployed"

#: The layers of benchmarks/go/layers, cumulative, with their row labels.
LAYERS = {
    "bare": "layers: routes alone",
    "recovery": "layers: + recovery",
    "metrics": "layers: + metrics",
    "deadline": "layers: + deadline",
    "tracing": "layers: + tracing",
    "log": "layers: + access log",
}


def build_bare(out: Path) -> Path:
    """Build the bare net/http server (standard library only)."""
    c.run(["go", "build", "-trimpath", "-o", str(out), "./bare"], cwd=c.BENCH / "go", env={"CGO_ENABLED": "0"})
    return out


def build_layers(project: Path, out: Path) -> Path:
    """Build benchmarks/go/layers inside the generated project (it imports the project's packages)."""
    src = (c.BENCH / "go" / "layers" / "main.go.tmpl").read_text(encoding="utf-8")
    pkg = project / "benchlayers"
    pkg.mkdir(exist_ok=True)
    (pkg / "main.go").write_text(src.replace("MODULE", c.module_of(project)), encoding="utf-8")
    c.run(["go", "build", "-trimpath", "-o", str(out), "./benchlayers"], cwd=project, env={"CGO_ENABLED": "0"})
    return out


def measure(cmd: list[str], port: int, env: dict[str, str], loadgen: Path, seconds: float, conc: int) -> dict:
    """Start a server with `cmd` on 127.0.0.1:`port`, warm it up, load it once, stop it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        url = f"http://127.0.0.1:{port}{c.DEFAULT_PATH}"
        wait_ok(url)
        load(loadgen, url, 1.0, conc)  # warm-up
        return load(loadgen, url, seconds, conc, server_pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def load(loadgen: Path, url: str, seconds: float, conc: int, server_pid: int = 0) -> dict:
    """Run the load generator once; return its JSON result with the CPU time per request it used
    (`loadgen_cpu_us`) and, given the server's pid, the server's (`server_cpu_us`)."""
    before = process_cpu(server_pid) if server_pid else 0.0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # only the load generator ends meanwhile
    out = c.run(c.loadgen(loadgen, url, conc=conc, duration=seconds), timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out)
    sent = max(result["sent"], 1)
    if server_pid:
        result["server_cpu_us"] = (process_cpu(server_pid) - before) / sent * 1e6
    used = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    result["loadgen_cpu_us"] = used / sent * 1e6
    return result


def process_cpu(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ok(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + timeout
    while c.http_status(url, timeout=1) != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready within {timeout}s")
        time.sleep(0.01)


def main() -> int:
    """Measure every server alternately; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=4.0, help="length of each measurement (default 4, max 60)")
    p.add_argument("--conc", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per server (default 3, max 5)")
    p.add_argument("--no-layers", action="store_true", help="measure bare and as deployed only")
    args = p.parse_args()
    seconds, rounds = min(args.seconds, 60.0), max(1, min(args.rounds, 5))
    rep = c.Report("service_overhead", "Overhead: generated service vs bare net/http, same route")
    rep.header()
    layers = {} if args.no_layers else LAYERS
    results: dict[str, list[dict]] = {"bare net/http": [], AS_DEPLOYED: [], **{v: [] for v in layers.values()}}
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        service = c.build_service(project, wd / "bench-svc.bin")
        bare = build_bare(wd / "bare.bin")
        layered = build_layers(project, wd / "layers.bin") if layers else None
        loadgen = c.build_loadgen(wd / "loadgen.bin")
        layer_env = {**c.BASE_ENV, **DEPLOYED}
        for _ in range(rounds):
            port = c.free_port()
            results["bare net/http"].append(
                measure([str(bare), "-addr", f"127.0.0.1:{port}"], port, {}, loadgen, seconds, args.conc)
            )
            for layer, label in layers.items():
                port = c.free_port()
                cmd = [str(layered), "-addr", f"127.0.0.1:{port}", "-layers", layer]
                results[label].append(measure(cmd, port, layer_env, loadgen, seconds, args.conc))
            svc = c.start_service(service, {**DEPLOYED, "DRAIN_DELAY": "0s"})
            try:
                svc.wait_ready()
                url = svc.http + c.DEFAULT_PATH
                load(loadgen, url, 1.0, args.conc)
                results[AS_DEPLOYED].append(load(loadgen, url, seconds, args.conc, server_pid=svc.proc.pid))
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
    # Each round measures bare and as deployed within seconds of each other: the spread of their
    # ratio across rounds shows how much other work on the machine moved the medians.
    paired = [d["rps"] / b["rps"] for b, d in zip(results["bare net/http"], results[AS_DEPLOYED], strict=True)]
    rep.add("as deployed / bare req/s ratio in each round", ", ".join(f"{x:.2f}" for x in paired))
    # CPU time per request of each process, from the kernel's accounting: other work on the
    # machine moves it much less than req/s. Closed loop with both CPUs busy, req/s is inversely
    # proportional to the server's plus the load generator's CPU per request, so their sums give
    # the ratio the two processes alone would reach.
    cpu = {kind: (med(kind, "server_cpu_us"), med(kind, "loadgen_cpu_us")) for kind in results}
    rep.add(
        "CPU µs per request, server + load generator",
        "; ".join(f"{kind.removeprefix('layers: ')} {srv:.1f} + {lg:.1f}" for kind, (srv, lg) in cpu.items()),
    )
    rep.add(
        "generated, as deployed / bare: ratio of CPU per request (server + load generator)",
        f"{sum(cpu['bare net/http']) / sum(cpu[AS_DEPLOYED]):.2f}",
    )
    if layers:
        # CPU per request: the server and the load generator share the CPUs, so 1/rps is an upper
        # bound of the server's time per request; the difference between layers is what each adds.
        prev = base_rps
        costs = []
        for label in layers.values():
            rps = med(label, "rps")
            costs.append(f"{label.removeprefix('layers: ')} {1e6 / rps - 1e6 / prev:+.1f}")
            prev = rps
        rep.add("µs of wall time per request added by each layer (1/rps differences)", "; ".join(costs))
        prev_cpu = cpu["bare net/http"][0]
        added = []
        for label in layers.values():
            added.append(f"{label.removeprefix('layers: ')} {cpu[label][0] - prev_cpu:+.1f}")
            prev_cpu = cpu[label][0]
        rep.add("server CPU µs per request added by each layer", "; ".join(added))
    rep.note(
        f"GET {c.DEFAULT_PATH}, {args.conc} keep-alive connections, {seconds:g} s x {rounds} alternating "
        "rounds per server (medians), loopback; servers and load generator share the CPUs"
    )
    rep.note(
        "as deployed = one access-log line per request (to /dev/null), a span per request "
        "(parent-based 10% sampling, no exporter), RED metrics with exemplars, handler deadline, panic recovery"
    )
    if layers:
        rep.note(
            "layers = benchmarks/go/layers built in the generated project: the same routes with the "
            "middleware's layers added one at a time (cumulative), each with the as-deployed settings"
        )
    rep.note(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} (the benchmark's own load included)")
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
