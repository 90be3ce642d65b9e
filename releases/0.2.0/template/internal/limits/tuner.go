package limits

import (
	"context"
	"io/fs"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Source says where an effective runtime value comes from.
type Source string

// The sources of an effective GOMAXPROCS or GOMEMLIMIT.
const (
	// SourceCgroup: the service set it from the cgroup limit (GOMAXPROCS_POLICY, GOMEMLIMIT_RATIO).
	SourceCgroup Source = "cgroup"
	// SourceEnv: an explicit GOMAXPROCS or GOMEMLIMIT variable, applied by the Go runtime; the
	// service never overrides it.
	SourceEnv Source = "env"
	// SourceDefault: the Go runtime's own value (for GOMAXPROCS it follows the cgroup CPU limit
	// by itself; GOMEMLIMIT has none), or a value other code set.
	SourceDefault Source = "default"
)

// State is the effective runtime limits and the cgroup limits seen when they were decided.
type State struct {
	Cgroup           Cgroup
	GOMAXPROCS       int
	GOMAXPROCSSource Source
	// GOMEMLIMIT is the effective soft memory limit in bytes; math.MaxInt64 means none.
	GOMEMLIMIT       int64
	GOMEMLIMITSource Source
}

// MarshalLogObject writes the state as log fields (use zap.Inline to add them to a line).
func (s State) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddInt("gomaxprocs", s.GOMAXPROCS)
	enc.AddString("gomaxprocs_source", string(s.GOMAXPROCSSource))
	enc.AddInt64("gomemlimit", s.GOMEMLIMIT)
	enc.AddString("gomemlimit_source", string(s.GOMEMLIMITSource))
	enc.AddFloat64("cgroup_cpu_limit", s.Cgroup.CPULimit())
	enc.AddInt64("cgroup_memory_limit", s.Cgroup.MemoryLimit)
	return nil
}

// Options configure a Tuner.
type Options struct {
	// FS is the file system, rooted at "/", the cgroup is read from; nil means os.DirFS("/").
	FS fs.FS
	// Policy is the GOMAXPROCS policy (one of Policies).
	Policy string
	// Ratio is the share of the memory limit used as GOMEMLIMIT (see ParseRatio).
	Ratio string
	// EnvGOMAXPROCS and EnvGOMEMLIMIT are the GOMAXPROCS and GOMEMLIMIT environment variables
	// as set. The Go runtime applied them before main; the Tuner never overrides them.
	EnvGOMAXPROCS, EnvGOMEMLIMIT string
	// Log receives warnings and changes; nil discards them.
	Log *zap.Logger
}

// goRuntime is the part of the Go runtime a Tuner reads and changes; tests replace it.
type goRuntime interface {
	GOMAXPROCS(n int) int
	SetDefaultGOMAXPROCS()
	SetMemoryLimit(limit int64) int64
	NumCPU() int
}

type realRuntime struct{}

func (realRuntime) GOMAXPROCS(n int) int             { return runtime.GOMAXPROCS(n) }
func (realRuntime) SetDefaultGOMAXPROCS()            { runtime.SetDefaultGOMAXPROCS() }
func (realRuntime) SetMemoryLimit(limit int64) int64 { return debug.SetMemoryLimit(limit) }
func (realRuntime) NumCPU() int                      { return runtime.NumCPU() }

// Tuner applies the runtime limits derived from the cgroup and follows their changes. It only
// changes what it set itself: explicit GOMAXPROCS/GOMEMLIMIT variables and values other code
// set win. A Tuner is not safe for concurrent use: call Apply, then Run in one goroutine.
type Tuner struct {
	opts          Options
	rt            goRuntime
	explicitProcs bool
	explicitMem   bool
	ownProcs      int   // GOMAXPROCS the Tuner set; 0 = none
	ownMem        int64 // GOMEMLIMIT the Tuner set; 0 = none
	procsTaken    bool  // other code changed the GOMAXPROCS the Tuner set: hands off
	memTaken      bool  // the same for GOMEMLIMIT
	checked       bool
	last          State
	lastErr       string
}

// NewTuner returns a Tuner for opts; nothing is read or changed before Apply.
func NewTuner(opts Options) *Tuner {
	if opts.FS == nil {
		opts.FS = os.DirFS("/")
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	return &Tuner{
		opts: opts,
		rt:   realRuntime{},
		// The same tests the runtime applies: GOMAXPROCS counts only as a positive integer,
		// any non-empty GOMEMLIMIT is used (a malformed one stops the program before main).
		explicitProcs: explicitGOMAXPROCS(opts.EnvGOMAXPROCS),
		explicitMem:   opts.EnvGOMEMLIMIT != "",
	}
}

func explicitGOMAXPROCS(v string) bool {
	n, err := strconv.ParseInt(v, 10, 32)
	return err == nil && n > 0
}

// Apply reads the cgroup, sets or restores GOMAXPROCS and GOMEMLIMIT, logs warnings and
// changes, and returns the effective state. When the cgroup cannot be read on a later call,
// the previous limits stay in force.
func (t *Tuner) Apply() State {
	first := !t.checked
	c, err := Read(t.opts.FS)
	if err != nil {
		if msg := err.Error(); msg != t.lastErr {
			t.opts.Log.Warn("cannot read the cgroup limits", zap.Error(err))
			t.lastErr = msg
		}
		if !first {
			c = t.last.Cgroup
		}
	} else {
		t.lastErr = ""
	}
	if first && t.opts.EnvGOMAXPROCS != "" && !t.explicitProcs {
		t.opts.Log.Warn("GOMAXPROCS is not a positive integer: the Go runtime ignored it",
			zap.String("GOMAXPROCS", t.opts.EnvGOMAXPROCS))
	}
	t.applyGOMAXPROCS(c)
	t.applyGOMEMLIMIT(c)
	s := t.effective(c)
	if first || c != t.last.Cgroup {
		t.warn(s, first)
	}
	if !first && s != t.last {
		t.opts.Log.Info("runtime limits changed", zap.Inline(s), zap.Object("previous", t.last))
	}
	t.checked, t.last = true, s
	return s
}

// Run calls Apply every interval until ctx is done and passes each state to observe (which may
// be nil). An interval <= 0 returns at once.
func (t *Tuner) Run(ctx context.Context, interval time.Duration, observe func(State)) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s := t.Apply()
			if observe != nil {
				observe(s)
			}
		}
	}
}

