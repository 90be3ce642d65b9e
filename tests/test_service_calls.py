"""Services that call services: two processes of the built binary on loopback, A calling B through
the relay route (internal/client), exporting spans over OTLP to a real receiver."""

from __future__ import annotations

import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import test_service_runtime as rt
from gen import PROJECTS, Rendered
from otlp_receiver import GrpcReceiver
from test_service_runtime import GRPC, PARENT_ID, TRACE_ID, TRACEPARENT, http_get, ldflags

start = rt.start  # the fixture that runs binaries and kills them at the end of each test

pytestmark = pytest.mark.slow

SERVER, CLIENT = 2, 3  # OTLP span kinds


@pytest.fixture(scope="module")
def binary(rendered: Rendered) -> Path:
    """The gRPC-exporter variant, built like the Dockerfile builds it."""
    return rendered.binary(GRPC, ldflags=ldflags(PROJECTS[GRPC]))


def otlp_env(endpoint: str) -> dict[str, str]:
    """Environment exporting every span to `endpoint`."""
    return {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true"}


def test_one_trace_crosses_two_processes(binary: Path, start) -> None:
    """A's server span -> A's client span -> B's server span in one trace (received over OTLP from
    both processes), and both processes' log lines carry that trace."""
    with GrpcReceiver() as receiver:
        b = start(binary, {**otlp_env(receiver.endpoint), "OTEL_SERVICE_NAME": "svc-b"})
        a = start(binary, {**otlp_env(receiver.endpoint), "OTEL_SERVICE_NAME": "svc-a", "UPSTREAM_URL": b.app})
        status, body = http_get(a.app + "/v1/relay/ada", {"traceparent": TRACEPARENT, "baggage": "tenant=acme"})
        assert status == 200, body
        assert '"message":"Hello, ada!"' in body and '"status":200' in body
        for svc in (a, b):
            svc.signal()
            assert svc.wait() == 0, svc.stderr()
        spans = receiver.store.wait(3)
    by = {(s.resource["service.name"], s.kind): s for s in spans}
    assert len(spans) == 3 and len(by) == 3, [(s.resource["service.name"], s.kind, s.name) for s in spans]
    a_srv, a_cli, b_srv = by["svc-a", SERVER], by["svc-a", CLIENT], by["svc-b", SERVER]
    assert {a_srv.trace_id, a_cli.trace_id, b_srv.trace_id} == {TRACE_ID}
    assert a_srv.parent_span_id == PARENT_ID and a_srv.name == "GET /v1/relay/{name}"
    assert a_cli.parent_span_id == a_srv.span_id
    assert b_srv.parent_span_id == a_cli.span_id and b_srv.name == "GET /v1/hello/{name}"
    assert a_cli.attributes["http.response.status_code"] == 200
    (call,) = [x for x in a.json_lines() if x["msg"] == "upstream request"]
    assert (call["trace_id"], call["span_id"]) == (TRACE_ID, a_cli.span_id)
    assert call["status"] == 200 and call["upstream"] == b.app.removeprefix("http://")
    (b_line,) = [x for x in b.json_lines() if x["msg"] == "request"]
    assert (b_line["trace_id"], b_line["span_id"]) == (TRACE_ID, b_srv.span_id)


class Upstream:
    """A plain HTTP upstream on loopback that records each request's headers and holds it for
    `hold` seconds or until the caller closes the connection, noting when that happened."""

    def __init__(self, hold: float) -> None:
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                got = {"headers": headers, "at": time.monotonic(), "closed": None}
                outer.requests.append(got)
                # readable with no data = the caller closed the connection (the call was cut)
                ready, _, _ = select.select([self.connection], [], [], hold)
                if ready:
                    try:
                        data = self.connection.recv(1, socket.MSG_PEEK)
                    except OSError:  # reset by the caller
                        data = b""
                    if not data:
                        got["closed"] = time.monotonic()
                        return
                body = b'{"message":"late"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_trace_context_and_baggage_go_over_the_wire(binary: Path, start) -> None:
    """The upstream receives W3C traceparent (the caller's trace) and the caller's baggage."""
    with Upstream(hold=0) as up:
        a = start(binary, {"UPSTREAM_URL": up.url, "OTEL_TRACES_SAMPLER": "always_on"})
        headers = {"traceparent": TRACEPARENT, "baggage": "tenant=acme,plan=gold"}
        status, body = http_get(a.app + "/v1/relay/bo", headers)
        assert status == 200, body
    (req,) = up.requests
    assert req["headers"]["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert req["headers"]["traceparent"].split("-")[2] != PARENT_ID  # A's client span is the parent
    assert set(req["headers"]["baggage"].split(",")) == {"tenant=acme", "plan=gold"}


def test_slow_upstream_is_cut_at_the_callers_budget_minus_the_margin(binary: Path, start) -> None:
    """B slower than A's handler budget: the call ends at A's deadline minus UPSTREAM_MARGIN (not at
    the longer UPSTREAM_TIMEOUT), A answers 504 before its own deadline, and B sees the cut."""
    handler, margin = 2.0, 1.0  # a margin of half the budget: a busy machine's late timers cannot blur them
    with Upstream(hold=10) as up:
        a = start(binary, {"UPSTREAM_URL": up.url, "HANDLER_TIMEOUT": "2s", "UPSTREAM_MARGIN": "1s",
                           "UPSTREAM_TIMEOUT": "5s"})
        t0 = time.monotonic()
        status, body = http_get(a.app + "/v1/relay/slow", timeout=10)
        elapsed = time.monotonic() - t0
        deadline = time.monotonic() + 5
        while up.requests and up.requests[0]["closed"] is None and time.monotonic() < deadline:
            time.sleep(0.02)
    assert status == 504, body
    (req,) = up.requests
    assert req["closed"] is not None, "the upstream's connection stayed open after the cut"
    cut = req["closed"] - req["at"]
    print(f"call cut after {cut:.3f}s (budget {handler}s - margin {margin}s), A answered after {elapsed:.3f}s")
    assert handler - margin - 0.1 <= cut <= handler - margin / 2  # at the cut, well before A's own deadline
    assert elapsed < handler
    (call,) = [x for x in a.json_lines() if x["msg"] == "upstream request"]
    assert call["status"] == 0 and call["error"] == "deadline exceeded"
    assert 0.5 * 1000 < call["budget_ms"] <= (handler - margin) * 1000
