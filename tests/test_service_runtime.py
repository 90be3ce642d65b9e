"""The built binary of a generated service, run as a real process on loopback sockets and
stopped with real signals: logs, drain, traces over OTLP, metrics, header limits, the debug
listener and the pprof tag."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gen import PROJECTS, Rendered, copy_project, free_port, go_build, listeners, stamp_ldflags, wait_http
from otlp_receiver import GrpcReceiver, HttpReceiver
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

pytestmark = pytest.mark.slow

STAMP = {"version": "v9.8.7", "commit": "abc1234", "date": "2026-01-02T03:04:05Z"}
#: The answer sets (gen.PROJECTS, shared with test_service_go): gRPC exporter with B3 and hot reload; HTTP exporter.
GRPC, HTTP = "grpc-b3-reload-go126", "http-go1265-ports"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
LINE_KEYS = {"ts", "level", "msg", "caller", "logger", "service", "version", "env"}
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$")


@dataclass
class Binaries:
    """The binaries built once per run (stamped like the Dockerfile stamps them) and their projects."""

    grpc: Path
    grpc_pprof: Path
    http: Path
    grpc_project: Path
    http_project: Path
    grpc_service: str
    http_service: str


def ldflags(answers: dict[str, Any]) -> str:
    """The Dockerfile's -ldflags for a project of `answers`, stamped with STAMP."""
    return stamp_ldflags(answers.get("module_path") or f"example.com/{answers['service_name']}", STAMP)


@pytest.fixture(scope="module")
def binaries(rendered: Rendered) -> Binaries:
    """The gRPC (B3 + hot reload) and HTTP variants, built like the Dockerfile builds them."""
    grpc, http = PROJECTS[GRPC], PROJECTS[HTTP]
    return Binaries(
        grpc=rendered.binary(GRPC, ldflags=ldflags(grpc)),
        grpc_pprof=rendered.binary(GRPC, tags="pprof", ldflags=ldflags(grpc)),
        http=rendered.binary(HTTP, ldflags=ldflags(http)),
        grpc_project=rendered(GRPC),
        http_project=rendered(HTTP),
        grpc_service=grpc["service_name"],
        http_service=http["service_name"],
    )


@dataclass
class Service:
    """A running service process; stdout is collected line by line in the background."""

    proc: subprocess.Popen[bytes]
    app: str
    admin: str
    debug: str
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def _read(self) -> None:
        assert self.proc.stdout
        for raw in self.proc.stdout:
            self.lines.append(raw.decode())

    def signal(self, sig: int = signal.SIGTERM) -> float:
        """Send `sig`; return the monotonic time it was sent."""
        t = time.monotonic()
        self.proc.send_signal(sig)
        return t

    def wait(self, timeout: float = 30) -> int:
        """Wait for exit; return the exit code."""
        code = self.proc.wait(timeout=timeout)
        if self.reader:
            self.reader.join(timeout=5)
        return code

    def json_lines(self) -> list[dict]:
        """Return stdout parsed as JSON, one object per line (fails on any other line)."""
        out = []
        for line in self.lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AssertionError(f"stdout line is not JSON: {line!r}") from exc
        return out

    def stderr(self) -> str:
        """Return stderr (only after exit)."""
        assert self.proc.stderr
        return self.proc.stderr.read().decode()


