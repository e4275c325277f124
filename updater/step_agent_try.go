package updater

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// TryAgent tries the beamupd that InstallFrom staged, and replaces the
// running executable with it when it passes. Its steps, in order:
//
//  1. trying: the new binary runs under the Trier, up to Attempts times,
//     while the executable at the agent path stays as it is
//  2. replacing: the running executable is kept in state_dir/agent, then
//     replaced in one rename
//
// With handover, the caller executes the new binary, which commits the
// self-update when it starts (resume). A new binary that fails every
// trial is given up and the running one stays: report.Reverted, with the reason.
func (u *Updater) TryAgent(ctx context.Context) (handover bool, r *report.Result, err error) {
	lock, op, err := u.selfUpdateAt(plan.AgentStaged)
	if err != nil {
		return false, nil, err
	}
	defer lock.Release()
	r, err = u.run(ctx, op, nil, plan.Action{Kind: plan.Do, Step: plan.AgentTrying})
	if r != nil && r.Outcome != report.Staged {
		u.Log("%s: %s", r.Outcome, r.Reason)
	}
	return err == nil && r.Outcome == report.Staged, r, err
}

// tryAgent gives the new binary its attempts.
func (u *Updater) tryAgent(ctx context.Context, op *Operation) error {
	if err := u.attempts(ctx, op); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("beamupd %s stopped during the trial", u.cfg.Agent.Version)
		}
		return fmt.Errorf("beamupd %s was not kept: %w", op.Version, err)
	}
	return nil
}

// attempts gives the new binary its attempts.
func (u *Updater) attempts(ctx context.Context, op *Operation) error {
	var why []string
	for i := 1; i <= u.cfg.Agent.Attempts; i++ {
		u.Log("trying beamupd %s (attempt %d of %d)", op.Version, i, u.cfg.Agent.Attempts)
		err := u.cfg.Agent.Trier.Try(ctx, u.staged(op))
		if err == nil {
			u.Log("beamupd %s passed its trial", op.Version)
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		u.Log("beamupd %s: %v", op.Version, err)
		why = append(why, err.Error())
	}
	return fmt.Errorf("%s", strings.Join(why, "; "))
}

// previousAgent is where the replaced executable is kept.
func (u *Updater) previousAgent() string {
	return filepath.Join(u.cfg.StateDir, "agent", "beamupd")
}
