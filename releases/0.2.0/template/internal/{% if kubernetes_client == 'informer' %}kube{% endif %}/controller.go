// Package kube keeps a local, read-only view of Kubernetes objects with a client-go shared
// informer and reconciles every change through a rate-limited workqueue. The rules that keep
// the view consistent with the API server (docs: the generated README's Kubernetes section):
//
//   - event handlers only enqueue the object's key; all work happens in the workers;
//   - a worker reads the object's current state from the lister (the informer's cache), never
//     from the event, so a burst of events for one key is one reconcile of the newest state;
//   - objects from the lister are shared with the cache and every other reader: a change is
//     made to a DeepCopy, never to the cached object;
//   - there is no map of our own next to the cache: the lister is the only state, so nothing
//     can drift from it;
//   - the service is ready only once the cache has synced (HasSynced).
package kube

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// QueueName names the workqueue in metrics (label name) and logs.
const QueueName = "configmaps"

// maxRetries is how often a failing key is retried (with exponential backoff from 5ms, about
// 160s in all) before it is dropped; the next change of the object or the next resync brings
// it back.
const maxRetries = 15

// Reconciler handles one key. cm is the object's current state from the cache, or nil when
// the object is gone. cm is shared with the cache and every other reader: copy it
// (cm.DeepCopy()) before changing anything. An error retries the key with exponential
// backoff; nil forgets its failures.
type Reconciler interface {
	Reconcile(ctx context.Context, key cache.ObjectName, cm *corev1.ConfigMap) error
}

// Options select the watched objects and size the workers.
type Options struct {
	// Namespace whose ConfigMaps are watched.
	Namespace string
	// LabelSelector selects the ConfigMaps; the cache holds nothing else.
	LabelSelector string
	// Workers reconcile different keys in parallel; one key is never reconciled by two at once.
	Workers int
	// ResyncPeriod re-delivers every cached object to the handlers; 0 = never.
	ResyncPeriod time.Duration
	// TracerProvider traces every reconcile; nil = no tracing.
	TracerProvider trace.TracerProvider
}

// Controller owns the informer, the workqueue and the workers. Run starts them and returns
// only when every goroutine it started has ended.
type Controller struct {
	factory    informers.SharedInformerFactory
	lister     corelisters.ConfigMapLister
	handler    cache.ResourceEventHandlerRegistration
	queue      workqueue.TypedRateLimitingInterface[cache.ObjectName]
	reconciler Reconciler
	metrics    *Metrics
	tracer     trace.Tracer
	workers    int
	log        *zap.Logger
}

// New wires a controller: an informer on the ConfigMaps of opts.Namespace that match
// opts.LabelSelector, whose handlers enqueue keys for r. The metrics go to reg.
func New(client kubernetes.Interface, opts Options, r Reconciler, reg prometheus.Registerer, log *zap.Logger) (*Controller, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(client, opts.ResyncPeriod,
		informers.WithNamespace(opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = opts.LabelSelector }),
	)
	configMaps := factory.Core().V1().ConfigMaps()
	c, err := newController(configMaps.Lister(), opts, r, reg, log)
	if err != nil {
		return nil, err
	}
	c.factory = factory
	c.handler, err = configMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		c.queue.ShutDown()
		return nil, fmt.Errorf("add event handler: %w", err)
	}
	return c, nil
}

// newController returns the worker side of a controller: queue, metrics and reconciler over
// lister (tests give it a lister of their own).
func newController(lister corelisters.ConfigMapLister, opts Options, r Reconciler, reg prometheus.Registerer, log *zap.Logger) (*Controller, error) {
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m.initQueue(QueueName)
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Controller{
		lister: lister,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName](),
			workqueue.TypedRateLimitingQueueConfig[cache.ObjectName]{Name: QueueName, MetricsProvider: m},
		),
		reconciler: r,
		metrics:    m,
		tracer:     tp.Tracer("kube"),
		workers:    max(opts.Workers, 1),
		log:        log,
	}, nil
}

// enqueue is every event handler: it adds the object's key to the queue and does nothing
// else. Deleted objects may arrive as a tombstone (DeletedFinalStateUnknown) when the watch
// missed the deletion; the key is the same.
func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingObjectToName(obj)
	if err != nil {
		c.log.Error("cannot enqueue an object without a key", zap.Error(err))
		return
	}
	c.queue.Add(key)
}

// HasSynced reports whether the informer has listed every watched object once and delivered
// each to the handler, i.e. whether the lister reflects the API server.
func (c *Controller) HasSynced() bool {
	return c.handler.HasSynced()
}

// Run starts the informer, waits for its cache to sync, starts the workers and blocks until
// ctx is cancelled. Then it stops taking keys, waits for the workers to finish the keys in
// hand, and waits for the informer's goroutines to end. Keys still queued are dropped: the
// next start lists every object again, so nothing is lost (reconciling is level-based).
func (c *Controller) Run(ctx context.Context) {
	c.factory.StartWithContext(ctx)
	var workers sync.WaitGroup
	if cache.WaitFor(ctx, "", c.handler.HasSyncedChecker()) {
		c.log.Info("informer cache synced", zap.String("queue", QueueName), zap.Int("workers", c.workers))
		c.startWorkers(ctx, &workers)
	}
	<-ctx.Done()
	c.queue.ShutDown()
	workers.Wait()
	c.factory.Shutdown() // the informer goroutines end with ctx; this waits for them
}

// startWorkers starts c.workers goroutines that reconcile keys until the queue shuts down.
func (c *Controller) startWorkers(ctx context.Context, wg *sync.WaitGroup) {
	for range c.workers {
		wg.Go(func() {
			for {
				if !c.processNext(ctx) {
					return
				}
			}
		})
	}
}

// processNext reconciles one key; false means the queue has shut down.
func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	err := c.reconcile(ctx, key)
	switch {
	case err == nil:
		c.queue.Forget(key)
		c.metrics.outcome(QueueName, resultSuccess)
	case c.queue.NumRequeues(key) < maxRetries:
		c.queue.AddRateLimited(key)
		c.metrics.outcome(QueueName, resultRetry)
		c.log.Warn("reconcile failed, retrying", zap.String("namespace", key.Namespace), zap.String("name", key.Name),
			zap.Int("retries", c.queue.NumRequeues(key)), zap.Error(err))
	default:
		c.queue.Forget(key)
		c.metrics.outcome(QueueName, resultDropped)
		c.log.Error("reconcile failed too often, dropping the key until its next change or resync",
			zap.String("namespace", key.Namespace), zap.String("name", key.Name), zap.Int("retries", maxRetries), zap.Error(err))
	}
	return true
}

// reconcile reads key's current state from the lister and hands it to the reconciler, in a
// span. A panic in the reconciler is an error (the key is retried) rather than a crash.
func (c *Controller) reconcile(ctx context.Context, key cache.ObjectName) (err error) {
	ctx, span := c.tracer.Start(ctx, "reconcile ConfigMap", trace.WithAttributes(
		attribute.String("k8s.namespace.name", key.Namespace), attribute.String("k8s.configmap.name", key.Name)))
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("reconcile panicked", zap.String("namespace", key.Namespace), zap.String("name", key.Name),
				zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("reconcile panicked: %v", p)
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	cm, err := c.lister.ConfigMaps(key.Namespace).Get(key.Name)
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("read %s from the cache: %w", key, err)
	}
	return c.reconciler.Reconcile(ctx, key, cm)
}
