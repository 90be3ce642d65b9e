package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/acme/widget-op/internal/config"
)

// startReload does nothing: this service was generated without hot reload, so settings come
// from the environment only.
func startReload(context.Context, config.Config, func(config.Settings), *zap.Logger) (func(), error) {
	return func() {}, nil
}
