package agent

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/minio/selfupdate"

	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/internal/failpoint"
)

// Replace puts the executable at staged in place of target, durably, after
// keeping a copy of target at keep. After a crash at any point target is
// either the old or the new executable, complete, never missing.
//
// selfupdate writes and checks the new file (.target.new, beside target,
// so that the rename stays on one file system). Its CommitBinary is not
// used: it renames target away before it renames the new file in, which
// leaves no executable at target for a moment, and it syncs nothing. On
// Linux one rename replaces target atomically.
func Replace(target, staged, keep string, sha256Hex string) error {
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		return fmt.Errorf("keeping the previous beamupd: %w", err)
	}
	if err := durable.CopyFile(keep, target, 0o755); err != nil {
		return fmt.Errorf("keeping the previous beamupd: %w", err)
	}
	failpoint.Hit("agent-kept-previous")
	data, err := os.ReadFile(staged)
	if err != nil {
		return fmt.Errorf("reading the new beamupd: %w", err)
	}
	sum, err := hex.DecodeString(sha256Hex)
	if err != nil {
		return fmt.Errorf("agent checksum %q: %w", sha256Hex, err)
	}
	opts := selfupdate.Options{TargetPath: target, TargetMode: 0o755, Checksum: sum}
	if err := selfupdate.PrepareAndCheckBinary(bytes.NewReader(data), opts); err != nil {
		return fmt.Errorf("writing the new beamupd beside %s: %w", target, err)
	}
	next := nextPath(target)
	if err := durable.SyncFile(next); err != nil {
		os.Remove(next)
		return err
	}
	failpoint.Hit("agent-before-rename")
	if err := os.Rename(next, target); err != nil {
		os.Remove(next)
		return fmt.Errorf("replacing %s: %w", target, err)
	}
	failpoint.Hit("agent-renamed")
	return durable.SyncDir(filepath.Dir(target))
}

// nextPath is where selfupdate writes the new executable before its rename.
func nextPath(target string) string {
	dir, name := filepath.Split(target)
	return filepath.Join(dir, "."+name+".new")
}

// Discard removes the new executable that a Replace cut short by a crash
// may have left beside target: a whole binary's worth of flash otherwise.
func Discard(target string) error {
	if err := os.Remove(nextPath(target)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing an unfinished new beamupd: %w", err)
	}
	return nil
}
