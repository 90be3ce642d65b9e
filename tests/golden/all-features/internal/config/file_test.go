package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseSettings(t *testing.T) {
	base := Settings{LogLevel: zapcore.InfoLevel, Greeting: "Hello"}
	tests := []struct {
		name, doc string
		want      Settings
		wantErr   string
	}{
		{"empty object keeps base", `{}`, base, ""},
		{"level", `{"log_level":"debug"}`, Settings{LogLevel: zapcore.DebugLevel, Greeting: "Hello"}, ""},
		{"greeting", `{"greeting":"Hi"}`, Settings{LogLevel: zapcore.InfoLevel, Greeting: "Hi"}, ""},
		{"bad level", `{"log_level":"loud"}`, Settings{}, "log_level"},
		{"unknown field", `{"colour":"red"}`, Settings{}, "unknown field"},
		{"not json", `log_level: debug`, Settings{}, "decode"},
		{"blank greeting", `{"greeting":""}`, Settings{}, "greeting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSettings([]byte(tt.doc), base)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// configMapDir lays out a directory the way the kubelet mounts a ConfigMap: the file is a
// symlink to ..data/<file>, and ..data is a symlink to a timestamped directory.
type configMapDir struct {
	t   *testing.T
	dir string
	gen int
}

func (c *configMapDir) write(content string) {
	c.t.Helper()
	c.gen++
	ts := filepath.Join(c.dir, "..2026_"+strings.Repeat("x", c.gen))
	if err := os.Mkdir(ts, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "settings.json"), []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
}

func TestSettingsWatcherFollowsConfigMapSwaps(t *testing.T) {
	cm := &configMapDir{t: t, dir: t.TempDir()}
	cm.write(`{"log_level":"info"}`)
	path := filepath.Join(cm.dir, "settings.json")
	if err := os.Symlink(filepath.Join("..data", "settings.json"), path); err != nil {
		t.Fatal(err)
	}
	base := Settings{LogLevel: zapcore.InfoLevel, Greeting: "Hello"}
	var mu sync.Mutex
	var applied []Settings
	apply := func(s Settings) {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, s)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	w, err := NewSettingsWatcher(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, base, apply, zap.New(core)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	cm.write(`{"log_level":"debug","greeting":"Hi"}`)
	waitFor("the new settings", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied) == 1 && applied[0] == Settings{LogLevel: zapcore.DebugLevel, Greeting: "Hi"}
	})

	cm.write(`{"log_level":`)
	waitFor("the rejection log line", func() bool {
		return logs.FilterMessageSnippet("keeping the previous settings").Len() == 1
	})
	mu.Lock()
	n := len(applied)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("a broken file was applied: %v", applied)
	}
}

func TestNewSettingsWatcherNeedsTheDirectory(t *testing.T) {
	if _, err := NewSettingsWatcher(filepath.Join(t.TempDir(), "missing", "settings.json")); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}
