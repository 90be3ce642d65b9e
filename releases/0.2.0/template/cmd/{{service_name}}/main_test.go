package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "-version"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{arg}, env(nil), &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if out := stdout.String(); !strings.Contains(out, "commit") || !strings.Contains(out, "go1.") {
			t.Fatalf("%s printed %q", arg, out)
		}
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"unknown flag", []string{"--nope"}, nil, "parse flags"},
		{"extra argument", []string{"serve"}, nil, "unexpected arguments"},
		{"bad config", nil, map[string]string{"READ_TIMEOUT": "soon"}, "load config: READ_TIMEOUT"},
		{"loopback in kubernetes", nil, map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HTTP_ADDR": "127.0.0.1:8080"}, "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, env(tt.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestFatalIsOneJSONLine: the exit error is one flat JSON line with the keys of every log line.
func TestFatalIsOneJSONLine(t *testing.T) {
	var out bytes.Buffer
	fatal(&out, env(map[string]string{"APP_ENV": "staging"}), errors.New("load config: READ_TIMEOUT: \"x\" is not a duration"))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %q", out.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	for _, k := range []string{"ts", "level", "msg", "logger", "caller", "service", "version", "env", "error"} {
		if _, ok := line[k].(string); !ok {
			t.Errorf("key %s missing or not a string in %v", k, line)
		}
	}
	if line["level"] != "fatal" || line["env"] != "staging" || !strings.Contains(line["error"].(string), "READ_TIMEOUT") {
		t.Errorf("line = %v", line)
	}
}
