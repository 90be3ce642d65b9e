package kube

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"gosmith.invalid/module/internal/kube/kubetest"
)

const (
	testNamespace = "informer-test"
	testSelector  = "app.kubernetes.io/part-of=informer-test"
)

func labelled(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name, Labels: map[string]string{"app.kubernetes.io/part-of": "informer-test"}},
		Data:       data,
	}
}

// TestInformerAgainstAPIServer runs the controller against a real kube-apiserver and etcd: the
// cache syncs (objects created before the start included); an add, an update and a delete of
// a selected ConfigMap each reach a worker with the cache's current state; an unselected one
// never does; the cache equals the server; the example reconciler never changes the cache;
// and Run returns when its context ends, leaving none of its goroutines behind.
func TestInformerAgainstAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx := context.Background()
	cms := env.Client.CoreV1().ConfigMaps(testNamespace)
	if _, err := env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := cms.Create(ctx, labelled("before", map[string]string{"greeting": "  hello  "}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "unselected"}}
	if _, err := cms.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	goroutines := goleak.IgnoreCurrent()
	client, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	log := zaptest.NewLogger(t)
	check := mutationCheck{next: LogReconciler{Log: log}, report: t.Errorf}
	c, err := New(client, Options{Namespace: testNamespace, LabelSelector: testSelector, Workers: 2}, chain{check, rec}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	if c.HasSynced() {
		t.Error("HasSynced before Run")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(runCtx)
	}()
	waitFor(t, c.HasSynced)

	expect := func(name string, present bool, version string) call {
		t.Helper()
		got := rec.next(t)
		if got.key != (cache.ObjectName{Namespace: testNamespace, Name: name}) || got.present != present || (present && got.version != version) {
			t.Fatalf("reconciled %+v, want %s present=%v version %s", got, name, present, version)
		}
		return got
	}
	expect("before", true, before.ResourceVersion) // from the initial list

	added, err := cms.Create(ctx, labelled("added", map[string]string{"v": "1"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect("added", true, added.ResourceVersion)
	added.Data["v"] = "2"
	updated, err := cms.Update(ctx, added, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := expect("added", true, updated.ResourceVersion); got.data["v"] != "2" {
		t.Errorf("update reconciled with %v", got.data)
	}
	if err := cms.Delete(ctx, "added", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("added", false, "")

	// The cache holds exactly the server's object: nothing changed it behind the server's back.
	cached, err := c.lister.ConfigMaps(testNamespace).Get("before")
	if err != nil {
		t.Fatal(err)
	}
	server, err := cms.Get(ctx, "before", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cached, server = cached.DeepCopy(), server.DeepCopy()
	cached.TypeMeta, server.TypeMeta = metav1.TypeMeta{}, metav1.TypeMeta{}
	if !reflect.DeepEqual(cached, server) {
		t.Errorf("cache and server differ:\ncache  %+v\nserver %+v", cached, server)
	}
	if _, err := c.lister.ConfigMaps(testNamespace).Get("unselected"); err == nil {
		t.Error("the cache holds a ConfigMap the label selector does not select")
	}

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
	}
	select {
	case got := <-rec.calls:
		t.Errorf("unexpected reconcile %+v", got)
	default:
	}
	// Every goroutine the controller started has ended (the HTTP/2 connection to the API
	// server belongs to the client's transport, not to the controller).
	goleak.VerifyNone(t, goroutines,
		goleak.IgnoreTopFunction("net/http.(*http2clientConnReadLoop).run"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
