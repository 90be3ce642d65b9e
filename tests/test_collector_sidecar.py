"""The chart's OpenTelemetry Collector sidecar, proven with real processes on loopback: the generated
service's built binary exports every span (always_on) to the collector of tests/tools/otelcol, run with
the configuration the chart renders (its ConfigMap), which exports to a real OTLP receiver in the test.

Native-sidecar order (the service stops first, the collector after it has exited): every span the
service counted as exported arrives downstream, and that is every request it served. Legacy order (both
get SIGTERM at once, as regular containers do): the collector is gone while the service still drains,
and spans are lost (the control that shows the order matters)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from gen import PROJECTS, ROOT, Rendered, listeners, run, wait_http
from otlp_receiver import GrpcReceiver
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

PROJECT = "defaults"  # OTLP over gRPC, the template's default
HELM = ROOT / ".tools" / "bin" / "helm"


def collector_config(project: Path, endpoint: str, grpc_port: int, http_port: int) -> str:
    """The collector configuration the chart renders for otel.collector.sidecar.enabled and `endpoint`,
    with the pod's fixed receiver ports 4317/4318 moved to free ones (processes here share one host)."""
    chart = project / "deploy" / "helm" / PROJECTS[PROJECT]["service_name"]
    out = run([str(HELM), "template", "r", str(chart), "--set", "otel.collector.sidecar.enabled=true",
               "--set", f"otel.endpoint={endpoint}",
               "--show-only", "templates/otel-collector-configmap.yaml"], project)
    text: str = yaml.safe_load(out)["data"]["config.yaml"]
    assert "127.0.0.1:4317" in text and "127.0.0.1:4318" in text, text
    return text.replace("127.0.0.1:4317", f"127.0.0.1:{grpc_port}").replace("127.0.0.1:4318", f"127.0.0.1:{http_port}")


