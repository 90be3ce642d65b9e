package telemetry

import "go.opentelemetry.io/otel/propagation"

// propagator reads and writes W3C trace context and baggage headers.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}
