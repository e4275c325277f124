package updater

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beamup/beamup/report"
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
	if _, err := AcquireRun(dir); !errors.Is(err, report.ErrBusy) || !strings.Contains(err.Error(), "another beamupd serves "+dir) {
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

// A status asks whether anyone carries the journaled operation on without
// taking a lock that an operation starting at that moment would need.
func TestAttended(t *testing.T) {
	dir := t.TempDir()
	u := New(Config{StateDir: dir}, nil, nil)
	if u.attended() {
		t.Error("attended with no lock file")
	}
	l, err := Acquire(dir, "install a")
	if err != nil {
		t.Fatal(err)
	}
	if !u.attended() {
		t.Error("not attended while the operation lock is held")
	}
	// The probe took nothing: the holder's lock is intact, and after its
	// release the next operation gets the lock at once.
	if _, err := Acquire(dir, "install b"); !errors.Is(err, report.ErrBusy) {
		t.Errorf("a second operation while the first runs: %v", err)
	}
	l.Release()
	if u.attended() {
		t.Error("attended after the lock was released")
	}
	// A holder that died left its pid behind.
	os.WriteFile(filepath.Join(dir, "lock"), []byte("install c (pid 999999999)\n"), 0o644)
	if u.attended() {
		t.Error("attended by a dead holder")
	}
	r, err := AcquireRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !u.attended() {
		t.Error("not attended while a daemon serves the device")
	}
}
