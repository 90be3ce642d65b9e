// Package kube runs the service's Kubernetes controller: a controller-runtime manager (one
// namespace cached, leader election through a Lease released on shutdown, no listener of its own)
// with WidgetReconciler, the example reconciler of the Widget custom resource (api/v1alpha1).
package kube

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"gosmith.invalid/module/api/v1alpha1"
)

// ControllerName names the widget controller in logs and in the controller_runtime_* and
// workqueue_* metrics (label controller).
const ControllerName = "widget"

// ControllerOptions tune the widget controller.
type ControllerOptions struct {
	// Workers reconcile different widgets in parallel (MaxConcurrentReconciles); one widget is
	// never reconciled by two at once.
	Workers int
	// BaseDelay and MaxDelay bound the per-widget exponential backoff of failed reconciles;
	// zero = controller-runtime's default (5ms doubling up to 1000s).
	BaseDelay, MaxDelay time.Duration
	// Name overrides ControllerName (tests run several managers in one process, and
	// controller-runtime requires unique names).
	Name string
}

func (o ControllerOptions) name() string {
	if o.Name != "" {
		return o.Name
	}
	return ControllerName
}

func (o ControllerOptions) controller() controller.Options {
	opts := controller.Options{MaxConcurrentReconciles: o.Workers}
	if o.BaseDelay > 0 && o.MaxDelay > 0 {
		opts.RateLimiter = workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](o.BaseDelay, o.MaxDelay)
	}
	if o.Name != "" {
		skip := true
		opts.SkipNameValidation = &skip
	}
	return opts
}

// Options configure the manager.
type Options struct {
	// Namespace is the only namespace whose objects are cached and reconciled.
	Namespace string
	// RequeueAfter re-checks every ready widget this often; 0 = only on changes.
	RequeueAfter time.Duration
	// Controller tunes the widget controller.
	Controller ControllerOptions
	// LeaderElection makes only one replica reconcile at a time; the others wait for the Lease
	// LeaderElectionID in LeaderElectionNamespace.
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod time the leader election (client-go's
	// leaderelection); the lease is released when the manager stops, so a successor takes
	// over after at most RetryPeriod instead of LeaseDuration.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// ShutdownTimeout bounds the wait for running reconciles when the manager stops.
	ShutdownTimeout time.Duration
	// TracerProvider traces the reconciles.
	TracerProvider trace.TracerProvider
	// Log receives controller-runtime's lines.
	Log logr.Logger
}

// Scheme returns the types the manager knows: the built-in ones and Widget.
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add client-go types: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("add %s types: %w", v1alpha1.GroupVersion, err)
	}
	return scheme, nil
}

// NewManager returns a controller-runtime manager with the widget controller. The manager
// opens no port of its own: its metrics go to the service's registry (RegisterMetrics) and its
// readiness to the service's /readyz, both on the admin listener.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	mgr, err := newManager(cfg, o)
	if err != nil {
		return nil, err
	}
	r := &WidgetReconciler{
		Client:       mgr.GetClient(),
		RequeueAfter: o.RequeueAfter,
		Tracer:       o.TracerProvider.Tracer("gosmith.invalid/module/internal/kube"),
	}
	if err := r.SetupWithManager(mgr, o.Controller); err != nil {
		return nil, err
	}
	return mgr, nil
}

// newManager returns the manager without controllers.
func newManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	leaseDuration, renewDeadline, retryPeriod, shutdown := o.LeaseDuration, o.RenewDeadline, o.RetryPeriod, o.ShutdownTimeout
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Logger: o.Log,
		Cache:  cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		// The manager's own listeners stay closed ("0"): the service's admin listener serves
		// /metrics, /livez and /readyz.
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		GracefulShutdownTimeout:       &shutdown,
	})
	if err != nil {
		return nil, fmt.Errorf("controller manager: %w", err)
	}
	return mgr, nil
}
