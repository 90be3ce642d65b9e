"""Overload benchmark: the service under a CPU quota offered 2x and 4x the load it can serve, with and without shedding.

Puts a generated service into its own cgroup with a CPU quota (default 500m, like a Kubernetes
`limits.cpu`; cgroup v1 `cpu` or v2), measures its capacity on a CPU-bound route (`POST /v1/echo`
hashing a body) with a closed loop, then offers an open-loop rate of 2x and 4x that capacity for
`--duration` seconds, once with shedding off (`MAX_IN_FLIGHT` huge: every request queues) and once
with each given in-flight limit (`--limits`; 0 = the limit the service derives from GOMAXPROCS, the
handler deadline and SHED_TARGET_LATENCY). Reports goodput, p50/p99 of the admitted (200) requests,
how many got 503 and how fast, timeouts, and the recovery: the time from the end of the overload
until a single request is served within 3x the idle latency again.

Needs a writable cgroup (root on a VM, or a privileged container); elsewhere it says so and exits 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from cpu_limit import PERIOD_US, Cgroup, build_bench_service, cpu_quota

#: MAX_IN_FLIGHT that never sheds.
NO_LIMIT = 1_000_000


def post_latency(url: str, body: bytes, timeout: float = 10) -> float:
    """Return the seconds one POST takes (inf on an error or a non-200 answer)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=timeout) as resp:
            resp.read()
            if resp.status != 200:
                return float("inf")
    except OSError:
        return float("inf")
    return time.monotonic() - start


def scraped_limit(admin: str) -> str:
    """Return the in-flight limit and GOMAXPROCS the service reports on /metrics."""
    with urllib.request.urlopen(admin + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = {}
    for line in text.splitlines():
        for name in ("http_server_in_flight_limit", "app_runtime_gomaxprocs"):
            if line.startswith(name + " ") or line.startswith(name + "{"):
                found[name] = line.rsplit(" ", 1)[1]
    return f"{found.get('http_server_in_flight_limit', '?')} at GOMAXPROCS {found.get('app_runtime_gomaxprocs', '?')}"


def run_variant(args: Any, binary: Path, lg: Path, wd: Path, quota: Fraction, limit: int, rate: float,
                idle: float) -> dict[str, Any]:
    """Offer `rate` requests/s for args.duration to a fresh service with MAX_IN_FLIGHT=`limit`."""
    cg = Cgroup.create(f"gosmith-overload-{os.getpid()}-{limit}-{int(rate)}", quota)
    log = wd / f"service-{limit}-{int(rate)}.log"
    svc = c.start_service(binary, env={"LOG_LEVEL": "warn", "DRAIN_DELAY": "0s", "MAX_IN_FLIGHT": str(limit)},
                          preexec=cg.join, log=log)
    body = b"x" * args.body
    try:
        svc.wait_ready()
        limit_text = scraped_limit(svc.admin)
        url = svc.http + "/v1/echo"
        load = subprocess.Popen(
            [*c.loadgen(lg, url, rate=rate, conc=args.max_conns, duration=args.duration, body=args.body),
             "-timeout", "10s"],
            stdout=subprocess.PIPE, text=True,
        )
        time.sleep(args.duration)
        ended = time.monotonic()
        recovery = float("nan")
        while time.monotonic() - ended < args.recovery_max:
            if post_latency(url, body) <= 3 * idle:
                recovery = time.monotonic() - ended
                break
            time.sleep(0.05)
        out, _ = load.communicate(timeout=120)
    finally:
        svc.stop()
        cg.remove()
    res = json.loads(out)
    res["recovery_s"] = recovery
    res["limit"] = limit_text
    return res


def main() -> int:
    """Offer 2x and 4x capacity with and without shedding; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--cpu-limit", default="500m", help="Kubernetes CPU limit to emulate (default 500m)")
    p.add_argument("--duration", type=float, default=8, help="seconds of overload per variant (default 8)")
    p.add_argument("--factors", default="2,4", help="offered load as multiples of the capacity (default 2,4)")
    p.add_argument("--limits", default="0,8",
                   help="in-flight limits to compare with no shedding; 0 = derived (default 0,8)")
    p.add_argument("--body", type=int, default=262144, help="POST /v1/echo body bytes (default 262144)")
    p.add_argument("--max-conns", type=int, default=4000, help="cap on the load generator's requests in flight")
    p.add_argument("--recovery-max", type=float, default=30, help="longest wait for recovery, seconds (default 30)")
    args = p.parse_args()
    title = f"Overload: 2x and 4x capacity under a {args.cpu_limit} CPU quota, with and without shedding"
    rep = c.Report("overload", title)
    rep.header()
    quota = cpu_quota(rep, args, "gosmith-overload-probe")
    if quota is None:
        return 0
    with c.workdir(args.workdir) as wd:
        binary, lg = build_bench_service(wd, args.cpu_limit)
        # capacity and idle latency, shedding off
        cg = Cgroup.create(f"gosmith-overload-cap-{os.getpid()}", quota)
        svc = c.start_service(binary, env={"LOG_LEVEL": "warn", "DRAIN_DELAY": "0s", "MAX_IN_FLIGHT": str(NO_LIMIT)},
                              preexec=cg.join)
        try:
            svc.wait_ready()
            url = svc.http + "/v1/echo"
            idle = sorted(post_latency(url, b"x" * args.body) for _ in range(50))[25]
            cap = json.loads(c.run(c.loadgen(lg, url, conc=8, duration=5, body=args.body)))
        finally:
            svc.stop()
            cg.remove()
        capacity = cap["rps"]
        rep.add("capacity (closed loop, 8 connections, 5 s)",
                f"{capacity:.0f} req/s; p50 {cap['p50_ms']:.1f} ms, p99 {cap['p99_ms']:.1f} ms; "
                f"idle latency {idle * 1000:.1f} ms")
        limits = [NO_LIMIT, *(int(x) for x in args.limits.split(",") if x.strip())]
        for factor in (float(f) for f in args.factors.split(",")):
            rate = factor * capacity
            for limit in limits:
                r = run_variant(args, binary, lg, wd, quota, limit, rate, idle)
                ok = r["by_status"].get("200", {})
                shed = r["by_status"].get("503", {})
                label = "no shedding" if limit == NO_LIMIT else f"shedding, MAX_IN_FLIGHT={limit}: limit {r['limit']}"
                timeouts = r["errors"].get("timeout", 0)
                rep.add(
                    f"{factor:g}x ({rate:.0f} req/s offered), {label}",
                    f"200: {r['status'].get('200', 0)} ({r['status'].get('200', 0) / r['elapsed_s']:.0f}/s), "
                    f"p50 {ok.get('p50_ms', 0):.0f} ms, p99 {ok.get('p99_ms', 0):.0f} ms; "
                    f"503: {r['status'].get('503', 0)}, p99 {shed.get('p99_ms', 0):.1f} ms; "
                    f"timeouts/errors {timeouts}/{sum(r['errors'].values()) - timeouts}; "
                    f"recovery {r['recovery_s']:.2f} s",
                )
        rep.note(f"POST /v1/echo with a {args.body // 1024} KiB body (SHA-256: CPU-bound); open loop for "
                 f"{args.duration:g} s per variant, latency from the scheduled send time, 10 s client timeout, at most "
                 f"{args.max_conns} requests in flight; quota {args.cpu_limit} = {int(quota * PERIOD_US)} us per "
                 f"{PERIOD_US} us period; the load generator runs outside the cgroup")
        rep.note("recovery: from the end of the overload until one request is served within 3x the idle latency "
                 "(nan: not within --recovery-max)")
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
