package kube

import (
	"context"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"gosmith.invalid/module/internal/logging"
)

// LogReconciler is the example reconciler: it logs what each watched ConfigMap holds and when
// it is gone. Replace its body with the service's own logic and keep its two rules: read only
// what Reconcile is given (the cache's current state), and change only a copy.
type LogReconciler struct {
	Log *zap.Logger
}

// Reconcile implements Reconciler.
func (r LogReconciler) Reconcile(ctx context.Context, key cache.ObjectName, cm *corev1.ConfigMap) error {
	fields := logging.AppendTraceFields(ctx, []zap.Field{zap.String("namespace", key.Namespace), zap.String("name", key.Name)})
	if cm == nil {
		r.Log.Info("configmap gone", fields...)
		return nil
	}
	// cm is the cache's object: changing it would change what every other reader (and the
	// next resync) sees, without the API server knowing. Work on a copy.
	cm = cm.DeepCopy()
	size := 0
	for k, v := range cm.Data {
		cm.Data[k] = strings.TrimSpace(v)
		size += len(cm.Data[k])
	}
	r.Log.Info("configmap reconciled", append(fields,
		zap.String("resource_version", cm.ResourceVersion),
		zap.Strings("keys", slices.Sorted(maps.Keys(cm.Data))),
		zap.Int("bytes", size),
	)...)
	return nil
}
