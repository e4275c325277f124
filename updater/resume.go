package updater

import (
	"context"
	"errors"
	"fmt"

	"github.com/beamup/beamup/beam"
)

// resume finishes an operation that a beamupd which crashed or lost power
// left in the journal, reconciling the journal with what the node reports.
// It returns nil when there was nothing to resume.
func (u *Updater) resume(ctx context.Context) (*Result, error) {
	j, err := u.journal.Load()
	if err != nil {
		return nil, err
	}
	op := j.Op
	if op == nil {
		return nil, nil
	}
	if op.Kind == KindSelfUpdate {
		return u.resumeAgent(op), nil
	}
	op.Resumes++
	if err := u.enter(op, op.Step); err != nil {
		return nil, err
	}
	if op.Resumes > maxResumes {
		return u.finish(op, Failed, fmt.Sprintf("gave up %s of %s %s after %d interrupted attempts at step %s",
			op.Kind, op.Name, op.Version, op.Resumes-1, op.Step)), nil
	}
	u.Log("resuming %s of %s %s interrupted at step %s", op.Kind, op.Name, op.Version, op.Step)
	cause := errors.New("interrupted at step " + string(op.Step))
	if op.Reason != "" {
		cause = errors.New(op.Reason)
	}
	switch op.Step {
	case StepVerified, StepCopied, StepUnpacking, StepUnpacked:
		return u.undo(ctx, op, cause), nil
	case StepCommitting, StepRollingBack:
		// make_permanent may or may not have run: ask the node.
		rels, err := u.node.WhichReleases(ctx)
		if err == nil {
			if perm, _ := beam.Permanent(rels); perm.Version == op.Version {
				var err error
				if op.Kind == "install" {
					err = u.committed(ctx, op)
				} else {
					err = u.bootPermanent(ctx)
				}
				if err != nil {
					return u.finish(op, Failed, err.Error()), nil
				}
				return u.finish(op, Committed, fmt.Sprintf("%s %s is permanent (finished after a restart of beamupd)", op.Name, op.Version)), nil
			}
		}
	}
	return u.revert(ctx, op, cause), nil
}

// Resume finishes an interrupted operation, if there is one, and returns
// how it ended.
func (u *Updater) Resume(ctx context.Context) (*Result, error) {
	lock, err := Acquire(u.cfg.StateDir, "resume")
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	return u.resume(ctx)
}
