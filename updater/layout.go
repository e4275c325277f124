package updater

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/beamup/beamup/internal/durable"
	"github.com/beamup/beamup/internal/rootdirs"
	"github.com/beamup/beamup/otprel"
)

// A layout writes a new release's files into the release root as its
// verified tarball is read, as unpack_release would extract it: the
// directories of its own (lib/APP-VSN and erts-VSN that no release on
// the node uses, releases/VSN) whole, anything else only where nothing is
// (erl_tar's keep_old_files). release_handler:set_unpacked then registers
// it, and the unpack costs nothing after the last byte. Each path it
// creates is first recorded durably in staging/layout.json, so that a
// layout cut short by a failure, a kill or a power cut is removed
// whole, and nothing the running release uses is ever written.
type layout struct {
	u        *Updater
	root     *os.Root
	lookup   *rootdirs.Dirs // what is kept: many files of few directories
	version  string
	used     map[string]bool
	created  []string        // top-most paths it created, in order
	wiped    map[string]bool // own directories emptied of leftovers
	open     *os.File        // the member being written
	openName string
	// What it wrote since it last synced: files closed, and directories
	// whose entries it changed. Only these are synced, not the whole
	// filesystem, which holds what the node writes too.
	files   []string
	dirs    map[string]bool
	syncErr error // the first sync that failed
}

// newLayout starts the layout of release vsn, or returns nil when
// release_handler knows vsn already (there is nothing to lay out, and
// its files must stay).
func (u *Updater) newLayout(ctx context.Context, vsn string) (*layout, error) {
	rels, err := u.node.WhichReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("laying out the release: %w", err)
	}
	if registered(rels, vsn) {
		return nil, nil
	}
	used, err := u.usedByOthers(ctx, vsn)
	if err != nil {
		return nil, fmt.Errorf("laying out the release: %w", err)
	}
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("laying out the release: %w", err)
	}
	return &layout{u: u, root: root, lookup: rootdirs.New(root), version: vsn, used: used, wiped: map[string]bool{}, dirs: map[string]bool{}}, nil
}

// member is the otprel.Sink of the layout.
func (l *layout) member(h *tar.Header, name string) (io.Writer, error) {
	if err := l.closeMember(); err != nil {
		return nil, err
	}
	if name == "." {
		return nil, nil
	}
	own := laidOut(name, l.version, l.used)
	if own {
		if err := l.wipe(name); err != nil {
			return nil, err
		}
	} else if _, err := l.lookup.Lstat(name); err == nil {
		return nil, nil // keep_old_files: what is there stays
	} else if !errors.Is(err, fs.ErrNotExist) {
		// Only what is surely not there is written: a lookup that
		// failed otherwise (out of file descriptors, say) may hide a
		// file the running release uses.
		return nil, fmt.Errorf("laying out %s: %w", name, err)
	}
	if err := l.create(path.Dir(name)); err != nil {
		return nil, err
	}
	if err := l.record(name); err != nil {
		return nil, err
	}
	l.dirs[path.Dir(name)] = true
	switch h.Typeflag {
	case tar.TypeDir:
		return nil, l.root.MkdirAll(name, 0o755)
	case tar.TypeSymlink:
		return nil, l.root.Symlink(h.Linkname, name)
	case tar.TypeReg, tar.TypeRegA:
		f, err := l.root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o200)
		if err != nil {
			return nil, fmt.Errorf("laying out %s: %w", name, err)
		}
		l.open, l.openName = f, name
		return memberWriter{f}, nil
	}
	return nil, nil
}

// closeMember closes the file of the member written last: the sink's
// writers are dropped, not closed, so the next member closes the last.
func (l *layout) closeMember() error {
	if l.open == nil {
		return nil
	}
	err := l.open.Close()
	l.open = nil
	if err != nil {
		return fmt.Errorf("laying out: %w", err)
	}
	l.files = append(l.files, l.openName)
	return nil
}

// wipe empties, once, the own directory name is in: what an unpack cut
// short left there is not the bundle's.
func (l *layout) wipe(name string) error {
	dir := ownDir(name)
	if l.wiped[dir] {
		return nil
	}
	l.wiped[dir] = true
	if _, err := l.root.Lstat(dir); err != nil {
		return nil
	}
	if err := l.root.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the leftover %s: %w", dir, err)
	}
	l.dirs[path.Dir(dir)] = true
	l.u.Log("removed %s, left by an interrupted unpack", dir)
	return nil
}

// create makes dir and its missing parents, recording the top-most it
// made.
func (l *layout) create(dir string) error {
	if dir == "." {
		return nil
	}
	if _, err := l.root.Lstat(dir); err == nil {
		return nil
	}
	if err := l.create(path.Dir(dir)); err != nil {
		return err
	}
	if err := l.record(dir); err != nil {
		return err
	}
	l.dirs[path.Dir(dir)] = true
	return l.root.Mkdir(dir, 0o755)
}

