package delta

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beamup/beamup/internal/rootdirs"
)

// BaseError says that the device's base release is not the one the delta
// was made against: a file it needs is missing or differs. The full
// bundle installs where the delta cannot.
type BaseError struct {
	Path   string
	Reason string
}

func (e *BaseError) Error() string { return fmt.Sprintf("the base's %s %s", e.Path, e.Reason) }

// Rebuild writes to w the release tarball (uncompressed) that the delta
// payload describes, taking the base's files from root, as RebuildTo
// does: when it returns an error, what w received must be thrown away.
func Rebuild(ctx context.Context, w io.Writer, payload io.Reader, root *os.Root, maxSize int64, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := RebuildTo(ctx, payload, root, nil, maxSize, mtime, func(h *tar.Header) (io.Writer, error) {
		return tw, tw.WriteHeader(h)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// RebuildTo rebuilds the members of the release tarball that the delta
// payload describes, in order, taking the base's files from root: for
// each, it calls next with its header and writes the file's bytes to the
// writer next returns. Each file is checked against its line of the
// index as it is written: when RebuildTo returns an error, what the
// writers received must be thrown away. A file copied from the base
// that next wants no bytes of (returns nil for: the layout keeps the
// file installed at its place) is checked all the same, on the machine's
// other cores while the rebuild goes on, before RebuildTo returns, and
// is not read at all when seen (which may be nil) holds it as it is;
// seen then holds what this rebuild confirmed. The files of the result
// may not add up to more than maxSize bytes. Files get mtime as their
// modification time.
func RebuildTo(ctx context.Context, payload io.Reader, root *os.Root, seen *Seen, maxSize int64, mtime time.Time, next func(h *tar.Header) (io.Writer, error)) error {
	zr, err := gzip.NewReader(payload)
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	pr := tar.NewReader(zr)
	h, err := pr.Next()
	if err != nil || h.Name != Index {
		return fmt.Errorf("delta: the payload does not begin with %s", Index)
	}
	entries, err := ReadIndex(pr)
	if err != nil {
		return fmt.Errorf("delta: %w", err)
	}
	var total int64
	for _, e := range entries {
		if total += e.Size; total > maxSize {
			return fmt.Errorf("delta: its files add up to more than the %d bytes the manifest says", maxSize)
		}
	}
	sum := sha256.New()
	// Most of a delta's files are copied from the base: a large buffer
	// hands them on in few reads and few writes.
	buf := make([]byte, 256<<10)
	kept := newChecks(ctx, root, seen)
	for i := range entries {
		if err := ctx.Err(); err != nil {
			kept.cancel()
			return err
		}
		if err := rebuildEntry(next, pr, root, i, &entries[i], sum, mtime, buf, kept); err != nil {
			kept.cancel()
			return err
		}
	}
	if err := kept.wait(); err != nil {
		return err
	}
	if _, err := pr.Next(); err != io.EOF {
		return fmt.Errorf("delta: members after the last file the index lists")
	}
	return nil
}

// checks hashes the base's files that a rebuild copies without handing
// them on, on workers of their own beside the rebuild: a delta is mostly
// such files, and they need only be read.
type checks struct {
	ctx  context.Context
	root *os.Root
	seen *Seen
	jobs chan checkJob
	wg   sync.WaitGroup
	stop atomic.Bool

	mu    sync.Mutex
	first int // the entry of err: the first in the index is said
	err   error
}

type checkJob struct {
	i int
	e *Entry
}

func newChecks(ctx context.Context, root *os.Root, seen *Seen) *checks {
	c := &checks{ctx: ctx, root: root, seen: seen, jobs: make(chan checkJob, 64)}
	for range max(runtime.GOMAXPROCS(0), 2) {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

func (c *checks) work() {
	defer c.wg.Done()
	buf := make([]byte, 256<<10)
	// The kept files are a few directories' many files.
	dirs := rootdirs.New(c.root)
	defer dirs.Close()
	for j := range c.jobs {
		if c.stop.Load() || c.ctx.Err() != nil {
			continue
		}
		if err := c.checkOne(dirs, j.e, buf); err != nil {
			c.mu.Lock()
			if c.err == nil || j.i < c.first {
				c.first, c.err = j.i, err
			}
			c.mu.Unlock()
		}
	}
}

// checkOne checks the base's file of e against the index, reading it
// only when the record has it otherwise.
func (c *checks) checkOne(dirs *rootdirs.Dirs, e *Entry, buf []byte) error {
	// Stat before reading: a write after it gives the file another stat,
	// which the record then does not match.
	fi, statErr := dirs.Stat(e.Base)
	if statErr == nil && c.seen.matches(e.Base, fi, e.SHA256) {
		return nil
	}
	at := time.Now()
	if err := copyBase(io.Discard, c.root, e, sha256.New(), buf); err != nil {
		return err
	}
	if statErr == nil {
		c.seen.note(e.Base, fi, e.SHA256, at)
	}
	return nil
}

// check hashes the base's file of entry i, e, against the index.
func (c *checks) check(i int, e *Entry) { c.jobs <- checkJob{i, e} }

// cancel stops the checks not yet made.
func (c *checks) cancel() {
	c.stop.Store(true)
	c.wait()
}

// wait returns the error of the first entry whose check failed, once
// every check is made.
func (c *checks) wait() error {
	close(c.jobs)
	c.wg.Wait()
	if c.err != nil {
		return c.err
	}
	return c.ctx.Err()
}

func rebuildEntry(next func(*tar.Header) (io.Writer, error), pr *tar.Reader, root *os.Root, i int, e *Entry, sum hash.Hash, mtime time.Time, buf []byte, kept *checks) error {
	h := &tar.Header{Name: e.Path, Mode: e.Mode, Size: e.Size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	switch {
	case e.Dir:
		h.Name, h.Typeflag = e.Path+"/", tar.TypeDir
	case e.Link != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
	}
	w, err := next(h)
	if err != nil {
		return err
	}
	if !e.regular() {
		return nil
	}
	sum.Reset()
	var out io.Writer = sum
	if w != nil {
		out = io.MultiWriter(w, sum)
	}
	switch e.Source {
	case Whole, Patch:
		m, err := pr.Next()
		if err != nil || m.Name != e.Path {
			return fmt.Errorf("delta: the payload lacks %s where the index puts it", e.Path)
		}
		if e.Source == Whole {
			if m.Size != e.Size {
				return fmt.Errorf("delta: %s is %d bytes, the index says %d", e.Path, m.Size, e.Size)
			}
			if _, err := io.Copy(out, pr); err != nil {
				return err
			}
			break
		}
		f, size, err := openBase(root, e, e.BaseSHA256)
		if err != nil {
			return err
		}
		err = Apply(out, f, size, io.LimitReader(pr, MaxFile), e.Size)
		f.Close()
		if err != nil {
			return fmt.Errorf("delta: %s: %w", e.Path, err)
		}
	case Copy:
		if w == nil {
			kept.check(i, e)
			return nil
		}
		return copyBase(w, root, e, sum, buf)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != e.SHA256 {
		return fmt.Errorf("delta: %s rebuilt has sha256 %.12s, signed %.12s", e.Path, got, e.SHA256)
	}
	return nil
}

// copyBase writes the base's file of the copy e to w, and checks that it
// hashes, with sum, to what the index says.
func copyBase(w io.Writer, root *os.Root, e *Entry, sum hash.Hash, buf []byte) error {
	f, size, err := openBase(root, e, "")
	if err != nil {
		return err
	}
	defer f.Close()
	if size != e.Size {
		return &BaseError{e.Base, fmt.Sprintf("is %d bytes, the delta needs %d", size, e.Size)}
	}
	sum.Reset()
	if _, err := io.CopyBuffer(io.MultiWriter(w, sum), io.NewSectionReader(f, 0, size), buf); err != nil {
		return fmt.Errorf("reading the base's %s: %w", e.Base, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != e.SHA256 {
		return &BaseError{e.Base, "differs from the delta's base"}
	}
	return nil
}

// openBase opens the base's file of e; when want is set, the file must
// hash to it.
func openBase(root *os.Root, e *Entry, want string) (*os.File, int64, error) {
	f, err := root.Open(e.Base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, &BaseError{e.Base, "is missing"}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the base: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, &BaseError{e.Base, "is not a file"}
	}
	if want != "" {
		got, err := sha256Of(f, nil)
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("reading the base's %s: %w", e.Base, err)
		}
		if got != want {
			f.Close()
			return nil, 0, &BaseError{e.Base, "differs from the delta's base"}
		}
	}
	return f, st.Size(), nil
}

// sha256Of hashes what r gives, through buf (nil for a buffer of its own).
func sha256Of(r io.Reader, buf []byte) (string, error) {
	h := sha256.New()
	// Through buf, not the reader's own WriteTo: an *os.File's copies
	// into a hash through a fresh 32 KiB buffer each, which for the few
	// hundred files of a release's record left the daemon holding 3 MiB
	// more than it needs while idle.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{r}, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
