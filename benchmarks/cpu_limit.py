"""CPU-limit benchmark: the service under a CFS quota with the GOMAXPROCS gosmith derives vs Go's default.

Puts a generated service into its own cgroup with a CPU quota (default 500m = 50 ms per 100 ms),
like a Kubernetes `limits.cpu`, then saturates its business route with a closed-loop load generator
(outside the cgroup) twice: once with GOMAXPROCS unset (Go >= 1.25 picks max(2, ceil(quota)) from the
cgroup) and once with the value `hooks/tuning.py` derives for that limit (what the Helm chart sets).
Reports throughput, p50/p99 latency and CFS throttling from the cgroup's cpu.stat for each.

Needs a writable cgroup: cgroup v2 with the cpu controller delegated, or the cgroup v1 cpu controller
(usually: root on a VM or a privileged container). Where that is not possible it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

PERIOD_US = 100_000


@dataclass
class Cgroup:
    """A cgroup directory with a CPU quota (v1 or v2)."""

    path: Path
    version: int

    @classmethod
    def create(cls, name: str, quota: Fraction) -> Cgroup:
        """Create a child cgroup with `quota` CPUs; raise OSError when the machine does not allow it."""
        v2 = Path("/sys/fs/cgroup")
        v1 = Path("/sys/fs/cgroup/cpu")
        quota_us = int(quota * PERIOD_US)
        if (v2 / "cgroup.controllers").is_file():
            parent = Path("/sys/fs/cgroup" + _own_v2_cgroup())
            if "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
                (parent / "cgroup.subtree_control").write_text("+cpu")
            path = parent / name
            path.mkdir()
            (path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
            return cls(path, 2)
        if (v1 / "cpu.cfs_quota_us").is_file():
            path = v1 / name
            path.mkdir()
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota_us))
            return cls(path, 1)
        raise OSError("no cgroup v2 and no cgroup v1 cpu controller mounted")

    def join(self) -> None:
        """Move the calling process into this cgroup (used between fork and exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def stat(self) -> dict[str, int]:
        """Return cpu.stat as a dict (throttled time normalised to `throttled_usec`)."""
        stats = {}
        for line in (self.path / "cpu.stat").read_text().splitlines():
            k, v = line.split()
            stats[k] = int(v)
        if "throttled_time" in stats:  # v1 reports nanoseconds
            stats["throttled_usec"] = stats["throttled_time"] // 1000
        return stats

    def remove(self) -> None:
        """Remove the (empty) cgroup."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def _own_v2_cgroup() -> str:
    """Return this process's cgroup v2 path (e.g. /user.slice/...)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:].rstrip("/")
    return ""


def cpu_quota(rep: c.Report, args: argparse.Namespace, probe: str) -> Fraction | None:
    """Return the quota of --cpu-limit when this machine lets a cgroup apply it (a probe cgroup named `probe`);
    otherwise record the skip in `rep`, finish it and return None."""
    from gosmith.template import rules

    quota = Fraction(rules().quantities.parse_cpu(args.cpu_limit, "cpu_limit"))
    try:
        Cgroup.create(f"{probe}-{os.getpid()}", quota).remove()
    except OSError as exc:
        rep.skipped = f"cgroup CPU control is not possible on this machine ({exc}); nothing measured"
        print(f"skipped: {rep.skipped}")
        rep.finish(args.json)
        return None
    return quota


def build_bench_service(wd: Path, cpu_limit: str) -> tuple[Path, Path]:
    """Render the benchmark service for `cpu_limit`, build it and the load generator: (binary, loadgen)."""
    project = c.render(wd / "bench-svc", answers={"cpu_limit": cpu_limit})
    return c.build_service(project, wd / "bench-svc.bin"), c.build_loadgen(wd / "loadgen")


def tuned_gomaxprocs(cpu_limit: str) -> tuple[int, str]:
    """Return the GOMAXPROCS gosmith's tuning rules derive for `cpu_limit` (0 = left to Go), and why."""
    from gosmith.template import rules

    ctx = rules().tuning.derive({"cpu_limit": cpu_limit}).as_context()
    return int(ctx["gomaxprocs"]), str(ctx["reasons"].get("gomaxprocs", ""))


def startup_gomaxprocs(log: Path) -> str:
    """Return the GOMAXPROCS the service reported in its start-up log line."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "gomaxprocs" in rec:
            return str(rec["gomaxprocs"])
    return "?"


@dataclass
class Scenario:
    """A route and request body to saturate the service with."""

    name: str
    path: str
    body: int = 0


def measure(
    args: argparse.Namespace, binary: Path, lg: Path, wd: Path, quota: Fraction, gomaxprocs: int, sc: Scenario
) -> dict[str, object]:
    """Run one saturating load against the service in a fresh quota cgroup; return the numbers."""
    cg = Cgroup.create(f"gosmith-bench-{os.getpid()}-{gomaxprocs}", quota)
    log = wd / f"service-{sc.name}-{gomaxprocs}.log"
    env = {"LOG_LEVEL": "info", "DRAIN_DELAY": "0s"}  # the drain is not measured here: stop at once
    if gomaxprocs:
        env["GOMAXPROCS"] = str(gomaxprocs)
    svc = c.start_service(binary, env=env, preexec=cg.join, log=log)
    try:
        svc.wait_ready()
        url = svc.http + sc.path
        warm = c.loadgen(lg, url, conc=args.connections, duration=args.warmup, body=sc.body)
        subprocess.run(warm, capture_output=True, check=True)
        before = cg.stat()
        out = subprocess.run(
            c.loadgen(lg, url, conc=args.connections, duration=args.duration, body=sc.body),
            capture_output=True,
            text=True,
            check=True,
            timeout=args.duration + 60,
        ).stdout
        after = cg.stat()
    finally:
        svc.stop()
        cg.remove()
    res = json.loads(out)
    periods = after["nr_periods"] - before["nr_periods"]
    throttled = after["nr_throttled"] - before["nr_throttled"]
    return {
        "picked": startup_gomaxprocs(log),
        "rps": res["rps"],
        "p50": res["p50_ms"],
        "p99": res["p99_ms"],
        "failed": res["failed"],
        "periods": periods,
        "throttled": throttled,
        "throttled_ms": (after["throttled_usec"] - before["throttled_usec"]) / 1000,
    }


def main() -> int:
    """Compare Go's default GOMAXPROCS with gosmith's under a CPU quota; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--cpu-limit", default="500m", help="Kubernetes CPU limit to emulate (default 500m)")
    p.add_argument("--duration", type=float, default=8, help="seconds of load per variant and scenario (default 8)")
    p.add_argument("--warmup", type=float, default=2, help="seconds of load before each measurement (default 2)")
    p.add_argument("--connections", type=int, default=32, help="closed-loop connections (default 32)")
    p.add_argument("--path", default=c.DEFAULT_PATH, help=f"cheap route to load (default {c.DEFAULT_PATH})")
    p.add_argument(
        "--echo-bytes",
        type=int,
        default=262144,
        help="body size for the CPU-heavier scenario, POST /v1/echo hashing it (default 262144; 0 = skip it)",
    )
    args = p.parse_args()
    rep = c.Report("cpu_limit", f"CPU limit: GOMAXPROCS under a {args.cpu_limit} CFS quota")
    rep.header()
    quota = cpu_quota(rep, args, "gosmith-bench-probe")
    if quota is None:
        return 0
    tuned, why = tuned_gomaxprocs(args.cpu_limit)
    with c.workdir(args.workdir) as wd:
        binary, lg = build_bench_service(wd, args.cpu_limit)
        variants = [("Go default (GOMAXPROCS unset)", 0)]
        if tuned:
            variants.append((f"gosmith tuned (GOMAXPROCS={tuned})", tuned))
        else:
            rep.note(f"the tuning leaves GOMAXPROCS unset for {args.cpu_limit} ({why}): one variant only")
        rep.note(f"tuning rule: {why}")
        scenarios = [Scenario("hello", args.path)]
        if args.echo_bytes:
            scenarios.append(Scenario("echo", "/v1/echo", args.echo_bytes))
        for sc in scenarios:
            what = f"GET {sc.path}" if not sc.body else f"POST {sc.path} ({sc.body // 1024} KiB body, SHA-256)"
            for label, n in variants:
                r = measure(args, binary, lg, wd, quota, n, sc)
                share = f"{r['throttled']}/{r['periods']}" + (
                    f" ({100 * r['throttled'] / r['periods']:.0f}%)" if r["periods"] else ""
                )
                rep.add(
                    f"{what}: {label}",
                    f"runtime GOMAXPROCS {r['picked']}; {r['rps']:.0f} req/s; p50 {r['p50']:.1f} ms; "
                    f"p99 {r['p99']:.1f} ms; throttled periods {share}, {r['throttled_ms']:.0f} ms throttled",
                )
                if r["failed"]:
                    rep.note(f"{what}, {label}: {r['failed']} failed requests")
        rep.note(
            f"closed loop, {args.connections} connections, {args.duration:g} s per variant "
            f"after {args.warmup:g} s warm-up; "
            f"quota {args.cpu_limit} = {int(quota * PERIOD_US)} us per {PERIOD_US} us period"
        )
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
