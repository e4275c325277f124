package otptest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// RewriteTar returns a copy of the tarball (gzip'd tar) in t.TempDir() with
// the member at path replaced by change(old contents); it fails the test
// when the member is missing.
//
// The copy has the tarball's file name (release_handler names a release
// after its tarball). Every other member is copied byte for byte, its
// header blocks too, and so is the end of the archive. The member's own
// header keeps every byte but its size and checksum fields, which are
// rewritten in the same layout (erl_tar writes 11 octal digits and a NUL
// for the size, 7 and a NUL for the checksum); only a member that has
// extended (PAX or GNU) headers gets a new header from archive/tar, with
// the same fields but the size. Every member that path names is replaced;
// a leading "./" does not count.
func RewriteTar(t testing.TB, tarball, member string, change func([]byte) []byte) string {
	t.Helper()
	return rewriteTarball(t, "RewriteTar", tarball, func(raw []byte) ([]byte, error) {
		out, n, err := rewriteTar(raw, member, change)
		if err == nil && n == 0 {
			err = fmt.Errorf("no member %s", member)
		}
		return out, err
	})
}

// rewriteTar rewrites the uncompressed tar archive raw (see RewriteTar) and
// says how many members it replaced.
func rewriteTar(raw []byte, member string, change func([]byte) []byte) ([]byte, int, error) {
	cr := &countReader{r: bytes.NewReader(raw)}
	tr := tar.NewReader(cr)
	var out bytes.Buffer
	end := int64(0) // where the member before ends, its padding included
	replaced := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		// archive/tar reads its blocks as it needs them, never ahead: the
		// header blocks are raw[end:start], the data follows.
		start := cr.n
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %v", hdr.Name, err)
		}
		next := roundBlock(cr.n)
		if next > int64(len(raw)) {
			next = int64(len(raw))
		}
		if clean(hdr.Name) != clean(member) {
			out.Write(raw[end:next])
			end = next
			continue
		}
		replaced++
		data = change(data)
		if h, ok := resize(raw[end:start], int64(len(data))); ok {
			out.Write(h)
			out.Write(data)
			out.Write(make([]byte, roundBlock(int64(len(data)))-int64(len(data))))
		} else {
			h := *hdr
			h.Size = int64(len(data))
			tw := tar.NewWriter(&out)
			if err := tw.WriteHeader(&h); err != nil {
				return nil, 0, fmt.Errorf("%s: %v", hdr.Name, err)
			}
			if _, err := tw.Write(data); err != nil {
				return nil, 0, fmt.Errorf("%s: %v", hdr.Name, err)
			}
			// Flush pads the data to its block; no Close, which would end
			// the archive here.
			if err := tw.Flush(); err != nil {
				return nil, 0, fmt.Errorf("%s: %v", hdr.Name, err)
			}
		}
		end = next
	}
	out.Write(raw[end:]) // the end-of-archive blocks, as they were
	return out.Bytes(), replaced, nil
}

// resize returns a copy of the one header block h with its size field set
// to size and its checksum recomputed, both in the digits and terminators
// they had; false when h is not one plain block or size does not fit.
func resize(h []byte, size int64) ([]byte, bool) {
	if len(h) != 512 {
		return nil, false
	}
	switch h[156] { // typeflag: the extended headers come as blocks of their own
	case 'x', 'g', 'L', 'K', 'S':
		return nil, false
	}
	b := append([]byte(nil), h...)
	if !setOctal(b[124:136], size) {
		return nil, false
	}
	// The checksum counts its own field as eight spaces.
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], h[148:156])
	if !setOctal(b[148:156], sum) {
		return nil, false
	}
	return b, true
}

// setOctal writes v over the run of octal digits in the field, zero-padded
// to the run's width, and keeps the field's other bytes (spaces, NULs).
func setOctal(field []byte, v int64) bool {
	i := 0
	for i < len(field) && field[i] == ' ' {
		i++
	}
	j := i
	for j < len(field) && field[j] >= '0' && field[j] <= '7' {
		j++
	}
	s := fmt.Sprintf("%0*o", j-i, v)
	if j == i || len(s) != j-i {
		return false
	}
	copy(field[i:j], s)
	return true
}

func roundBlock(n int64) int64 { return (n + 511) &^ 511 }

func clean(name string) string { return strings.TrimPrefix(name, "./") }

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
