package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/acme/widget-op/api/v1alpha1"
	"github.com/acme/widget-op/internal/config"
	"github.com/acme/widget-op/internal/kube/kubetest"
)

// replicaVar makes the test binary run the service instead of the tests (helperProcess).
const replicaVar = "TEST_RUN_SERVICE_REPLICA"

// helperProcess runs the service, as main does, when the test binary was started as a replica
// by TestLeaderHandoverOnSIGTERM, and exits; otherwise it returns at once.
func helperProcess() {
	if os.Getenv(replicaVar) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		err = Run(ctx, cfg, os.Getenv, os.Stdout)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// kubeTestEnv starts a real API server for the test (skipping without KUBEBUILDER_ASSETS) and
// returns the variables that point the service at it as an administrator.
func kubeTestEnv(t *testing.T) map[string]string {
	t.Helper()
	env := kubetest.Start(t)
	return map[string]string{"KUBECONFIG": env.Kubeconfig(t, "test-admin", "system:masters"), "WATCH_NAMESPACE": "default"}
}

// replica is the service running in a child process.
type replica struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

// startReplica starts the service (the test binary as helperProcess) with the given variables.
func startReplica(t *testing.T, vars map[string]string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), replicaVar+"=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &replica{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.done <- cmd.Wait() })
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // after a clean exit this fails harmlessly
		wg.Wait()
	})
	return r
}

// output returns everything the replica wrote so far.
func (r *replica) output() string {
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	return r.out.buf.String()
}

// admin waits for the replica's "starting" line and returns its admin URL.
func (r *replica) admin(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range r.out.lines(t) {
			if line["msg"] == "starting" {
				return "http://" + line["admin_addr"].(string)
			}
		}
	}
	t.Fatalf("no startup line:\n%s", r.output())
	return ""
}

