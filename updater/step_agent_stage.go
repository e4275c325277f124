package updater

import (
	"fmt"
	"os"

	"github.com/beamup/beamup/agent"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// stageAgent checks that the verified payload is an executable for this
// device, whatever its manifest said, and journals it as staged. Nothing
// outside the state directory has changed.
func (u *Updater) stageAgent(op *Operation) error {
	exe := u.staged(op)
	if err := agent.CheckExecutable(exe, u.cfg.Agent.Arch); err != nil {
		os.Remove(exe)
		return reject("%v", err)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		return fmt.Errorf("staging the new beamupd: %w", err)
	}
	u.Log("verified bundle %.12s: beamupd %s for %s", op.Bundle, op.Version, u.cfg.Agent.Arch)
	return nil
}

// DropStagedAgent ends a staged self-update without trying it, as
// rejected for why: nothing outside the state directory had changed.
func (u *Updater) DropStagedAgent(why string) (*report.Result, error) {
	lock, op, err := u.selfUpdateAt(plan.AgentStaged)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return result(u.finish(op, report.Rejected, fmt.Sprintf("beamupd %s was not tried: %s", op.Version, why)))
}
