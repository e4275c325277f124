package updater

import (
	"context"
	"fmt"
	"strings"
)

// commit makes the release permanent. make_permanent kills processes that
// still run old code, so it refuses to commit while there are any and
// names them.
func (u *Updater) commit(ctx context.Context, op *Operation) error {
	procs, err := u.node.OldCodeProcesses(ctx)
	if err != nil {
		return fmt.Errorf("checking for old code: %w", err)
	}
	if len(procs) > 0 {
		return fmt.Errorf("%d processes still run old code and would be killed by make_permanent: %s",
			len(procs), strings.Join(procs, "; "))
	}
	if err := u.enter(op, StepCommitting); err != nil {
		return err
	}
	if err := u.node.MakePermanent(ctx, op.Version); err != nil {
		return fmt.Errorf("making %s permanent: %w", op.Version, err)
	}
	return u.committed(op)
}

// committed records what follows a successful make_permanent.
func (u *Updater) committed(op *Operation) error {
	if err := u.security.Commit(op.Name, op.SecurityVersion); err != nil {
		return fmt.Errorf("recording security_version: %w", err)
	}
	u.removeCopies(op)
	u.Log("committed %s %s", op.Name, op.Version)
	return nil
}
