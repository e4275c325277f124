package board_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/board"
	"github.com/beamup/beamup/internal/systemdtest"
)

// systemd:UNIT restarts the unit through a real systemd's D-Bus API and
// returns once it is active again; a unit that fails says systemd's
// result.
func TestSystemdControl(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real systemd --user; not in -short")
	}
	m := systemdtest.Start(t)
	for _, kv := range m.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	m.AddUnit("node.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	// oneshot: the start job waits for the process, so its failure is
	// the job's.
	m.AddUnit("broken.service", "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 3'\n")
	m.Systemctl("start", "node.service")
	before := m.Property("node.service", "MainPID")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := board.ParseControl("systemd:node.service")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	after := m.Property("node.service", "MainPID")
	if after == before || after == "0" {
		t.Errorf("MainPID %s before the restart, %s after", before, after)
	}
	if state := m.Property("node.service", "ActiveState"); state != "active" {
		t.Errorf("node.service is %s after the restart", state)
	}

	err = board.SystemdControl{Unit: "broken.service"}.Restart(ctx)
	if err == nil || !strings.Contains(err.Error(), "broken.service") || !strings.Contains(err.Error(), "exit-code") {
		t.Errorf("restart of a failing unit: %v, want systemd's result exit-code", err)
	}
	err = board.SystemdControl{Unit: "missing.service"}.Restart(ctx)
	if err == nil || !strings.Contains(err.Error(), "missing.service") {
		t.Errorf("restart of a missing unit: %v", err)
	}
}
