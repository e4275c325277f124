package updater

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// undo takes back a failed install that had not reached install_release:
// the node never ran new code, so removing what was added is enough.
func (u *Updater) undo(ctx context.Context, op *Operation, cause error) *report.Result {
	ctx, cancel := u.cleanupContext(ctx)
	defer cancel()
	u.Log("failed: %v; undoing", cause)
	u.removeRelease(ctx, op.Version)
	u.removeUnpacked(ctx, op)
	u.removeLayout()
	u.removeCopies(op)
	return u.finish(op, report.Reverted, fmt.Sprintf("%v; undone, %s %s still runs", cause, op.Name, op.From))
}

// revert is the way back from the point of no return: the node is
// restarted and comes back on the permanent release, which must be
// healthy. The failed release is then removed.
func (u *Updater) revert(ctx context.Context, op *Operation, cause error) *report.Result {
	ctx, cancel := u.cleanupContext(ctx)
	defer cancel()
	detected := time.Now()
	op.Reason = cause.Error()
	installing := op.Step == plan.Installing
	if err := u.enter(op, plan.Reverting); err != nil {
		u.Log("journal: %v", err)
	}
	var perm beam.ReleaseStatus
	var err error
	if op.Mode == "cold" && op.FromERTS != "" {
		// The boot may still point at the release that failed.
		if err := u.bootBack(op); err != nil {
			u.Log("revert: %v", err)
		}
	}
	if restarted, ok := u.selfRestarted(ctx, op, installing); ok {
		// OTP restarted the node itself after a failed install_release: a
		// stop sent meanwhile would be lost, and a second restart gains
		// nothing if it came back healthy on the permanent release.
		u.Log("failed: %v; the node restarted itself on the permanent release", cause)
		perm = restarted
	} else {
		u.Log("failed: %v; restarting the node on the permanent release", cause)
		perm, err = u.restartOnPermanent(ctx, op.NodePid)
	}
	if err != nil {
		return u.finish(op, report.Failed, fmt.Sprintf("%s; revert failed: %v", op.Reason, err))
	}
	took := time.Since(detected).Round(time.Millisecond)
	if op.Kind == KindInstall && perm.Version == op.Version {
		// make_permanent had run before the failure (a crash or power
		// cut after it): the new release is what boots, healthy.
		if err := u.committed(ctx, op); err != nil {
			return u.finish(op, report.Failed, fmt.Sprintf("%s %s is permanent, but %v", op.Name, op.Version, err))
		}
		return u.finish(op, report.Committed, fmt.Sprintf("%s %s is permanent (found so after %s)", op.Name, op.Version, op.Reason))
	}
	u.removeRelease(ctx, op.Version)
	u.removeCopies(op)
	if err := u.bootPermanent(ctx); err != nil {
		return u.finish(op, report.Failed, fmt.Sprintf("%s; reverted to %s %s, but %v", op.Reason, perm.Name, perm.Version, err))
	}
	u.Log("reverted to %s %s, healthy %s after the failure", perm.Name, perm.Version, took)
	return u.finish(op, report.Reverted, fmt.Sprintf("%s; reverted to %s %s", op.Reason, perm.Name, perm.Version))
}

// selfRestarted waits for the restart OTP performs by itself when
// install_release fails past its point of no return (init:restart, in the
// same OS process), and reports the permanent release it came back on
// when that release runs healthy. It reports false at once when the
// failure was not install_release's, and when the node shows no sign of
// restarting within a few seconds.
func (u *Updater) selfRestarted(ctx context.Context, op *Operation, installing bool) (beam.ReleaseStatus, bool) {
	if !installing || op.NodeBoot == "" {
		return beam.ReleaseStatus{}, false
	}
	// release_handler answers, then calls init:restart(): the
	// application controller changes, or the node stops answering.
	sign := time.Now().Add(3 * time.Second)
	deadline := time.Now().Add(u.cfg.BootTimeout)
	restarting := false
	for {
		inc, err := u.node.Incarnation(ctx)
		switch {
		case err != nil:
			restarting = true
		case inc != op.NodeBoot:
			restarting = true
			if booted, _ := u.node.Booted(ctx); booted {
				return u.healthyPermanent(ctx)
			}
		}
		if !restarting && time.Now().After(sign) || time.Now().After(deadline) {
			return beam.ReleaseStatus{}, false
		}
		select {
		case <-ctx.Done():
			return beam.ReleaseStatus{}, false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthyPermanent reports the permanent release when the node runs it and
// it is healthy.
func (u *Updater) healthyPermanent(ctx context.Context) (beam.ReleaseStatus, bool) {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return beam.ReleaseStatus{}, false
	}
	cur, _ := beam.Current(rels)
	perm, ok := beam.Permanent(rels)
	if !ok || cur.Version != perm.Version {
		return beam.ReleaseStatus{}, false
	}
	if err := u.permanentHealthy(ctx, perm, nil); err != nil {
		u.Log("after its own restart: %v", err)
		return beam.ReleaseStatus{}, false
	}
	return perm, true
}

// cleanupContext lets a revert finish when the operation's context was
// cancelled: leaving it half done is worse than finishing it.
func (u *Updater) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*u.cfg.BootTimeout+time.Minute)
}

// restartOnPermanent restarts the node through its control and waits until
// it is back, with another OS pid than oldPid, on its permanent release,
// and healthy.
func (u *Updater) restartOnPermanent(ctx context.Context, oldPid string) (beam.ReleaseStatus, error) {
	if err := u.control.Restart(ctx); err != nil {
		return beam.ReleaseStatus{}, err
	}
	newPid := func(pid string) error {
		if oldPid != "" && pid == oldPid {
			return errors.New("the node has not restarted yet")
		}
		return nil
	}
	var perm beam.ReleaseStatus
	deadline := time.Now().Add(u.cfg.BootTimeout)
	for {
		rels, err := u.node.WhichReleases(ctx)
		if err == nil {
			cur, _ := beam.Current(rels)
			perm, _ = beam.Permanent(rels)
			if cur.Version != perm.Version {
				err = fmt.Errorf("the node runs %s, not the permanent %s", cur.Version, perm.Version)
			} else if pid, perr := u.node.OSPid(ctx); perr != nil || newPid(pid) != nil {
				err = errors.New("the node has not restarted yet")
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return perm, fmt.Errorf("the node did not come back within %s: %w", u.cfg.BootTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return perm, u.permanentHealthy(ctx, perm, newPid)
}

// permanentHealthy waits until the permanent release perm, which the node
// runs, is healthy.
func (u *Updater) permanentHealthy(ctx context.Context, perm beam.ReleaseStatus, pidOK func(string) error) error {
	files, err := otprel.ReadInstalled(u.cfg.Root, perm.Name, perm.Version)
	if err != nil {
		return err
	}
	if err := u.waitHealthy(ctx, files.Release, pidOK); err != nil {
		return fmt.Errorf("%s %s: %w", perm.Name, perm.Version, err)
	}
	return nil
}

// removeRelease removes a release that is not permanent, so that a later
// attempt does not fail with existing_release. When remove_release
// fails, set_removed at least forgets it.
func (u *Updater) removeRelease(ctx context.Context, vsn string) {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		u.Log("cleanup: %v", err)
		return
	}
	for _, r := range rels {
		if r.Version != vsn || r.Status == "permanent" {
			continue
		}
		if err := u.node.RemoveRelease(ctx, vsn); err != nil {
			u.Log("cleanup: %v; marking it removed", err)
			if err := u.node.SetRemoved(ctx, vsn); err != nil {
				u.Log("cleanup: %v", err)
			}
		}
	}
}
