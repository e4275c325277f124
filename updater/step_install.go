package updater

import (
	"context"
	"fmt"
)

// install runs install_release: the point of no return. It has no timeout
// of its own and, when it fails after that point, answers {error, _} and
// restarts the node: it is bounded here, and any error leads to a revert
// by restart. The unpacking noted the node's boot (noteIncarnation), and
// entering this step journaled it.
func (u *Updater) install(ctx context.Context, op *Operation) error {
	ictx, cancel := context.WithTimeout(ctx, u.cfg.InstallTimeout)
	defer cancel()
	if _, err := u.node.InstallRelease(ictx, op.Version, u.cfg.Install); err != nil {
		return fmt.Errorf("installing %s: %w", op.Version, err)
	}
	u.Log("installed %s %s (%s)", op.Name, op.Version, op.Mode)
	return u.applyRuntime(ctx, op.Version)
}
