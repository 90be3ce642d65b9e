package config

import (
	"strings"
	"testing"
	"time"
)

func TestKubeDefaults(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want Kube
	}{
		{"outside a pod", nil, Kube{
			Namespace: "default", Workers: 2, ResyncPeriod: 10 * time.Minute, LeaderElection: true,
			LeaderElectionID: "widget-op-controller", LeaderElectionNamespace: "default",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		}},
		{"in a pod", map[string]string{"POD_NAMESPACE": "shop"}, Kube{
			Namespace: "shop", Workers: 2, ResyncPeriod: 10 * time.Minute, LeaderElection: true,
			LeaderElectionID: "widget-op-controller", LeaderElectionNamespace: "shop",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		}},
		{"watching another namespace outside a pod", map[string]string{"WATCH_NAMESPACE": "widgets"}, Kube{
			Namespace: "widgets", Workers: 2, ResyncPeriod: 10 * time.Minute, LeaderElection: true,
			LeaderElectionID: "widget-op-controller", LeaderElectionNamespace: "widgets",
			LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Kube != tt.want {
				t.Errorf("Kube = %+v, want %+v", c.Kube, tt.want)
			}
		})
	}
}

func TestKubeOverrides(t *testing.T) {
	c, err := Load(env(map[string]string{
		"KUBECONFIG": "/a:/b", "POD_NAMESPACE": "shop", "WATCH_NAMESPACE": "widgets", "KUBE_WORKERS": "64",
		"KUBE_RESYNC_PERIOD": "0s", "LEADER_ELECT": "false", "LEADER_ELECTION_ID": "other",
		"LEADER_ELECTION_NAMESPACE": "leases", "LEADER_ELECTION_LEASE_DURATION": "30s",
		"LEADER_ELECTION_RENEW_DEADLINE": "20s", "LEADER_ELECTION_RETRY_PERIOD": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Kube{
		Kubeconfig: "/a:/b", Namespace: "widgets", Workers: 64, LeaderElectionID: "other", LeaderElectionNamespace: "leases",
		LeaseDuration: 30 * time.Second, RenewDeadline: 20 * time.Second, RetryPeriod: time.Second,
	}
	if c.Kube != want {
		t.Errorf("Kube = %+v, want %+v", c.Kube, want)
	}
}

func TestKubeRejects(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"namespace", map[string]string{"WATCH_NAMESPACE": "Shop_1"}, `WATCH_NAMESPACE "Shop_1" is not a namespace name`},
		{"no workers", map[string]string{"KUBE_WORKERS": "0"}, "KUBE_WORKERS must be 1-64, got 0"},
		{"too many workers", map[string]string{"KUBE_WORKERS": "65"}, "KUBE_WORKERS must be 1-64, got 65"},
		{"resync too short", map[string]string{"KUBE_RESYNC_PERIOD": "10ms"}, "KUBE_RESYNC_PERIOD must be 0 (off) or at least 1s, got 10ms"},
		{"negative resync", map[string]string{"KUBE_RESYNC_PERIOD": "-1m"}, "KUBE_RESYNC_PERIOD must be 0 (off)"},
		{"leader elect syntax", map[string]string{"LEADER_ELECT": "maybe"}, `LEADER_ELECT: "maybe" is not true or false`},
		{"lease name", map[string]string{"LEADER_ELECTION_ID": "Lease!"}, `LEADER_ELECTION_ID "Lease!" is not a Lease name`},
		{"lease namespace", map[string]string{"LEADER_ELECTION_NAMESPACE": "a.b"}, `LEADER_ELECTION_NAMESPACE "a.b" is not a namespace name`},
		{"retry period", map[string]string{"LEADER_ELECTION_RETRY_PERIOD": "0s"}, "LEADER_ELECTION_RETRY_PERIOD must be positive"},
		{"renew vs retry", map[string]string{"LEADER_ELECTION_RENEW_DEADLINE": "2s"}, "LEADER_ELECTION_RENEW_DEADLINE (2s) must exceed 1.2 x LEADER_ELECTION_RETRY_PERIOD (2s)"},
		{"lease vs renew", map[string]string{"LEADER_ELECTION_LEASE_DURATION": "10s"}, "LEADER_ELECTION_LEASE_DURATION (10s) must exceed LEADER_ELECTION_RENEW_DEADLINE (10s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