func (t *Tuner) applyGOMAXPROCS(c Cgroup) {
	if t.explicitProcs || t.procsTaken {
		return
	}
	if cur := t.rt.GOMAXPROCS(0); t.ownProcs != 0 && cur != t.ownProcs {
		t.procsTaken = true
		t.opts.Log.Warn("GOMAXPROCS was changed by other code: the service stops managing it",
			zap.Int("gomaxprocs", cur), zap.Int("set_by_service", t.ownProcs))
		return
	}
	want := GOMAXPROCS(c, t.opts.Policy)
	if want >= t.rt.NumCPU() {
		want = 0 // Go's own value is never above the CPU count, so it is already as low
	}
	switch {
	case want > 0 && want != t.ownProcs:
		t.rt.GOMAXPROCS(want)
		t.ownProcs = want
	case want == 0 && t.ownProcs != 0:
		t.rt.SetDefaultGOMAXPROCS() // back to Go's own value, which follows the cgroup again
		t.ownProcs = 0
	}
}

func (t *Tuner) applyGOMEMLIMIT(c Cgroup) {
	if t.explicitMem || t.memTaken {
		return
	}
	if cur := t.rt.SetMemoryLimit(-1); t.ownMem != 0 && cur != t.ownMem {
		t.memTaken = true
		t.opts.Log.Warn("GOMEMLIMIT was changed by other code: the service stops managing it",
			zap.Int64("gomemlimit", cur), zap.Int64("set_by_service", t.ownMem))
		return
	}
	want := GOMEMLIMIT(c.MemoryLimit, t.opts.Ratio)
	switch {
	case want > 0 && want != t.ownMem:
		t.rt.SetMemoryLimit(want)
		t.ownMem = want
	case want == 0 && t.ownMem != 0:
		t.rt.SetMemoryLimit(math.MaxInt64) // Go's default: no soft limit
		t.ownMem = 0
	}
}

// effective reads back what is in force and where it comes from.
func (t *Tuner) effective(c Cgroup) State {
	s := State{
		Cgroup:           c,
		GOMAXPROCS:       t.rt.GOMAXPROCS(0),
		GOMAXPROCSSource: SourceDefault,
		GOMEMLIMIT:       t.rt.SetMemoryLimit(-1),
		GOMEMLIMITSource: SourceDefault,
	}
	switch {
	case t.explicitProcs:
		s.GOMAXPROCSSource = SourceEnv
	case t.ownProcs != 0 && !t.procsTaken:
		s.GOMAXPROCSSource = SourceCgroup
	}
	switch {
	case t.explicitMem:
		s.GOMEMLIMITSource = SourceEnv
	case t.ownMem != 0 && !t.memTaken:
		s.GOMEMLIMITSource = SourceCgroup
	}
	return s
}

// warn logs what is wrong with the limits in s; first is true for the check at start.
func (t *Tuner) warn(s State, first bool) {
	c, log := s.Cgroup, t.opts.Log
	if t.explicitProcs && c.HasCPULimit() && int64(s.GOMAXPROCS) > ceilDiv(c.CPUQuota, c.CPUPeriod) {
		log.Warn("explicit GOMAXPROCS exceeds the cgroup CPU limit: the CFS quota throttles the service under load",
			zap.Int("gomaxprocs", s.GOMAXPROCS), zap.Float64("cgroup_cpu_limit", c.CPULimit()))
	}
	switch {
	case t.explicitMem:
		if c.MemoryLimit > 0 && s.GOMEMLIMIT >= c.MemoryLimit {
			log.Warn("explicit GOMEMLIMIT is not below the cgroup memory limit: the container is OOM-killed before the GC works harder",
				zap.Int64("gomemlimit", s.GOMEMLIMIT), zap.Int64("cgroup_memory_limit", c.MemoryLimit))
		}
	case c.MemoryLimit == 0:
		if first {
			log.Info("no cgroup memory limit: GOMEMLIMIT stays unset")
		}
	case c.MemoryLimit < MinMemoryLimit:
		log.Warn("cgroup memory limit too small to derive GOMEMLIMIT: it stays unset",
			zap.Int64("cgroup_memory_limit", c.MemoryLimit), zap.Int64("min_memory_limit", MinMemoryLimit))
	}
}
