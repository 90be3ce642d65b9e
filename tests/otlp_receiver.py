"""Real OTLP trace receivers for tests: gRPC (grpcio + opentelemetry-proto) and HTTP/protobuf."""

from __future__ import annotations

import gzip
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2


@dataclass
class Span:
    """One received span, flattened with its resource attributes."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    #: (name, attributes) of each span event, e.g. ("exception", {"exception.type": ...}).
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Span status code: 0 unset, 1 ok, 2 error.
    status_code: int = 0


def _value(v: common_pb2.AnyValue) -> Any:
    """Return the Python value of an OTLP AnyValue."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


@dataclass
class Store:
    """Thread-safe collection of everything the receivers decoded."""

    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, req: trace_service_pb2.ExportTraceServiceRequest) -> None:
        """Flatten and keep the spans of one export request."""
        out = []
        for rs in req.resource_spans:
            res = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            attributes={kv.key: _value(kv.value) for kv in s.attributes},
                            resource=res,
                            events=[(e.name, {kv.key: _value(kv.value) for kv in e.attributes}) for e in s.events],
                            status_code=s.status.code,
                        )
                    )
        with self._lock:
            self.requests += 1
            self.spans.extend(out)

    def wait(self, n: int = 1, timeout: float = 15.0) -> list[Span]:
        """Return the spans once at least `n` arrived; raise AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= n:
                    return list(self.spans)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.spans)} spans received within {timeout}s, want {n}")


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """The collector's TraceService: stores every request."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def Export(self, request: Any, context: Any) -> Any:
        """Store the request and acknowledge it."""
        self.store.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class GrpcReceiver:
    """OTLP/gRPC receiver on 127.0.0.1 (plaintext, like a collector's 4317 without TLS); `address` binds elsewhere
    (`endpoint` then names that host; 127.0.0.1 for 0.0.0.0)."""

    def __init__(self, address: str = "127.0.0.1:0") -> None:
        self.store = Store()
        host = address.rsplit(":", 1)[0]
        self.host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self.store), self.server)
        self.port = self.server.add_insecure_port(address)

    @property
    def endpoint(self) -> str:
        """Value for OTEL_EXPORTER_OTLP_ENDPOINT."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)


class HttpReceiver:
    """OTLP/HTTP receiver on 127.0.0.1: POST `path` with an ExportTraceServiceRequest protobuf.

    Every accepted request's path and (lower-cased) headers are kept in `requests`."""

    def __init__(self, path: str = "/v1/traces") -> None:
        self.store = Store()
        self.requests: list[tuple[str, dict[str, str]]] = []
        store, requests = self.store, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != path or self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_error(404)
                    return
                requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                store.add(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                """Stay quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """Value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
