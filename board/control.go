// Package board knows the device: its identity, its paths and how the BEAM
// node on it is started and stopped.
package board

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Control restarts the BEAM node. Restart returns once the command that
// restarts it has finished; whether the node came back is for the caller to
// check over distribution.
type Control interface {
	Restart(ctx context.Context) error
	String() string
}

// ParseControl reads a [node] control setting: "exec:COMMAND" or
// "systemd:UNIT".
func ParseControl(spec string) (Control, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	switch {
	case !ok || arg == "":
		return nil, fmt.Errorf("node control %q: want \"systemd:UNIT\" or \"exec:COMMAND\"", spec)
	case kind == "exec":
		return ExecControl{Command: arg}, nil
	case kind == "systemd":
		return SystemdControl{Unit: arg}, nil
	}
	return nil, fmt.Errorf("node control %q: unknown kind %q (want systemd or exec)", spec, kind)
}

// ExecControl restarts the node by running a command with /bin/sh -c, for
// devices without systemd and for tests.
type ExecControl struct {
	Command string
}

func (c ExecControl) Restart(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The command may leave the node running in the background with our
	// output pipes open: stop waiting for them soon after it exited.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("restarting the node with %q: %w: %s", c.Command, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (c ExecControl) String() string { return "exec:" + c.Command }
