package updater

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/beamup/beamup/otprel"
)

// checkHealth waits until the node runs every application of rel, then
// runs the health function until the soak period is over. The node must
// not restart meanwhile: a restart drops an installed release.
func (u *Updater) checkHealth(ctx context.Context, op *Operation, rel otprel.Release) error {
	samePid := func(pid string) error {
		if pid != op.NodePid {
			return fmt.Errorf("the node restarted (os pid %s, was %s)", pid, op.NodePid)
		}
		return nil
	}
	if err := u.waitHealthy(ctx, rel, samePid); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	// Healthy now; then at every interval, and at the soak's end.
	end := time.Now().Add(u.cfg.Health.Soak)
	for left := time.Until(end); left > 0; left = time.Until(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, u.cfg.Health.Interval)):
		}
		if err := u.healthy(ctx, rel, samePid); err != nil {
			return fmt.Errorf("health during the soak: %w", err)
		}
	}
	u.Log("healthy on %s %s for %s", rel.Name, rel.Version, u.cfg.Health.Soak)
	return nil
}

// waitHealthy polls healthy until it passes or the boot timeout is over.
// A node that is down or still booting is waited for; a pid check that
// fails is not.
func (u *Updater) waitHealthy(ctx context.Context, rel otprel.Release, pidOK func(string) error) error {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.BootTimeout)
	defer cancel()
	var last error
	for {
		err := u.healthy(ctx, rel, pidOK)
		if err == nil {
			return nil
		}
		if _, fatal := err.(pidError); fatal {
			return err
		}
		// A call cut short by the boot timeout says less than the check
		// before it.
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s: %w", u.cfg.BootTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type pidError struct{ error }

// healthy is one check: the node answers with an acceptable pid, init has
// finished booting, every application of rel runs in its version, and the
// health function returns ok.
func (u *Updater) healthy(ctx context.Context, rel otprel.Release, pidOK func(string) error) error {
	cctx, cancel := context.WithTimeout(ctx, u.cfg.Health.Timeout)
	defer cancel()
	pid, err := u.node.OSPid(cctx)
	if err != nil {
		return err
	}
	if pidOK != nil {
		if err := pidOK(pid); err != nil {
			return pidError{err}
		}
	}
	booted, err := u.node.Booted(cctx)
	if err != nil {
		return err
	}
	if !booted {
		return fmt.Errorf("the node is still booting")
	}
	apps, err := u.node.StartedApps(cctx)
	if err != nil {
		return err
	}
	if missing := rel.NotStarted(apps); len(missing) > 0 {
		return fmt.Errorf("applications not started: %s", strings.Join(missing, ", "))
	}
	if u.cfg.Health.Module != "" {
		if err := u.node.CallHealth(cctx, u.cfg.Health.Module, u.cfg.Health.Function); err != nil {
			return fmt.Errorf("health function: %w", err)
		}
	}
	return nil
}
