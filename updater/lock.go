package updater

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrBusy is returned when another operation holds the device.
var ErrBusy = errors.New("busy")

// Lock is the device's one-operation-at-a-time lock: an flock on
// state_dir/lock, which the kernel drops when its holder dies, so a crash
// never leaves the device locked.
type Lock struct {
	f *os.File
}

// Acquire takes the lock for what (such as "install gauge 1.1.0") or
// returns an error wrapping ErrBusy that says what is running.
func Acquire(stateDir, what string) (*Lock, error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrBusy, strings.TrimSpace(string(holder)))
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
