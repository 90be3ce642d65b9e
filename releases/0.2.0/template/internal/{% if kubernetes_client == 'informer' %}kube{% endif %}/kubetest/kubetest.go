// Package kubetest runs a real Kubernetes API server (kube-apiserver and etcd, started by
// controller-runtime's envtest) for the tests of the informer. It needs the binaries in the
// directory named by KUBEBUILDER_ASSETS (kube-apiserver, etcd, kubectl): `make envtest` downloads
// them with setup-envtest and prints the line to export, CI does the same. Without the variable
// the tests that need a server are skipped, saying so. Only test files import this package.
package kubetest

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsVar names the directory of the kube-apiserver, etcd and kubectl binaries.
const AssetsVar = "KUBEBUILDER_ASSETS"

// Env is a running API server with RBAC on, and an administrator's connection to it.
type Env struct {
	env *envtest.Environment
	// Config connects as an administrator (system:masters).
	Config *rest.Config
	// Client is an administrator's clientset.
	Client kubernetes.Interface
}

// Start starts an API server for the test and stops it when the test ends; without
// KUBEBUILDER_ASSETS it skips the test.
func Start(t testing.TB) *Env {
	t.Helper()
	if os.Getenv(AssetsVar) == "" {
		t.Skip(AssetsVar + " is unset: this test needs a real kube-apiserver and etcd; run `make envtest` and export the line it prints")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd from %s=%s: %v", AssetsVar, os.Getenv(AssetsVar), err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{env: env, Config: cfg, Client: client}
}

// Kubeconfig writes a kubeconfig file for a new user name (in groups) into a temporary
// directory of the test and returns its path. The user may do nothing until RBAC allows it.
func (e *Env) Kubeconfig(t testing.TB, name string, groups ...string) string {
	t.Helper()
	user, err := e.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("add user %s: %v", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
