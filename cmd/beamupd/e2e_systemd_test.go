package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/systemdtest"
)

// With control = "systemd:UNIT" the node is a unit of a real systemd, and
// an upgrade whose health check fails reverts by restarting it through
// D-Bus: the unit's main process is the new node, back on the permanent
// release. (A failed install_release is reverted by OTP's own restart of
// the node, which systemd does not see.)
func TestSystemdControlRevertsThroughDBus(t *testing.T) {
	m := systemdtest.Start(t)
	unit := fmt.Sprintf("gauge-%d.service", time.Now().UnixNano()%1e9)
	d := newDevice(t, "1.0.0", deviceOpts{control: "systemd:" + unit, health: "gauge_health:check"})
	d.env = m.Env
	d.Stop(t) // from now on systemd runs the node
	// As systemd/app.service: a node whose upgrade just failed may not
	// stop cleanly, and a revert should not wait the default 90 s for it.
	m.AddUnit(unit, fmt.Sprintf("[Service]\nExecStart=/bin/sh %s %s foreground\nTimeoutStopSec=10s\n", d.Script(), d.Root))
	m.Systemctl("start", unit)
	d.WaitBooted(t)

	before := m.Property(unit, "MainPID")
	// The sensor is unplugged: the health function fails after 1.1.0's
	// install; the node systemd starts again has no such variable.
	if _, err := d.node.Call(context.Background(), "os", "putenv", "GAUGE_FAIL_HEALTH", "1"); err != nil {
		t.Fatal(err)
	}
	code, out := d.beamupd("install", signed(t, "1.1.0"))
	if code != 11 {
		t.Fatalf("install 1.1.0 with a failing health check: exit %d, want 11\n%s", code, out)
	}
	after := m.Property(unit, "MainPID")
	if after == before || after == "0" {
		t.Errorf("the unit's MainPID was %s and is %s: not restarted by systemd", before, after)
	}
	if pid, err := d.node.OSPid(context.Background()); err != nil || pid != after {
		t.Errorf("the node's OS pid is %s (%v), the unit's main process %s", pid, err, after)
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs after the revert, want 1.0.0", v)
	}
	if !strings.Contains(out, "reverted") {
		t.Errorf("output does not say reverted:\n%s", out)
	}
}
