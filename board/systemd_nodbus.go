//go:build nodbus

package board

import (
	"context"
	"fmt"
)

// SystemdControl, in a build for boards without systemd (-tags nodbus),
// only says so: the D-Bus client is left out to keep the binary small.
type SystemdControl struct {
	Unit string
}

func (c SystemdControl) String() string { return "systemd:" + c.Unit }

func (c SystemdControl) Restart(ctx context.Context) error {
	return fmt.Errorf("restarting %s: this beamupd was built without D-Bus (-tags nodbus); use exec:COMMAND", c.Unit)
}