@dataclass
class Proc:
    """A running process with its stdout and stderr lines collected in the background."""

    proc: subprocess.Popen[bytes]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, cmd: list[str], env: dict[str, str]) -> Proc:
        """Start `cmd` with exactly `env`."""
        p = cls(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for stream, lines in ((p.proc.stdout, p.out), (p.proc.stderr, p.err)):
            t = threading.Thread(target=lambda s=stream, ls=lines: ls.extend(x.decode() for x in s), daemon=True)
            t.start()
            p.threads.append(t)
        return p

    def wait(self, timeout: float) -> int:
        """Wait for exit and for the output readers; return the exit code."""
        code = self.proc.wait(timeout=timeout)
        for t in self.threads:
            t.join(timeout=5)
        return code


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes a test starts; whatever still runs at the end is killed."""
    started: list[Proc] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait(timeout=10)


def wait_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def load(port: int, done: threading.Event, statuses: list[int | None]) -> None:
    """GET /v1/hello on new connections until `done`; record each status (None: no response)."""
    while not done.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /v1/hello/load HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            statuses.append(int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None)
        except OSError:  # refused once the service stopped listening
            time.sleep(0.005)


@dataclass
class Outcome:
    """What one run counted: requests the service served, its final span counters, spans received."""

    served: int
    exported: int
    failed: int
    received: int
    unique: int
    statuses: list[int | None]
    #: the service logged "telemetry flush failed" (its flush at exit did not reach the collector)
    flush_failed: bool
    #: otel_spans_exported_total and otel_spans_failed_total scraped from /metrics under load, before SIGTERM
    scraped: dict[str, float]


def run_pair(rendered: Rendered, otelcol: Path, procs: list[Proc], tmp_path: Path, *, native: bool) -> Outcome:
    """Service + collector + receiver under load; SIGTERM in the native-sidecar or the legacy order."""
    binary = rendered.binary(PROJECT)
    with GrpcReceiver() as receiver:
        ports = listeners()  # three free ports: two for the collector's receivers, one spare
        config = tmp_path / "collector.yaml"
        config.write_text(collector_config(rendered(PROJECT), receiver.endpoint, ports.app, ports.admin))
        collector = Proc.start([str(otelcol), f"--config={config}"], {"PATH": "/usr/bin:/bin"})
        procs.append(collector)
        wait_port(ports.app)
        svc_ports = listeners()
        service = Proc.start([str(binary)], {
            "PATH": "/usr/bin:/bin",
            **svc_ports.env,
            "DRAIN_DELAY": "1s",
            "SHUTDOWN_TIMEOUT": "3s",
            "TELEMETRY_FLUSH_TIMEOUT": "3s",
            "OTEL_TRACES_SAMPLER": "always_on",
            # what the chart sets with the sidecar (the collector's gRPC receiver on loopback)
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports.app}",
        })
        procs.append(service)
        wait_http(svc_ports.admin_url + "/readyz")
        done = threading.Event()
        statuses: list[int | None] = []
        workers = [threading.Thread(target=load, args=(svc_ports.app, done, statuses)) for _ in range(3)]
        for w in workers:
            w.start()
        time.sleep(1.5)
        with urllib.request.urlopen(svc_ports.admin_url + "/metrics", timeout=5) as resp:
            metrics = {s.name: s.value for f in text_string_to_metric_families(resp.read().decode())
                       for s in f.samples if s.name.startswith("otel_spans_")}
        service.proc.send_signal(signal.SIGTERM)
        if native:  # kubelet stops a native sidecar only after the service has exited
            service_code = service.wait(timeout=20)
            collector.proc.send_signal(signal.SIGTERM)
        else:  # regular containers: SIGTERM to all of them at once
            collector.proc.send_signal(signal.SIGTERM)
            service_code = service.wait(timeout=20)
        collector_code = collector.wait(timeout=30)
        done.set()
        for w in workers:
            w.join(timeout=15)
        spans = list(receiver.store.spans)
    assert service_code == 0, "".join(service.err[-20:])
    assert collector_code == 0, "".join(collector.err[-20:])
    lines = [json.loads(x) for x in service.out]
    stopped = lines[-1]
    assert stopped["msg"] == "stopped", lines[-3:]
    served = sum(1 for x in lines if x["msg"] == "request" and x.get("path", "/v1/hello/load") == "/v1/hello/load")
    return Outcome(served, stopped["spans_exported"], stopped["spans_failed"], len(spans),
                   len({s.span_id for s in spans}), statuses,
                   any(x["msg"] == "telemetry flush failed" for x in lines), metrics)


def test_native_order_delivers_every_exported_span(rendered: Rendered, otelcol: Path, procs: list[Proc],
                                                   tmp_path: Path) -> None:
    """Service first, collector after it exited: received == the service's exported counter == requests
    served, none failed, no duplicates, and no request failed."""
    o = run_pair(rendered, otelcol, procs, tmp_path, native=True)
    print(f"served={o.served} exported={o.exported} failed={o.failed} received={o.received}")
    assert o.served > 300, f"too little load to judge: {o.served} requests"
    assert o.failed == 0, o
    assert o.received == o.unique, f"duplicate spans downstream: {o}"
    assert o.received == o.exported, o
    assert not o.flush_failed, o
    # the same counter in /metrics, scraped under load: already counting, never ahead of the final number
    assert 0 < o.scraped["otel_spans_exported_total"] <= o.exported, o
    assert o.scraped["otel_spans_failed_total"] == 0, o
    assert o.exported == o.served, f"spans of served requests were not exported: {o}"
    assert all(s == 200 for s in o.statuses), [s for s in o.statuses if s != 200][:5]


def test_legacy_order_loses_spans(rendered: Rendered, otelcol: Path, procs: list[Proc], tmp_path: Path) -> None:
    """Control: SIGTERM to both at once (regular containers). The collector stops while the service
    still serves its drain delay: the spans of those requests never arrive."""
    o = run_pair(rendered, otelcol, procs, tmp_path, native=False)
    print(f"served={o.served} exported={o.exported} failed={o.failed} received={o.received}")
    assert o.served > 300, f"too little load to judge: {o.served} requests"
    assert o.received < o.served, f"nothing was lost, so the control proves nothing: {o}"
    # the counter stays honest when spans are lost: it counts only what the collector accepted, and the
    # service says its last flush failed
    assert o.received == o.exported, o
    assert o.flush_failed, o

