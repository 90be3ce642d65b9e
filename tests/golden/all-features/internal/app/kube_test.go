package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/acme/orders-api/internal/config"
	"github.com/acme/orders-api/internal/kube/kubetest"
)

// kubeTestEnv starts a real API server for the test (skipping without KUBEBUILDER_ASSETS) and
// returns the variables that point the service at it as an administrator.
func kubeTestEnv(t *testing.T) map[string]string {
	t.Helper()
	env := kubetest.Start(t)
	return map[string]string{"KUBECONFIG": env.Kubeconfig(t, "test-admin", "system:masters"), "WATCH_NAMESPACE": "default"}
}

// TestReadyzWaitsForTheInformerCache runs the service as a user RBAC does not yet allow to list
// ConfigMaps: /readyz stays 503 (liveness is fine) while the cache cannot sync, and turns 200
// once a Role allows it. A labelled ConfigMap then reaches the worker, the queue metrics are
// served with the service's own, and on shutdown the informer stops after the listeners and
// before the "stopped" line.
func TestReadyzWaitsForTheInformerCache(t *testing.T) {
	env := kubetest.Start(t)
	vars := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "DEBUG_ADDR": "127.0.0.1:0", "DRAIN_DELAY": "50ms",
		"SHUTDOWN_TIMEOUT": "2s", "OTEL_TRACES_EXPORTER": "none",
		"KUBECONFIG": env.Kubeconfig(t, "svc"), "WATCH_NAMESPACE": "default",
	}
	getenv := func(k string) string { return vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, getenv, &out) }()
	admin := ""
	for deadline := time.Now().Add(10 * time.Second); admin == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no startup line")
		}
		for _, line := range out.lines(t) {
			if line["msg"] == "starting" {
				admin = "http://" + line["admin_addr"].(string)
			}
		}
	}

	for range 5 {
		if code, body := get(t, admin+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: informer cache not synced\n" {
			t.Fatalf("/readyz without list permission = %d %q, want 503", code, body)
		}
		if code, _ := get(t, admin+"/livez"); code != http.StatusOK {
			t.Fatalf("/livez = %d while the cache syncs", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctxAPI := context.Background()
	rule := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "watch-configmaps", Namespace: "default"},
		Rules:      []rbacv1.PolicyRule{rule},
	}
	if _, err := env.Client.RbacV1().Roles("default").Create(ctxAPI, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subject := rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "svc"}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "default"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{subject},
	}
	if _, err := env.Client.RbacV1().RoleBindings("default").Create(ctxAPI, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitReady(t, admin) // the reflector retries the list with backoff

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "default", Labels: map[string]string{"app.kubernetes.io/part-of": "orders-api"}},
		Data:       map[string]string{"greeting": "hi"},
	}
	if _, err := env.Client.CoreV1().ConfigMaps("default").Create(ctxAPI, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !logged(t, &out, "configmap reconciled", "settings"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the labelled ConfigMap was not reconciled within 10s")
		}
	}
	_, metrics := get(t, admin+"/metrics")
	for _, want := range []string{`workqueue_depth{name="configmaps"} 0`, `app_reconcile_total{queue="configmaps",result="success"} 1`, `http_server_requests_in_flight`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	var order []string
	for _, line := range out.lines(t) {
		switch msg := line["msg"].(string); msg {
		case "shutting down", "informer stopped", "stopped":
			order = append(order, msg)
		}
	}
	if want := "shutting down|informer stopped|stopped"; strings.Join(order, "|") != want {
		t.Errorf("shutdown order = %q, want %s", order, want)
	}
}

// logged reports whether a line with msg and name has been written.
func logged(t *testing.T, out *syncBuffer, msg, name string) bool {
	for _, line := range out.lines(t) {
		if line["msg"] == msg && line["name"] == name {
			return true
		}
	}
	return false
}