@pytest.fixture
def start() -> Iterator:
    """Start services; kill whatever is still running at the end of the test."""
    started: list[Service] = []

    def _start(binary: Path, env: dict[str, str] | None = None, *, wait_ready: bool = True) -> Service:
        ports = listeners()
        full = {
            "PATH": "/usr/bin:/bin",
            **ports.env,
            "DRAIN_DELAY": "200ms",
            "SHUTDOWN_TIMEOUT": "3s",
            "TELEMETRY_FLUSH_TIMEOUT": "3s",
            "OTEL_TRACES_EXPORTER": "none",
            **(env or {}),
        }
        proc = subprocess.Popen([str(binary)], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        svc = Service(proc, ports.app_url, ports.admin_url, ports.debug_url)
        svc.reader = threading.Thread(target=svc._read, daemon=True)
        svc.reader.start()
        started.append(svc)
        if wait_ready:
            wait_http(svc.admin + "/readyz")
        return svc

    yield _start
    for svc in started:
        if svc.proc.poll() is None:
            svc.proc.kill()
            svc.proc.wait(timeout=10)


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, str]:
    """GET `url`; return (status, body) also for error statuses."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def fatal_lines(stderr: str) -> list[dict]:
    """Parse stderr: every line must be a flat JSON object; return the fatal ones."""
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for line in lines:
        assert line.keys() >= LINE_KEYS | {"error"} or line["level"] != "fatal", line
        assert not any(isinstance(v, (dict, list)) for v in line.values()), line
    return [line for line in lines if line["level"] == "fatal"]


def request_lines(svc: Service) -> list[dict]:
    """Return the access-log lines."""
    return [line for line in svc.json_lines() if line["msg"] == "request"]


def test_version_flag_prints_the_stamp(binaries: Binaries) -> None:
    """--version prints the -ldflags -X values and exits 0."""
    out = subprocess.run([str(binaries.grpc), "--version"], capture_output=True, text=True, timeout=30, check=True)
    for value in STAMP.values():
        assert value in out.stdout


def test_log_lines_are_json_with_the_keys(binaries: Binaries, start) -> None:
    """Every stdout line is a JSON object with the shared keys; request lines carry the trace of the
    caller when it is sampled, and no trace ids when it is not (they would link to nothing)."""
    svc = start(binaries.grpc, {"APP_ENV": "staging", "OTEL_TRACES_SAMPLER": "parentbased_always_off"})
    assert http_get(svc.app + "/v1/hello/ada", {"traceparent": TRACEPARENT}) == (200, '{"message":"Hello, ada!"}\n')
    assert http_get(svc.app + "/v1/nothing")[0] == 404
    assert http_get(svc.app + "/v1/hello/x", {"traceparent": TRACEPARENT[:-2] + "00"})[0] == 200
    svc.signal()
    assert svc.wait() == 0
    lines = svc.json_lines()
    assert len(lines) >= 4
    for line in lines:
        assert line.keys() >= LINE_KEYS, f"missing {LINE_KEYS - line.keys()} in {line}"
        assert TS.match(line["ts"]), line["ts"]
        assert line["level"] in {"debug", "info", "warn", "error"}
        assert line["service"] == binaries.grpc_service
        assert line["version"] == STAMP["version"] and line["env"] == "staging"
    startup = next(line for line in lines if line["msg"] == "starting")
    assert startup["commit"] == STAMP["commit"] and startup["build_date"] == STAMP["date"]
    assert startup["gomaxprocs"] >= 1 and startup["gomemlimit"] > 0
    assert startup["drain_delay"] == "200ms" and startup["shutdown_timeout"] == "3s"
    for key in ("read_header_timeout", "read_timeout", "write_timeout", "idle_timeout", "handler_timeout"):
        assert re.fullmatch(r"[\dhms.µn]+", startup[key]), (key, startup[key])
    traced, untraced, unsampled = request_lines(svc)
    assert traced["trace_id"] == TRACE_ID
    assert re.fullmatch(r"[0-9a-f]{16}", traced["span_id"]) and traced["span_id"] != PARENT_ID
    assert {k: traced[k] for k in ("method", "route", "status", "bytes")} == {
        "method": "GET",
        "route": "/v1/hello/{name}",
        "status": 200,
        "bytes": len('{"message":"Hello, ada!"}\n'),
    }
    assert traced["remote_addr"].startswith("127.0.0.1:") and traced["duration_ms"] >= 0
    assert untraced["route"] == "unmatched" and untraced["status"] == 404
    for line in (untraced, unsampled):  # a new unsampled root trace; an unsampled caller
        assert "trace_id" not in line and "span_id" not in line, line
    assert [line["msg"] for line in lines][-3:] == ["shutdown signal received, draining", "shutting down", "stopped"]


def test_log_level_changes_at_runtime(binaries: Binaries, start) -> None:
    """LOG_LEVEL sets the level; PUT /loglevel on the debug listener changes it without a restart;
    the admin port has no /loglevel."""
    svc = start(binaries.grpc, {"LOG_LEVEL": "warn"})
    http_get(svc.app + "/v1/hello/a")
    put = urllib.request.Request(svc.admin + "/loglevel", data=b"level=debug", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(put, timeout=5)
    assert refused.value.code in (404, 405)
    req = urllib.request.Request(
        svc.debug + "/loglevel", data=b'{"level":"info"}', method="PUT", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read()) == {"level": "info"}
    http_get(svc.app + "/v1/hello/b")
    # The generated README documents `curl -X PUT -d level=debug localhost:6060/loglevel` (a form
    # body, on the default DEBUG_ADDR port): it works too.
    readme = (binaries.grpc_project / "README.md").read_text()
    assert "curl -X PUT -d level=debug localhost:6060/loglevel" in readme
    form = urllib.request.Request(svc.debug + "/loglevel", data=b"level=debug", method="PUT")
    with urllib.request.urlopen(form, timeout=5) as resp:
        assert json.loads(resp.read()) == {"level": "debug"}
    svc.signal()
    assert svc.wait() == 0
    paths = [line["path"] for line in request_lines(svc)]
    assert paths == ["/v1/hello/b"]
    assert not any(line["msg"] == "starting" for line in svc.json_lines())  # info was off at startup


@dataclass
class LoadResult:
    """One request of the load generator."""

    connected_at: float
    status: int | None
    error: str = ""


def _load_worker(port: int, done: threading.Event, results: list[LoadResult], refused: list[float]) -> None:
    """Send new-connection GETs until `done`; record outcomes and refused connects."""
    while not done.is_set():
        sock = socket.socket()
        sock.settimeout(10)
        try:
            sock.connect(("127.0.0.1", port))
        except (ConnectionRefusedError, ConnectionResetError):
            # A reset during connect is the closing listener dropping its backlog: a refusal too,
            # held to the same "not before the drain delay" rule (it used to kill the worker silently).
            refused.append(time.monotonic())
            sock.close()
            time.sleep(0.005)
            continue
        connected = time.monotonic()
        try:
            sock.sendall(b"GET /v1/hello/load HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
            results.append(LoadResult(connected, status, "" if status else f"no response: {data[:80]!r}"))
        except OSError as exc:
            results.append(LoadResult(connected, None, repr(exc)))
        finally:
            sock.close()


def test_sigterm_drains_under_load(binaries: Binaries, start) -> None:
    """SIGTERM under load: /readyz 503 within 100 ms, requests keep succeeding through the drain
    delay, a request in flight at shutdown completes, new connections are refused only after the
    drain delay, exit 0 within drain + shutdown + 1 s."""
    drain, shutdown = 1.0, 3.0
    svc = start(
        binaries.grpc,
        {
            "DRAIN_DELAY": "1s",
            "SHUTDOWN_TIMEOUT": "3s",
            "HANDLER_TIMEOUT": "5s",
            "WRITE_TIMEOUT": "8s",
            "READ_TIMEOUT": "8s",
        },
    )
    port = int(svc.app.rsplit(":", 1)[1])
    results: list[LoadResult] = []
    refused: list[float] = []
    first_503: list[float] = []
    kill_at: list[float] = []
    done = threading.Event()

    def readiness() -> None:
        while not done.is_set() and not first_503:
            try:
                status, _ = http_get(svc.admin + "/readyz", timeout=2)
            except OSError:
                status = 0
            if status == 503:
                first_503.append(time.monotonic())
            time.sleep(0.002)

    slow_result: list[str] = []

    def slow_upload() -> None:
        """A POST whose body is still arriving when Shutdown starts: it must complete."""
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello")
            while not kill_at:
                time.sleep(0.01)
            time.sleep(max(0.0, kill_at[0] + drain + 0.5 - time.monotonic()))
            sock.sendall(b"world")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            slow_result.append(data.decode(errors="replace"))

    threads = [threading.Thread(target=_load_worker, args=(port, done, results, refused)) for _ in range(4)]
    threads += [threading.Thread(target=readiness), threading.Thread(target=slow_upload)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    kill_at.append(svc.signal())
    code = svc.wait(timeout=drain + shutdown + 10)
    exited = time.monotonic()
    time.sleep(0.2)  # keep probing a little after exit: connections stay refused
    done.set()
    for t in threads:
        t.join(timeout=15)
    t0 = kill_at[0]

    assert code == 0, svc.stderr()
    assert exited - t0 <= drain + shutdown + 1, f"exit took {exited - t0:.2f}s"
    assert first_503 and first_503[0] - t0 <= 0.1, f"readiness flipped after {(first_503 or [0])[0] - t0:.3f}s"
    before_shutdown = [r for r in results if r.connected_at < t0 + drain - 0.05]
    assert len(before_shutdown) > 20, "too little load to judge"
    assert sum(r.connected_at > t0 for r in before_shutdown) > 5, "no load during the drain delay"
    failed = [r for r in before_shutdown if r.status != 200]
    assert not failed, f"{len(failed)} requests failed before shutdown began: {failed[:3]}"
    assert not [r for r in results if r.status not in (200, None)], "a request got a non-200 response"
    assert refused, "the listener never refused connections"
    assert min(refused) >= t0 + drain * 0.95, f"connections refused {min(refused) - t0:.3f}s after SIGTERM"
    assert slow_result and slow_result[0].startswith("HTTP/1.1 200"), slow_result
    assert '"bytes":10' in slow_result[0]


def test_second_signal_exits_at_once(binaries: Binaries, start) -> None:
    """A second SIGTERM during the drain ends the process at once with a non-zero status."""
    svc = start(binaries.grpc, {"DRAIN_DELAY": "30s"})
    svc.signal()
    deadline = time.monotonic() + 10
    while http_get(svc.admin + "/readyz")[0] != 503:
        assert time.monotonic() < deadline, "never started draining"
        time.sleep(0.02)
    t = svc.signal()
    code = svc.wait(timeout=10)
    assert code != 0
    assert time.monotonic() - t < 1.0


def test_sigint_drains_like_sigterm(binaries: Binaries, start) -> None:
    """SIGINT (Ctrl-C) starts the same graceful sequence: readiness 503, drain, exit 0."""
    svc = start(binaries.grpc, {"DRAIN_DELAY": "300ms"})
    t = svc.signal(signal.SIGINT)
    deadline = t + 5
    while http_get(svc.admin + "/readyz")[0] != 503:
        assert time.monotonic() < deadline, "SIGINT did not start the drain"
        time.sleep(0.01)
    assert http_get(svc.app + "/v1/hello/int")[0] == 200  # still serving during the drain delay
    assert http_get(svc.app + "/healthz") == (503, "draining\n")  # load balancers checking the app port stop too
    assert svc.wait(timeout=10) == 0, svc.stderr()
    assert time.monotonic() - t >= 0.3
    msgs = [line["msg"] for line in svc.json_lines() if line["msg"] != "request"]
    assert msgs[-3:] == ["shutdown signal received, draining", "shutting down", "stopped"]


def test_loopback_bind_refused_in_kubernetes(binaries: Binaries, start) -> None:
    """With KUBERNETES_SERVICE_HOST set, binding 127.0.0.1 is a startup error with a clear message."""
    svc = start(binaries.grpc, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, wait_ready=False)
    assert svc.wait(timeout=30) == 1
    (line,) = fatal_lines(svc.stderr())
    assert "HTTP_ADDR" in line["error"] and "loopback" in line["error"], line


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_traces_reach_a_real_otlp_receiver(binaries: Binaries, start, protocol: str) -> None:
    """Spans are exported over the wire (gRPC or HTTP/protobuf) with the resource, the caller's
    parent span and the HTTP semantic attributes; the log line names the same span."""
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    binary = binaries.grpc if protocol == "grpc" else binaries.http
    service = binaries.grpc_service if protocol == "grpc" else binaries.http_service
    with receiver:
        svc = start(
            binary,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "POD_NAME": "runtime-svc-7d9f-abcde",
                "POD_NAMESPACE": "shop",
                "NODE_NAME": "node-3",
                "OTEL_RESOURCE_ATTRIBUTES": "team=payments",
            },
        )
        assert http_get(svc.app + "/v1/hello/otlp", {"traceparent": TRACEPARENT})[0] == 200
        assert http_get(svc.app + "/healthz")[0] == 200
        http_get(svc.admin + "/metrics")
        svc.signal()  # the flush on shutdown exports the batch
        assert svc.wait() == 0, svc.stderr()
        spans = receiver.store.wait(1)
    assert len(spans) == 1, f"health/metrics must not be traced: {[s.name for s in spans]}"
    span = spans[0]
    assert span.name == "GET /v1/hello/{name}"
    assert span.kind == 2  # SPAN_KIND_SERVER
    assert span.trace_id == TRACE_ID and span.parent_span_id == PARENT_ID
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.route"] == "/v1/hello/{name}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/v1/hello/otlp"
    assert span.resource["service.name"] == service
    assert span.resource["service.version"] == STAMP["version"]
    assert span.resource["k8s.pod.name"] == "runtime-svc-7d9f-abcde"
    assert span.resource["k8s.namespace.name"] == "shop" and span.resource["k8s.node.name"] == "node-3"
    assert span.resource["team"] == "payments"
    (line,) = request_lines(svc)
    assert (line["trace_id"], line["span_id"]) == (span.trace_id, span.span_id)
    assert next(x for x in svc.json_lines() if x["msg"] == "starting")["trace_exporter"] == f"otlp/{protocol}"


def test_standard_otel_variables_configure_the_export(binaries: Binaries, start) -> None:
    """OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME reach the
    wire: the export goes to that exact URL path, carries the headers, and names the service."""
    with HttpReceiver(path="/tenant/v1/traces") as receiver:
        svc = start(
            binaries.http,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/tenant/v1/traces",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=shop,authorization=Bearer%20t0ken",
                "OTEL_SERVICE_NAME": "renamed-svc",
            },
        )
        assert http_get(svc.app + "/v1/hello/env", {"traceparent": TRACEPARENT})[0] == 200
        svc.signal()
        assert svc.wait() == 0, svc.stderr()
    assert len(receiver.requests) == 1, receiver.requests
    path, headers = receiver.requests[0]
    assert path == "/tenant/v1/traces"
    assert headers["x-tenant"] == "shop" and headers["authorization"] == "Bearer t0ken"
    (span,) = receiver.store.wait(1)
    assert span.resource["service.name"] == "renamed-svc"
    assert span.trace_id == TRACE_ID
    assert {line["service"] for line in svc.json_lines()} == {"renamed-svc"}


def test_sdk_disabled_exports_nothing(binaries: Binaries, start) -> None:
    """OTEL_SDK_DISABLED=true: no exporter (nothing reaches the receiver), logs still carry the caller's trace."""
    with HttpReceiver() as receiver:
        svc = start(
            binaries.http,
            {
                "OTEL_SDK_DISABLED": "true",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            },
        )
        assert http_get(svc.app + "/v1/hello/x", {"traceparent": TRACEPARENT})[0] == 200
        svc.signal()
        assert svc.wait() == 0
        time.sleep(0.5)
        assert receiver.store.requests == 0
    (line,) = request_lines(svc)
    assert line["trace_id"] == TRACE_ID
    assert next(x for x in svc.json_lines() if x["msg"] == "starting")["trace_exporter"] == "disabled"


