package updater

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/beamup/beamup/report"
)

// Lock is an flock on a file in state_dir, which the kernel drops when its
// holder dies, so a crash never leaves the device locked. The file says
// who holds it.
type Lock struct {
	f *os.File
}

// Acquire takes the device's one-operation-at-a-time lock (state_dir/lock)
// for what (such as "install gauge 1.1.0") or returns an error wrapping
// report.ErrBusy that says what is running.
func Acquire(stateDir, what string) (*Lock, error) {
	return acquire(stateDir, "lock", what)
}

// AcquireRun takes the lock that beamupd run holds for as long as it serves
// state_dir (state_dir/run.lock): a second daemon on the same device would
// answer the same transports and fight over the node. Exec keeps no lock:
// the file is opened close-on-exec, so a beamupd that hands over to a new
// binary leaves the lock to it.
func AcquireRun(stateDir string) (*Lock, error) {
	l, err := acquire(stateDir, "run.lock", "beamupd run")
	if errors.Is(err, report.ErrBusy) {
		return nil, fmt.Errorf("another beamupd serves %s: %w", stateDir, err)
	}
	return l, err
}

// RunningDaemon names the beamupd run that serves stateDir, such as
// "beamupd run (pid 42)", or returns "" when none does.
func RunningDaemon(stateDir string) string {
	f, err := os.Open(filepath.Join(stateDir, "run.lock"))
	if err != nil {
		return ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return "" // nobody holds it
	}
	holder, _ := os.ReadFile(f.Name())
	return strings.TrimSpace(string(holder))
}

// attended says whether a process is there to carry the journaled
// operation on: one holds the operation lock, or a daemon serves the
// device (it resumes what it finds, and tries a staged beamupd). It takes
// no lock: a status asked at any moment must not turn an operation away.
func (u *Updater) attended() bool {
	if RunningDaemon(u.cfg.StateDir) != "" {
		return true
	}
	holder, err := os.ReadFile(filepath.Join(u.cfg.StateDir, "lock"))
	if err != nil {
		return false
	}
	// "install ... (pid N)", truncated when released; a holder that died
	// left its pid behind.
	var pid int
	text := strings.TrimSpace(string(holder))
	if i := strings.LastIndex(text, "(pid "); i < 0 {
		return false
	} else if _, err := fmt.Sscanf(text[i:], "(pid %d)", &pid); err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func acquire(stateDir, name, what string) (*Lock, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("%w: %s", report.ErrBusy, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%s (pid %d)\n", what, os.Getpid())
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() {
	l.f.Truncate(0)
	l.f.Close()
}
