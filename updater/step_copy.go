package updater

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/otprel"
)

// copy writes releases/<vsn>/<name>-<vsn>.rel, the .rel that
// release_handler registers the laid-out release from, where
// unpack_release keeps it (tarballs made by mix, rebar3 or systools do
// not all carry it under that name). It goes into the release's own
// directory, which the layout made and records: a failure before the
// release is registered removes it with the rest.
func (u *Updater) copy(op *Operation, files *otprel.ReleaseFiles) error {
	p := u.relFile(op)
	if _, err := os.Lstat(p); err == nil {
		return nil // laid out from the bundle, which carries it
	}
	if err := durable.WriteFile(p, files.RelData, 0o644); err != nil {
		return fmt.Errorf("copying the release: %w", err)
	}
	return nil
}

// relFile is the .rel of op's release as an unpacked release keeps it.
func (u *Updater) relFile(op *Operation) string {
	return filepath.Join(u.cfg.Root, "releases", op.Version, op.Name+"-"+op.Version+".rel")
}

// releaseBase is <root>/releases/<name>-<vsn>, the name release_handler
// gives the tarball and the .rel of an unpacked release.
func (u *Updater) releaseBase(op *Operation) string {
	return filepath.Join(u.cfg.Root, "releases", op.Name+"-"+op.Version)
}

// removeCopies removes what copy added before beamupd laid releases out
// itself (an operation an older beamupd journaled).
func (u *Updater) removeCopies(op *Operation) {
	base := u.releaseBase(op)
	for _, p := range []string{base + ".tar.gz", base + ".rel"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			u.Log("cleanup: %v", err)
		}
	}
	durable.SyncDir(filepath.Dir(base))
}

// releasesFile is release_handler's record of the releases on the node.
func (u *Updater) releasesFile() string { return filepath.Join(u.cfg.Root, "releases", "RELEASES") }

// prepareNode prepares releases/RELEASES as the daemon starts, the node
// booted and no operation under way, so that the first upgrade does not
// do it between its last byte and its commit: it describes the release
// that runs, as the first unpack would have made it. A node that does not
// answer yet is prepared by that unpack.
func (u *Updater) prepareNode(ctx context.Context) {
	if booted, err := u.node.Booted(ctx); err != nil || !booted {
		return
	}
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return
	}
	if running, ok := beam.Current(rels); ok {
		if err := u.prepareRELEASES(ctx, running); err != nil {
			u.Log("%v; the first upgrade tries again", err)
		}
	}
}

// prepareRELEASES makes sure releases/RELEASES describes the running
// release with its libraries. Without it (mix releases ship none)
// release_handler invents an entry without libraries, and an upgrade then
// reports success while changed applications keep running from their old
// directories.
func (u *Updater) prepareRELEASES(ctx context.Context, running beam.ReleaseStatus) error {
	if len(running.Libs) > 0 {
		if _, err := os.Stat(u.releasesFile()); err == nil {
			return nil
		}
	}
	files, err := otprel.ReadInstalled(u.cfg.Root, running.Name, running.Version)
	if err != nil {
		return fmt.Errorf("preparing releases/RELEASES: %w", err)
	}
	if err := u.node.CreateRELEASES(ctx, u.cfg.Root, files.RelFile); err != nil {
		return fmt.Errorf("preparing releases/RELEASES: %w", err)
	}
	u.Log("prepared releases/RELEASES for %s %s", running.Name, running.Version)
	return nil
}
