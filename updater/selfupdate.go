package updater

import (
	"errors"

	"github.com/beamup/beamup/plan"
)

// selfUpdateAt takes the device's lock for a self-update and returns the
// journaled self-update, which must be at step; the caller releases the
// lock. Trying, dropping and committing a new beamupd each start here.
func (u *Updater) selfUpdateAt(step plan.Step) (*Lock, *Operation, error) {
	lock, err := Acquire(u.cfg.StateDir, "self-update")
	if err != nil {
		return nil, nil, err
	}
	j, err := u.journal.Load()
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	op := j.Op
	if op == nil || op.Kind != KindSelfUpdate || op.Step != step {
		lock.Release()
		if step == plan.AgentReplacing {
			return nil, nil, errors.New("no replaced beamupd to commit")
		}
		return nil, nil, errors.New("no new beamupd is staged")
	}
	return lock, op, nil
}
