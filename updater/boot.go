package updater

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/durable"
)

// bootPermanent makes what boots after a restart or a power cut the
// release the node reports permanent, whatever tool built it. It runs
// after every commit, rollback and revert.
func (u *Updater) bootPermanent(ctx context.Context) error {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return fmt.Errorf("asking the node for its releases: %w", err)
	}
	perm, ok := beam.Permanent(rels)
	if !ok {
		return errors.New("the node reports no permanent release")
	}
	changed, err := alignBootFiles(u.cfg.Root, perm.Name, perm.Version)
	if err != nil {
		return fmt.Errorf("making %s %s the release that boots: %w", perm.Name, perm.Version, err)
	}
	if changed != "" {
		u.Log("%s now boots %s %s", changed, perm.Name, perm.Version)
	}
	return nil
}

// alignBootFiles brings a release root's boot files in line with the
// permanent release vsn, durably:
//   - releases/start_erl.data and releases/RELEASES, which make_permanent
//     has written (a systools target's start script and mix's bin/NAME
//     read start_erl.data), are synced to disk;
//   - relx's bin/NAME boots the version written in its own REL_VSN line,
//     so bin/NAME-VSN of the permanent release replaces it, as relx's own
//     upgrade command does.
//
// It returns the file it replaced, or "".
func alignBootFiles(root, name, vsn string) (string, error) {
	rel := filepath.Join(root, "releases")
	for _, f := range []string{"start_erl.data", "RELEASES"} {
		if err := durable.SyncFile(filepath.Join(rel, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	if err := durable.SyncDir(rel); err != nil {
		return "", err
	}
	return alignScript(root, name, vsn)
}

// bootOn makes the next boot of the node, whatever tool built it, run
// release vsn on ERTS erts, durably: releases/start_erl.data names them
// (a systools target's start script and mix's bin/NAME read it), and
// relx's bin/NAME is the release's own bin/NAME-VSN. A cold upgrade
// points the boot at the new release for one boot, then back.
func bootOn(root, name, erts, vsn string) error {
	data := filepath.Join(root, "releases", "start_erl.data")
	if err := durable.WriteFile(data, []byte(erts+" "+vsn), 0o644); err != nil {
		return err
	}
	_, err := alignScript(root, name, vsn)
	return err
}

// alignScript replaces relx's bin/NAME, which boots the version written in
// its own REL_VSN line, by bin/NAME-VSN, as relx's own upgrade command
// does. It returns the file it replaced, or "".
func alignScript(root, name, vsn string) (string, error) {
	script := filepath.Join(root, "bin", name)
	versioned, err := os.ReadFile(script + "-" + vsn)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if current, err := os.ReadFile(script); err == nil && bytes.Equal(current, versioned) {
		return "", nil
	}
	if err := durable.WriteFile(script, versioned, 0o755); err != nil {
		return "", err
	}
	return filepath.Join("bin", name), nil
}
