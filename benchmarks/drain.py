"""Drain benchmark: constant request rate, SIGTERM, then count failed requests and time the exit.

Models a Kubernetes pod deletion on one machine: a load generator sends requests at a constant rate
(open loop) to a generated service's business route; the benchmark sends SIGTERM, watches /readyz
turn 503, and stops the load --lb-delay seconds after SIGTERM, the way endpoints and load balancers
stop routing to a terminating pod (the service's drain delay must cover that propagation). Reported:
failed requests (the goal is zero), how fast readiness flipped, time from SIGTERM to exit, exit code.
The service runs with the drain delay and timeouts `gosmith new --defaults` derives, unless overridden.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def _start_line(log: Path) -> dict[str, object]:
    """Return the service's start-up log record (the first JSON line that carries drain_delay)."""
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "drain_delay" in rec:
            return rec
    return {}


def main() -> int:
    """Run the drain scenario; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=200, help="requests per second (default 200)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before SIGTERM (default 3)")
    p.add_argument("--lb-delay", type=float, default=1.0, help="seconds after SIGTERM until load stops (default 1)")
    p.add_argument("--drain-delay", help="override DRAIN_DELAY (Go duration, e.g. 2s); default: the generated one")
    p.add_argument("--path", default=c.DEFAULT_PATH, help=f"business route to load (default {c.DEFAULT_PATH})")
    args = p.parse_args()
    rep = c.Report("drain", "Drain: SIGTERM under constant load")
    rep.header()
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        binary = c.build_service(project, wd / "bench-svc.bin")
        lg = c.build_loadgen(wd / "loadgen")
        env = {"LOG_LEVEL": "info", **({"DRAIN_DELAY": args.drain_delay} if args.drain_delay else {})}
        svc = c.start_service(binary, env=env, log=wd / "service.log")
        try:
            svc.wait_ready()
            load = subprocess.Popen(
                c.loadgen(lg, svc.http + args.path, rate=args.rate, conc=256, duration=0),
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(args.warmup)
            t0 = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            flipped, flip_status, exited = None, 0, None
            # Until the load stops: watch /readyz (the first non-200 answer) and whether the process exited.
            while time.monotonic() - t0 < args.lb_delay or (flipped is None and exited is None):
                if exited is None and svc.proc.poll() is not None:
                    exited = time.monotonic() - t0
                if flipped is None:
                    status = c.http_status(svc.admin + "/readyz", timeout=0.5)
                    if status != 200:
                        flipped, flip_status = time.monotonic() - t0, status
                if time.monotonic() - t0 > 30:
                    break
                time.sleep(0.005)
            load.send_signal(signal.SIGINT)
            out, _ = load.communicate(timeout=60)
            deadline = time.monotonic() + 120
            while exited is None and time.monotonic() < deadline:
                if svc.proc.poll() is not None:
                    exited = time.monotonic() - t0
                time.sleep(0.005)
            code = svc.proc.wait(timeout=5)
        finally:
            svc.stop()
        res = json.loads(out)
        rep.add("request rate", f"{args.rate:g}/s for {args.warmup:g} s + {args.lb_delay:g} s after SIGTERM")
        rep.add("requests sent", str(res["sent"]))
        rep.add("failed requests (goal: 0)", str(res["failed"]))
        if flipped is None:
            rep.add("`/readyz` 503 after SIGTERM", "did not flip")
        elif flip_status == 503:
            rep.add("`/readyz` 503 after SIGTERM", c.ms(flipped))
        else:
            rep.add("`/readyz` 503 after SIGTERM", f"never 503: unreachable after {c.ms(flipped)}")
        rep.add("SIGTERM to process exit", c.ms(exited) if exited is not None else "did not exit within 120 s")
        rep.add("exit code", str(code))
        rep.add("latency p50 / p99 during the run", f"{res['p50_ms']:.2f} ms / {res['p99_ms']:.2f} ms")
        if res["failed"]:
            rep.note(f"failures by status {res['status']} and error {res['errors']}")
            for line in (wd / "service.log").read_text(errors="replace").splitlines():
                if '"msg":"request"' not in line:
                    rep.note(f"service log: {line[:240]}")
        started = _start_line(wd / "service.log")
        rep.note(
            "service settings from its start-up log line: "
            + ", ".join(
                f"{k} {started.get(k, '?')}" for k in ("drain_delay", "shutdown_timeout", "telemetry_flush_timeout")
            )
        )
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
