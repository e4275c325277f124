package durable

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// What a write cut short leaves under a temporary name goes; the files
// it was writing, and anything else, stay.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "journal.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	// As a power cut leaves them: the temporary files of writes that did
	// not get to their renames.
	cut, err := os.CreateTemp(dir, ".journal.json"+tempMark+"*")
	if err != nil {
		t.Fatal(err)
	}
	cut.Close()
	other, err := os.CreateTemp(dir, ".security.json"+tempMark+"*")
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	others := []string{"journal.json", ".hidden", "layout.json.tmp"}
	for _, f := range others[1:] {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gone := RemoveTemps(dir)
	slices.Sort(gone)
	want := []string{filepath.Base(other.Name()), filepath.Base(cut.Name())}
	slices.Sort(want)
	if !slices.Equal(gone, want) {
		t.Errorf("removed %v, want %v", gone, want)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	slices.Sort(others)
	if !slices.Equal(names, others) {
		t.Errorf("left %v, want %v", names, others)
	}
}

// BenchmarkWriteFile: what a durable replace of a journal-sized file
// costs (temporary file, fsync, rename, fsync of the directory: how
// SPEC.md has journal.json written before each step acts) against one
// fsync of a file rewritten in place, the least a write that must
// survive a power cut costs. make bench sets the first against the time
// from the last byte to committed: each step journals one.
func BenchmarkWriteFile(b *testing.B) {
	data := make([]byte, 1200) // journal.json of an install under way
	b.Run("replace", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "journal.json")
		for b.Loop() {
			if err := WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("in-place", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "journal.json"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for b.Loop() {
			if _, err := f.WriteAt(data, 0); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