def test_b3_headers_are_accepted(binaries: Binaries, start) -> None:
    """The B3 variant continues a trace given only B3 headers."""
    svc = start(binaries.grpc)
    b3 = {"X-B3-TraceId": TRACE_ID, "X-B3-SpanId": PARENT_ID, "X-B3-Sampled": "1"}
    status, _ = http_get(svc.app + "/v1/hello/b3", b3)
    assert status == 200
    svc.signal()
    assert svc.wait() == 0
    assert request_lines(svc)[0]["trace_id"] == TRACE_ID


def test_metrics_parse_with_prometheus_parsers(binaries: Binaries, start) -> None:
    """/metrics parses as Prometheus text and as OpenMetrics; RED metrics carry method/route/code;
    OpenMetrics carries trace-id exemplars."""
    svc = start(binaries.grpc, {"OTEL_TRACES_SAMPLER": "always_on"})
    for path in ("/v1/hello/a", "/v1/hello/b", "/v1/nothing"):
        http_get(svc.app + path, {"traceparent": TRACEPARENT})
    http_get(svc.app + "/healthz")
    status, text = http_get(svc.admin + "/metrics")
    assert status == 200
    families = {f.name: f for f in parse_prometheus(text)}
    requests = {
        (s.labels["method"], s.labels["route"], s.labels["code"]): s.value
        for s in families["http_server_requests"].samples
        if s.name == "http_server_requests_total"
    }
    assert requests == {("GET", "/v1/hello/{name}", "200"): 2.0, ("GET", "unmatched", "404"): 1.0}
    assert families["http_server_request_duration_seconds"].type == "histogram"
    counts = {
        s.labels["route"]: s.value
        for s in families["http_server_request_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert counts == {"/v1/hello/{name}": 2.0, "unmatched": 1.0}
    assert families["http_server_requests_in_flight"].type == "gauge"
    (build,) = families["app_build_info"].samples
    assert build.labels["version"] == STAMP["version"] and build.labels["commit"] == STAMP["commit"]
    assert build.labels["goversion"].startswith("go")
    for name in (
        "go_goroutines",
        "go_memstats_heap_alloc_bytes",
        "process_cpu_seconds",
        "process_resident_memory_bytes",
    ):
        assert name in families, name

    accept = {"Accept": "application/openmetrics-text; version=1.0.0"}
    req = urllib.request.Request(svc.admin + "/metrics", headers=accept)
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        om = resp.read().decode()
    assert om.endswith("# EOF\n")
    # Parse our own families only: client_golang's Go collector exposes go_memstats_alloc_bytes
    # and go_memstats_alloc_bytes_total, which the strict Python OpenMetrics parser rejects as one
    # family repeated (Prometheus itself scrapes it fine).
    ours = "".join(line + "\n" for line in om.splitlines() if re.match(r"(# \w+ )?http_server_", line)) + "# EOF\n"
    exemplars = [
        s.exemplar
        for f in parse_openmetrics(ours)
        if f.name == "http_server_request_duration_seconds"
        for s in f.samples
        if s.exemplar
    ]
    assert exemplars and all(e.labels["trace_id"] == TRACE_ID for e in exemplars)


def test_slow_headers_are_cut_and_large_headers_get_431(binaries: Binaries, start) -> None:
    """A client trickling headers is disconnected after READ_HEADER_TIMEOUT; headers over
    MAX_HEADER_BYTES are answered 431; normal requests on the same server still work."""
    svc = start(binaries.grpc, {"READ_HEADER_TIMEOUT": "500ms", "READ_TIMEOUT": "5s", "MAX_HEADER_BYTES": "4096"})
    port = int(svc.app.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /v1/hello/slow HTTP/1.1\r\nHost: x\r\n")
        t = time.monotonic()
        closed_after = None
        for _ in range(50):  # one header byte every 100 ms, never finishing the header block
            try:
                sock.sendall(b"X")
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1024):
                    closed_after = time.monotonic() - t
                    break
            except OSError:  # reset by the server
                closed_after = time.monotonic() - t
                break
    assert closed_after is not None, "the slow client was never cut off"
    assert 0.3 <= closed_after <= 2.0, f"cut after {closed_after:.2f}s, want about 0.5s"

    status, _ = http_get(svc.app + "/v1/hello/big", {"X-Big": "a" * 20000})
    assert status == 431
    assert http_get(svc.app + "/v1/hello/ok", {"X-Fine": "a" * 1000})[0] == 200


def _post(url: str, body: bytes) -> tuple[int, str, str]:
    """POST `body` to `url`; return (status, body, Connection header) also for error statuses."""
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), resp.headers.get("Connection", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), err.headers.get("Connection", "")


def test_bodies_over_max_body_bytes_get_413_with_the_table_default_and_floor(binaries: Binaries, start) -> None:
    """MAX_BODY_BYTES (a rule-table row, nothing else written by hand) limits every business request body on the
    real binary: the echo route reads up to the limit and gets 413 above it, and the connection is closed after
    that response; unset, the row's default applies; below the row's floor the service does not start and
    names the variable and the floor."""
    from gosmith.template import rules

    row = rules().settings.BY_NAME["max_body_bytes"]
    svc = start(binaries.grpc, {"MAX_BODY_BYTES": "2048"})
    status, body, _ = _post(svc.app + "/v1/echo", b"x" * 2048)
    assert status == 200 and json.loads(body)["bytes"] == 2048
    status, body, connection = _post(svc.app + "/v1/echo", b"x" * 2049)
    assert (status, json.loads(body), connection.lower()) == (413, {"error": "body is too large"}, "close")
    started = next(x for x in svc.json_lines() if x["msg"] == "starting")
    assert started["max_body_bytes"] == 2048

    default = start(binaries.grpc)
    assert _post(default.app + "/v1/echo", b"x" * row.default)[0] == 200
    assert _post(default.app + "/v1/echo", b"x" * (row.default + 1))[0] == 413

    low = start(binaries.grpc, {"MAX_BODY_BYTES": str(row.minimum - 1)}, wait_ready=False)
    assert low.wait(timeout=30) == 1
    (line,) = fatal_lines(low.stderr())
    assert f"MAX_BODY_BYTES must be at least {row.minimum}, got {row.minimum - 1}" in line["error"], line


def test_pprof_only_with_the_build_tag(binaries: Binaries, start) -> None:
    """/debug/pprof/ exists on the debug listener only in binaries built with -tags pprof, never on
    the app or admin port."""
    plain = start(binaries.grpc)
    tagged = start(binaries.grpc_pprof)
    assert http_get(plain.debug + "/debug/pprof/")[0] == 404
    status, body = http_get(tagged.debug + "/debug/pprof/")
    assert status == 200 and "goroutine" in body
    assert http_get(tagged.debug + "/debug/pprof/cmdline")[0] == 200
    assert http_get(tagged.app + "/debug/pprof/")[0] == 404
    assert http_get(tagged.admin + "/debug/pprof/")[0] == 404


def _configmap_write(directory: Path, generation: int, content: str) -> None:
    """Update `directory` like the kubelet updates a ConfigMap volume (atomic ..data symlink swap)."""
    ts = directory / f"..2026_{generation:04d}"
    ts.mkdir()
    (ts / "settings.json").write_text(content)
    tmp = directory / "..data_tmp"
    tmp.symlink_to(ts.name)
    os.replace(tmp, directory / "..data")


def test_hot_reload_follows_a_configmap_volume(binaries: Binaries, start, tmp_path: Path) -> None:
    """CONFIG_FILE is applied at startup and on every ConfigMap-style update; a broken file keeps
    the previous settings and says why."""
    cm = tmp_path / "config"
    cm.mkdir()
    _configmap_write(cm, 1, '{"greeting": "Hi"}')
    (cm / "settings.json").symlink_to("..data/settings.json")
    svc = start(binaries.grpc, {"CONFIG_FILE": str(cm / "settings.json")})
    assert http_get(svc.app + "/v1/hello/ann")[1] == '{"message":"Hi, ann!"}\n'

    _configmap_write(cm, 2, '{"greeting": "Hey", "log_level": "debug"}')
    deadline = time.monotonic() + 10
    while http_get(svc.app + "/v1/hello/ann")[1] != '{"message":"Hey, ann!"}\n':
        assert time.monotonic() < deadline, "the new greeting was never applied"
        time.sleep(0.05)

    _configmap_write(cm, 3, '{"greeting": ')
    deadline = time.monotonic() + 10
    while not any("keeping the previous settings" in line for line in svc.lines):
        assert time.monotonic() < deadline, "the broken file was not reported"
        time.sleep(0.05)
    assert http_get(svc.app + "/v1/hello/ann")[1] == '{"message":"Hey, ann!"}\n'
    svc.signal()
    assert svc.wait() == 0


def test_telemetry_flush_is_bounded(binaries: Binaries, start) -> None:
    """A collector that accepts connections but never answers cannot hold up the exit: the flush
    gives up after TELEMETRY_FLUSH_TIMEOUT, says so, and the process still exits 0."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        endpoint = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        svc = start(
            binaries.http,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "always_on",
                "TELEMETRY_FLUSH_TIMEOUT": "1s",
                "DRAIN_DELAY": "100ms",
            },
        )
        assert http_get(svc.app + "/v1/hello/x")[0] == 200
        t = svc.signal()
        code = svc.wait(timeout=30)
        took = time.monotonic() - t
    assert code == 0, svc.stderr()
    assert took < 0.1 + 1 + 1.5, f"exit took {took:.2f}s with a 1s flush timeout"
    flush = [line for line in svc.json_lines() if line["msg"] == "telemetry flush failed"]
    assert len(flush) == 1 and flush[0]["level"] == "warn", svc.lines


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_otlp_endpoint_without_scheme_is_normalised(binaries: Binaries, start, protocol: str) -> None:
    """An endpoint given as IP:port (the $(HOST_IP):4317 pattern) is normalised to http:// because
    OTEL_EXPORTER_OTLP_INSECURE is true, says so in one JSON warning, and the spans really arrive."""
    receiver = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    binary = binaries.grpc if protocol == "grpc" else binaries.http
    with receiver:
        hostport = receiver.endpoint.removeprefix("http://")
        svc = start(
            binary,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": hostport,
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_TRACES_SAMPLER": "always_on",
            },
        )
        assert http_get(svc.app + "/v1/hello/norm")[0] == 200
        svc.signal()
        assert svc.wait() == 0, svc.stderr()
        (span,) = receiver.store.wait(1)
    assert span.name == "GET /v1/hello/{name}"
    (warning,) = [x for x in svc.json_lines() if x["level"] == "warn"]
    assert warning["logger"] == "otel" and warning["msg"] == "otlp exporter configuration"
    assert f"http://{hostport}" in warning["warning"] and "OTEL_EXPORTER_OTLP_ENDPOINT" in warning["warning"]


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://127.0.0.1:4317", ""),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "unix:///run/otel.sock", ""),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=shop,Bearer s3cret", "s3cret"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%zzs3cret", "s3cret"),
    ],
)
def test_otlp_misconfiguration_fails_at_start(binaries: Binaries, start, name: str, value: str, secret: str) -> None:
    """An unknown endpoint scheme or a malformed header list stops the start: exit 1 and one JSON
    line naming the variable (never quoting a header value); nothing is served."""
    svc = start(binaries.http, {"OTEL_TRACES_EXPORTER": "otlp", name: value}, wait_ready=False)
    assert svc.wait(timeout=30) == 1
    (line,) = fatal_lines(svc.stderr())
    assert name in line["error"] and line["msg"] == "exiting", line
    assert not secret or secret not in json.dumps(line)
    assert not [x for x in svc.json_lines() if x["msg"] == "starting"]


def test_debug_listener_refuses_non_loopback_addresses(binaries: Binaries, start) -> None:
    """DEBUG_ADDR on all interfaces or a non-loopback IP is a start-up error; the started service
    reports its loopback debug address."""
    for addr in (f":{free_port()}", f"0.0.0.0:{free_port()}"):
        svc = start(binaries.grpc, {"DEBUG_ADDR": addr}, wait_ready=False)
        assert svc.wait(timeout=30) == 1
        (line,) = fatal_lines(svc.stderr())
        assert "DEBUG_ADDR" in line["error"] and "loopback" in line["error"], line
    svc = start(binaries.grpc)
    svc.signal()
    assert svc.wait() == 0
    startup = next(x for x in svc.json_lines() if x["msg"] == "starting")
    assert startup["debug_addr"] == svc.debug.removeprefix("http://")


def _slow_upload(port: int, timeout: float) -> tuple[float, str]:
    """POST 5 of 10 announced body bytes and wait; return (seconds until the complete response, the
    response), or (timeout, what arrived) when no complete response came."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        t = time.monotonic()
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                head, sep, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length: *(\d+)", head)
                if sep and length and len(body) >= int(length.group(1)):
                    return time.monotonic() - t, data.decode(errors="replace")
        except OSError:
            pass
        return timeout, data.decode(errors="replace")


def test_slow_upload_gets_its_503_and_an_error_span(binaries: Binaries, start) -> None:
    """A small upload that stalls past HANDLER_TIMEOUT gets its 503 at the deadline (not an EOF at
    READ_TIMEOUT); the span records error.type 503 and an error status (no exception event: only
    panics and aborted requests record one)."""
    with HttpReceiver() as receiver:
        svc = start(
            binaries.http,
            {
                "HANDLER_TIMEOUT": "300ms",
                "WRITE_TIMEOUT": "2s",
                "READ_TIMEOUT": "6s",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_TRACES_SAMPLER": "always_on",
            },
        )
        took, response = _slow_upload(int(svc.app.rsplit(":", 1)[1]), timeout=10)
        svc.signal()
        assert svc.wait() == 0
        (span,) = receiver.store.wait(1)
    assert response.startswith("HTTP/1.1 503"), response
    assert "Connection: close" in response and "handler timeout" in response
    assert took < 1.5, f"503 after {took:.2f}s with a 300ms handler deadline"
    assert span.attributes["error.type"] == "503" and span.status_code == 2
    assert [name for name, _ in span.events] == []
    (line,) = request_lines(svc)
    assert line["status"] == 503 and "aborted" not in line


PANIC_ROUTE = (
    '\tmux.HandleFunc("GET /v1/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })\n\treturn mux\n'
)


def test_every_line_is_json_through_a_full_run(binaries: Binaries, start, tmp_path: Path) -> None:
    """stdout and stderr of a whole life (start with a normalised endpoint, requests, a 404, a 503, a
    panic, export errors, drain, a failed telemetry flush) and of a fatal start are flat JSON
    objects with ts, level and msg, one per line; "stopped" comes after the flush."""
    project = copy_project(binaries.http_project, tmp_path / "panicky")
    api = project / "internal" / "api" / "api.go"
    api.write_text(api.read_text().replace("\treturn mux\n", PANIC_ROUTE, 1))
    binary = go_build(project, tmp_path / "panicky.bin", ldflags=ldflags(PROJECTS[HTTP]))
    with socket.socket() as blackhole:  # accepts connections, never answers: exports and the flush fail
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        port = blackhole.getsockname()[1]
        svc = start(
            binary,
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "300",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_TRACES_SAMPLER": "always_on",
                "TELEMETRY_FLUSH_TIMEOUT": "500ms",
                "HANDLER_TIMEOUT": "300ms",
                "WRITE_TIMEOUT": "2s",
                "DRAIN_DELAY": "300ms",
            },
        )
        assert http_get(svc.app + "/v1/hello/json")[0] == 200
        assert http_get(svc.app + "/v1/nothing")[0] == 404
        assert http_get(svc.app + "/v1/panic")[0] == 500
        _slow_upload(int(svc.app.rsplit(":", 1)[1]), timeout=10)
        time.sleep(1.0)  # a batch export times out against the black hole
        svc.signal()
        assert svc.wait() == 0
        out = svc.lines + svc.stderr().splitlines(keepends=True)
        fatal = start(binary, {"ADMIN_ADDR": f"127.0.0.1:{port}"}, wait_ready=False)  # the port is taken
        assert fatal.wait(timeout=30) == 1
        out += fatal.lines + fatal.stderr().splitlines(keepends=True)
    parsed = []
    for raw in out:
        line = json.loads(raw)
        assert isinstance(line, dict), raw
        assert {"ts", "level", "msg"} <= line.keys() and TS.match(line["ts"]), raw
        nested = {k for k, v in line.items() if isinstance(v, (dict, list))}
        assert not nested, f"not flat: {nested} in {raw}"
        parsed.append(line)
    msgs = [line["msg"] for line in parsed]
    for want in (
        "starting",
        "request",
        "panic serving request",
        "otlp exporter configuration",
        "telemetry flush failed",
    ):
        assert want in msgs, (want, msgs)
    assert any(line["logger"] == "otel" and line["msg"] != "otlp exporter configuration" for line in parsed), msgs
    assert msgs.index("telemetry flush failed") < msgs.index("stopped")
    assert {line["status"] for line in parsed if line["msg"] == "request"} == {200, 404, 500, 503}
    assert parsed[-1]["level"] == "fatal" and "ADMIN_ADDR" in parsed[-1]["error"]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair: server 10.213.0.1/30, client 10.213.0.2/30.

    Both addresses exist only inside these namespaces; no traffic leaves them."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if not shutil.which("ip"):
        pytest.skip("needs the ip command (iproute2)")
    tag = f"{os.getpid() % 100000}"
    server, client = f"gs17s{tag}", f"gs17c{tag}"
    try:
        _ip("netns", "add", server)
        _ip("netns", "add", client)
        _ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        _ip("link", "set", f"vs{tag}", "netns", server)
        _ip("link", "set", f"vc{tag}", "netns", client)
        for ns, dev, addr in ((server, f"vs{tag}", "10.213.0.1/30"), (client, f"vc{tag}", "10.213.0.2/30")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
    try:
        yield server, client
    finally:
        for ns in (server, client):  # deleting a namespace also removes its end of the veth pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


PROBE = """
import socket, sys, time, urllib.request
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + float(sys.argv[4])
while True:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=2) as resp:
            print(resp.status, resp.read().decode().strip())
            break
    except OSError as exc:
        if time.monotonic() > deadline:
            print("unreachable", type(exc).__name__, getattr(exc, "reason", exc))
            break
        time.sleep(0.1)
"""


def _probe(ns: str, host: str, port: int, path: str, wait: float) -> str:
    """GET http://host:port/path from inside namespace `ns`; return 'STATUS BODY' or 'unreachable ...'."""
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, host, str(port), path, str(wait)],
        capture_output=True,
        text=True,
        timeout=wait + 30,
    )
    return out.stdout.strip() or out.stderr.strip()


