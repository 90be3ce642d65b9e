package kube

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/diff"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// mutationCheck wraps a Reconciler and reports every reconcile that changed the object it was
// given. That object is the cache's own, so a change to it is a change to the cache behind
// the API server's back: the rule is to DeepCopy first.
type mutationCheck struct {
	next   Reconciler
	report func(format string, args ...any)
}

func (m mutationCheck) Reconcile(ctx context.Context, key cache.ObjectName, cm *corev1.ConfigMap) error {
	var before *corev1.ConfigMap
	if cm != nil {
		before = cm.DeepCopy()
	}
	err := m.next.Reconcile(ctx, key, cm)
	if cm != nil && !reflect.DeepEqual(before, cm) {
		m.report("reconcile of %s changed the cached object; DeepCopy before changing it:\n%s", key, diff.Diff(before, cm))
	}
	return err
}

// call is one Reconcile call as a recorder saw it.
type call struct {
	key     cache.ObjectName
	present bool
	version string
	data    map[string]string
}

// recorder records every call and returns the errors queued in fail first.
type recorder struct {
	mu    sync.Mutex
	calls chan call
	fail  []error
}

func newRecorder() *recorder { return &recorder{calls: make(chan call, 100)} }

func (r *recorder) Reconcile(_ context.Context, key cache.ObjectName, cm *corev1.ConfigMap) error {
	c := call{key: key, present: cm != nil}
	if cm != nil {
		c.version, c.data = cm.ResourceVersion, cm.Data
	}
	r.calls <- c
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		return err
	}
	return nil
}

func (r *recorder) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no reconcile within 10s")
		return call{}
	}
}

func configMap(ns, name, version string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: version}, Data: data}
}

// workerOnly returns a controller without an informer over an indexer the test fills, with its
// workers running until the test ends.
func workerOnly(t *testing.T, r Reconciler, objs ...*corev1.ConfigMap) (*Controller, cache.Indexer, *prometheus.Registry) {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, o := range objs {
		if err := indexer.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	c, err := newController(corelisters.NewConfigMapLister(indexer), Options{Workers: 2}, r, reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.startWorkers(ctx, &wg)
	t.Cleanup(func() {
		cancel()
		c.queue.ShutDown()
		wg.Wait()
	})
	return c, indexer, reg
}

// TestWorkerReadsTheCacheNotTheEvent: events only carry a key; the worker reconciles what the
// cache holds when it gets to the key, and a key whose object is gone is reconciled as nil.
func TestWorkerReadsTheCacheNotTheEvent(t *testing.T) {
	rec := newRecorder()
	c, indexer, _ := workerOnly(t, rec, configMap("ns", "a", "2", map[string]string{"k": "new"}))
	c.enqueue(configMap("ns", "a", "1", map[string]string{"k": "old"})) // an old event
	got := rec.next(t)
	if got.key != (cache.ObjectName{Namespace: "ns", Name: "a"}) || got.version != "2" || got.data["k"] != "new" {
		t.Errorf("reconciled %+v, want the cached version 2", got)
	}
	gone := configMap("ns", "a", "2", nil)
	if err := indexer.Delete(gone); err != nil {
		t.Fatal(err)
	}
	c.enqueue(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: gone}) // a deletion the watch missed
	if got := rec.next(t); got.present {
		t.Errorf("deleted object reconciled as %+v, want nil", got)
	}
}

// TestFailuresAreRetriedWithBackoff: an error queues the key again (rate limited); success
// forgets it. Each outcome is counted.
func TestFailuresAreRetriedWithBackoff(t *testing.T) {
	rec := newRecorder()
	rec.fail = []error{errors.New("transient"), errors.New("transient")}
	c, _, reg := workerOnly(t, rec, configMap("ns", "a", "1", nil))
	c.queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
	for range 3 {
		rec.next(t)
	}
	waitFor(t, func() bool {
		return testutil.ToFloat64(c.metrics.reconciles.WithLabelValues(QueueName, resultSuccess)) == 1
	})
	if got := testutil.ToFloat64(c.metrics.reconciles.WithLabelValues(QueueName, resultRetry)); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
	if n := c.queue.NumRequeues(cache.ObjectName{Namespace: "ns", Name: "a"}); n != 0 {
		t.Errorf("success must forget the failures, NumRequeues = %d", n)
	}
	if n, err := testutil.GatherAndCount(reg, "workqueue_retries_total", "workqueue_adds_total", "workqueue_depth",
		"workqueue_queue_duration_seconds", "workqueue_work_duration_seconds", "app_reconcile_total"); err != nil || n < 6 {
		t.Errorf("informer metrics in the registry: %d series, %v", n, err)
	}
}

type panicking struct{}

func (panicking) Reconcile(context.Context, cache.ObjectName, *corev1.ConfigMap) error { panic("boom") }

// TestPanicIsAFailure: a panicking reconciler does not take the process down; the key is retried.
func TestPanicIsAFailure(t *testing.T) {
	c, _, _ := workerOnly(t, panicking{}, configMap("ns", "a", "1", nil))
	c.queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
	waitFor(t, func() bool {
		return testutil.ToFloat64(c.metrics.reconciles.WithLabelValues(QueueName, resultRetry)) >= 1
	})
}

// mutating breaks the rule: it trims the cached object's values in place.
type mutating struct{}

func (mutating) Reconcile(_ context.Context, _ cache.ObjectName, cm *corev1.ConfigMap) error {
	for k, v := range cm.Data {
		cm.Data[k] = strings.TrimSpace(v)
	}
	return nil
}

// TestExampleReconcilerLeavesTheCacheAlone: LogReconciler changes only its copy, and the check
// that says so catches a reconciler that changes the cached object.
func TestExampleReconcilerLeavesTheCacheAlone(t *testing.T) {
	for _, tt := range []struct {
		name     string
		r        Reconciler
		reported bool
	}{
		{"LogReconciler", LogReconciler{Log: zap.NewNop()}, false},
		{"in-place change", mutating{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cached := configMap("ns", "a", "1", map[string]string{"k": "  padded  "})
			var mu sync.Mutex
			var reports []string
			check := mutationCheck{next: tt.r, report: func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, fmt.Sprintf(format, args...))
			}}
			rec := newRecorder()
			c, indexer, _ := workerOnly(t, chain{check, rec}, cached)
			c.queue.Add(cache.ObjectName{Namespace: "ns", Name: "a"})
			rec.next(t)
			obj, _, err := indexer.GetByKey("ns/a")
			if err != nil {
				t.Fatal(err)
			}
			changed := obj.(*corev1.ConfigMap).Data["k"] != "  padded  "
			mu.Lock()
			defer mu.Unlock()
			if changed != tt.reported || (len(reports) > 0) != tt.reported {
				t.Errorf("cache changed: %v, reported: %q; want both %v", changed, reports, tt.reported)
			}
		})
	}
}

// chain calls each reconciler in turn with the same object.
type chain []Reconciler

func (c chain) Reconcile(ctx context.Context, key cache.ObjectName, cm *corev1.ConfigMap) error {
	for _, r := range c {
		if err := r.Reconcile(ctx, key, cm); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
