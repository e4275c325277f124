package delta

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

func TestDiffApply(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	old := make([]byte, 100<<10)
	rng.Read(old)
	for _, tc := range []struct {
		name string
		new  []byte
	}{
		{"empty", nil},
		{"same", old},
		{"grown", append(append(append([]byte{}, old[:40<<10]...), []byte("inserted code")...), old[40<<10:]...)},
		{"shrunk", append(append([]byte{}, old[:10<<10]...), old[30<<10:]...)},
		{"random", old[:50]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patch := Diff(old, tc.new)
			var out bytes.Buffer
			if err := Apply(&out, bytes.NewReader(old), int64(len(old)), bytes.NewReader(patch), int64(len(tc.new))); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), tc.new) {
				t.Fatalf("patched %d bytes differ from the %d wanted", out.Len(), len(tc.new))
			}
			if tc.name == "grown" && len(patch) > 4<<10 {
				t.Errorf("a 13-byte insertion into 100 KiB patches in %d bytes", len(patch))
			}
		})
	}
	if err := Apply(io.Discard, bytes.NewReader(old), int64(len(old)), bytes.NewReader([]byte{5, 1, 2}), 10); !errors.Is(err, errPatch) {
		t.Errorf("a truncated patch: %v", err)
	}
}

// TestRebuild makes the delta of the sample's 1.0.0 -> 1.1.0 the way
// beamup bundle --base does, and rebuilds 1.1.0 from an installed 1.0.0:
// every member of the release tarball comes back as it was.
func TestRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sample releases")
	}
	oldTar, newTar := otptest.Tarball(t, "1.0.0"), otptest.Tarball(t, "1.1.0")
	var payload bytes.Buffer
	st, err := Make(oldTar, newTar, &payload)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := os.Stat(newTar)
	t.Logf("delta %d bytes of %d (%.2f%%): %d files, %d copied, %d patched, %d whole", payload.Len(), full.Size(),
		100*float64(payload.Len())/float64(full.Size()), st.Files, st.Copied, st.Patched, st.Whole)
	if st.Copied == 0 || st.Patched == 0 || float64(payload.Len()) > 0.02*float64(full.Size()) {
		t.Errorf("delta of %d bytes: %+v", payload.Len(), st)
	}
	root := t.TempDir()
	if _, err := otprel.Extract(oldTar, root); err != nil {
		t.Fatal(err)
	}
	rebuilt := rebuild(t, root, payload.Bytes(), st.Size)
	want := members(t, newTar, true)
	got := members(t, rebuilt, false)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: rebuilt %.40q, want %.40q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rebuilt %d members, want %d", len(got), len(want))
	}

	// A dir installed from the tarball is a base too.
	var fromDir bytes.Buffer
	if _, err := Make(root, newTar, &fromDir); err != nil {
		t.Fatal(err)
	}

	var be *BaseError
	// The base's files the caller takes no bytes of (those the layout
	// keeps where they are) are checked all the same.
	stdlib, _ := filepath.Glob(filepath.Join(root, "lib", "stdlib-*"))
	if len(stdlib) != 1 {
		t.Fatalf("the base has stdlib %q", stdlib)
	}
	lists := filepath.Join(stdlib[0], "ebin", "lists.beam")
	orig, err := os.ReadFile(lists)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(lists, []byte("changed"), 0o644)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = RebuildTo(context.Background(), bytes.NewReader(payload.Bytes()), r, nil, st.Size, time.Now(), func(h *tar.Header) (io.Writer, error) {
		if strings.HasPrefix(h.Name, "releases/") {
			return io.Discard, nil
		}
		return nil, nil
	})
	if !errors.As(err, &be) || !strings.Contains(be.Path, "lists.beam") {
		t.Errorf("rebuilt taking none of stdlib's files from a changed base: %v", err)
	}
	os.WriteFile(lists, orig, 0o644)

	// The base differs: said so, naming the file.
	os.WriteFile(filepath.Join(root, "lib", "gauge-1.0.0", "ebin", "gauge_fmt.beam"), []byte("changed"), 0o644)
	err = rebuildErr(t, root, payload.Bytes(), st.Size)
	if !errors.As(err, &be) || !strings.Contains(be.Path, "gauge_fmt.beam") {
		t.Errorf("rebuilt on a changed base: %v", err)
	}
	os.RemoveAll(filepath.Join(root, "lib", "kernel-8.5.3"))
	if err := rebuildErr(t, root, payload.Bytes(), st.Size); !errors.As(err, &be) {
		t.Errorf("rebuilt without kernel: %v", err)
	}
	if err := rebuildErr(t, root, payload.Bytes(), st.Size/2); err == nil || errors.As(err, &be) {
		t.Errorf("rebuilt more than the manifest's size: %v", err)
	}
}

func rebuildErr(t *testing.T, root string, payload []byte, size int64) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return Rebuild(context.Background(), io.Discard, bytes.NewReader(payload), r, size, time.Now())
}

func rebuild(t *testing.T, root string, payload []byte, size int64) string {
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "rebuilt.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Rebuild(context.Background(), f, bytes.NewReader(payload), r, size, time.Now()); err != nil {
		t.Fatal(err)
	}
	return out
}

// members reads a tarball's members: a file's content, a link's target,
// "dir" for a directory.
func members(t *testing.T, p string, gz bool) map[string]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	m := map[string]string{}
	each := func(h *tar.Header, r io.Reader) error {
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		switch h.Typeflag {
		case tar.TypeDir:
			m[name] = "dir"
		case tar.TypeSymlink:
			m[name] = "-> " + h.Linkname
		default:
			b, _ := io.ReadAll(r)
			m[name] = string(b) + "|" + os.FileMode(h.Mode&0o777).String()
		}
		return nil
	}
	if gz {
		err = otprel.EachMember(r, each)
	} else {
		tr := tar.NewReader(r)
		for {
			h, e := tr.Next()
			if e == io.EOF {
				break
			}
			if e != nil {
				t.Fatal(e)
			}
			each(h, tr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	delete(m, ".")
	return m
}

// An index ends after its last entry: nothing may hide behind a stray
// bracket.
func TestReadIndexEndsAtItsLastEntry(t *testing.T) {
	good := `{"path":"a","mode":420,"size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}` + "\n"
	if e, err := ReadIndex(strings.NewReader(good)); err != nil || len(e) != 1 {
		t.Fatalf("a one-line index: %v, %d entries", err, len(e))
	}
	if _, err := ReadIndex(strings.NewReader(good[:len(good)-1] + `]{"path":"../../x"}`)); err == nil {
		t.Error("an index with a stray ] and a line after it was read")
	}
}
