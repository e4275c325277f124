package updater

import (
	"fmt"

	"github.com/beamup/beamup/agent"
)

// replaceAgent keeps the running executable in state_dir/agent and puts
// the new one in its place. Journaled first: after a crash, resume tells
// from the version that runs whether the rename happened.
func (u *Updater) replaceAgent(op *Operation) error {
	if err := agent.Replace(u.cfg.Agent.Path, u.staged(op), u.previousAgent(), op.SHA256); err != nil {
		// Replace leaves the old executable in place when it fails.
		return fmt.Errorf("beamupd %s was not installed: replacing %s: %w", op.Version, u.cfg.Agent.Path, err)
	}
	u.Log("beamupd %s is at %s; beamupd %s kept in %s", op.Version, u.cfg.Agent.Path, u.cfg.Agent.Version, u.previousAgent())
	return nil
}
