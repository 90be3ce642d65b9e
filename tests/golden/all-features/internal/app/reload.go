package app

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/acme/orders-api/internal/config"
)

// startReload applies CONFIG_FILE (when set) on top of the environment's settings and then
// re-applies it whenever it changes. The returned function stops watching and waits for the
// watcher to exit.
func startReload(ctx context.Context, cfg config.Config, apply func(config.Settings), log *zap.Logger) (func(), error) {
	if cfg.ConfigFile == "" {
		return func() {}, nil
	}
	w, err := config.NewSettingsWatcher(cfg.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("CONFIG_FILE: %w", err)
	}
	s, err := config.ReadSettings(cfg.ConfigFile, cfg.Settings)
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("CONFIG_FILE: %w", err)
	}
	apply(s)
	log.Info("settings loaded", zap.String("path", cfg.ConfigFile), zap.String("log_level", s.LogLevel.String()))
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(wctx, cfg.Settings, apply, log); err != nil {
			log.Error("settings watcher stopped; settings are frozen", zap.Error(err))
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}, nil
}
