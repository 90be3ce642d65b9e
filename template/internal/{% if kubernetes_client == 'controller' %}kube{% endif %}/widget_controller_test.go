package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel/trace/noop"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"gosmith.invalid/module/api/v1alpha1"
	"gosmith.invalid/module/internal/kube/kubetest"
)

// withWatch gives the manager's client the Watch method interceptor.NewClient asks for; the
// reconciler never watches through its client.
type withWatch struct{ client.Client }

// Watch implements client.WithWatch.
func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("not supported")
}

// recorder notes each reconcile of a widget (each starts with a Get of the widget), each
// attempt to create a ConfigMap, and each status written, through the reconciler's client.
type recorder struct {
	mu       sync.Mutex
	gets     map[string]int
	creates  []time.Time
	statuses []string // "reason/generation" of every status written
	// failCreates makes the first n ConfigMap creates fail with a transient error.
	failCreates int
}

func (r *recorder) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*v1alpha1.Widget); ok {
				r.mu.Lock()
				r.gets[key.Name]++
				r.mu.Unlock()
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*corev1.ConfigMap); ok {
				r.mu.Lock()
				r.creates = append(r.creates, time.Now())
				fail := len(r.creates) <= r.failCreates
				r.mu.Unlock()
				if fail {
					return apierrors.NewServiceUnavailable("injected: the API server is busy")
				}
			}
			return c.Create(ctx, obj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if err := c.SubResource(sub).Update(ctx, obj, opts...); err != nil {
				return err // a conflict with a newer version: the reconcile is retried
			}
			if w, ok := obj.(*v1alpha1.Widget); ok {
				ready := meta.FindStatusCondition(w.Status.Conditions, v1alpha1.ConditionReady)
				r.mu.Lock()
				r.statuses = append(r.statuses, fmt.Sprintf("%s/%d", ready.Reason, w.Status.ObservedGeneration))
				r.mu.Unlock()
			}
			return nil
		},
	}
}

// written returns the statuses written so far, as "reason/generation".
func (r *recorder) written() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.statuses...)
}

func (r *recorder) reconciles(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[name]
}

// startController runs a manager with the widget controller in namespace ns until the test
// ends; its reconciler's client goes through rec.
func startController(ctx context.Context, t *testing.T, env *kubetest.Env, ns string, rec *recorder, requeue time.Duration, opts ControllerOptions) {
	t.Helper()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	mgr, err := newManager(env.Config, Options{Namespace: ns, ShutdownTimeout: 5 * time.Second, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	rec.gets = map[string]int{}
	r := &WidgetReconciler{
		Client:       interceptor.NewClient(withWatch{mgr.GetClient()}, rec.funcs()),
		RequeueAfter: requeue,
		Tracer:       noop.NewTracerProvider().Tracer("test"),
	}
	opts.Name = "widget-" + ns
	opts.Workers = 2
	if err := r.SetupWithManager(mgr, opts); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(mctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// eventually polls cond until it holds, failing with its last explanation after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func widget(ns, name, message, configMap string) *v1alpha1.Widget {
	return &v1alpha1.Widget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.WidgetSpec{Message: message, ConfigMapName: configMap},
	}
}

// readyState reads the widget and returns its Ready condition as "status/reason/observedGeneration"
// next to "generation/status.observedGeneration".
func readyState(ctx context.Context, t *testing.T, c client.Client, ns, name string) (string, *v1alpha1.Widget) {
	t.Helper()
	var w v1alpha1.Widget
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &w); err != nil {
		return "get: " + err.Error(), nil
	}
	ready := meta.FindStatusCondition(w.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return "no Ready condition", &w
	}
	return fmt.Sprintf("%s/%s/%d gen %d/%d", ready.Status, ready.Reason, ready.ObservedGeneration, w.Generation, w.Status.ObservedGeneration), &w
}

// configMapMessage returns the message of a ConfigMap, or why there is none.
func configMapMessage(ctx context.Context, c client.Client, ns, name string) (string, *corev1.ConfigMap) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
		return "get: " + err.Error(), nil
	}
	return cm.Data[MessageKey], &cm
}

