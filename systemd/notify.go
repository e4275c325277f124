// Package systemd tells systemd how beamupd is doing, through sd_notify,
// and ships the unit files (beamupd.service, and app.service as an
// example for the BEAM node).
package systemd

import "github.com/coreos/go-systemd/v22/daemon"

// Ready says beamupd is up (configuration read, journal resumed,
// transports built), for Type=notify units. Outside systemd it does
// nothing.
func Ready(status string) {
	daemon.SdNotify(false, "READY=1\nSTATUS="+status)
}

// Status sets the one-line status that systemctl status shows.
func Status(status string) {
	daemon.SdNotify(false, "STATUS="+status)
}
