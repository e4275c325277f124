package updater

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/otprel"
)

// A cold upgrade boots the new release once, without heart: release_handler
// is told to take it as current when it boots (tmp_current in RELEASES,
// as OTP does before a restart_emulator), the boot files point at it, the
// node is restarted through the control, and as soon as the new node
// answers the boot files point back at the permanent release. Until
// make_permanent, any restart, crash or power cut therefore comes back on
// the permanent release.

// bootOnce prepares the next boot to run the new release once.
func (u *Updater) bootOnce(ctx context.Context, op *Operation, files *otprel.ReleaseFiles) error {
	pid, err := u.node.OSPid(ctx)
	if err != nil {
		return err
	}
	op.NodePid = pid
	if err := u.save(op); err != nil {
		return err
	}
	if err := u.node.MarkBootOnce(ctx, u.cfg.Root, op.Version); err != nil {
		return err
	}
	if err := durable.SyncFile(u.releasesFile()); err != nil {
		return fmt.Errorf("marking %s to boot once: %w", op.Version, err)
	}
	if err := bootOn(u.cfg.Root, op.Name, files.ERTS, op.Version); err != nil {
		return fmt.Errorf("pointing the boot at %s %s: %w", op.Name, op.Version, err)
	}
	u.Log("the next boot runs %s %s once (ERTS %s)", op.Name, op.Version, files.ERTS)
	return nil
}

// reboot restarts the node onto the new release and points the boot back
// at the permanent one as soon as the new node answers. It returns once
// the node reports the new release current.
func (u *Updater) reboot(ctx context.Context, op *Operation) (err error) {
	// Whatever happens here, the boot ends pointing at the permanent
	// release: the new one gets one boot.
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		return u.bootBack(op)
	}
	defer func() {
		if rerr := restore(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	u.Log("restarting the node onto %s %s", op.Name, op.Version)
	if err := u.control.Restart(ctx); err != nil {
		return fmt.Errorf("restarting the node: %w", err)
	}
	deadline := time.Now().Add(u.cfg.BootTimeout)
	last := errors.New("the node has not restarted yet")
	for {
		if pid, perr := u.node.OSPid(ctx); perr == nil && pid != op.NodePid {
			if err := restore(); err != nil {
				return err
			}
			if rels, rerr := u.node.WhichReleases(ctx); rerr != nil {
				last = rerr
			} else if cur, _ := beam.Current(rels); cur.Version != op.Version {
				return fmt.Errorf("the node booted %s %s, not %s", cur.Name, cur.Version, op.Version)
			} else {
				op.NodePid = pid
				u.Log("the node booted %s %s (os pid %s)", op.Name, op.Version, pid)
				return u.save(op)
			}
		} else if perr != nil {
			last = perr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s did not boot within %s: %w", op.Name, op.Version, u.cfg.BootTimeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bootBack points the boot at the release that was permanent when the
// cold upgrade began.
func (u *Updater) bootBack(op *Operation) error {
	if err := bootOn(u.cfg.Root, op.Name, op.FromERTS, op.From); err != nil {
		return fmt.Errorf("pointing the boot back at %s %s: %w", op.Name, op.From, err)
	}
	return nil
}
