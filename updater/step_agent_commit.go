package updater

import (
	"errors"
	"fmt"

	"github.com/beamup/beamup/agent"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// discardAgent ends a self-update that did not replace the running
// beamupd, or whose replacement this beamupd, not of the new version,
// shows never happened: the new executable is dropped, the one that runs
// stays.
func (u *Updater) discardAgent(op *Operation, cause error) *report.Result {
	if op.Step == plan.AgentReplacing && u.cfg.Agent.Path != "" {
		if err := agent.Discard(u.cfg.Agent.Path); err != nil {
			u.Log("%v", err)
		}
	}
	var intr *interrupted
	if errors.As(cause, &intr) {
		return u.finish(op, report.Reverted, fmt.Sprintf("self-update to beamupd %s %v; beamupd %s runs",
			op.Version, cause, u.cfg.Agent.Version))
	}
	return u.finish(op, report.Reverted, fmt.Sprintf("%v; beamupd %s runs", cause, u.cfg.Agent.Version))
}

// commitAgent records a new beamupd that runs.
func (u *Updater) commitAgent(op *Operation) *report.Result {
	if err := u.security.Commit(op.Name, op.SecurityVersion); err != nil {
		return u.finish(op, report.Failed, fmt.Sprintf("recording security_version: %v", err))
	}
	u.Log("committed beamupd %s", op.Version)
	return u.finish(op, report.Committed, fmt.Sprintf("beamupd %s runs (previous kept in %s)", op.Version, u.previousAgent()))
}

// FinishAgent commits a self-update whose new executable is in place, for
// a one-shot beamupd install, which does not run the new binary itself:
// its trial has shown that it runs. A daemon that runs from the replaced
// executable runs the new version after its next restart.
func (u *Updater) FinishAgent() (*report.Result, error) {
	lock, op, err := u.selfUpdateAt(plan.AgentReplacing)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return result(u.commitAgent(op))
}
