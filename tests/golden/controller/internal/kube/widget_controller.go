package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/acme/widget-op/api/v1alpha1"
)

// Finalizer keeps a deleted Widget until its ConfigMap is gone (the example of cleanup that
// garbage collection cannot do, such as state outside the cluster).
const Finalizer = "widget-op.example.com/cleanup"

// MessageKey is the ConfigMap key that holds the widget's message.
const MessageKey = "message"

// The RBAC the controller needs, turned into deploy/helm/widget-op/files/role.yaml by
// `make manifests` (controller-gen); the chart grants these rules in the watched namespace.
// +kubebuilder:rbac:groups=widget-op.example.com,resources=widgets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=widget-op.example.com,resources=widgets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=widget-op.example.com,resources=widgets/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// WidgetReconciler keeps, for every Widget, a ConfigMap holding the widget's message, and
// reports the outcome on the widget's status. Its result drives the retries:
//
//   - a transient error (the API server unavailable, a conflict) is returned as is: the
//     controller retries the widget with exponential backoff;
//   - a terminal error (a spec that cannot work until it changes) is wrapped in
//     reconcile.TerminalError and reported on the status: it is not retried;
//   - success returns RequeueAfter: the widget is checked again after that period even without
//     a change (0 = only on changes).
type WidgetReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// RequeueAfter is the period of the re-check after a success; 0 = none.
	RequeueAfter time.Duration
	// Tracer starts a span per reconcile.
	Tracer trace.Tracer
}

// Reconcile brings the widget's ConfigMap in line with its spec and writes its status.
func (r *WidgetReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ctx, span := r.Tracer.Start(ctx, "reconcile Widget", trace.WithAttributes(
		attribute.String("k8s.namespace.name", req.Namespace), attribute.String("widget", req.Name)))
	defer span.End()
	log := logf.FromContext(ctx)
	if sc := span.SpanContext(); sc.IsSampled() {
		log = log.WithValues("trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
	}
	result, err := r.reconcile(logf.IntoContext(ctx, log), req)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return result, err
}

func (r *WidgetReconciler) reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var w v1alpha1.Widget
	if err := r.Client.Get(ctx, req.NamespacedName, &w); err != nil {
		// Gone: the finalizer already cleaned up. Any other error is transient.
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !w.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.finalize(ctx, &w)
	}
	if controllerutil.AddFinalizer(&w, Finalizer) {
		if err := r.Client.Update(ctx, &w); err != nil {
			return reconcile.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	applyErr := r.apply(ctx, &w)
	if err := r.writeStatus(ctx, &w, applyErr); err != nil {
		// A status that could not be written is retried, even after a terminal error.
		if applyErr != nil {
			logf.FromContext(ctx).Error(applyErr, "reconcile failed, and so did the status write")
		}
		return reconcile.Result{}, fmt.Errorf("write status: %w", err)
	}
	if applyErr != nil {
		return reconcile.Result{}, applyErr
	}
	logf.FromContext(ctx).V(1).Info("widget reconciled", "generation", w.Generation)
	return reconcile.Result{RequeueAfter: r.RequeueAfter}, nil
}

// configMapName is the name of the widget's ConfigMap.
func configMapName(w *v1alpha1.Widget) string {
	if w.Spec.ConfigMapName != "" {
		return w.Spec.ConfigMapName
	}
	return w.Name
}

// apply creates or updates the widget's ConfigMap. A ConfigMap of that name that the widget
// does not own is a terminal error: retrying cannot help until the spec or that ConfigMap changes.
func (r *WidgetReconciler) apply(ctx context.Context, w *v1alpha1.Widget) error {
	key := types.NamespacedName{Namespace: w.Namespace, Name: configMapName(w)}
	var cm corev1.ConfigMap
	err := r.Client.Get(ctx, key, &cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace},
			Data:       map[string]string{MessageKey: w.Spec.Message},
		}
		if err := controllerutil.SetControllerReference(w, &cm, r.Client.Scheme()); err != nil {
			return reconcile.TerminalError(fmt.Errorf("own configmap %s: %w", key.Name, err))
		}
		if err := r.Client.Create(ctx, &cm); err != nil {
			return fmt.Errorf("create configmap %s: %w", key.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get configmap %s: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(&cm, w) {
		return reconcile.TerminalError(fmt.Errorf("configmap %s exists and is not owned by this widget", key.Name))
	}
	if cm.Data[MessageKey] == w.Spec.Message {
		return nil
	}
	// cm came from the cache: change a copy, never the cached object.
	updated := cm.DeepCopy()
	if updated.Data == nil {
		updated.Data = map[string]string{}
	}
	updated.Data[MessageKey] = w.Spec.Message
	if err := r.Client.Update(ctx, updated); err != nil {
		return fmt.Errorf("update configmap %s: %w", key.Name, err)
	}
	return nil
}

// writeStatus sets the Ready condition and observedGeneration from the outcome of apply, and
// writes them only when they changed. w was read for this reconcile and is ours to change.
func (r *WidgetReconciler) writeStatus(ctx context.Context, w *v1alpha1.Widget, applyErr error) error {
	cond := metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: w.Generation,
		Reason: v1alpha1.ReasonReconciled, Message: "configmap " + configMapName(w) + " holds the message",
	}
	switch {
	case errors.Is(applyErr, reconcile.TerminalError(nil)):
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonConfigMapConflict, applyErr.Error()
	case applyErr != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, v1alpha1.ReasonRetrying, applyErr.Error()
	}
	changed := meta.SetStatusCondition(&w.Status.Conditions, cond)
	if w.Status.ObservedGeneration != w.Generation {
		w.Status.ObservedGeneration, changed = w.Generation, true
	}
	if !changed {
		return nil
	}
	return r.Client.Status().Update(ctx, w)
}

// finalize deletes the widget's ConfigMap, then removes the finalizer so the API server
// deletes the widget. A ConfigMap the widget does not own is left alone.
func (r *WidgetReconciler) finalize(ctx context.Context, w *v1alpha1.Widget) error {
	if !controllerutil.ContainsFinalizer(w, Finalizer) {
		return nil
	}
	var cm corev1.ConfigMap
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: w.Namespace, Name: configMapName(w)}, &cm)
	switch {
	case err == nil && metav1.IsControlledBy(&cm, w):
		if err := r.Client.Delete(ctx, &cm, client.Preconditions{UID: &cm.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete configmap %s: %w", cm.Name, err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return fmt.Errorf("get configmap for cleanup: %w", err)
	}
	controllerutil.RemoveFinalizer(w, Finalizer)
	if err := r.Client.Update(ctx, w); err != nil {
		return fmt.Errorf("remove finalizer: %w", err)
	}
	logf.FromContext(ctx).Info("widget cleaned up", "configmap", configMapName(w))
	return nil
}

// SetupWithManager registers the reconciler with mgr: it watches Widgets (spec changes and
// deletions only: a status write does not trigger a reconcile) and the ConfigMaps they own.
func (r *WidgetReconciler) SetupWithManager(mgr ctrl.Manager, opts ControllerOptions) error {
	b := ctrl.NewControllerManagedBy(mgr).
		Named(opts.name()).
		For(&v1alpha1.Widget{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		WithOptions(opts.controller())
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("set up the widget controller: %w", err)
	}
	return nil
}
