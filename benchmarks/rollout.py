"""Rollout benchmark: `helm upgrade` of the generated chart under keep-alive load in a real single-node cluster.

Starts the suite's single-node Kubernetes cluster (tests/cluster.py: kubelet, kube-proxy in iptables
mode, containerd, CoreDNS; tools from scripts/cluster-tools.sh), installs the default chart with an
image of the built service, then runs `--rollouts` rollouts (a changed pod annotation each) while two
closed-loop load generators (benchmarks/loadgen, keep-alive) send GET and POST requests to the
Service's ClusterIP through kube-proxy from the node. Reports requests/s during the rollouts, failed
requests (goal: 0; Go's client retries a GET that met a closed idle connection, never a POST), the
time of each rollout (upgrade until the old pods are gone) and the cluster's start and stop times.

Load goes only to the ClusterIP on the cluster's isolated bridge. Needs root and the cluster tools;
elsewhere it says so and exits 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _common as c
import cluster as harness


def main() -> int:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--rollouts", type=int, default=3, help="helm upgrades under load (default 3)")
    p.add_argument("--connections", type=int, default=8, help="keep-alive connections per method (default 8)")
    p.add_argument("--body", type=int, default=256, help="POST body bytes (default 256)")
    args = p.parse_args()
    rep = c.Report("rollout", f"Rollout under load: {args.rollouts} helm upgrades in a single-node cluster")
    rep.header()
    reason = harness.missing()
    if reason:
        rep.skipped = f"the cluster cannot run here ({reason}); nothing measured"
        print(f"skipped: {rep.skipped}")
        rep.finish(args.json)
        return 0
    with c.workdir(args.workdir) as wd:
        project = c.render(wd / "bench-svc")
        binary = c.build_service(project, wd / "bench-svc.bin")
        lg = c.build_loadgen(wd / "loadgen")
        cl = harness.Cluster(wd / "cluster")
        try:
            cl.start()
            rep.add("cluster ready (from cached binaries)", f"{cl.timings['ready']:.1f} s")
            cl.image("gosmith.local/bench-svc:bench", {"/bench-svc": binary}, ["/bench-svc"])
            chart = project / "deploy" / "helm" / "bench-svc"
            sets = ["image.repository=gosmith.local/bench-svc", "image.tag=bench",
                    f"tests.image={harness.TEST_CLIENT_IMAGE}", "otel.enabled=false"]
            ns = cl.restricted_namespace("bench")
            helm_sets = [a for s in sets for a in ("--set", s)]
            cl.helm("install", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m", *helm_sets)
            svc = next(s for s in cl.get_json("-n", ns, "services")["items"]
                       if not s["metadata"]["name"].endswith("-metrics"))
            base = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"
            gens = [subprocess.Popen(c.loadgen(lg, f"{base}/v1/hello/bench", conc=args.connections, duration=0),
                                     stdout=subprocess.PIPE, text=True),
                    subprocess.Popen(c.loadgen(lg, f"{base}/v1/echo", conc=args.connections, duration=0,
                                               body=args.body), stdout=subprocess.PIPE, text=True)]
            times = []
            try:
                time.sleep(2)
                for i in range(args.rollouts):
                    start = time.monotonic()
                    cl.helm("upgrade", "rel", str(chart), "-n", ns, "--wait", "--timeout", "3m", *helm_sets,
                            "--set", f"podAnnotations.rollout=r{i}")

                    def settled() -> bool:
                        pods = cl.get_json("-n", ns, "pods", "-l", "app.kubernetes.io/instance=rel")["items"]
                        return len(pods) == 2 and all("deletionTimestamp" not in p["metadata"] for p in pods)
                    cl.wait(settled, 120, "old pods gone", interval=0.5)
                    times.append(time.monotonic() - start)
            finally:
                for g in gens:
                    g.send_signal(signal.SIGINT)
                results = [json.loads(g.communicate(timeout=60)[0]) for g in gens]
            for name, r in zip(("GET", "POST"), results, strict=True):
                rep.add(f"{name}: requests/s during the rollouts ({args.connections} connections)", f"{r['rps']:.0f}")
                rep.add(f"{name}: failed requests (goal: 0)", f"{r['failed']} of {r['sent']}")
                rep.add(f"{name}: p99 latency", f"{r['p99_ms']:.1f} ms")
            rep.add("rollout time (upgrade until the old pods are gone)",
                    ", ".join(f"{t:.0f} s" for t in times))
            rep.note("2 replicas, maxSurge 1, maxUnavailable 0; the chart's default drain "
                     "(15 s) and grace period; load from the node to the ClusterIP through kube-proxy (iptables)")
        finally:
            cl.stop()
        rep.add("cluster teardown", f"{cl.timings.get('teardown', 0):.1f} s")
    rep.finish(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
