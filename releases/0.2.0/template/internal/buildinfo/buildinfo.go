// Package buildinfo reports the version, commit and build date stamped into the binary.
//
// Release builds set them with the linker:
//
//	go build -ldflags "-X <module>/internal/buildinfo.version=V -X <module>/internal/buildinfo.commit=C -X <module>/internal/buildinfo.date=D"
//
// Values left unset fall back to what the Go toolchain recorded (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X at build time.
var (
	version string
	commit  string
	date    string
)

// Info describes the running binary.
type Info struct {
	Version   string
	Commit    string
	Date      string
	GoVersion string
}

// String formats the information for the --version flag.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.Date, i.GoVersion)
}

// Get returns the stamped build information, filling gaps from the Go build information.
func Get() Info {
	return resolve(version, commit, date, debug.ReadBuildInfo)
}

func resolve(v, c, d string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: v, Commit: c, Date: d, GoVersion: runtime.Version()}
	if bi, ok := read(); ok && bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && info.Commit == "":
				info.Commit = s.Value
			case s.Key == "vcs.time" && info.Date == "":
				info.Date = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}