// TestWidgetReconcilerAgainstAPIServer runs the controller on a real API server with the CRD the
// chart ships: each case has its own namespace and manager.
func TestWidgetReconcilerAgainstAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	c := env.Client
	ctx := context.Background()

	t.Run("happy path", func(t *testing.T) {
		rec := &recorder{}
		startController(ctx, t, env, "happy", rec, 0, ControllerOptions{})
		if err := c.Create(ctx, widget("happy", "hello", "hi", "")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "happy", "hello")
			msg, _ := configMapMessage(ctx, c, "happy", "hello")
			return state == "True/Reconciled/1 gen 1/1" && msg == "hi", state + "; configmap: " + msg
		})
		_, w := readyState(ctx, t, c, "happy", "hello")
		_, cm := configMapMessage(ctx, c, "happy", "hello")
		if !metav1.IsControlledBy(cm, w) {
			t.Fatalf("configmap owners = %+v, want the widget as controller", cm.OwnerReferences)
		}
		if len(w.Finalizers) != 1 || w.Finalizers[0] != Finalizer {
			t.Fatalf("finalizers = %v", w.Finalizers)
		}

		// A spec change: a new generation, reconciled and reported as observed.
		w.Spec.Message = "bye"
		if err := c.Update(ctx, w); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "happy", "hello")
			msg, _ := configMapMessage(ctx, c, "happy", "hello")
			return state == "True/Reconciled/2 gen 2/2" && msg == "bye", state + "; configmap: " + msg
		})
		// A change to the owned ConfigMap is undone (the controller watches what it owns).
		_, cm = configMapMessage(ctx, c, "happy", "hello")
		cm.Data[MessageKey] = "edited"
		if err := c.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			msg, _ := configMapMessage(ctx, c, "happy", "hello")
			return msg == "bye", "configmap: " + msg
		})
	})

	t.Run("transient error retried with backoff", func(t *testing.T) {
		rec := &recorder{failCreates: 4}
		base := 100 * time.Millisecond
		startController(ctx, t, env, "transient", rec, 0, ControllerOptions{BaseDelay: base, MaxDelay: 10 * time.Second})
		if err := c.Create(ctx, widget("transient", "flaky", "hi", "")); err != nil {
			t.Fatal(err)
		}
		// The recorder notes a status write after the API server has stored it, so the test can see
		// the stored status a moment before the recorder does: wait for both.
		eventually(t, 30*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "transient", "flaky")
			written := rec.written()
			return state == "True/Reconciled/1 gen 1/1" && len(written) > 0 && written[len(written)-1] == "Reconciled/1",
				fmt.Sprintf("%s, status writes %v", state, written)
		})
		rec.mu.Lock()
		creates := append([]time.Time(nil), rec.creates...)
		rec.mu.Unlock()
		statuses := rec.written()
		if len(creates) != 5 {
			t.Fatalf("%d create attempts, want 4 failures and 1 success", len(creates))
		}
		// The per-item exponential backoff: base, 2*base, 4*base, 8*base between the attempts.
		for i := 1; i < len(creates); i++ {
			gap, want := creates[i].Sub(creates[i-1]), base<<(i-1)
			if gap < want*9/10 {
				t.Errorf("attempt %d came %s after the previous one, want at least %s (backoff)", i+1, gap, want)
			}
		}
		if strings.Join(statuses, ",") != "Retrying/1,Reconciled/1" {
			t.Fatalf("status writes = %v, want Retrying while failing, then Reconciled", statuses)
		}
	})

	t.Run("terminal error not retried and reported", func(t *testing.T) {
		rec := &recorder{}
		startController(ctx, t, env, "terminal", rec, 0, ControllerOptions{BaseDelay: 5 * time.Millisecond, MaxDelay: time.Second})
		taken := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "terminal", Name: "taken"}, Data: map[string]string{"owner": "someone else"}}
		if err := c.Create(ctx, taken); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, widget("terminal", "conflict", "hi", "taken")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "terminal", "conflict")
			return state == "False/ConfigMapConflict/1 gen 1/1", state
		})
		_, w := readyState(ctx, t, c, "terminal", "conflict")
		ready := meta.FindStatusCondition(w.Status.Conditions, v1alpha1.ConditionReady)
		if !strings.Contains(ready.Message, "configmap taken exists and is not owned by this widget") {
			t.Fatalf("Ready message = %q", ready.Message)
		}
		// With a 5ms backoff a retried error would be reconciled dozens of times in a second.
		time.Sleep(1500 * time.Millisecond)
		if n := rec.reconciles("conflict"); n != 1 {
			t.Fatalf("reconciled %d times, want 1: a terminal error is not retried", n)
		}
		if terminal := counter(t, "controller_runtime_terminal_reconcile_errors_total", "widget-terminal"); terminal != 1 {
			t.Fatalf("controller_runtime_terminal_reconcile_errors_total = %v, want 1", terminal)
		}
		if msg, _ := configMapMessage(ctx, c, "terminal", "taken"); msg != "" {
			t.Fatalf("the foreign configmap was changed: %q", msg)
		}
		// Fixing the spec (a new generation) reconciles again.
		w.Spec.ConfigMapName = "free"
		if err := c.Update(ctx, w); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "terminal", "conflict")
			return state == "True/Reconciled/2 gen 2/2", state
		})
	})

	t.Run("finalizer cleans up before deletion", func(t *testing.T) {
		rec := &recorder{}
		startController(ctx, t, env, "finalizer", rec, 0, ControllerOptions{})
		if err := c.Create(ctx, widget("finalizer", "doomed", "hi", "")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "finalizer", "doomed")
			return state == "True/Reconciled/1 gen 1/1", state
		})
		_, w := readyState(ctx, t, c, "finalizer", "doomed")
		if err := c.Delete(ctx, w); err != nil {
			t.Fatal(err)
		}
		// envtest runs no garbage collector: only the finalizer can have deleted the ConfigMap.
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "finalizer", "doomed")
			msg, _ := configMapMessage(ctx, c, "finalizer", "doomed")
			return strings.Contains(state, "not found") && strings.Contains(msg, "not found"), state + "; configmap: " + msg
		})
	})

	t.Run("periodic requeue", func(t *testing.T) {
		rec := &recorder{}
		startController(ctx, t, env, "periodic", rec, 200*time.Millisecond, ControllerOptions{})
		if err := c.Create(ctx, widget("periodic", "tick", "hi", "")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, func() (bool, string) {
			state, _ := readyState(ctx, t, c, "periodic", "tick")
			return state == "True/Reconciled/1 gen 1/1", state
		})
		before := rec.reconciles("tick")
		time.Sleep(2 * time.Second)
		// About 10; without RequeueAfter nothing would reconcile it again (the terminal case shows it).
		if n := rec.reconciles("tick") - before; n < 3 || n > 15 {
			t.Fatalf("%d reconciles in 2s with RequeueAfter 200ms, want about 10", n)
		}
	})
}

// counter returns the value of a controller-runtime counter for one controller, read from
// controller-runtime's registry (the one RegisterMetrics serves).
func counter(t *testing.T, name, controller string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("%s{controller=%q} not found", name, controller)
	return 0
}