// holder returns the Lease's holder ("" when released or absent).
func holder(t *testing.T, c client.Client, name string) string {
	t.Helper()
	var lease coordinationv1.Lease
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: name}, &lease); err != nil {
		return ""
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestLeaderHandoverOnSIGTERM runs two replicas of the service as separate processes against a
// real API server. The first holds the Lease and reconciles; the second is ready (its cache has
// synced) but waits. On SIGTERM the first releases the Lease while it drains, and the second
// takes over within a retry period, far sooner than the lease duration, and reconciles; its
// /metrics on the admin listener serves controller-runtime's metrics.
func TestLeaderHandoverOnSIGTERM(t *testing.T) {
	env := kubetest.Start(t)
	const leaseDuration = 15 * time.Second
	vars := map[string]string{
		"HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "DEBUG_ADDR": "127.0.0.1:0",
		"DRAIN_DELAY": "2s", "SHUTDOWN_TIMEOUT": "5s", "OTEL_TRACES_EXPORTER": "none",
		"KUBECONFIG": env.Kubeconfig(t, "replicas", "system:masters"), "WATCH_NAMESPACE": "default",
		"LEADER_ELECTION_LEASE_DURATION": leaseDuration.String(), "LEADER_ELECTION_RENEW_DEADLINE": "10s",
		"LEADER_ELECTION_RETRY_PERIOD": "500ms",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	lease := cfg.Kube.LeaderElectionID

	first := startReplica(t, vars)
	first.admin(t)
	var leader string
	if !waitFor(30*time.Second, func() bool { leader = holder(t, env.Client, lease); return leader != "" }) {
		t.Fatalf("the first replica did not take the Lease:\n%s", first.output())
	}
	second := startReplica(t, vars)
	secondAdmin := second.admin(t)
	waitReady(t, secondAdmin) // ready without the Lease: its cache has synced
	if got := holder(t, env.Client, lease); got != leader {
		t.Fatalf("the Lease moved to %q while the first replica runs", got)
	}

	ctx := context.Background()
	w := &v1alpha1.Widget{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "handover"}, Spec: v1alpha1.WidgetSpec{Message: "one"}}
	if err := env.Client.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	readyAt := func(generation int64) bool {
		var got v1alpha1.Widget
		if env.Client.Get(ctx, client.ObjectKeyFromObject(w), &got) != nil {
			return false
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
	}
	if !waitFor(20*time.Second, func() bool { return readyAt(1) }) {
		t.Fatal("the leader did not reconcile the widget")
	}

	sent := time.Now()
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var next string
	if !waitFor(leaseDuration, func() bool { next = holder(t, env.Client, lease); return next != "" && next != leader }) {
		t.Fatalf("the second replica did not take over within the lease duration:\n%s", second.output())
	}
	took := time.Since(sent)
	t.Logf("the second replica took over %s after SIGTERM (lease duration %s)", took, leaseDuration)
	if took > leaseDuration/3 {
		t.Errorf("took over %s after SIGTERM, want well within the %s lease: the Lease was not released", took, leaseDuration)
	}
	select {
	case err := <-first.done:
		if err != nil {
			t.Fatalf("first replica: %v\n%s", err, first.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the first replica did not stop")
	}
	msgs := []string{}
	for _, line := range first.out.lines(t) {
		msgs = append(msgs, fmt.Sprint(line["msg"]))
	}
	all := strings.Join(msgs, "\n")
	if i, j := strings.Index(all, "controller stopped"), strings.Index(all, "\nstopped"); i < 0 || j < i {
		t.Errorf("the first replica's lines end without \"controller stopped\" before \"stopped\":\n%s", all)
	}

	// The new leader reconciles.
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(w), w); err != nil {
		t.Fatal(err)
	}
	w.Spec.Message = "two"
	if err := env.Client.Update(ctx, w); err != nil {
		t.Fatal(err)
	}
	if !waitFor(20*time.Second, func() bool { return readyAt(2) }) {
		t.Fatalf("the new leader did not reconcile the widget:\n%s", second.output())
	}
	_, metrics := get(t, secondAdmin+"/metrics")
	for _, want := range []string{"leader_election_master_status{name=\"" + lease + "\"} 1", `controller_runtime_reconcile_total{controller="widget",result="success"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics of the new leader lacks %s", want)
		}
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.done; err != nil {
		t.Fatalf("second replica: %v\n%s", err, second.output())
	}
}

// TestGateReadiness: /readyz waits for the manager's cache, /livez fails once the manager has
// stopped on its own, everything else goes to the admin handler.
func TestGateReadiness(t *testing.T) {
	lost := errors.New("leader election lost")
	for _, tt := range []struct {
		name         string
		synced       bool
		failed       error
		path, method string
		code         int
		body         string
	}{
		{"readyz before the sync", false, nil, "/readyz", http.MethodGet, 503, "not ready: controller cache not synced\n"},
		{"readyz HEAD before the sync", false, nil, "/readyz", http.MethodHead, 503, ""},
		{"readyz after the sync", true, nil, "/readyz", http.MethodGet, 200, "next\n"},
		{"livez while syncing", false, nil, "/livez", http.MethodGet, 200, "next\n"},
		{"livez after a lost lease", true, lost, "/livez", http.MethodGet, 503, "not live: controller manager stopped: leader election lost\n"},
		{"metrics", false, lost, "/metrics", http.MethodGet, 200, "next\n"},
		{"readyz POST", false, nil, "/readyz", http.MethodPost, 200, "next\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := kubeClient{synced: &atomic.Bool{}, failed: &atomic.Pointer[error]{}}
			k.synced.Store(tt.synced)
			if tt.failed != nil {
				k.failed.Store(&tt.failed)
			}
			next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "next") })
			rec := httptest.NewRecorder()
			k.gateReadiness(next).ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			body := rec.Body.String()
			if tt.method == http.MethodHead {
				body = ""
			}
			if rec.Code != tt.code || body != tt.body {
				t.Fatalf("%s %s = %d %q, want %d %q", tt.method, tt.path, rec.Code, body, tt.code, tt.body)
			}
		})
	}
}
