package rootdirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestDirs(t *testing.T) {
	top := t.TempDir()
	outside := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(top, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lib/stdlib-4.3/ebin/lists.beam", "lists")
	write("top", "t")
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
	os.Symlink("lists.beam", filepath.Join(top, "lib/stdlib-4.3/ebin/link.beam"))
	os.Symlink(outside, filepath.Join(top, "lib/out"))
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(top, "lib/stdlib-4.3/ebin/escape.beam"))

	root, err := os.OpenRoot(top)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	d := New(root)
	defer d.Close()

	for _, tc := range []struct {
		name    string
		follow  bool
		size    int64
		link    bool
		missing bool
		refused bool
	}{
		{name: "lib/stdlib-4.3/ebin/lists.beam", size: 5},
		{name: "lib/stdlib-4.3/ebin/lists.beam", follow: true, size: 5},
		{name: "./lib/stdlib-4.3/ebin/../ebin/lists.beam", size: 5},
		{name: "top", size: 1},
		{name: "lib/stdlib-4.3/ebin/link.beam", link: true},
		{name: "lib/stdlib-4.3/ebin/link.beam", follow: true, size: 5},
		{name: "lib/stdlib-4.3/ebin/none.beam", missing: true},
		{name: "lib/none/ebin/x.beam", missing: true},
		// Out of the root: refused, as the root refuses it.
		{name: "lib/out/secret", refused: true},
		{name: "lib/stdlib-4.3/ebin/escape.beam", follow: true, refused: true},
		{name: "../x", refused: true},
	} {
		stat, what := d.Lstat, "Lstat"
		if tc.follow {
			stat, what = d.Stat, "Stat"
		}
		fi, err := stat(tc.name)
		switch {
		case tc.missing:
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s(%s) = %v, want not exist", what, tc.name, err)
			}
		case tc.refused:
			if err == nil {
				t.Errorf("%s(%s) left the root", what, tc.name)
			}
		case err != nil:
			t.Errorf("%s(%s): %v", what, tc.name, err)
		case tc.link != (fi.Mode()&fs.ModeSymlink != 0):
			t.Errorf("%s(%s) mode %v, symlink %v wanted", what, tc.name, fi.Mode(), tc.link)
		case !tc.link && fi.Size() != tc.size:
			t.Errorf("%s(%s) size %d, want %d", what, tc.name, fi.Size(), tc.size)
		}
	}

	// A directory missing at first and made later is found.
	if _, err := d.Lstat("lib/new/ebin/a.beam"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lstat before: %v", err)
	}
	write("lib/new/ebin/a.beam", "a")
	if _, err := d.Lstat("lib/new/ebin/a.beam"); err != nil {
		t.Fatalf("Lstat after the directory was made: %v", err)
	}
}

// Names from more directories than it keeps are all found, with no more
// file descriptors held than it keeps, and none after Close.
func TestDirsKeepsFew(t *testing.T) {
	top := t.TempDir()
	var names []string
	for i := range 3 * kept {
		n := filepath.Join("lib", fmt.Sprintf("app%d-1.0", i), "ebin", "m.beam")
		if err := os.MkdirAll(filepath.Join(top, filepath.Dir(n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(top, n), []byte("m"), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	root, err := os.OpenRoot(top)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fds := func() int {
		e, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(e)
	}
	before := fds()
	d := New(root)
	defer d.Close()
	for range 2 {
		for _, n := range names {
			if _, err := d.Stat(n); err != nil {
				t.Fatalf("Stat(%s): %v", n, err)
			}
		}
	}
	if held := fds() - before; held > kept {
		t.Errorf("%d file descriptors held after %d directories, want at most %d", held, len(names), kept)
	}
	d.Close()
	if held := fds() - before; held > 0 {
		t.Errorf("%d file descriptors held after Close", held)
	}
}
