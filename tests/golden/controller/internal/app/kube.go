package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/acme/widget-op/internal/buildinfo"
	"github.com/acme/widget-op/internal/config"
	"github.com/acme/widget-op/internal/kube"
)

// kubeClient is the running controller manager (internal/kube) as the rest of the service sees it.
type kubeClient struct {
	synced *atomic.Bool
	// failed holds the error the manager stopped with before it was asked to (a lost Lease).
	failed *atomic.Pointer[error]
	// stop stops the manager (releasing the Lease when it leads) and waits for it; idempotent.
	stop func()
}

// startKube connects to the Kubernetes API (KUBECONFIG, else in-cluster, else ~/.kube/config)
// and starts the controller manager in the background: its cache, then, once this replica
// holds the Lease, the widget controller. It does not wait for the cache: gateReadiness keeps
// /readyz at 503 until it has synced. The manager stops as soon as ctx is cancelled (SIGTERM),
// while the listeners drain: it finishes the reconciles in hand and releases the Lease, so
// another replica takes over at once instead of after the lease duration.
func startKube(ctx context.Context, cfg config.Config, getenv func(string) string, reg prometheus.Registerer, tp trace.TracerProvider, log *zap.Logger) (kubeClient, error) {
	logger := kube.Logr(log)
	klog.SetLogger(logger) // client-go, including the leader election
	ctrl.SetLogger(logger) // controller-runtime code that logs without a context
	restCfg, source, err := kube.RESTConfig(cfg.Kube.Kubeconfig, getenv("HOME"))
	if err != nil {
		return kubeClient{}, err
	}
	restCfg = rest.AddUserAgent(restCfg, fmt.Sprintf("%s/%s", cfg.ServiceName, buildinfo.Get().Version))
	if err := kube.RegisterMetrics(reg); err != nil {
		return kubeClient{}, err
	}
	mgr, err := kube.NewManager(restCfg, kube.Options{
		Namespace:               cfg.Kube.Namespace,
		RequeueAfter:            cfg.Kube.ResyncPeriod,
		Controller:              kube.ControllerOptions{Workers: cfg.Kube.Workers},
		LeaderElection:          cfg.Kube.LeaderElection,
		LeaderElectionID:        cfg.Kube.LeaderElectionID,
		LeaderElectionNamespace: cfg.Kube.LeaderElectionNamespace,
		LeaseDuration:           cfg.Kube.LeaseDuration,
		RenewDeadline:           cfg.Kube.RenewDeadline,
		RetryPeriod:             cfg.Kube.RetryPeriod,
		ShutdownTimeout:         cfg.ShutdownTimeout,
		TracerProvider:          tp,
		Log:                     logger,
	})
	if err != nil {
		return kubeClient{}, err
	}
	log.Info("reconciling widgets",
		zap.String("api_server", restCfg.Host),
		zap.String("config_source", source),
		zap.String("namespace", cfg.Kube.Namespace),
		zap.Int("workers", cfg.Kube.Workers),
		zap.Duration("resync_period", cfg.Kube.ResyncPeriod),
		zap.Bool("leader_election", cfg.Kube.LeaderElection),
		zap.String("lease", cfg.Kube.LeaderElectionNamespace+"/"+cfg.Kube.LeaderElectionID),
	)
	mctx, cancel := context.WithCancel(klog.NewContext(ctx, logger))
	k := kubeClient{synced: &atomic.Bool{}, failed: &atomic.Pointer[error]{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(mctx); err != nil {
			k.failed.Store(&err)
			log.Error("controller manager stopped", zap.Error(err))
		}
	})
	wg.Go(func() {
		if mgr.GetCache().WaitForCacheSync(mctx) {
			k.synced.Store(true)
			log.Info("controller cache synced")
		}
	})
	k.stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		log.Info("controller stopped")
	})
	return k, nil
}

// gateReadiness answers GET /readyz with 503 until the manager's cache has synced (on every
// replica: the ones waiting for the Lease are ready too), GET /livez with 503 once the manager
// has stopped on its own (a lost Lease: the kubelet restarts the container), and hands
// everything else to next.
func (k kubeClient) gateReadiness(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			msg := ""
			switch {
			case r.URL.Path == "/livez" && k.failed.Load() != nil:
				msg = fmt.Sprintf("not live: controller manager stopped: %v\n", *k.failed.Load())
			case r.URL.Path == "/readyz" && !k.synced.Load():
				msg = "not ready: controller cache not synced\n"
			}
			if msg != "" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, msg)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
