package app

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"example.com/golden-svc/internal/config"
)

// kubeClient is empty: this service was generated without a Kubernetes client
// (kubernetes_client none), so readiness depends on the listeners only.
type kubeClient struct{}

// startKube does nothing (see kubeClient).
func startKube(context.Context, config.Config, func(string) string, prometheus.Registerer, trace.TracerProvider, *zap.Logger) (kubeClient, error) {
	return kubeClient{}, nil
}

// gateReadiness returns next unchanged.
func (kubeClient) gateReadiness(next http.Handler) http.Handler { return next }

// stop does nothing.
func (kubeClient) stop() {}
