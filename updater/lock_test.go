package updater

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// One daemon per state directory, and a one-shot command can tell that
// one runs and which.
func TestRunLock(t *testing.T) {
	dir := t.TempDir()
	if d := RunningDaemon(dir); d != "" {
		t.Errorf("before any daemon: %q", d)
	}
	l, err := AcquireRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("beamupd run (pid %d)", os.Getpid())
	if d := RunningDaemon(dir); d != want {
		t.Errorf("while it runs: %q, want %q", d, want)
	}
	if _, err := AcquireRun(dir); !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "another beamupd serves "+dir) {
		t.Errorf("a second daemon: %v", err)
	}
	// The run lock is not the operation lock: the daemon's own
	// operations take that one.
	op, err := Acquire(dir, "install")
	if err != nil {
		t.Fatalf("the operation lock beside the run lock: %v", err)
	}
	op.Release()
	l.Release()
	if d := RunningDaemon(dir); d != "" {
		t.Errorf("after it stopped: %q", d)
	}
}
