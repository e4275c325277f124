package delta

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// keptBase makes the sample's 1.0.0 -> 1.1.0 delta and installs its base
// in a directory, old enough for the record to trust its files' times.
func keptBase(tb testing.TB) (root *os.Root, dir string, payload []byte, st *Stats) {
	oldTar, newTar := otptest.Tarball(tb, "1.0.0"), otptest.Tarball(tb, "1.1.0")
	var buf bytes.Buffer
	st, err := Make(oldTar, newTar, &buf)
	if err != nil {
		tb.Fatal(err)
	}
	dir = tb.TempDir()
	if _, err := otprel.Extract(oldTar, dir); err != nil {
		tb.Fatal(err)
	}
	time.Sleep(racy + 100*time.Millisecond)
	root, err = os.OpenRoot(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { root.Close() })
	return root, dir, buf.Bytes(), st
}

// rebuildKept rebuilds the delta as a layout does: the base's files stay
// where they are, and only the new release's own are taken.
func rebuildKept(root *os.Root, payload []byte, st *Stats, seen *Seen) error {
	return RebuildTo(context.Background(), bytes.NewReader(payload), root, seen, st.Size, time.Now(), func(h *tar.Header) (io.Writer, error) {
		if strings.HasPrefix(h.Name, "releases/") {
			return io.Discard, nil
		}
		return nil, nil
	})
}

// The record of the base's hashes stands in for reading the files it
// holds as they are, and for none that was written since.
func TestRebuildWithRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sample releases")
	}
	root, dir, payload, st := keptBase(t)
	kept := keptCopies(t, payload)

	first := ReadSeen(nil)
	if err := rebuildKept(root, payload, st, first); err != nil {
		t.Fatal(err)
	}
	if first.Len() != kept {
		t.Fatalf("the record holds %d files after the first rebuild, want the %d copied", first.Len(), kept)
	}
	data, err := first.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again := ReadSeen(data)
	if err := rebuildKept(root, payload, st, again); err != nil {
		t.Fatalf("rebuilt with the record: %v", err)
	}
	if again.Len() != kept {
		t.Errorf("the record holds %d files after the second rebuild, want %d", again.Len(), kept)
	}

	// A file rewritten with other bytes of the same size: its stat is not
	// what the record holds, and it is read and refused.
	stdlib, _ := filepath.Glob(filepath.Join(dir, "lib", "stdlib-*", "ebin", "lists.beam"))
	if len(stdlib) != 1 {
		t.Fatalf("the base has lists.beam %q", stdlib)
	}
	orig, err := os.ReadFile(stdlib[0])
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(orig)
	changed[len(changed)/2] ^= 0xff
	if err := os.WriteFile(stdlib[0], changed, 0o644); err != nil {
		t.Fatal(err)
	}
	var be *BaseError
	err = rebuildKept(root, payload, st, ReadSeen(data))
	if !errors.As(err, &be) || !strings.Contains(be.Path, "lists.beam") {
		t.Errorf("rebuilt on a changed lists.beam with the record of the unchanged one: %v", err)
	}

	// Put back, it matches again, but was written too lately for its
	// times to be trusted: read, and left out of the record.
	if err := os.WriteFile(stdlib[0], orig, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := ReadSeen(data)
	if err := rebuildKept(root, payload, st, fresh); err != nil {
		t.Fatalf("rebuilt on lists.beam put back: %v", err)
	}
	if fresh.Len() != kept-1 {
		t.Errorf("the record holds %d files, want %d: all but the file just written", fresh.Len(), kept-1)
	}

	// A record that does not read is an empty one.
	if err := rebuildKept(root, payload, st, ReadSeen([]byte("{\"lib/x\": 1"))); err != nil {
		t.Errorf("rebuilt with a torn record: %v", err)
	}
}

// keptCopies counts the files of the delta that rebuildKept leaves where
// they are: those copied from the base, outside releases/.
func keptCopies(t *testing.T, payload []byte) int {
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadIndex(tr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.regular() && e.Source == Copy && !strings.HasPrefix(e.Path, "releases/") {
			n++
		}
	}
	return n
}

// BenchmarkRebuildKept: the delta's rebuild as the layout runs it, the
// base's kept files hashed (the first delta on a device) against the
// same with the record of their hashes (every delta after it).
func BenchmarkRebuildKept(b *testing.B) {
	root, _, payload, st := keptBase(b)
	seen := ReadSeen(nil)
	if err := rebuildKept(root, payload, st, seen); err != nil {
		b.Fatal(err)
	}
	data, err := seen.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("hashed", func(b *testing.B) {
		for b.Loop() {
			if err := rebuildKept(root, payload, st, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("recorded", func(b *testing.B) {
		for b.Loop() {
			if err := rebuildKept(root, payload, st, ReadSeen(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Learn records the base's files for the first delta, and reads again
// only what changed since.
func TestLearn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sample releases")
	}
	root, dir, payload, st := keptBase(t)
	erts, _ := filepath.Glob(filepath.Join(dir, "erts-*"))
	if len(erts) != 1 {
		t.Fatalf("the base has ERTS %q", erts)
	}
	dirs := []string{"lib", filepath.Base(erts[0])}
	seen := ReadSeen(nil)
	read, err := seen.Learn(context.Background(), root, dirs...)
	if err != nil || read == 0 || seen.Len() != read {
		t.Fatalf("learnt %d files, read %d: %v", seen.Len(), read, err)
	}
	data, _ := seen.Marshal()

	again := ReadSeen(data)
	if n, err := again.Learn(context.Background(), root, dirs...); n != 0 || err != nil {
		t.Errorf("learnt again, reading %d files: %v", n, err)
	}
	// What a delta keeps is in the record learnt before it.
	rebuilt := ReadSeen(data)
	if err := rebuildKept(root, payload, st, rebuilt); err != nil || rebuilt.Len() != keptCopies(t, payload) {
		t.Errorf("rebuilt on the record learnt, confirming %d files: %v", rebuilt.Len(), err)
	}

	if err := os.WriteFile(filepath.Join(dir, "lib", "added"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := ReadSeen(data).Learn(context.Background(), root, dirs...); n != 1 || err != nil {
		t.Errorf("learnt after a file was added, reading %d files, want 1: %v", n, err)
	}
}
