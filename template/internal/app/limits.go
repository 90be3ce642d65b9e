package app

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"gosmith.invalid/module/internal/config"
	"gosmith.invalid/module/internal/limits"
	"gosmith.invalid/module/internal/metrics"
)

// applyRuntimeLimits derives GOMAXPROCS and GOMEMLIMIT from the cgroup the process runs in
// (GOMAXPROCS_POLICY, GOMEMLIMIT_RATIO; explicit GOMAXPROCS/GOMEMLIMIT variables win) and
// applies them. Call it early: GOMEMLIMIT bounds what is allocated afterwards.
func applyRuntimeLimits(cfg config.Config, getenv func(string) string, log *zap.Logger) (*limits.Tuner, limits.State) {
	tuner := limits.NewTuner(limits.Options{
		Policy:        cfg.GOMAXPROCSPolicy,
		Ratio:         cfg.GOMEMLIMITRatio,
		EnvGOMAXPROCS: getenv("GOMAXPROCS"),
		EnvGOMEMLIMIT: getenv("GOMEMLIMIT"),
		Log:           log,
	})
	return tuner, tuner.Apply()
}

// watchRuntimeLimits exports state as metrics and then re-applies the limits every interval,
// so an in-place pod resize is followed (0 turns re-checking off). The returned function
// stops the watcher and waits for it; cancelling ctx does not (the service keeps serving while
// it drains).
func watchRuntimeLimits(ctx context.Context, tuner *limits.Tuner, state limits.State, interval time.Duration, m *metrics.Metrics) func() {
	observe := func(s limits.State) {
		m.SetRuntimeLimits(metrics.RuntimeLimits{
			GOMAXPROCS:       s.GOMAXPROCS,
			GOMAXPROCSSource: string(s.GOMAXPROCSSource),
			GOMEMLIMIT:       s.GOMEMLIMIT,
			GOMEMLIMITSource: string(s.GOMEMLIMITSource),
			CPULimitCores:    s.Cgroup.CPULimit(),
			MemoryLimitBytes: s.Cgroup.MemoryLimit,
		})
	}
	observe(state)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { tuner.Run(wctx, interval, observe) })
	return func() {
		cancel()
		wg.Wait()
	}
}
