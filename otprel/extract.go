package otprel

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Extract unpacks a release tarball into dir after the checks every
// tarball gets (ReadTarball), and reads it.
func Extract(tarball, dir string) (*ReleaseFiles, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files, err := ReadTarball(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tarball, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	err = EachMember(f, func(h *tar.Header, r io.Reader) error {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(strings.TrimPrefix(h.Name, "./"))))
		switch h.Typeflag {
		case tar.TypeDir:
			return os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			return os.Symlink(h.Linkname, p)
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o200)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, r)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tarball, err)
	}
	return files, nil
}

// EachMember calls f with every member of a tarball, gzipped or not, in
// order.
func EachMember(r io.Reader, f func(h *tar.Header, r io.Reader) error) error {
	zr, err := Uncompressed(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(h, tr); err != nil {
			return err
		}
	}
}

// Uncompressed reads a tarball that may be gzipped: release_handler
// reads either (erl_tar's compressed option), and a release rebuilt from
// a delta is a plain tar.
func Uncompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
