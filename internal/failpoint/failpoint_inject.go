//go:build faultinject

package failpoint

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Env names the point to kill at and a marker file, as "NAME:MARKER". The
// point fires once: Hit creates the marker before it kills, so that the
// process restarted after the kill runs through.
const Env = "BEAMUPD_FAILPOINT"

// PauseEnv names a point to stop at for a while, as "NAME:DURATION",
// every time it is passed: a test then acts at that moment from outside.
const PauseEnv = "BEAMUPD_FAILPOINT_PAUSE"

// Hit kills this process with SIGKILL if Env names the point name and it
// has not fired yet, and pauses there if PauseEnv names it.
func Hit(name string) {
	if point, d, ok := strings.Cut(os.Getenv(PauseEnv), ":"); ok && point == name {
		if dur, err := time.ParseDuration(d); err == nil {
			fmt.Fprintf(os.Stderr, "failpoint %s: paused %s\n", name, dur)
			time.Sleep(dur)
		}
	}
	point, marker, ok := strings.Cut(os.Getenv(Env), ":")
	if !ok || point != name {
		return
	}
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return // fired already
	}
	f.Close()
	fmt.Fprintf(os.Stderr, "failpoint %s: killed\n", name)
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
