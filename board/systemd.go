//go:build !nodbus

package board

import (
	"context"
	"fmt"
	"time"

	"github.com/coreos/go-systemd/v22/dbus"
)

// SystemdControl restarts the node's unit through systemd's D-Bus API: a
// restart job, then the unit must be active. On the system bus, or, for
// root on an image without a D-Bus daemon, on systemd's private socket.
// DBUS_SYSTEM_BUS_ADDRESS points it elsewhere.
type SystemdControl struct {
	Unit string
}

func (c SystemdControl) String() string { return "systemd:" + c.Unit }

// Restart restarts the unit and waits until it is active again. A unit
// that fails to come back is an error that says systemd's result for it
// (exit-code, timeout, signal, ...).
func (c SystemdControl) Restart(ctx context.Context) error {
	conn, err := dbus.NewWithContext(ctx)
	if err != nil {
		return fmt.Errorf("restarting %s: connecting to systemd: %w", c.Unit, err)
	}
	defer conn.Close()
	job := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, c.Unit, "replace", job); err != nil {
		return fmt.Errorf("restarting %s: %w", c.Unit, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("restarting %s: %w", c.Unit, ctx.Err())
	case res := <-job:
		if res != "done" {
			return fmt.Errorf("restarting %s: job %s%s", c.Unit, res, c.result(ctx, conn))
		}
	}
	// The job is done once the unit started (for Type=notify, once it
	// said READY); it may still fail right after.
	for {
		p, err := conn.GetUnitPropertiesContext(ctx, c.Unit)
		if err != nil {
			return fmt.Errorf("restarting %s: reading its state: %w", c.Unit, err)
		}
		switch p["ActiveState"] {
		case "active":
			return nil
		case "failed", "inactive":
			return fmt.Errorf("restarting %s: unit is %s%s", c.Unit, p["ActiveState"], c.result(ctx, conn))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restarting %s: still %s: %w", c.Unit, p["ActiveState"], ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// result is systemd's word on why the unit's service stopped.
func (c SystemdControl) result(ctx context.Context, conn *dbus.Conn) string {
	p, err := conn.GetUnitTypePropertyContext(ctx, c.Unit, "Service", "Result")
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (result %s)", p.Value.Value())
}
