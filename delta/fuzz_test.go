package delta_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/delta"
)

// An index comes out of a payload only a signed manifest vouches for, but
// ReadIndex must stand any bytes: entries or an error, never a panic, and
// every entry it returns is one Rebuild may trust.
func FuzzReadIndex(f *testing.F) {
	good := []delta.Entry{
		{Path: "lib", Mode: 0o755, Dir: true},
		{Path: "lib/gauge-1.1.0/ebin/gauge.app", Mode: 0o644, Size: 5, SHA256: sum("hello")},
		{Path: "lib/gauge-1.1.0/ebin/gauge.beam", Mode: 0o644, Size: 3, SHA256: sum("new"),
			Source: delta.Patch, Base: "lib/gauge-1.0.0/ebin/gauge.beam", BaseSHA256: sum("old")},
		{Path: "erts-13.1.5/bin/beam.smp", Mode: 0o755, Size: 4, SHA256: sum("beam"),
			Source: delta.Copy, Base: "erts-13.1.5/bin/beam.smp", BaseSHA256: sum("beam")},
		{Path: "bin/erl", Mode: 0o777, Link: "../erts-13.1.5/bin/erl"},
	}
	f.Add(index(f, good...))
	f.Add(index(f, good[1]))
	// Lines ReadIndex refuses: a base that leads up, an absolute path, a
	// bad hash, a negative size, the same path twice.
	f.Add(index(f, delta.Entry{Path: "a", Mode: 0o644, Size: 3, SHA256: sum("new"), Source: delta.Copy, Base: "../../etc/passwd"}))
	f.Add(index(f, delta.Entry{Path: "/etc/passwd", Mode: 0o644, Size: 5, SHA256: sum("hello")}))
	f.Add(index(f, delta.Entry{Path: "a", Mode: 0o644, Size: 5, SHA256: strings.ToUpper(sum("hello"))}))
	f.Add(index(f, delta.Entry{Path: "a", Mode: 0o644, Size: -1, SHA256: sum("")}))
	f.Add(index(f, good[1], good[1]))
	f.Add([]byte(`{"path":"a","mode":420,"size":1,"sha256":"` + sum("a") + `","extra":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := delta.ReadIndex(bytes.NewReader(data))
		if err != nil {
			if entries != nil {
				t.Fatalf("%d entries with the error %v", len(entries), err)
			}
			return
		}
		checkEntries(t, entries)
		// What it accepted, written again, reads back the same.
		again, err := delta.ReadIndex(bytes.NewReader(index(t, entries...)))
		if err != nil {
			t.Fatalf("the index written again: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries read back, %d written", len(again), len(entries))
		}
		for i := range again {
			if again[i] != entries[i] {
				t.Fatalf("entry %d read back %+v, written %+v", i, again[i], entries[i])
			}
		}
	})
}

// Rebuild must stand any payload: a release tarball checked line by line
// against the index, or an error; never a panic, never more file bytes
// than maxSize, never a base file from outside the root.
func FuzzRebuild(f *testing.F) {
	// The base release: two files, a link to one of them and a link out
	// of the root, next to a file that is outside it.
	dir := f.TempDir()
	rootDir := filepath.Join(dir, "root")
	base := map[string]string{"a.txt": "hello base\n", "lib/b.txt": "the old text of b\n"}
	for name, content := range base {
		p := filepath.Join(rootDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "outside.txt"), []byte("not the base's\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(rootDir, "in-link")); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("../outside.txt", filepath.Join(rootDir, "out-link")); err != nil {
		f.Fatal(err)
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { root.Close() })
	// The base files a Copy or a Patch may start from.
	inRoot := map[string]string{"a.txt": base["a.txt"], "lib/b.txt": base["lib/b.txt"], "in-link": base["a.txt"]}
	const maxSize = 64
	mtime := time.Unix(1700000000, 0)

	whole := "a new file\n"
	newB := "the new text of b\n"
	entries := []delta.Entry{
		{Path: "lib", Mode: 0o755, Dir: true},
		{Path: "lib/new.txt", Mode: 0o644, Size: int64(len(whole)), SHA256: sum(whole)},
		{Path: "a.txt", Mode: 0o644, Size: int64(len(base["a.txt"])), SHA256: sum(base["a.txt"]),
			Source: delta.Copy, Base: "a.txt"},
		{Path: "lib/b.txt", Mode: 0o644, Size: int64(len(newB)), SHA256: sum(newB),
			Source: delta.Patch, Base: "lib/b.txt", BaseSHA256: sum(base["lib/b.txt"])},
		{Path: "l", Mode: 0o777, Link: "a.txt"},
	}
	patch := string(delta.Diff([]byte(base["lib/b.txt"]), []byte(newB)))
	// The index and one whole file, compressed as Make does, and stored:
	// the fuzzer reaches the index and the tar headers of a stored payload
	// without first breaking its DEFLATE stream. Then the index and
	// members of each kind: a copy, a patch, a link.
	f.Add(payload(f, gzip.BestCompression, index(f, entries[1]), member{"lib/new.txt", whole}))
	f.Add(payload(f, gzip.NoCompression, index(f, entries[1]), member{"lib/new.txt", whole}))
	f.Add(payload(f, gzip.BestCompression, index(f, entries...), member{"lib/new.txt", whole}, member{"lib/b.txt", patch}))
	f.Add(payload(f, gzip.NoCompression, index(f, entries[2], entries[4])))
	// What must fail: a base outside the root, by "../" or by a link; more
	// than maxSize; a member the index does not list.
	out := delta.Entry{Path: "x", Mode: 0o644, Size: 15, SHA256: sum("not the base's\n"), Source: delta.Copy}
	out.Base = "../outside.txt"
	f.Add(payload(f, gzip.NoCompression, index(f, out)))
	out.Base = "out-link"
	f.Add(payload(f, gzip.NoCompression, index(f, out)))
	big := delta.Entry{Path: "big", Mode: 0o644, Size: maxSize + 1, SHA256: sum(strings.Repeat("x", maxSize+1))}
	f.Add(payload(f, gzip.BestCompression, index(f, big), member{"big", strings.Repeat("x", maxSize+1)}))
	f.Add(payload(f, gzip.BestCompression, index(f, entries[1]), member{"lib/new.txt", whole}, member{"extra", "x"}))

	f.Fuzz(func(t *testing.T, data []byte) {
		var w bytes.Buffer
		err := delta.Rebuild(context.Background(), &w, bytes.NewReader(data), root, maxSize, mtime)

		// The index as the payload carries it, read here on its own.
		idx, ok := indexOf(data)
		if !ok {
			if err == nil {
				t.Fatal("rebuilt from a payload that does not begin with the index")
			}
			return
		}
		// A path or a base that leads out of the root fails the rebuild,
		// whatever else the payload holds.
		for _, e := range decodeLoose(idx) {
			if err == nil && (escapes(e.Path) || e.Base != "" && escapes(e.Base)) {
				t.Fatalf("rebuilt with path %q, base %q", e.Path, e.Base)
			}
		}
		entries, ierr := delta.ReadIndex(bytes.NewReader(idx))
		if ierr != nil {
			if err == nil || w.Len() != 0 {
				t.Fatalf("wrote %d bytes (error %v) from an index ReadIndex refuses: %v", w.Len(), err, ierr)
			}
			return
		}
		// What was written, even before an error, is no more than maxSize
		// bytes of files and the tar's headers and padding.
		limit := int64(maxSize + 1024)
		for _, e := range entries {
			limit += 2048 + int64(len(e.Path)+len(e.Link)+64+511)
		}
		if int64(w.Len()) > limit {
			t.Fatalf("wrote %d bytes for %d entries, more than %d", w.Len(), len(entries), limit)
		}
		members, fileBytes := readTar(w.Bytes())
		if fileBytes > maxSize {
			t.Fatalf("wrote %d bytes of files, more than the %d allowed", fileBytes, maxSize)
		}
		if err != nil {
			return
		}
		// A rebuild that succeeded is the index, member by member.
		checkEntries(t, entries)
		if len(members) != len(entries) {
			t.Fatalf("rebuilt %d members of the index's %d", len(members), len(entries))
		}
		for i, e := range entries {
			m := members[i]
			want := tar.Header{Name: e.Path, Mode: e.Mode, Typeflag: tar.TypeReg, Size: e.Size}
			switch {
			case e.Dir:
				want.Name, want.Typeflag = e.Path+"/", tar.TypeDir
			case e.Link != "":
				want.Typeflag, want.Linkname = tar.TypeSymlink, e.Link
			}
			if m.h.Name != want.Name || m.h.Mode != want.Mode || m.h.Typeflag != want.Typeflag ||
				m.h.Linkname != want.Linkname || m.h.Size != want.Size || !m.h.ModTime.Equal(mtime) {
				t.Fatalf("member %d is %+v, the index says %+v", i, m.h, e)
			}
			if want.Typeflag == tar.TypeReg && sum(m.content) != e.SHA256 {
				t.Fatalf("%s has sha256 %s, the index says %s", e.Path, sum(m.content), e.SHA256)
			}
			if e.Source == delta.Copy || e.Source == delta.Patch {
				content, ok := inRoot[e.Base]
				if !ok {
					t.Fatalf("%s rebuilt from %q, not a file of the root", e.Path, e.Base)
				}
				if e.Source == delta.Copy && content != m.content {
					t.Fatalf("%s copied from %s is not its content", e.Path, e.Base)
				}
			}
		}
	})
}

// checkEntries checks, apart from ReadIndex's own checks, that entries
// are what a rebuild can trust: relative clean paths, each once, sizes in
// bounds, SHA-256 in lowercase hex.
func checkEntries(t *testing.T, entries []delta.Entry) {
	t.Helper()
	if len(entries) > delta.MaxEntries {
		t.Fatalf("%d entries", len(entries))
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if escapes(e.Path) {
			t.Fatalf("path %q", e.Path)
		}
		if seen[e.Path] {
			t.Fatalf("%q twice", e.Path)
		}
		seen[e.Path] = true
		if e.Mode < 0 || e.Mode > 0o7777 {
			t.Fatalf("%s: mode %o", e.Path, e.Mode)
		}
		if e.Dir || e.Link != "" {
			if e.Dir && e.Link != "" || e.Size != 0 || e.SHA256 != "" || e.Source != delta.Whole || e.Base != "" || e.Payload() {
				t.Fatalf("%s: a directory or link %+v", e.Path, e)
			}
			continue
		}
		if e.Size < 0 || e.Size > delta.MaxFile {
			t.Fatalf("%s: size %d", e.Path, e.Size)
		}
		if !isSHA256(e.SHA256) {
			t.Fatalf("%s: sha256 %q", e.Path, e.SHA256)
		}
		switch e.Source {
		case delta.Whole:
			if e.Base != "" || e.BaseSHA256 != "" || !e.Payload() {
				t.Fatalf("%s: a whole file %+v", e.Path, e)
			}
		case delta.Copy, delta.Patch:
			if escapes(e.Base) {
				t.Fatalf("%s: base %q", e.Path, e.Base)
			}
			if e.Source == delta.Patch && (!isSHA256(e.BaseSHA256) || !e.Payload()) {
				t.Fatalf("%s: a patch %+v", e.Path, e)
			}
			if e.Source == delta.Copy && (e.BaseSHA256 != "" && e.BaseSHA256 != e.SHA256 || e.Payload()) {
				t.Fatalf("%s: a copy %+v", e.Path, e)
			}
		default:
			t.Fatalf("%s: source %q", e.Path, e.Source)
		}
	}
}

// escapes reports whether p is not a relative, clean, slash-separated path
// that stays under the directory it is taken from.
func escapes(p string) bool {
	return p == "" || p == "." || path.IsAbs(p) || strings.Contains(p, `\`) || path.Clean(p) != p ||
		p == ".." || strings.HasPrefix(p, "../")
}

func isSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && s == strings.ToLower(s)
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func index(tb testing.TB, entries ...delta.Entry) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := delta.WriteIndex(&b, entries); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

type member struct{ name, content string }

// payload is a delta payload by hand: a gzipped tar of the index, then
// members, compressed at level.
func payload(tb testing.TB, level int, idx []byte, members ...member) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		tb.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, m := range append([]member{{delta.Index, string(idx)}}, members...) {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.content)), Format: tar.FormatPAX}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.content)); err != nil {
			tb.Fatal(err)
		}
	}
	// A stored payload is a seed to mutate: it goes without the tar's two
	// zero blocks at the end (a tar that ends at a member's end reads as
	// well), which would only make it longer to minimize.
	end := tw.Close
	if level == gzip.NoCompression {
		end = tw.Flush
	}
	if err := end(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// indexOf is the content of the payload's first member, if it is the
// index (up to one byte more than an index may have).
func indexOf(data []byte) ([]byte, bool) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, false
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil || h.Name != delta.Index {
		return nil, false
	}
	// A read error cuts the index where Rebuild's reading stops too.
	idx, _ := io.ReadAll(io.LimitReader(tr, delta.MaxIndex+1))
	return idx, true
}

// decodeLoose decodes the index's lines up to the first that is not an
// entry, checking nothing.
func decodeLoose(idx []byte) []delta.Entry {
	dec := json.NewDecoder(bytes.NewReader(idx))
	var entries []delta.Entry
	for {
		var e delta.Entry
		if dec.Decode(&e) != nil {
			return entries
		}
		entries = append(entries, e)
	}
}

type rebuilt struct {
	h       tar.Header
	content string
}

// readTar reads the members of a tar, whole or cut short, and counts the
// bytes of its regular files.
func readTar(b []byte) ([]rebuilt, int64) {
	tr := tar.NewReader(bytes.NewReader(b))
	var members []rebuilt
	var n int64
	for {
		h, err := tr.Next()
		if err != nil {
			return members, n
		}
		content, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeReg {
			n += int64(len(content))
		}
		members = append(members, rebuilt{*h, string(content)})
	}
}
