package updater

import (
	"context"
	"fmt"

	"github.com/beamup/beamup/beam"
)

// unpack prepares RELEASES, unpacks the release and checks that it can be
// installed over the running one.
func (u *Updater) unpack(ctx context.Context, op *Operation) error {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return err
	}
	running, _ := beam.Current(rels)
	if err := u.prepareRELEASES(ctx, running); err != nil {
		return err
	}
	if _, err := u.node.UnpackRelease(ctx, op.Name+"-"+op.Version); err != nil {
		return fmt.Errorf("unpacking: %w", err)
	}
	u.Log("unpacked %s %s", op.Name, op.Version)
	if op.Mode == "cold" {
		// check_install_release reads the relup, which a cold upgrade
		// does not use and may not have.
		return nil
	}
	from, err := u.node.CheckInstallRelease(ctx, op.Version)
	if err != nil {
		return fmt.Errorf("checking the install: %w", err)
	}
	if from != op.From {
		return fmt.Errorf("checking the install: it would upgrade from %s, the node runs %s", from, op.From)
	}
	return nil
}
