package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/acme/orders-api/internal/buildinfo"
	"github.com/acme/orders-api/internal/config"
	"github.com/acme/orders-api/internal/kube"
)

// kubeClient is the running informer (internal/kube) as the rest of the service sees it.
type kubeClient struct {
	synced func() bool
	// stop stops the informer and waits for its goroutines and the workers; idempotent.
	stop func()
}

// startKube connects to the Kubernetes API (KUBECONFIG, else in-cluster, else ~/.kube/config)
// and starts the ConfigMap informer and its workers in the background. It does not wait for
// the cache: gateReadiness keeps /readyz at 503 until it has synced. The informer runs on a
// context of its own, stopped by stop after the listeners have shut down, so requests served
// while draining still read a live cache.
func startKube(ctx context.Context, cfg config.Config, getenv func(string) string, reg prometheus.Registerer, tp trace.TracerProvider, log *zap.Logger) (kubeClient, error) {
	klogger := kube.Logr(log)
	klog.SetLogger(klogger) // client-go code that logs without a context
	restCfg, source, err := kube.RESTConfig(cfg.Kube.Kubeconfig, getenv("HOME"))
	if err != nil {
		return kubeClient{}, err
	}
	restCfg = rest.AddUserAgent(restCfg, fmt.Sprintf("%s/%s", cfg.ServiceName, buildinfo.Get().Version))
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return kubeClient{}, fmt.Errorf("kubernetes client: %w", err)
	}
	ctrl, err := kube.New(client, kube.Options{
		Namespace:      cfg.Kube.Namespace,
		LabelSelector:  cfg.Kube.LabelSelector,
		Workers:        cfg.Kube.Workers,
		ResyncPeriod:   cfg.Kube.ResyncPeriod,
		TracerProvider: tp,
	}, kube.LogReconciler{Log: log.Named("reconcile")}, reg, log)
	if err != nil {
		return kubeClient{}, err
	}
	log.Info("watching configmaps",
		zap.String("api_server", restCfg.Host),
		zap.String("config_source", source),
		zap.String("namespace", cfg.Kube.Namespace),
		zap.String("label_selector", cfg.Kube.LabelSelector),
		zap.Int("workers", cfg.Kube.Workers),
		zap.Duration("resync_period", cfg.Kube.ResyncPeriod),
	)
	kctx, cancel := context.WithCancel(klog.NewContext(context.WithoutCancel(ctx), klogger))
	var wg sync.WaitGroup
	wg.Go(func() { ctrl.Run(kctx) })
	return kubeClient{
		synced: ctrl.HasSynced,
		stop: sync.OnceFunc(func() {
			cancel()
			wg.Wait()
			log.Info("informer stopped")
		}),
	}, nil
}

// gateReadiness answers GET /readyz with 503 until the informer cache has synced, and hands
// everything else (and /readyz after the sync) to next.
func (k kubeClient) gateReadiness(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !k.synced() {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "not ready: informer cache not synced\n")
			return
		}
		next.ServeHTTP(w, r)
	})
}
