package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RESTConfig returns the connection to the Kubernetes API server and where it came from, in
// the order controller-runtime's config.GetConfig uses:
//
//  1. kubeconfig (the KUBECONFIG variable: one or more files, separated like PATH), when set;
//  2. the pod's in-cluster config: its ServiceAccount token and CA, mounted by Kubernetes, and
//     the KUBERNETES_SERVICE_HOST/PORT variables;
//  3. home/.kube/config, for a local run with the developer's current context.
func RESTConfig(kubeconfig, home string) (*rest.Config, string, error) {
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(kubeconfig)}
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("KUBECONFIG %s: %w", kubeconfig, err)
		}
		return cfg, "KUBECONFIG", nil
	}
	cfg, err := rest.InClusterConfig()
	if err == nil {
		return cfg, "in-cluster", nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		// In a pod, but without the ServiceAccount token (automountServiceAccountToken false?).
		return nil, "", fmt.Errorf("in-cluster config (is the ServiceAccount token mounted?): %w", err)
	}
	if home == "" {
		return nil, "", errors.New("no Kubernetes API configuration: not in a pod, KUBECONFIG unset and no home directory for ~/.kube/config")
	}
	path := filepath.Join(home, ".kube", "config")
	if _, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("no Kubernetes API configuration: not in a pod, KUBECONFIG unset and %w", err)
	}
	cfg, err = clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return cfg, path, nil
}
