// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_* environment variables.
//
// The OTLP exporter reads OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_INSECURE, OTEL_EXPORTER_OTLP_TIMEOUT and the
// certificate variables itself. This package adds what the Go SDK does not do on its own:
// OTEL_SDK_DISABLED=true (a no-op provider, no exporter), OTEL_TRACES_EXPORTER=none (trace IDs
// for logs, nothing exported), a parent-based ratio sampler as the default, and a check of the
// endpoint and header variables at start (see readOTLPEnv): an unusable value stops the start,
// an endpoint without a scheme is normalised with a warning.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// DefaultSampleRatio is the share of root traces sampled when OTEL_TRACES_SAMPLER is unset;
// requests that arrive with a sampled parent are always traced.
const DefaultSampleRatio = 0.1

// Options describe the service for the trace resource.
type Options struct {
	ServiceName    string
	ServiceVersion string
	Env            string
	PodName        string
	PodNamespace   string
	NodeName       string
	// Getenv reads the OTEL_* variables that the SDK does not read itself.
	Getenv func(string) string
	// Log receives the configuration warnings; nil discards them.
	Log *zap.Logger
}

// Telemetry is the configured tracing pipeline.
type Telemetry struct {
	// TracerProvider creates tracers; a no-op provider when disabled.
	TracerProvider trace.TracerProvider
	// Propagator extracts and injects trace context headers.
	Propagator propagation.TextMapPropagator
	// Exporter names where spans go: "disabled", "none" or the OTLP transport.
	Exporter string
	shutdown func(context.Context) error
	counts   *spanCounter
}

// Setup builds the tracing pipeline. Call Shutdown to flush it.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	t := &Telemetry{Propagator: propagator(), shutdown: func(context.Context) error { return nil }, counts: &spanCounter{}}
	if isTrue(o.Getenv("OTEL_SDK_DISABLED")) {
		t.TracerProvider = noop.NewTracerProvider()
		t.Exporter = "disabled"
		return t, nil
	}
	res, err := newResource(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o.Getenv("OTEL_TRACES_SAMPLER") == "" {
		sampler, err := defaultSampler(o.Getenv("OTEL_TRACES_SAMPLER_ARG"))
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithSampler(sampler))
	}
	switch v := strings.TrimSpace(o.Getenv("OTEL_TRACES_EXPORTER")); v {
	case "none":
		t.Exporter = "none"
	case "", "otlp":
		if err := checkProtocol(o.Getenv); err != nil {
			return nil, err
		}
		env, err := readOTLPEnv(o.Getenv)
		if err != nil {
			return nil, err
		}
		log := o.Log
		if log == nil {
			log = zap.NewNop()
		}
		for _, w := range env.warnings {
			log.Warn("otlp exporter configuration", zap.String("warning", w))
		}
		exp, err := newExporter(ctx, env.endpointURL)
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(countingExporter{SpanExporter: exp, counts: t.counts}))
		t.Exporter = exporterName
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not supported (use otlp or none)", v)
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider = tp
	t.shutdown = tp.Shutdown
	return t, nil
}

// Shutdown flushes buffered spans and stops the exporter; ctx bounds how long that may take.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return t.shutdown(ctx)
}

// Collectors returns the span export counters (otel_spans_exported_total, otel_spans_failed_total)
// to register in the service's Prometheus registry; they stay 0 when nothing is exported.
func (t *Telemetry) Collectors() []prometheus.Collector {
	return t.counts.collectors()
}

// SpanCounts returns the spans exported and failed so far; after Shutdown, the final numbers.
func (t *Telemetry) SpanCounts() SpanCounts {
	return SpanCounts{Exported: t.counts.exported.Load(), Failed: t.counts.failed.Load()}
}

// newResource describes this process: defaults first, then OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES, which win.
func newResource(ctx context.Context, o Options) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		attribute.String("service.name", o.ServiceName),
		attribute.String("service.version", o.ServiceVersion),
		attribute.String("deployment.environment.name", o.Env),
	}
	for key, v := range map[string]string{
		"k8s.pod.name":       o.PodName,
		"k8s.namespace.name": o.PodNamespace,
		"k8s.node.name":      o.NodeName,
	} {
		if v != "" {
			attrs = append(attrs, attribute.String(key, v))
		}
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("build resource: %w", err)
	}
	return res, nil
}

// defaultSampler is used when OTEL_TRACES_SAMPLER is unset (when it is set, the SDK reads it
// and OTEL_TRACES_SAMPLER_ARG itself): parentbased_traceidratio with the ratio arg, or
// DefaultSampleRatio when arg is empty.
func defaultSampler(arg string) (sdktrace.Sampler, error) {
	ratio := DefaultSampleRatio
	if v := strings.TrimSpace(arg); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, errors.New("OTEL_TRACES_SAMPLER_ARG: want a ratio between 0 and 1, got " + strconv.Quote(v))
		}
		ratio = r
	}
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
}

// checkProtocol rejects an OTLP protocol variable that asks for another transport than the one
// compiled in (the Go exporters ignore these variables, so traces would silently go nowhere).
func checkProtocol(getenv func(string) string) error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" && v != exporterProtocol {
			return fmt.Errorf("%s=%q: this service was generated with the OTLP %s exporter; set it to %q or unset it",
				name, v, exporterName, exporterProtocol)
		}
	}
	return nil
}

func isTrue(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}
