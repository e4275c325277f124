// Package rootdirs looks names up under an os.Root one directory at a
// time. os.Root resolves every component of a name on each call, an
// openat and a close for each directory on the way, which makes a stat
// of a file deep in a release (lib/stdlib-4.3/ebin/lists.beam) cost five
// times a plain one; a delta's rebuild and a layout look up hundreds of
// files in a few directories. Dirs opens each directory once, through
// the root, and looks up the last component in it, so that nothing
// escapes the root that the root would not let escape.
package rootdirs

import (
	"io/fs"
	"os"
	"path"
)

// Dirs looks names up under root, keeping the directories it opened.
// It is not safe for concurrent use. A directory that is removed while
// it is kept is looked up as it was: use Dirs where the directories it
// opens stay, and Close it when done.
type Dirs struct {
	root *os.Root
	open map[string]*os.Root
}

// New looks names up under root, which stays the caller's to close.
func New(root *os.Root) *Dirs {
	return &Dirs{root: root, open: map[string]*os.Root{}}
}

// Lstat is root.Lstat(name).
func (d *Dirs) Lstat(name string) (fs.FileInfo, error) {
	dir, base := d.split(name)
	return dir.Lstat(base)
}

// Stat is root.Stat(name), except that a symbolic link in name's
// directory that leads out of it is an error.
func (d *Dirs) Stat(name string) (fs.FileInfo, error) {
	dir, base := d.split(name)
	return dir.Stat(base)
}

// split returns the root of name's directory and name's last
// component; the whole root and name when the directory cannot be
// opened (whose lookup then fails as root's would). Failures are not
// kept: a directory missing now may be made later.
func (d *Dirs) split(name string) (*os.Root, string) {
	dir, base := path.Split(path.Clean(name))
	if dir == "" {
		return d.root, base
	}
	dir = path.Clean(dir)
	if r, ok := d.open[dir]; ok {
		return r, base
	}
	r, err := d.root.OpenRoot(dir)
	if err != nil {
		return d.root, name
	}
	d.open[dir] = r
	return r, base
}

// Close closes the directories it opened.
func (d *Dirs) Close() {
	for dir, r := range d.open {
		r.Close()
		delete(d.open, dir)
	}
}
