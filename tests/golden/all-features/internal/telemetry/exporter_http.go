package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporterName is logged at startup; exporterProtocol is the matching OTEL_EXPORTER_OTLP_PROTOCOL
// value; exporterPort is the usual collector port of this protocol and otherProtocolPort the
// one of OTLP/gRPC; signalPath is appended to a normalised generic endpoint, as the exporter
// does for OTEL_EXPORTER_OTLP_ENDPOINT itself.
const (
	exporterName      = "otlp/http"
	exporterProtocol  = "http/protobuf"
	exporterPort      = "4318"
	otherProtocolPort = "4317"
	signalPath        = "/v1/traces"
)

// newExporter returns an OTLP/HTTP (protobuf) exporter configured by the OTEL_EXPORTER_OTLP_*
// variables (default endpoint localhost:4318, path /v1/traces), or sending to endpointURL
// (used as is, path included) when it is not empty.
func newExporter(ctx context.Context, endpointURL string) (sdktrace.SpanExporter, error) {
	var opts []otlptracehttp.Option
	if endpointURL != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpointURL))
	}
	return otlptracehttp.New(ctx, opts...)
}
