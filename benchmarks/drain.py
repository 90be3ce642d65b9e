"""Drain benchmark: SIGTERM under load, in two modes; count lost requests and time the exit.

Models a Kubernetes pod deletion on one machine, against a generated service's business route.

Mode `rate` (the endpoint-removal model): a load generator sends requests at a constant rate (open
loop); the benchmark sends SIGTERM, watches /readyz turn 503, and stops the load --lb-delay
seconds after SIGTERM, the way endpoints and load balancers stop routing to a terminating pod (the
service's drain delay must cover that propagation). Reported: failed requests (the goal is zero),
how fast readiness flipped, time from SIGTERM to exit, exit code.

Mode `pinned` (keep-alive clients pinned to the terminating pod, as kube-proxy leaves established
connections): --clients keep-alive clients that never re-resolve send POSTs back to back (0 to
--think between them), open a new connection to the same address only after a response with
`Connection: close`, and stop when a new connection is refused (the listener closed at the end of
the drain delay); they never stop on their own. Reported: requests completed, requests lost (written
on an established connection, no complete response; the goal is zero), resets of fresh connections
as the listener closed (counted apart: for the client a refused connection), connections opened,
time from SIGTERM to exit, exit code.

`--mode both` (the default) runs one, then the other, each against a freshly started service.
The service runs with the drain delay and timeouts `gosmith new --defaults` derives, unless overridden.
"""

from __future__ import annotations

import argparse
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


def rate_mode(args: argparse.Namespace, binary: Path, lg: Path, wd: Path, rep: c.Report) -> None:
    """Constant request rate, SIGTERM, load stops --lb-delay later (the endpoint-removal model)."""
    env = {"LOG_LEVEL": "info", **({"DRAIN_DELAY": args.drain_delay} if args.drain_delay else {})}
    log = wd / "service-rate.log"
    svc = c.start_service(binary, env=env, log=log)
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
        exited = _wait_exit(svc, t0, exited)
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
        rep.note(f"rate mode: failures by status {res['status']} and error {res['errors']}")
        _note_log(rep, log)
    _note_settings(rep, log)


def pinned_mode(args: argparse.Namespace, binary: Path, lg: Path, wd: Path, rep: c.Report) -> None:
    """Keep-alive clients pinned to the service's address, SIGTERM, until the listener refuses them."""
    env = {"LOG_LEVEL": "info", **({"DRAIN_DELAY": args.drain_delay} if args.drain_delay else {})}
    log = wd / "service-pinned.log"
    svc = c.start_service(binary, env=env, log=log)
    try:
        svc.wait_ready()
        cmd = c.loadgen(lg, svc.http + args.pinned_path, conc=args.clients, duration=0, body=args.body)
        load = subprocess.Popen(
            [*cmd, "-pinned", "-think", f"{args.think * 1000:g}ms"], stdout=subprocess.PIPE, text=True
        )
        time.sleep(args.warmup)
        t0 = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        exited = _wait_exit(svc, t0, None)
        code = svc.proc.wait(timeout=5) if exited is not None else None
        # The clients stop by themselves once the listener refuses them; SIGINT only if one hangs.
        try:
            out, _ = load.communicate(timeout=30)
            stopped = "every client refused"
        except subprocess.TimeoutExpired:
            load.send_signal(signal.SIGINT)
            out, _ = load.communicate(timeout=60)
            stopped = "clients still connected 30 s after the exit: stopped with SIGINT"
    finally:
        svc.stop()
    res = json.loads(out)
    pin = res["pinned"]
    rep.add("pinned: keep-alive clients", f"{args.clients} (POST {args.body} B, 0-{c.ms(args.think)} think time)")
    rep.add("pinned: requests completed", str(pin["completed"]))
    rep.add("pinned: lost requests (goal: 0)", str(pin["lost"]))
    rep.add("pinned: non-2xx responses", str(res["failed"] - pin["lost"]))
    rep.add("pinned: resets as the listener closed (counted apart)", str(pin["listener_close_resets"]))
    rep.add("pinned: connections opened", str(pin["connections"]))
    rep.add("pinned: SIGTERM to process exit", c.ms(exited) if exited is not None else "did not exit within 120 s")
    rep.add("pinned: exit code", str(code))
    rep.add("pinned: latency p50 / p99", f"{res['p50_ms']:.2f} ms / {res['p99_ms']:.2f} ms")
    rep.note(
        f"pinned mode: {stopped} ({pin['refused']} of {args.clients}); a reset of the first request on a fresh "
        "connection, nothing received, is a connection the kernel completed in the accept queue as the "
        "listener closed: a refused connection for the client, not a lost request"
    )
    if res["failed"]:
        rep.note(f"pinned mode: failures by status {res['status']} and error {res['errors']}")
        _note_log(rep, log)
    _note_settings(rep, log)


def _wait_exit(svc: c.Service, t0: float, exited: float | None) -> float | None:
    """Wait up to 120 s for the service to exit; return the seconds from `t0`."""
    deadline = time.monotonic() + 120
    while exited is None and time.monotonic() < deadline:
        if svc.proc.poll() is not None:
            exited = time.monotonic() - t0
        time.sleep(0.005)
    return exited


def _note_log(rep: c.Report, log: Path) -> None:
    """Add the service's log lines other than access-log lines as notes."""
    for line in log.read_text(errors="replace").splitlines():
        if '"msg":"request"' not in line:
            rep.note(f"service log: {line[:240]}")


def _note_settings(rep: c.Report, log: Path) -> None:
    """Add the drain settings the service reported at start as a note (once)."""
    started = _start_line(log)
    note = "service settings from its start-up log line: " + ", ".join(
        f"{k} {started.get(k, '?')}" for k in ("drain_delay", "shutdown_timeout", "telemetry_flush_timeout")
    )
    if note not in rep.notes:
        rep.note(note)


def main() -> int:
    """Run the drain scenarios; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--mode", choices=("both", "rate", "pinned"), default="both", help="scenario(s) to run (default both)"
    )
    p.add_argument("--rate", type=float, default=200, help="rate mode: requests per second (default 200)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of load before SIGTERM (default 3)")
    p.add_argument(
        "--lb-delay", type=float, default=1.0, help="rate mode: seconds after SIGTERM until load stops (default 1)"
    )
    p.add_argument("--drain-delay", help="override DRAIN_DELAY (Go duration, e.g. 2s); default: the generated one")
    p.add_argument("--path", default=c.DEFAULT_PATH, help=f"rate mode: route to GET (default {c.DEFAULT_PATH})")
    p.add_argument("--clients", type=int, default=50, help="pinned mode: keep-alive clients (default 50)")
    p.add_argument("--think", type=float, default=0.002, help="pinned mode: longest pause between requests, s (0.002)")
    p.add_argument("--body", type=int, default=64, help="pinned mode: POST body bytes (default 64)")
    p.add_argument("--pinned-path", default="/v1/echo", help="pinned mode: route to POST to (default /v1/echo)")
    args = p.parse_args()
    rep = c.Report("drain", "Drain: SIGTERM under load (constant rate; pinned keep-alive clients)")
    rep.header()
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        binary = c.build_service(project, wd / "bench-svc.bin")
        lg = c.build_loadgen(wd / "loadgen")
        if args.mode in ("both", "rate"):
            rate_mode(args, binary, lg, wd, rep)
        if args.mode in ("both", "pinned"):
            pinned_mode(args, binary, lg, wd, rep)
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
