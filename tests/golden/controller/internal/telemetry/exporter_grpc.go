package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporterName is logged at startup; exporterProtocol is the matching OTEL_EXPORTER_OTLP_PROTOCOL
// value; exporterPort is the usual collector port of this protocol and otherProtocolPort the
// one of OTLP/HTTP; signalPath is appended to a normalised generic endpoint (gRPC has none).
const (
	exporterName      = "otlp/grpc"
	exporterProtocol  = "grpc"
	exporterPort      = "4317"
	otherProtocolPort = "4318"
	signalPath        = ""
)

// newExporter returns an OTLP/gRPC exporter configured by the OTEL_EXPORTER_OTLP_* variables
// (default endpoint localhost:4317), or sending to endpointURL when it is not empty. It
// connects lazily: startup never waits for a collector.
func newExporter(ctx context.Context, endpointURL string) (sdktrace.SpanExporter, error) {
	var opts []otlptracegrpc.Option
	if endpointURL != "" {
		opts = append(opts, otlptracegrpc.WithEndpointURL(endpointURL))
	}
	return otlptracegrpc.New(ctx, opts...)
}
