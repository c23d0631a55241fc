package lab

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FileName is the file every lab server offers for download.
const FileName = "file.bin"

// Content is a server's anonymous root: FileName with random bytes of a
// known SHA-256, and a README, for a listing of more than one name.
type Content struct {
	// Root is the directory, world-readable, owned by root.
	Root string
	// Size and SHA256 describe FileName.
	Size   int
	SHA256 string
}

// NewContent makes an anonymous root in a temporary directory with a
// FileName of size random bytes.
func NewContent(t testing.TB, size int) *Content {
	t.Helper()
	// Not under t.TempDir(), whose 0700 parents proftpd will not walk as
	// the anonymous user before its chroot.
	dir, err := os.MkdirTemp("", "ftpxdp-lab-content-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "pub")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(root, FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	readme := []byte("ftpxdp lab: anonymous download of " + FileName + "\n")
	if err := os.WriteFile(filepath.Join(root, "README"), readme, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return &Content{Root: root, Size: size, SHA256: hex.EncodeToString(sum[:])}
}

// Check verifies a downloaded copy of FileName.
func (c *Content) Check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("downloaded file: %w", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != c.SHA256 {
		return fmt.Errorf("downloaded %d bytes with sha256 %.12s..., want %d bytes with %.12s...", len(data), got, c.Size, c.SHA256)
	}
	return nil
}
