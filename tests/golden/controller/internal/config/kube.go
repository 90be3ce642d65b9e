package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of the controller (internal/kube); each can be overridden with the variable named in
// parser.kube.
const (
	defaultWatchNamespace = "default" // outside a pod, when POD_NAMESPACE is unset too
	minKubeResyncPeriod   = time.Second
	// The Lease that elects the one replica that reconciles.
	defaultLeaderElectionID = "widget-op-controller"
	// client-go's and controller-runtime's defaults: a leader that stops renewing is replaced
	// after LeaseDuration; one that stops on SIGTERM releases the Lease at once.
	defaultLeaseDuration = "15s"
	defaultRenewDeadline = "10s"
	defaultRetryPeriod   = "2s"
	// client-go's leaderelection.JitterFactor: RenewDeadline must exceed RetryPeriod times it.
	leaderElectionJitter = 1.2
)

// Defaults and limits of the settings below, from gosmith's rule table; each can be overridden
// with the variable named where it is read.
const (
	defaultKubeWorkers        = 2
	minKubeWorkers            = 1
	maxKubeWorkers            = 64
	defaultKubeResyncPeriod   = "10m"
	defaultKubeLeaderElection = true
)

// Kube configures the connection to the Kubernetes API, the controller and its leader election.
type Kube struct {
	// Kubeconfig lists kubeconfig files like PATH (KUBECONFIG); empty = the pod's in-cluster
	// config, else ~/.kube/config.
	Kubeconfig string
	// Namespace whose Widgets are reconciled (WATCH_NAMESPACE); default the pod's own
	// (POD_NAMESPACE), else "default".
	Namespace string
	// Workers reconcile different Widgets in parallel, 1 to 64 (KUBE_WORKERS).
	Workers int
	// ResyncPeriod re-checks every ready Widget this often (RequeueAfter); 0 = only on changes
	// (KUBE_RESYNC_PERIOD).
	ResyncPeriod time.Duration
	// LeaderElection lets one replica reconcile at a time (LEADER_ELECT, default true).
	LeaderElection bool
	// LeaderElectionID names the Lease (LEADER_ELECTION_ID).
	LeaderElectionID string
	// LeaderElectionNamespace holds the Lease (LEADER_ELECTION_NAMESPACE); default the pod's
	// own namespace, else Namespace.
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod time the election (LEADER_ELECTION_LEASE_DURATION,
	// LEADER_ELECTION_RENEW_DEADLINE, LEADER_ELECTION_RETRY_PERIOD).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// kube reads the Kube variables.
func (p *parser) kube() Kube {
	namespace := p.getenv("POD_NAMESPACE") // the pod's own, from the Downward API
	if namespace == "" {
		namespace = defaultWatchNamespace
	}
	watched := p.str("WATCH_NAMESPACE", namespace)
	if p.getenv("POD_NAMESPACE") == "" {
		namespace = watched
	}
	return Kube{
		Kubeconfig:              p.getenv("KUBECONFIG"),
		Namespace:               watched,
		Workers:                 p.integer("KUBE_WORKERS", defaultKubeWorkers),
		ResyncPeriod:            p.duration("KUBE_RESYNC_PERIOD", defaultKubeResyncPeriod),
		LeaderElection:          p.boolean("LEADER_ELECT", defaultKubeLeaderElection),
		LeaderElectionID:        p.str("LEADER_ELECTION_ID", defaultLeaderElectionID),
		LeaderElectionNamespace: p.str("LEADER_ELECTION_NAMESPACE", namespace),
		LeaseDuration:           p.duration("LEADER_ELECTION_LEASE_DURATION", defaultLeaseDuration),
		RenewDeadline:           p.duration("LEADER_ELECTION_RENEW_DEADLINE", defaultRenewDeadline),
		RetryPeriod:             p.duration("LEADER_ELECTION_RETRY_PERIOD", defaultRetryPeriod),
	}
}

// boolean reads a variable strconv.ParseBool accepts (true, false, 1, 0, ...).
func (p *parser) boolean(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, fmt.Errorf("%s: %q is not true or false", name, v))
	}
	return b
}

// Validate reports every unusable field.
func (k Kube) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(k.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("WATCH_NAMESPACE %q is not a namespace name: %s", k.Namespace, strings.Join(msgs, "; ")))
	}
	if k.Workers < minKubeWorkers || k.Workers > maxKubeWorkers {
		errs = append(errs, fmt.Errorf("KUBE_WORKERS must be %d-%d, got %d", minKubeWorkers, maxKubeWorkers, k.Workers))
	}
	if k.ResyncPeriod != 0 && k.ResyncPeriod < minKubeResyncPeriod {
		errs = append(errs, fmt.Errorf("KUBE_RESYNC_PERIOD must be 0 (off) or at least %s, got %s", minKubeResyncPeriod, k.ResyncPeriod))
	}
	if !k.LeaderElection {
		return errors.Join(errs...)
	}
	if msgs := validation.IsDNS1123Subdomain(k.LeaderElectionID); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("LEADER_ELECTION_ID %q is not a Lease name: %s", k.LeaderElectionID, strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Label(k.LeaderElectionNamespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("LEADER_ELECTION_NAMESPACE %q is not a namespace name: %s", k.LeaderElectionNamespace, strings.Join(msgs, "; ")))
	}
	// client-go's leaderelection.NewLeaderElector refuses anything else.
	switch {
	case k.RetryPeriod <= 0:
		errs = append(errs, fmt.Errorf("LEADER_ELECTION_RETRY_PERIOD must be positive, got %s", k.RetryPeriod))
	case float64(k.RenewDeadline) <= leaderElectionJitter*float64(k.RetryPeriod):
		errs = append(errs, fmt.Errorf("LEADER_ELECTION_RENEW_DEADLINE (%s) must exceed %.1f x LEADER_ELECTION_RETRY_PERIOD (%s)", k.RenewDeadline, leaderElectionJitter, k.RetryPeriod))
	case k.LeaseDuration <= k.RenewDeadline:
		errs = append(errs, fmt.Errorf("LEADER_ELECTION_LEASE_DURATION (%s) must exceed LEADER_ELECTION_RENEW_DEADLINE (%s)", k.LeaseDuration, k.RenewDeadline))
	}
	return errors.Join(errs...)
}
