package updater

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/otprel"
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
	if op.MakeRelup {
		if err := u.makeRelup(ctx, op); err != nil {
			return err
		}
	}
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

// makeRelup has the node make the relup of the unpacked release from its
// appups, from and to the release that runs, as systools:make_relup does
// on a build host.
func (u *Updater) makeRelup(ctx context.Context, op *Operation) error {
	old, err := otprel.ReadInstalled(u.cfg.Root, op.Name, op.From)
	if err != nil {
		return fmt.Errorf("making the relup: %w", err)
	}
	new, err := otprel.ReadInstalled(u.cfg.Root, op.Name, op.Version)
	if err != nil {
		return fmt.Errorf("making the relup: %w", err)
	}
	if err := u.node.MakeRelup(ctx, u.cfg.Root, old.RelFile, new.RelFile); err != nil {
		return err
	}
	u.Log("made the relup %s -> %s from the appups", op.From, op.Version)
	return nil
}

// removeUnpacked removes, whole, what unpack_release may have extracted
// for op's release, whether or not release_handler registered it: an
// extraction cut short by a power cut leaves torn files, and
// release_handler extracts without overwriting, so that a retry would
// reuse them and the node would later fail to boot. What another release
// on the node uses stays; without the node's word nothing is removed.
func (u *Updater) removeUnpacked(ctx context.Context, op *Operation) {
	data, err := os.ReadFile(u.releaseBase(op) + ".rel")
	if err != nil {
		return // copied before any unpack: nothing was extracted
	}
	rel, err := otprel.ParseRel(data)
	if err != nil {
		u.Log("cleanup: %v", err)
		return
	}
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		u.Log("cleanup: %v; what unpack_release extracted stays", err)
		return
	}
	used := map[string]bool{}
	for _, r := range rels {
		if r.Version == op.Version {
			continue
		}
		for _, l := range r.Libs {
			used[filepath.Base(l)] = true
		}
		if f, err := otprel.ReadInstalled(u.cfg.Root, r.Name, r.Version); err == nil {
			used["erts-"+f.ERTS] = true
		}
	}
	var gone []string
	for _, a := range rel.Apps {
		if d := a.Name + "-" + a.Version; !used[d] {
			gone = append(gone, filepath.Join("lib", d))
		}
	}
	if !used["erts-"+rel.ERTS] && len(used) > 0 {
		gone = append(gone, "erts-"+rel.ERTS)
	}
	gone = append(gone, filepath.Join("releases", op.Version))
	for _, d := range gone {
		p := filepath.Join(u.cfg.Root, d)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			u.Log("cleanup: %v", err)
		}
	}
}
