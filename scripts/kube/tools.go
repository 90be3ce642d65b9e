//go:build tools

// Package tools pins the Kubernetes commands that scripts/kube-tools.sh builds from this module graph.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
