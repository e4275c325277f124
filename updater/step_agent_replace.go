package updater

import (
	"fmt"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"

	"github.com/beamup/beamup/agent"
)

// replaceAgent keeps the running executable in state_dir/agent and puts
// the new one in its place. Journaled first: after a crash, resumeAgent
// tells from the version that runs whether the rename happened.
func (u *Updater) replaceAgent(op *Operation) error {
	if err := u.enter(op, plan.AgentReplacing); err != nil {
		return err
	}
	if err := agent.Replace(u.cfg.Agent.Path, u.staged(op), u.previousAgent(), op.SHA256); err != nil {
		// Replace leaves the old executable in place when it fails.
		err = fmt.Errorf("replacing %s: %w", u.cfg.Agent.Path, err)
		u.finish(op, report.Reverted, fmt.Sprintf("beamupd %s was not installed: %v; beamupd %s runs", op.Version, err, u.cfg.Agent.Version))
		return &report.Error{Outcome: report.Reverted, Err: err}
	}
	u.Log("beamupd %s is at %s; beamupd %s kept in %s", op.Version, u.cfg.Agent.Path, u.cfg.Agent.Version, u.previousAgent())
	return nil
}
