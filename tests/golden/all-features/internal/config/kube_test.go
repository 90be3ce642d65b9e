package config

import (
	"strings"
	"testing"
	"time"
)

func TestKubeDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Kube{Namespace: "default", LabelSelector: "app.kubernetes.io/part-of=orders-api", Workers: 2, ResyncPeriod: 10 * time.Minute}
	if c.Kube != want {
		t.Errorf("Kube = %+v, want %+v", c.Kube, want)
	}
	c, err = Load(env(map[string]string{"POD_NAMESPACE": "shop"}))
	if err != nil || c.Kube.Namespace != "shop" {
		t.Errorf("in a pod the own namespace is watched: %v, %q", err, c.Kube.Namespace)
	}
}

func TestKubeOverrides(t *testing.T) {
	c, err := Load(env(map[string]string{
		"KUBECONFIG": "/a:/b", "POD_NAMESPACE": "shop", "WATCH_NAMESPACE": "config", "WATCH_LABEL_SELECTOR": "team in (a,b),!legacy",
		"KUBE_WORKERS": "64", "KUBE_RESYNC_PERIOD": "0s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Kube{Kubeconfig: "/a:/b", Namespace: "config", LabelSelector: "team in (a,b),!legacy", Workers: 64}
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
		{"blank selector", map[string]string{"WATCH_LABEL_SELECTOR": " "}, "WATCH_LABEL_SELECTOR must not be empty"},
		{"selector syntax", map[string]string{"WATCH_LABEL_SELECTOR": "a in b"}, `WATCH_LABEL_SELECTOR "a in b"`},
		{"no workers", map[string]string{"KUBE_WORKERS": "0"}, "KUBE_WORKERS must be 1-64, got 0"},
		{"too many workers", map[string]string{"KUBE_WORKERS": "65"}, "KUBE_WORKERS must be 1-64, got 65"},
		{"workers syntax", map[string]string{"KUBE_WORKERS": "two"}, "KUBE_WORKERS"},
		{"resync too short", map[string]string{"KUBE_RESYNC_PERIOD": "10ms"}, "KUBE_RESYNC_PERIOD must be 0 (off) or at least 1s, got 10ms"},
		{"negative resync", map[string]string{"KUBE_RESYNC_PERIOD": "-1m"}, "KUBE_RESYNC_PERIOD must be 0 (off)"},
		{"resync syntax", map[string]string{"KUBE_RESYNC_PERIOD": "10"}, "KUBE_RESYNC_PERIOD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
