package updater

import (
	"errors"
	"fmt"
	"os"

	"github.com/beamup/beamup/agent"
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
	return u.enter(op, StepAgentStaged)
}

// DropStagedAgent ends a staged self-update without trying it, as
// rejected for why: nothing outside the state directory had changed.
func (u *Updater) DropStagedAgent(why string) (*Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "self-update")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	op := j.Op
	if op == nil || op.Kind != KindSelfUpdate || op.Step != StepAgentStaged {
		return nil, errors.New("no new beamupd is staged")
	}
	return result(u.finish(op, Rejected, fmt.Sprintf("beamupd %s was not tried: %s", op.Version, why)))
}
