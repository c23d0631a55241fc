package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultPinPath is where the daemon keeps its pinned maps and links.
const DefaultPinPath = "/sys/fs/bpf/ftpxdp"

// ErrNotBPFFS is returned when the pin path is not on a BPF filesystem.
var ErrNotBPFFS = errors.New("pin path is not on a bpf filesystem")

// EnsureBPFFS makes sure dir's parent is on bpffs. When the parent is the
// default /sys/fs/bpf and nothing is mounted there, it mounts bpffs, as
// systemd would.
func EnsureBPFFS(dir string) error {
	parent := filepath.Dir(filepath.Clean(dir))
	ok, err := onBPFFS(parent)
	if err == nil && ok {
		return nil
	}
	if parent == "/sys/fs/bpf" {
		if mErr := unix.Mount("bpf", parent, "bpf", 0, "mode=0700"); mErr != nil {
			return fmt.Errorf("mount bpffs at %s: %w (mount it with 'mount -t bpf bpf %s')", parent, mErr, parent)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w (create it on a bpffs mount, e.g. under /sys/fs/bpf)", ErrNotBPFFS, parent, err)
	}
	return fmt.Errorf("%w: %s is on another filesystem: use a path under /sys/fs/bpf or mount one there with 'mount -t bpf bpf %s'",
		ErrNotBPFFS, parent, parent)
}

func onBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return st.Type == unix.BPF_FS_MAGIC, nil
}

// stateExists reports whether dir holds pinned ftpxdp state, of this
// version or of an older one Start can upgrade.
func stateExists(dir string) bool {
	for _, name := range []string{"pintab4", legacyPinholes4, legacyPinholes} {
		if _, err := os.Stat(filepath.Join(dir, "maps", name)); err == nil {
			return true
		}
	}
	return false
}
