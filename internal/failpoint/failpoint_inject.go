//go:build faultinject

package failpoint

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Env names the point to kill at and a marker file, as "NAME:MARKER". The
// point fires once: Hit creates the marker before it kills, so that the
// process restarted after the kill runs through.
const Env = "BEAMUPD_FAILPOINT"

// Hit kills this process with SIGKILL if Env names the point name and it
// has not fired yet.
func Hit(name string) {
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
