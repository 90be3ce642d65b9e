"""Startup benchmark: time from exec to /readyz 200, binary size, and RSS after 1,000 requests.

Generates a service with `gosmith new --defaults`, builds it like the Dockerfile does (CGO off,
-trimpath, `-ldflags "-s -w -X ..."`), then starts it repeatedly on loopback ports, polling the admin
port's /readyz every millisecond. Tracing export is off (OTEL_SDK_DISABLED=true: no collector here).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c


def main() -> int:
    """Measure start-up latency, binary size and memory; print and optionally save the table."""
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10, help="process starts to time (default 10)")
    p.add_argument("--requests", type=int, default=1000, help="requests before reading RSS (default 1000)")
    p.add_argument("--path", default=c.DEFAULT_PATH, help=f"business route to request (default {c.DEFAULT_PATH})")
    args = p.parse_args()
    rep = c.Report("startup", "Startup: exec to ready, binary size, memory")
    rep.header()
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        binary = c.build_service(project, wd / "bench-svc.bin")
        lg = c.build_loadgen(wd / "loadgen")
        times = []
        for _ in range(args.runs):
            svc = c.start_service(binary)
            try:
                times.append(svc.wait_ready())
            finally:
                svc.stop()
        rep.add(f"exec to `/readyz` 200, median of {args.runs}", c.ms(c.median(times)))
        rep.add("exec to `/readyz` 200, min / max", f"{c.ms(min(times))} / {c.ms(max(times))}")
        rep.add("binary size (stripped, `-trimpath`)", f"{binary.stat().st_size / 2**20:.1f} MiB")

        svc = c.start_service(binary)
        try:
            svc.wait_ready()
            idle = svc.rss_kib()
            out = subprocess.run(
                c.loadgen(lg, svc.http + args.path, conc=4, duration=0, n=args.requests),
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
            res = json.loads(out)
            busy = svc.rss_kib()
        finally:
            svc.stop()
        rep.add("RSS when ready", f"{idle / 1024:.1f} MiB")
        rep.add(f"RSS after {res['sent']} requests to `{args.path}`", f"{busy / 1024:.1f} MiB")
        if res["failed"]:
            rep.note(f"{res['failed']} of {res['sent']} requests failed: {res['status']} {res['errors']}")
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
