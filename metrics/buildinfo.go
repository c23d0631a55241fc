package metrics

import (
	"runtime"
	"runtime/debug"
)

// buildInfo returns the version, VCS revision and Go version of the running
// binary; version overrides the module version when set (the daemon's
// -ldflags version).
func buildInfo(version string) (ver, revision, goVersion string) {
	ver, revision, goVersion = version, "unknown", runtime.Version()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if ver == "" {
			ver = "unknown"
		}
		return ver, revision, goVersion
	}
	if ver == "" {
		ver = bi.Main.Version
	}
	if ver == "" {
		ver = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	if bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	return ver, revision, goVersion
}
