// Package rootdirs looks names up under an os.Root one directory at a
// time. os.Root resolves every component of a name on each call, an
// openat and a close for each directory on the way, which makes a stat
// of a file deep in a release (lib/stdlib-4.3/ebin/lists.beam) cost five
// times a plain one; a delta's rebuild and a layout look up hundreds of
// files, in the order of a tarball, directory by directory. Dirs keeps
// the few directories it opened last, through the root, and looks up the
// last component in them, so that nothing escapes the root that the root
// would not let escape.
package rootdirs

import (
	"io/fs"
	"os"
	"path"
)

// kept is how many directories a Dirs holds open: names come grouped by
// directory, and a release has hundreds of directories, more than a
// device's file descriptors should hold for a cache.
const kept = 8

// Dirs looks names up under root, keeping the directories it opened
// last. It is not safe for concurrent use. A directory that is removed
// while it is kept is looked up as it was: use Dirs where the
// directories it opens stay, and Close it when done.
type Dirs struct {
	root *os.Root
	open [kept]dir
	next int // the slot the next directory opened takes
}

type dir struct {
	name string
	root *os.Root
}

// New looks names up under root, which stays the caller's to close.
func New(root *os.Root) *Dirs { return &Dirs{root: root} }

// Lstat is root.Lstat(name).
func (d *Dirs) Lstat(name string) (fs.FileInfo, error) {
	r, base := d.split(name)
	return r.Lstat(base)
}

// Stat is root.Stat(name), except that a symbolic link in name's
// directory that leads out of it is an error.
func (d *Dirs) Stat(name string) (fs.FileInfo, error) {
	r, base := d.split(name)
	return r.Stat(base)
}

// split returns the root of name's directory and name's last
// component; the whole root and name when the directory cannot be
// opened (whose lookup then fails as root's would). Failures are not
// kept: a directory missing now may be made later.
func (d *Dirs) split(name string) (*os.Root, string) {
	parent, base := path.Split(path.Clean(name))
	if parent == "" {
		return d.root, base
	}
	parent = path.Clean(parent)
	for _, o := range d.open {
		if o.root != nil && o.name == parent {
			return o.root, base
		}
	}
	r, err := d.root.OpenRoot(parent)
	if err != nil {
		return d.root, name
	}
	slot := &d.open[d.next]
	if slot.root != nil {
		slot.root.Close()
	}
	*slot = dir{parent, r}
	d.next = (d.next + 1) % kept
	return r, base
}

// Close closes the directories it holds.
func (d *Dirs) Close() {
	for i := range d.open {
		if d.open[i].root != nil {
			d.open[i].root.Close()
			d.open[i] = dir{}
		}
	}
}
