package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// reloadDebounce merges the burst of events one ConfigMap update produces into one reload.
const reloadDebounce = 100 * time.Millisecond

// fileSettings is the JSON layout of CONFIG_FILE; absent fields keep the environment's values.
type fileSettings struct {
	LogLevel *string `json:"log_level"`
	Greeting *string `json:"greeting"`
}

// ParseSettings applies the JSON document data on top of base and validates the result.
func ParseSettings(data []byte, base Settings) (Settings, error) {
	var f fileSettings
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Settings{}, fmt.Errorf("decode: %w", err)
	}
	s := base
	if f.LogLevel != nil {
		l, err := zapcore.ParseLevel(*f.LogLevel)
		if err != nil {
			return Settings{}, fmt.Errorf("log_level: %q is not one of debug, info, warn, error", *f.LogLevel)
		}
		s.LogLevel = l
	}
	if f.Greeting != nil {
		s.Greeting = *f.Greeting
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// ReadSettings reads and parses the settings file at path on top of base.
func ReadSettings(path string, base Settings) (Settings, error) {
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	s, err := ParseSettings(data, base)
	if err != nil {
		return Settings{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// SettingsWatcher re-reads a settings file when it changes.
type SettingsWatcher struct {
	path string
	w    *fsnotify.Watcher
	last []byte // content last seen, so that events without a change are ignored
}

// NewSettingsWatcher starts watching the directory of path. It watches the directory, not the
// file: Kubernetes updates a mounted ConfigMap by swapping the "..data" symlink, which never
// touches the file's own name. Changes made after it returns are seen by Run.
func NewSettingsWatcher(path string) (*SettingsWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch settings: %w", err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	last, _ := os.ReadFile(filepath.Clean(path)) // a missing file is reported by the first reload
	return &SettingsWatcher{path: path, w: w, last: last}, nil
}

// Close releases the watcher; only needed when Run is never called.
func (sw *SettingsWatcher) Close() error {
	return sw.w.Close()
}

// Run calls apply with the settings (file on top of base) each time the file's content changes,
// until ctx is done; then it releases the watcher. A file that cannot be read or parsed is
// logged and the previous settings stay in force.
func (sw *SettingsWatcher) Run(ctx context.Context, base Settings, apply func(Settings), log *zap.Logger) error {
	defer func() { _ = sw.w.Close() }()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-sw.w.Errors:
			if !ok {
				return errors.New("settings watcher closed")
			}
			log.Warn("settings watcher error", zap.Error(err))
		case _, ok := <-sw.w.Events:
			if !ok {
				return errors.New("settings watcher closed")
			}
			timer.Reset(reloadDebounce)
		case <-timer.C:
			data, err := os.ReadFile(filepath.Clean(sw.path))
			if err != nil {
				log.Warn("settings file unreadable, keeping the previous settings", zap.String("path", sw.path), zap.Error(err))
				continue
			}
			if bytes.Equal(data, sw.last) {
				continue
			}
			s, err := ParseSettings(data, base)
			if err != nil {
				log.Warn("settings file invalid, keeping the previous settings", zap.String("path", sw.path), zap.Error(err))
				continue
			}
			sw.last = data
			apply(s)
			log.Info("settings reloaded", zap.String("path", sw.path), zap.String("log_level", s.LogLevel.String()))
		}
	}
}