def test_debug_listener_is_unreachable_from_another_pod(binaries: Binaries, netns: tuple[str, str]) -> None:
    """Run as root: the service in one network namespace (ADMIN_ADDR on all interfaces, DEBUG_ADDR
    default), a client in another one joined by a veth pair: the client reaches /readyz and
    /metrics on the probe port, but not the debug port; inside the pod the debug port answers."""
    server, client = netns
    env = {"PATH": "/usr/bin:/bin", "HTTP_ADDR": ":8080", "ADMIN_ADDR": ":9090", "OTEL_TRACES_EXPORTER": "none",
           "DRAIN_DELAY": "200ms"}  # like `start`: SIGTERM at the end need not wait the default 15s
    proc = subprocess.Popen(
        ["ip", "netns", "exec", server, str(binaries.grpc_pprof)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert _probe(client, "10.213.0.1", 9090, "/readyz", wait=15) == "200 ok"
        assert _probe(client, "10.213.0.1", 9090, "/metrics", wait=5).startswith("200 ")
        assert _probe(client, "10.213.0.1", 6060, "/loglevel", wait=0).startswith("unreachable")
        assert _probe(client, "10.213.0.1", 6060, "/debug/pprof/", wait=0).startswith("unreachable")
        assert _probe(server, "127.0.0.1", 6060, "/loglevel", wait=5) == '200 {"level":"info"}'
        assert _probe(server, "127.0.0.1", 6060, "/debug/pprof/cmdline", wait=5).startswith("200 ")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    startup = next(json.loads(x) for x in out.decode().splitlines() if '"msg":"starting"' in x)
    assert startup["debug_addr"] == "127.0.0.1:6060"
