package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of the informer (internal/kube); each can be overridden with the variable named in
// parser.kube.
const (
	defaultWatchNamespace = "default" // outside a pod, when POD_NAMESPACE is unset too
	// client-go's own floor: a shorter resync is raised to it.
	minKubeResyncPeriod = time.Second
)

// Defaults and limits of the settings below, from gosmith's rule table; each can be overridden
// with the variable named where it is read.
const (
	defaultKubeLabelSelector = "app.kubernetes.io/part-of=orders-api"
	defaultKubeWorkers       = 2
	minKubeWorkers           = 1
	maxKubeWorkers           = 64
	defaultKubeResyncPeriod  = "10m"
)

// Kube configures the connection to the Kubernetes API and the ConfigMap informer.
type Kube struct {
	// Kubeconfig lists kubeconfig files like PATH (KUBECONFIG); empty = the pod's in-cluster
	// config, else ~/.kube/config.
	Kubeconfig string
	// Namespace whose ConfigMaps are watched (WATCH_NAMESPACE); default the pod's own
	// (POD_NAMESPACE), else "default".
	Namespace string
	// LabelSelector selects the watched ConfigMaps (WATCH_LABEL_SELECTOR); the cache holds
	// nothing else, so it must not be empty.
	LabelSelector string
	// Workers reconcile different keys in parallel, 1 to 64 (KUBE_WORKERS).
	Workers int
	// ResyncPeriod re-delivers every cached object to the workers; 0 = never
	// (KUBE_RESYNC_PERIOD).
	ResyncPeriod time.Duration
}

// kube reads the Kube variables.
func (p *parser) kube() Kube {
	namespace := p.getenv("POD_NAMESPACE") // the pod's own, from the Downward API
	if namespace == "" {
		namespace = defaultWatchNamespace
	}
	return Kube{
		Kubeconfig:    p.getenv("KUBECONFIG"),
		Namespace:     p.str("WATCH_NAMESPACE", namespace),
		LabelSelector: p.str("WATCH_LABEL_SELECTOR", defaultKubeLabelSelector),
		Workers:       p.integer("KUBE_WORKERS", defaultKubeWorkers),
		ResyncPeriod:  p.duration("KUBE_RESYNC_PERIOD", defaultKubeResyncPeriod),
	}
}

// Validate reports every unusable field.
func (k Kube) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(k.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("WATCH_NAMESPACE %q is not a namespace name: %s", k.Namespace, strings.Join(msgs, "; ")))
	}
	if strings.TrimSpace(k.LabelSelector) == "" {
		errs = append(errs, errors.New("WATCH_LABEL_SELECTOR must not be empty: the cache would hold every ConfigMap of the namespace"))
	} else if _, err := labels.Parse(k.LabelSelector); err != nil {
		errs = append(errs, fmt.Errorf("WATCH_LABEL_SELECTOR %q: %w", k.LabelSelector, err))
	}
	if k.Workers < minKubeWorkers || k.Workers > maxKubeWorkers {
		errs = append(errs, fmt.Errorf("KUBE_WORKERS must be %d-%d, got %d", minKubeWorkers, maxKubeWorkers, k.Workers))
	}
	if k.ResyncPeriod != 0 && k.ResyncPeriod < minKubeResyncPeriod {
		errs = append(errs, fmt.Errorf("KUBE_RESYNC_PERIOD must be 0 (off) or at least %s, got %s", minKubeResyncPeriod, k.ResyncPeriod))
	}
	return errors.Join(errs...)
}
