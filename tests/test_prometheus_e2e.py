"""The generated rules against the real built service and a real Prometheus (Debian's 2.42): every metric
the rules use is in the service's /metrics, every recording rule returns data, and an error burst makes the
availability alert go pending/firing. Short windows come from the chart's values, as a user would set them."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import gen
import pytest
import yaml
from conftest import unavailable_tools

pytestmark = pytest.mark.slow

#: Metrics the rules take from cAdvisor and kube-state-metrics, not from the service.
EXTERNAL_METRICS = {"container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_periods_total",
                    "kube_pod_status_ready", "kube_pod_container_status_restarts_total",
                    "up"}  # up: Prometheus' own, per target
#: Short windows for the test (seconds instead of hours); scrape and rule evaluation every second.
SHORT = ["--set", "slo.for.page=1s", "--set", "slo.for.ticket=1s", "--set-json", "slo.latency.thresholdSeconds=0.5"]
for key in ("pageFast", "pageSlow", "ticketFast", "ticketSlow"):
    SHORT += ["--set", f"slo.windows.{key}.long=20s", "--set", f"slo.windows.{key}.short=10s"]


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects (identifiers followed by a `{` selector)."""
    return set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]


def slow_echo(port: int, hold: float) -> bytes:
    """POST /v1/echo and send the body only after `hold` seconds: the handler deadline cuts the read (503)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
        time.sleep(hold)
        with contextlib.suppress(OSError):  # the server may have answered and closed already
            s.sendall(b"ping")
        return s.recv(4096)


def test_rules_against_the_real_service_and_prometheus(rendered: gen.Rendered, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip(f"prometheus unavailable: {unavailable_tools().get('prometheus', 'run scripts/tools.sh')}")
    helm = gen.ROOT / ".tools" / "bin" / "helm"
    if not helm.exists():
        pytest.skip("helm not built: run scripts/tools.sh")
    assert gen.PROJECTS["defaults"] == {"service_name": "demo-svc"}
    project, binary = rendered("defaults"), rendered.binary("defaults")
    chart = project / "deploy" / "helm" / "demo-svc"
    out = subprocess.run([str(helm), "template", "rel", str(chart), "--namespace", "shop",
                          "--api-versions", "monitoring.coreos.com/v1/PrometheusRule", *SHORT],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    (rule,) = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "PrometheusRule"]
    groups = rule["spec"]["groups"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rule["spec"]))

    ports = gen.listeners()
    service = subprocess.Popen([str(binary)], env={**gen.os.environ, **ports.env, "HANDLER_TIMEOUT": "1s",
                                                   "OTEL_SDK_DISABLED": "true", "LOG_LEVEL": "warn",
                                                   "DRAIN_DELAY": "0s"},  # SIGTERM at the end: no 15s drain
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    prom_port = gen.free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        # the labels the Prometheus Operator gives the target of the chart's ServiceMonitor
        "scrape_configs": [{"job_name": "rel-demo-svc", "static_configs": [
            {"targets": [f"127.0.0.1:{ports.admin}"], "labels": {"namespace": "shop"}}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                             "--enable-feature=exemplar-storage"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        gen.wait_http(ports.admin_url + "/readyz")
        gen.wait_http(base + "/-/ready", timeout=30)

        # every metric the rules name is served by the service (cAdvisor/kube-state-metrics excepted)
        for i in range(20):
            urllib.request.urlopen(f"{ports.app_url}/v1/hello/n{i}", timeout=5).read()
        with urllib.request.urlopen(ports.admin_url + "/metrics", timeout=5) as resp:
            exposed = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", resp.read().decode(), re.M))
        used = set().union(*(metric_names(r["expr"]) for g in groups for r in g["rules"]))
        assert used - EXTERNAL_METRICS <= exposed, sorted(used - EXTERNAL_METRICS - exposed)
        assert used >= EXTERNAL_METRICS
        assert "up" not in exposed
        # ... and every metric the Grafana dashboard names (cAdvisor excepted, listed in gen)
        dashboard = json.loads((chart / "dashboards" / "demo-svc.json").read_text(encoding="utf-8"))
        queries = gen.dashboard_queries(dashboard)
        on_dashboard = set().union(*(metric_names(q) for _, q in queries))
        assert on_dashboard - gen.DASHBOARD_CADVISOR_METRICS <= exposed, \
            sorted(on_dashboard - gen.DASHBOARD_CADVISOR_METRICS - exposed)
        assert on_dashboard >= gen.DASHBOARD_CADVISOR_METRICS

        # traffic: fast 200s and slow requests that the handler deadline turns into 503s
        stop = threading.Event()

        def fast() -> None:
            while not stop.is_set():
                urllib.request.urlopen(f"{ports.app_url}/v1/hello/x", timeout=5).read()
                time.sleep(0.05)

        def slow() -> None:
            while not stop.is_set():
                assert b" 503 " in slow_echo(ports.app, 1.3).split(b"\r\n")[0] + b" "

        workers = [threading.Thread(target=fast), *(threading.Thread(target=slow) for _ in range(3))]
        for w in workers:
            w.start()
        try:
            deadline = time.monotonic() + 90
            state: dict[str, str] = {}
            while time.monotonic() < deadline:
                alerts = api(base, "/api/v1/alerts")["alerts"]
                state = {a["labels"]["alertname"]: a["state"] for a in alerts}
                if state.get("AvailabilityBudgetBurnFast") in ("pending", "firing") and \
                        state.get("LatencyBudgetBurnFast") in ("pending", "firing"):
                    break
                time.sleep(1)
            assert state.get("AvailabilityBudgetBurnFast") in ("pending", "firing"), state
            assert state.get("LatencyBudgetBurnFast") in ("pending", "firing"), state
            (fired,) = [a for a in api(base, "/api/v1/alerts")["alerts"]
                        if a["labels"]["alertname"] == "AvailabilityBudgetBurnFast"]
            assert fired["labels"]["job"] == "rel-demo-svc" and fired["labels"]["namespace"] == "shop"
            assert fired["annotations"]["runbook_url"].endswith("#availabilitybudgetburnfast")

            # every recording rule returns data, and the rules evaluate without errors
            for g in api(base, "/api/v1/rules")["groups"]:
                for r in g["rules"]:
                    assert r["health"] == "ok", r
            records = [r["record"] for g in groups for r in g["rules"] if "record" in r]
            assert len(records) == 16
            for record in records:
                result = api(base, "/api/v1/query", query=record)["result"]
                assert result, f"{record} returned no data"
                if record.startswith("slo:http_errors:"):
                    assert float(result[0]["value"][1]) > 0.05, (record, result)
            # every dashboard panel query, its variables substituted as Grafana would, returns data
            # (the panels on cAdvisor series excepted: no kubelet here)
            variables = {"job": "rel-demo-svc", "namespace": "shop", "pod": ".+", "__rate_interval": "10s"}
            cadvisor = {title for title, q in queries if metric_names(q) & gen.DASHBOARD_CADVISOR_METRICS}
            assert cadvisor == {"CPU throttling (cAdvisor)"}, cadvisor
            checked = [(t, q) for t, q in queries if t not in cadvisor]
            assert len(checked) >= 20, checked
            for title, q in checked:
                expr = gen.substitute_dashboard_variables(q, variables)
                assert api(base, "/api/v1/query", query=expr)["result"], f"panel {title!r}: {expr} returned no data"
            # the runtime alerts on the service's own metrics evaluate over real series
            for expr in ("app_runtime_gomemlimit_bytes", "go_memstats_sys_bytes - go_memstats_heap_released_bytes",
                         "process_resident_memory_bytes", 'up{job="rel-demo-svc", namespace="shop"} == 1'):
                assert api(base, "/api/v1/query", query=expr)["result"], expr
        finally:
            stop.set()
            for w in workers:
                w.join(timeout=10)
    finally:
        prom_out = gen.stop(prom, 10)
        svc_out = gen.stop(service, 15)
        print(prom_out[-3000:], svc_out[-3000:])
