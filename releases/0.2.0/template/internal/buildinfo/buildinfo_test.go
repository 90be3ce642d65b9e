package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	recorded := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		},
	}
	tests := []struct {
		name    string
		v, c, d string
		read    func() (*debug.BuildInfo, bool)
		want    Info
	}{
		{
			name: "ldflags win",
			v:    "v9.9.9", c: "fff", d: "2027-01-01",
			read: func() (*debug.BuildInfo, bool) { return recorded, true },
			want: Info{Version: "v9.9.9", Commit: "fff", Date: "2027-01-01"},
		},
		{
			name: "fallback to build info",
			read: func() (*debug.BuildInfo, bool) { return recorded, true },
			want: Info{Version: "v1.2.3", Commit: "abc123", Date: "2026-01-02T03:04:05Z"},
		},
		{
			name: "devel build without vcs",
			read: func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true },
			want: Info{Version: "dev", Commit: "unknown", Date: "unknown"},
		},
		{
			name: "no build info",
			read: func() (*debug.BuildInfo, bool) { return nil, false },
			want: Info{Version: "dev", Commit: "unknown", Date: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.GoVersion = runtime.Version()
			if got := resolve(tt.v, tt.c, tt.d, tt.read); got != tt.want {
				t.Fatalf("resolve() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
