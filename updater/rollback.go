package updater

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// Rollback goes back to the previous permanent release: by a hot downgrade
// through the permanent release's relup when it has one, so that no state
// is lost; otherwise, or when the downgrade fails, by rebooting the node on
// the old release.
func (u *Updater) Rollback(ctx context.Context) (*report.Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "rollback")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	if _, err := u.resume(ctx); err != nil {
		return nil, err
	}
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("asking the node for its releases: %w", err)
	}
	perm, ok := beam.Permanent(rels)
	if !ok {
		return nil, fmt.Errorf("the node reports no permanent release")
	}
	var prev *beam.ReleaseStatus
	for i, r := range rels { // newest first: the first old one was permanent last
		if r.Status == "old" {
			prev = &rels[i]
			break
		}
	}
	op := &Operation{Kind: "rollback", Name: perm.Name, From: perm.Version, Started: time.Now().UTC()}
	if prev == nil {
		return u.rejected(op, reject("no previous release of %s to go back to", perm.Name))
	}
	op.Version = prev.Version
	files, err := otprel.ReadInstalled(u.cfg.Root, prev.Name, prev.Version)
	if err != nil {
		return u.rejected(op, err)
	}
	if op.NodePid, err = u.node.OSPid(ctx); err != nil {
		return nil, err
	}
	return u.run(ctx, op, files, plan.Rollback.First())
}

// rollBack goes back to the release op names, hot or by a reboot, and
// makes what boots the permanent release.
func (u *Updater) rollBack(ctx context.Context, op *Operation, prev *otprel.ReleaseFiles) error {
	how, err := "hot downgrade", u.hotDowngradable(op, prev)
	if err == nil {
		how, err = u.downgrade(ctx, op, prev.Release)
	}
	if err != nil {
		u.Log("no hot downgrade to %s: %v; rebooting on it", op.Version, err)
		how, err = "reboot", u.rebootOld(ctx, op, prev.Release)
	}
	if err != nil {
		return fmt.Errorf("rollback to %s: %w", op.Version, err)
	}
	op.Note = how
	return u.bootPermanent(ctx)
}

// hotDowngradable says why going from the running release to prev
// cannot be hot, whatever the relup's downgrade says: the changes only a
// boot applies (another ERTS, applications added or removed, boot-time
// configuration, native code).
func (u *Updater) hotDowngradable(op *Operation, prev *otprel.ReleaseFiles) error {
	cur, err := otprel.ReadInstalled(u.cfg.Root, op.Name, op.From)
	if err != nil {
		return err
	}
	if reasons := bootReasons(cur, prev); len(reasons) > 0 {
		return errors.New(strings.Join(reasons, "; "))
	}
	return nil
}

// downgrade installs the old release over the running one, checks it and
// makes it permanent.
func (u *Updater) downgrade(ctx context.Context, op *Operation, rel otprel.Release) (string, error) {
	ictx, cancel := context.WithTimeout(ctx, u.cfg.InstallTimeout)
	defer cancel()
	if _, err := u.node.InstallRelease(ictx, op.Version, u.cfg.Install); err != nil {
		return "", err
	}
	if err := u.applyRuntime(ctx, op.Version); err != nil {
		return "", err
	}
	samePid := func(pid string) error {
		if pid != op.NodePid {
			return fmt.Errorf("the node restarted during the downgrade")
		}
		return nil
	}
	if err := u.waitHealthy(ctx, rel, samePid); err != nil {
		return "", err
	}
	if err := u.node.MakePermanent(ctx, op.Version); err != nil {
		return "", err
	}
	return "hot downgrade", nil
}

// rebootOld makes the old release permanent and restarts the node on it.
func (u *Updater) rebootOld(ctx context.Context, op *Operation, rel otprel.Release) error {
	pid, err := u.node.OSPid(ctx)
	if err != nil {
		return err
	}
	if err := u.node.RebootOldRelease(ctx, op.Version); err != nil {
		return err
	}
	perm, err := u.restartOnPermanent(ctx, pid)
	if err != nil {
		return err
	}
	if perm.Version != op.Version {
		return fmt.Errorf("the node came back on %s", perm.Version)
	}
	return nil
}