// record notes durably, before it is made, a path the layout makes at
// the top of what it adds.
func (l *layout) record(name string) error {
	for _, c := range l.created {
		if name == c || strings.HasPrefix(name, c+"/") {
			return nil
		}
	}
	l.created = append(l.created, name)
	data, _ := json.Marshal(l.created)
	if err := durable.WriteFile(l.u.layoutFile(), data, 0o644); err != nil {
		return fmt.Errorf("recording the layout: %w", err)
	}
	return nil
}

// sync puts what the layout wrote so far on disk, while it waits for
// more of the payload; close syncs the rest, and says whether any sync
// failed. The file being written is synced once it is closed.
func (l *layout) sync() {
	names := l.files
	for d := range l.dirs {
		names = append(names, d)
	}
	if err := syncAll(l.root, names); err != nil && l.syncErr == nil {
		l.syncErr = err
	}
	l.files, l.dirs = l.files[:0], map[string]bool{}
}

// close ends the layout: the files it wrote are on disk, and still
// recorded until the release is registered.
func (l *layout) close() error {
	err := l.closeMember()
	l.sync()
	if err == nil {
		err = l.syncErr
	}
	l.lookup.Close()
	l.root.Close()
	return err
}

// syncAll fsyncs the files and directories named under root, a few at
// once: the filesystem commits syncs that wait together in one go.
func syncAll(root *os.Root, names []string) error {
	var g errgroup.Group
	g.SetLimit(8)
	for _, name := range names {
		g.Go(func() error { return syncIn(root, name) })
	}
	return g.Wait()
}

func syncIn(root *os.Root, name string) error {
	f, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	return nil
}

// layoutFile records what a layout under way made.
func (u *Updater) layoutFile() string { return filepath.Join(u.stagingDir(), "layout.json") }

// removeLayout removes what a layout that did not end in a registered
// release made, as staging/layout.json records it.
func (u *Updater) removeLayout() {
	data, err := os.ReadFile(u.layoutFile())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var made []string
	if err == nil {
		err = json.Unmarshal(data, &made)
	}
	if err != nil {
		u.Log("cleanup: %s: %v", u.layoutFile(), err)
		os.Remove(u.layoutFile())
		return
	}
	root, err := os.OpenRoot(u.cfg.Root)
	if err != nil {
		u.Log("cleanup: %v", err)
		return
	}
	defer root.Close()
	for i := len(made) - 1; i >= 0; i-- {
		if err := root.RemoveAll(made[i]); err != nil {
			u.Log("cleanup: %v", err)
			return // recorded still: tried again next time
		}
	}
	durable.SyncDir(u.cfg.Root)
	os.Remove(u.layoutFile())
	if len(made) > 0 {
		u.Log("removed %s, laid out by an install that did not finish", strings.Join(made, ", "))
	}
}

// registeredLayout forgets the record of a layout release_handler has
// registered: from here on its way back is remove_release.
func (u *Updater) registeredLayout() {
	os.Remove(u.layoutFile())
	durable.SyncDir(u.stagingDir())
}

// layoutError is a layout that could not write: the device's problem,
// not the bundle's.
type layoutError struct{ err error }

func (e *layoutError) Error() string { return e.err.Error() }
func (e *layoutError) Unwrap() error { return e.err }

// memberWriter writes a member's bytes into its file; a failed write is
// the device's problem.
type memberWriter struct{ f *os.File }

func (w memberWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		return n, &layoutError{err}
	}
	return n, nil
}

// ownDir is the directory of its own a laid-out path is in: lib/APP-VSN,
// erts-VSN or releases/VSN.
func ownDir(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if parts[0] == "lib" || parts[0] == "releases" {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// layOut reads the verified tarball from r into a layout (none when l is
// nil) and returns the release it holds.
func layOut(r io.Reader, l *layout) (*otprel.ReleaseFiles, error) {
	files, err := otprel.ReadTarballTo(r, l.sink())
	return files, l.end(err)
}

// sink is the otprel.Sink of the layout, none without one: a write it
// cannot make is a layoutError.
func (l *layout) sink() otprel.Sink {
	if l == nil {
		return nil
	}
	return func(h *tar.Header, name string) (io.Writer, error) {
		w, err := l.member(h, name)
		if err != nil {
			return nil, &layoutError{err}
		}
		return w, nil
	}
}

// end closes the layout, when there is one, once reading the release
// ended with err.
func (l *layout) end(err error) error {
	if l == nil {
		return err
	}
	if cerr := l.close(); err == nil && cerr != nil {
		err = &layoutError{cerr}
	}
	return err
}
