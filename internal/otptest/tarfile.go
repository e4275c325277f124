package otptest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Members calls each with every member of a gzipped tarball, in order,
// and its contents, until each returns false.
func Members(t testing.TB, tarball string, each func(h *tar.Header, data []byte) bool) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", tarball, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", tarball, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", tarball, h.Name, err)
		}
		if !each(h, data) {
			return
		}
	}
}

// Member returns the contents of the member name of a gzipped tarball,
// or nil when it has none.
func Member(t testing.TB, tarball, name string) []byte {
	t.Helper()
	var found []byte
	Members(t, tarball, func(h *tar.Header, data []byte) bool {
		if clean(h.Name) == clean(name) {
			found = data
			return false
		}
		return true
	})
	return found
}

// rewriteTarball returns a copy of a gzipped tarball in t.TempDir(), under
// the same name and with the same gzip header, whose uncompressed archive
// is rewrite's result; what names the helper in messages.
func rewriteTarball(t testing.TB, what, tarball string, rewrite func(raw []byte) ([]byte, error)) string {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %s: %v", what, tarball, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %s: %v", what, tarball, err)
	}
	out, err := rewrite(raw)
	if err != nil {
		t.Fatalf("%s: %s: %v", what, tarball, err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(tarball))
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Header = zr.Header
	if _, err := zw.Write(out); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := os.WriteFile(dst, z.Bytes(), 0o644); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return dst
}
