package updater

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/internal/failpoint"
	"github.com/beamup/beamup/otprel"
)

// rebuild reads the release that the verified delta payload at payload
// describes, without laying it out (a dry run).
func (u *Updater) rebuild(ctx context.Context, m *bundle.Manifest, payload string) (*otprel.ReleaseFiles, error) {
	in, err := os.Open(payload)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the release: %w", err)
	}
	defer in.Close()
	return u.rebuildFrom(ctx, m, in, nil)
}

// rebuildFrom makes the release that the delta payload read from in
// describes from the base release installed under the release root, and
// lays it out with l (when not nil) as it goes: the rebuilt tarball is
// never written whole. in gives only verified bytes: the layout follows
// the payload as it arrives (step_verify.go), so that a delta is rebuilt
// while it comes. Every file written is checked against the signed index
// as it is rebuilt; a base that differs is a refusal that says to send
// the full bundle. The base's files that the layout keeps where they are
// (in directories the running release shares, most of a delta) are only
// hashed, on the other cores, beside the rebuild, and not even that when
// the record of the base's hashes (base-hashes.json) has them as they are.
func (u *Updater) rebuildFrom(ctx context.Context, m *bundle.Manifest, in io.Reader, l *layout) (*otprel.ReleaseFiles, error) {
	d := m.Delta
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the release: %w", err)
	}
	defer root.Close()
	c := otprel.NewCollector(l.sink())
	seen := u.baseHashes()
	err = delta.RebuildTo(ctx, in, root, seen, d.Size, m.Created, c.Next)
	var files *otprel.ReleaseFiles
	if err == nil {
		files, err = c.Close()
	}
	err = l.end(err)
	var base *delta.BaseError
	switch {
	case errors.As(err, &base):
		return nil, reject("delta against %s %s: %v here; send the full bundle", m.Name, d.Base, base)
	case errors.As(err, new(*layoutError)):
		return nil, tarballError(err) // the device could not write
	case err != nil && ctx.Err() == nil:
		return nil, reject("%v", err)
	case err != nil:
		return nil, err
	}
	if seen.Len() > 0 { // a dry run keeps no file where it is, and confirms none
		u.rebuilt.Store(seen)
	}
	failpoint.Hit("rebuilt")
	u.Log("rebuilt %s %s from the delta against %s: %d files (%d of the base's known by their recorded hashes)",
		m.Name, m.Version, d.Base, d.Files, seen.Hits())
	return files, nil
}

func (u *Updater) baseHashesFile() string { return filepath.Join(u.cfg.StateDir, "base-hashes.json") }

// baseHashes reads the record of the base's hashes that the last rebuild
// left; a missing or unreadable one is empty.
func (u *Updater) baseHashes() *delta.Seen {
	data, _ := os.ReadFile(u.baseHashesFile())
	return delta.ReadSeen(data)
}

// LearnBase brings the record of the base's hashes up to date between
// operations: the daemon calls it a few seconds after a commit, when the
// files the install laid out are old enough to be recorded (a record is
// not made of a file changed in the last second), so that the next delta
// finds them there and need not read them. It does nothing while an
// operation holds the device, and stops when ctx is done.
func (u *Updater) LearnBase(ctx context.Context) {
	lock, err := Acquire(u.cfg.StateDir, "recording the base's hashes")
	if err != nil {
		return
	}
	defer lock.Release()
	u.learnBase(ctx)
}

// learnBase brings the record of the base's hashes up to the release
// root's libraries and runtime systems as they are, so that a delta, the
// first after a full bundle or on a device just made, checks the files
// it keeps without reading them. Only what the record does not hold is
// read: on most starts, nothing.
func (u *Updater) learnBase(ctx context.Context) {
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		return // the node's own checks say what is wrong with the root
	}
	defer root.Close()
	dirs, _ := fs.Glob(root.FS(), "erts-*")
	if _, err := root.Stat("lib"); err == nil {
		dirs = append(dirs, "lib")
	}
	seen := u.baseHashes()
	start := time.Now()
	read, err := seen.Learn(ctx, root, dirs...)
	if err != nil && ctx.Err() != nil {
		return // stopped for an operation; its commit, or the next start, learns again
	}
	if err != nil {
		u.Log("the record of the base's hashes is not brought up to date: %v", err)
		return
	}
	if read > 0 {
		u.Log("read %d files of the release root for the record of their hashes in %s", read, time.Since(start).Round(time.Millisecond))
		u.keepBaseHashes(seen)
	}
}

// keepBaseHashes replaces the record with what this rebuild confirmed. A
// record that cannot be written costs the next delta its hashing, not
// this install.
func (u *Updater) keepBaseHashes(seen *delta.Seen) {
	data, err := seen.Marshal()
	if err == nil {
		err = durable.WriteFile(u.baseHashesFile(), data, 0o644)
	}
	if err != nil {
		u.Log("the record of the base's hashes is not kept: %v", err)
	}
}
