// Package systemd tells systemd how beamupd is doing, through sd_notify,
// and ships the unit files (beamupd.service, and app.service as an
// example for the BEAM node).
package systemd

import (
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages to the socket in NOTIFY_SOCKET.
// Outside systemd every method does nothing.
type Notifier struct{}

// Ready says beamupd is up (configuration read, journal resumed,
// transports started), for Type=notify units.
func (Notifier) Ready(status string) {
	daemon.SdNotify(false, daemon.SdNotifyReady+"\nSTATUS="+status)
}

// Status sets the one-line status that systemctl status shows.
func (Notifier) Status(status string) {
	daemon.SdNotify(false, "STATUS="+status)
}

// Watchdog tells systemd that the main loop made progress. Only the main
// loop calls it, never a ticker of its own: a loop that stops must let
// WatchdogSec fire.
func (Notifier) Watchdog() {
	daemon.SdNotify(false, daemon.SdNotifyWatchdog)
}

// ExtendTimeout asks for d more time to start or stop, while a long step
// (a resumed install, or one that must finish before beamupd stops) makes
// progress.
func (Notifier) ExtendTimeout(d time.Duration) {
	daemon.SdNotify(false, fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds()))
}

// WatchdogInterval is the interval systemd expects WATCHDOG=1 within
// (WatchdogSec), or 0 when it expects none.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0
	}
	return d
}
