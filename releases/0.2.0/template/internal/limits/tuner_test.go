package limits

import (
	"context"
	"math"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeRuntime stands in for the Go runtime: GOMAXPROCS follows the cgroup like Go's own default
// (min(cpus, max(2, ceil(limit)))) until it is set explicitly.
type fakeRuntime struct {
	cpus     int
	fsys     fstest.MapFS
	procs    int
	custom   bool
	memLimit int64
	sets     int // calls that changed a value
}

func (f *fakeRuntime) goDefault() int {
	c, _ := Read(f.fsys)
	if d := GoDefaultGOMAXPROCS(c); d > 0 && d < f.cpus {
		return d
	}
	return f.cpus
}

func (f *fakeRuntime) GOMAXPROCS(n int) int {
	prev := f.procs
	if !f.custom {
		prev = f.goDefault()
	}
	if n > 0 {
		f.procs, f.custom = n, true
		f.sets++
	}
	return prev
}

func (f *fakeRuntime) SetDefaultGOMAXPROCS() { f.custom = false; f.sets++ }

func (f *fakeRuntime) SetMemoryLimit(limit int64) int64 {
	prev := f.memLimit
	if limit >= 0 {
		f.memLimit = limit
		f.sets++
	}
	return prev
}

func (f *fakeRuntime) NumCPU() int { return f.cpus }

// cgroupV1 returns a cgroup v1 file system with a CPU quota (period 100ms; -1 = none) and a memory
// limit (0 = none).
func cgroupV1(quota, memory int64) fstest.MapFS {
	fsys := files(
		"proc/self/cgroup", "4:memory:/svc\n3:cpu,cpuacct:/svc\n",
		"proc/self/mountinfo", mountV1CPU+mountV1Memory,
	)
	setV1(fsys, quota, memory)
	return fsys
}

func setV1(fsys fstest.MapFS, quota, memory int64) {
	mem := "9223372036854771712"
	if memory > 0 {
		mem = itoa(memory)
	}
	fsys["sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_quota_us"] = &fstest.MapFile{Data: []byte(itoa(quota) + "\n")}
	fsys["sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_period_us"] = &fstest.MapFile{Data: []byte("100000\n")}
	fsys["sys/fs/cgroup/memory/svc/memory.limit_in_bytes"] = &fstest.MapFile{Data: []byte(mem + "\n")}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newTuner(t *testing.T, fsys fstest.MapFS, cpus int, opts Options) (*Tuner, *fakeRuntime, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	rt := &fakeRuntime{cpus: cpus, fsys: fsys, memLimit: math.MaxInt64}
	if opts.Policy == "" {
		opts.Policy = "floor"
	}
	if opts.Ratio == "" {
		opts.Ratio = "0.9"
	}
	opts.FS, opts.Log = fsys, zap.New(core)
	tu := NewTuner(opts)
	tu.rt = rt
	if opts.EnvGOMAXPROCS != "" && tu.explicitProcs {
		rt.procs, rt.custom = int(mustAtoi(t, opts.EnvGOMAXPROCS)), true
	}
	if opts.EnvGOMEMLIMIT != "" {
		rt.memLimit = mustAtoi(t, opts.EnvGOMEMLIMIT)
	}
	return tu, rt, logs
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApplyAtStart(t *testing.T) {
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		cpus      int
		opts      Options
		want      State
		wantLog   string // a message that must be logged ("" = none required)
		wantLevel string
	}{
		{
			name: "500m and 512Mi", fsys: cgroupV1(50000, 512*MiB), cpus: 8,
			want: State{Cgroup: Cgroup{50000, 100000, 512 * MiB}, GOMAXPROCS: 1, GOMAXPROCSSource: SourceCgroup, GOMEMLIMIT: 460 * MiB, GOMEMLIMITSource: SourceCgroup},
		},
		{
			name: "no limits", fsys: cgroupV1(-1, 0), cpus: 8,
			want:    State{GOMAXPROCS: 8, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: math.MaxInt64, GOMEMLIMITSource: SourceDefault},
			wantLog: "no cgroup memory limit: GOMEMLIMIT stays unset", wantLevel: "info",
		},
		{
			name: "policy go leaves GOMAXPROCS to the runtime", fsys: cgroupV1(50000, 512*MiB), cpus: 8, opts: Options{Policy: "go"},
			want: State{Cgroup: Cgroup{50000, 100000, 512 * MiB}, GOMAXPROCS: 2, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: 460 * MiB, GOMEMLIMITSource: SourceCgroup},
		},
		{
			name: "floor equal to Go's own value", fsys: cgroupV1(300000, 0), cpus: 8,
			want:    State{Cgroup: Cgroup{300000, 100000, 0}, GOMAXPROCS: 3, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: math.MaxInt64, GOMEMLIMITSource: SourceDefault},
			wantLog: "no cgroup memory limit: GOMEMLIMIT stays unset", wantLevel: "info",
		},
		{
			name: "floor 3 on a 2-CPU node: Go's 2 is already lower", fsys: cgroupV1(350000, 0), cpus: 2,
			want:    State{Cgroup: Cgroup{350000, 100000, 0}, GOMAXPROCS: 2, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: math.MaxInt64, GOMEMLIMITSource: SourceDefault},
			wantLog: "no cgroup memory limit: GOMEMLIMIT stays unset", wantLevel: "info",
		},
		{
			name: "explicit env wins", fsys: cgroupV1(50000, 512*MiB), cpus: 8,
			opts:    Options{EnvGOMAXPROCS: "4", EnvGOMEMLIMIT: "1073741824"},
			want:    State{Cgroup: Cgroup{50000, 100000, 512 * MiB}, GOMAXPROCS: 4, GOMAXPROCSSource: SourceEnv, GOMEMLIMIT: 1 << 30, GOMEMLIMITSource: SourceEnv},
			wantLog: "explicit GOMEMLIMIT is not below the cgroup memory limit: the container is OOM-killed before the GC works harder", wantLevel: "warn",
		},
		{
			name: "explicit GOMAXPROCS above the CPU limit", fsys: cgroupV1(150000, 512*MiB), cpus: 8, opts: Options{EnvGOMAXPROCS: "3"},
			want:    State{Cgroup: Cgroup{150000, 100000, 512 * MiB}, GOMAXPROCS: 3, GOMAXPROCSSource: SourceEnv, GOMEMLIMIT: 460 * MiB, GOMEMLIMITSource: SourceCgroup},
			wantLog: "explicit GOMAXPROCS exceeds the cgroup CPU limit: the CFS quota throttles the service under load", wantLevel: "warn",
		},
		{
			name: "GOMAXPROCS the runtime ignores", fsys: cgroupV1(50000, 512*MiB), cpus: 8, opts: Options{EnvGOMAXPROCS: "zero"},
			want:    State{Cgroup: Cgroup{50000, 100000, 512 * MiB}, GOMAXPROCS: 1, GOMAXPROCSSource: SourceCgroup, GOMEMLIMIT: 460 * MiB, GOMEMLIMITSource: SourceCgroup},
			wantLog: "GOMAXPROCS is not a positive integer: the Go runtime ignored it", wantLevel: "warn",
		},
		{
			name: "memory limit too small", fsys: cgroupV1(-1, 48*MiB), cpus: 4,
			want:    State{Cgroup: Cgroup{MemoryLimit: 48 * MiB}, GOMAXPROCS: 4, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: math.MaxInt64, GOMEMLIMITSource: SourceDefault},
			wantLog: "cgroup memory limit too small to derive GOMEMLIMIT: it stays unset", wantLevel: "warn",
		},
		{
			name: "no cgroup at all", fsys: files(), cpus: 4,
			want:    State{GOMAXPROCS: 4, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: math.MaxInt64, GOMEMLIMITSource: SourceDefault},
			wantLog: "no cgroup memory limit: GOMEMLIMIT stays unset", wantLevel: "info",
		},
		{
			name: "unreadable cgroup: what could be read applies", cpus: 4,
			fsys: files("proc/self/cgroup", "0::/\n", "proc/self/mountinfo", mountV2,
				"sys/fs/cgroup/cpu.max", "bogus\n", "sys/fs/cgroup/memory.max", "536870912\n"),
			want:    State{Cgroup: Cgroup{MemoryLimit: 512 * MiB}, GOMAXPROCS: 4, GOMAXPROCSSource: SourceDefault, GOMEMLIMIT: 460 * MiB, GOMEMLIMITSource: SourceCgroup},
			wantLog: "cannot read the cgroup limits", wantLevel: "warn",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tu, _, logs := newTuner(t, tt.fsys, tt.cpus, tt.opts)
			if got := tu.Apply(); got != tt.want {
				t.Fatalf("Apply =\n%+v\nwant\n%+v", got, tt.want)
			}
			if tt.wantLog != "" {
				found := logs.FilterMessage(tt.wantLog).All()
				if len(found) != 1 || found[0].Level.String() != tt.wantLevel {
					t.Fatalf("want one %s line %q, got %v", tt.wantLevel, tt.wantLog, logs.All())
				}
			} else if n := logs.Len(); n != 0 {
				t.Fatalf("unexpected log lines: %v", logs.All())
			}
		})
	}
}

// TestApplyFollowsChanges walks one service through in-place resizes.
func TestApplyFollowsChanges(t *testing.T) {
	fsys := cgroupV1(50000, 512*MiB)
	tu, _, logs := newTuner(t, fsys, 8, Options{})
	steps := []struct {
		name           string
		quota, memory  int64
		procs          int
		procsSource    Source
		memLimit       int64
		memLimitSource Source
	}{
		{"start at 500m/512Mi", 50000, 512 * MiB, 1, SourceCgroup, 460 * MiB, SourceCgroup},
		{"unchanged", 50000, 512 * MiB, 1, SourceCgroup, 460 * MiB, SourceCgroup},
		{"resize to 2.5 CPUs and 1Gi", 250000, 1 << 30, 2, SourceCgroup, 921 * MiB, SourceCgroup},
		{"resize to 3 CPUs: back to Go's own value", 300000, 1 << 30, 3, SourceDefault, 921 * MiB, SourceCgroup},
		{"the runtime follows 4 CPUs by itself", 400000, 1 << 30, 4, SourceDefault, 921 * MiB, SourceCgroup},
		{"limits removed: GOMEMLIMIT restored to none", -1, 0, 8, SourceDefault, math.MaxInt64, SourceDefault},
		{"limited again", 50000, 256 * MiB, 1, SourceCgroup, 224 * MiB, SourceCgroup},
	}
	for i, st := range steps {
		setV1(fsys, st.quota, st.memory)
		s := tu.Apply()
		if s.GOMAXPROCS != st.procs || s.GOMAXPROCSSource != st.procsSource || s.GOMEMLIMIT != st.memLimit || s.GOMEMLIMITSource != st.memLimitSource {
			t.Fatalf("step %d (%s): state %+v", i, st.name, s)
		}
	}
	if n := len(logs.FilterMessage("runtime limits changed").All()); n != len(steps)-2 {
		t.Errorf("%d change lines, want %d (one per changing step): %v", n, len(steps)-2, logs.All())
	}
	if n := len(logs.FilterMessage("no cgroup memory limit: GOMEMLIMIT stays unset").All()); n != 0 {
		t.Errorf("the no-limit line is for the start only, got %d", n)
	}
}

func TestApplyNeverOverridesEnv(t *testing.T) {
	fsys := cgroupV1(50000, 512*MiB)
	tu, rt, _ := newTuner(t, fsys, 8, Options{EnvGOMAXPROCS: "6", EnvGOMEMLIMIT: "104857600"})
	for _, q := range []int64{50000, 300000, -1} {
		setV1(fsys, q, 512*MiB)
		s := tu.Apply()
		if s.GOMAXPROCS != 6 || s.GOMEMLIMIT != 100*MiB || s.GOMAXPROCSSource != SourceEnv || s.GOMEMLIMITSource != SourceEnv {
			t.Fatalf("quota %d: %+v", q, s)
		}
	}
	if rt.sets != 0 {
		t.Fatalf("the tuner changed the runtime %d times", rt.sets)
	}
}

func TestApplyLeavesValuesOtherCodeSet(t *testing.T) {
	fsys := cgroupV1(50000, 512*MiB)
	tu, rt, logs := newTuner(t, fsys, 8, Options{})
	tu.Apply()
	rt.GOMAXPROCS(5)
	rt.SetMemoryLimit(100 * MiB)
	setV1(fsys, 300000, 1<<30)
	s := tu.Apply()
	if s.GOMAXPROCS != 5 || s.GOMEMLIMIT != 100*MiB || s.GOMAXPROCSSource != SourceDefault || s.GOMEMLIMITSource != SourceDefault {
		t.Fatalf("state %+v", s)
	}
	for _, msg := range []string{
		"GOMAXPROCS was changed by other code: the service stops managing it",
		"GOMEMLIMIT was changed by other code: the service stops managing it",
	} {
		if logs.FilterMessage(msg).Len() != 1 {
			t.Errorf("missing %q in %v", msg, logs.All())
		}
	}
}

func TestApplyKeepsLimitsWhenTheCgroupBecomesUnreadable(t *testing.T) {
	fsys := cgroupV1(50000, 512*MiB)
	tu, _, logs := newTuner(t, fsys, 8, Options{})
	want := tu.Apply()
	fsys["sys/fs/cgroup/memory/svc/memory.limit_in_bytes"] = &fstest.MapFile{Data: []byte("garbage\n")}
	for range 3 {
		if got := tu.Apply(); got != want {
			t.Fatalf("Apply = %+v, want the previous %+v", got, want)
		}
	}
	if n := logs.FilterMessage("cannot read the cgroup limits").Len(); n != 1 {
		t.Fatalf("%d warnings for one lasting problem, want 1", n)
	}
}

func TestRunReappliesUntilCancelled(t *testing.T) {
	fsys := cgroupV1(50000, 512*MiB)
	tu, _, _ := newTuner(t, fsys, 8, Options{})
	tu.Apply()
	var mu sync.Mutex
	var seen []State
	changed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tu.Run(ctx, time.Millisecond, func(s State) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, s)
			if len(seen) == 2 {
				close(changed)
			}
		})
	}()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not re-apply")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if seen[0].GOMAXPROCS != 1 || seen[0].GOMEMLIMIT != 460*MiB {
		t.Fatalf("observed %+v", seen[0])
	}
}

func TestRunWithoutIntervalReturns(t *testing.T) {
	tu, _, _ := newTuner(t, cgroupV1(-1, 0), 2, Options{})
	tu.Run(context.Background(), 0, nil) // must not block
}
