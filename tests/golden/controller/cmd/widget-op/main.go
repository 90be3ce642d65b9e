// Command widget-op runs the widget-op HTTP service.
//
// Configuration comes from environment variables (see internal/config). The first SIGTERM or
// SIGINT starts a graceful shutdown; a second one ends the process at once. Every line it
// writes is JSON, including the error it exits with.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/widget-op/internal/app"
	"github.com/acme/widget-op/internal/buildinfo"
	"github.com/acme/widget-op/internal/config"
	"github.com/acme/widget-op/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// After the first signal, restore the default handlers: a second signal kills the process.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fatal(os.Stderr, os.Getenv, err)
		os.Exit(1)
	}
}

// fatal writes the error the process exits with as one JSON line. The configuration may be
// what failed, so the service and env fields are read directly, with the built-in defaults.
func fatal(w io.Writer, getenv func(string) string, err error) {
	service, env := getenv("OTEL_SERVICE_NAME"), getenv("APP_ENV")
	if service == "" {
		service = "widget-op"
	}
	if env == "" {
		env = "production"
	}
	logging.Fatal(w, service, buildinfo.Get().Version, env, err)
}

// run parses the flags, loads the configuration and serves until ctx is cancelled.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("widget-op", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a flag error is returned and logged as JSON; -help prints the usage below
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return nil
		}
		return fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *showVersion {
		fmt.Fprintln(stdout, fs.Name(), buildinfo.Get())
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	return app.Run(ctx, cfg, getenv, stdout)
}
