package board

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Watchdog is a Linux hardware watchdog device such as /dev/watchdog.
// Once opened it must be fed before its timeout runs out or the board
// resets; Close disarms it with the magic 'V', so a clean stop of
// beamupd does not reset the board, while a crash or a hang does.
type Watchdog struct {
	f *os.File
}

// OpenWatchdog opens and arms the watchdog at path. A timeout above zero
// is set on the device; 0 keeps the driver's.
func OpenWatchdog(path string, timeout time.Duration) (*Watchdog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening hardware watchdog: %w", err)
	}
	if timeout > 0 {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, int(timeout.Seconds())); err != nil {
				f.Close()
				return nil, fmt.Errorf("setting hardware watchdog timeout to %s: %w", timeout, err)
			}
		}
	}
	return &Watchdog{f: f}, nil
}

// Feed restarts the watchdog's countdown. Any byte but 'V' does.
func (w *Watchdog) Feed() error {
	if _, err := w.f.Write([]byte{'1'}); err != nil {
		return fmt.Errorf("feeding hardware watchdog: %w", err)
	}
	return nil
}

// Close disarms the watchdog (magic close) and closes it.
func (w *Watchdog) Close() error {
	_, err := w.f.Write([]byte{'V'})
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing hardware watchdog: %w", err)
	}
	return nil
}
