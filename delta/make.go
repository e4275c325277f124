package delta

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/beamup/beamup/otprel"
)

// Stats says what a delta is made of.
type Stats struct {
	Base    string // the base release's version
	Files   int    // regular files of the result
	Copied  int    // taken from the base unchanged
	Patched int    // patched from the base's file
	Whole   int    // sent whole
	Size    int64  // bytes of the result's files
}

// Make writes to w the delta payload that rebuilds the release tarball
// newTarball from base, a release tarball or the directory of an
// installed release (a target system's root).
//
// Only what a device keeps as it was installed is taken from the base:
// lib/APP-VSN of the base's applications, its erts-VSN and
// releases/VSN. bin/ and the files at the top of releases/ (RELEASES,
// start_erl.data, the cookie) are rewritten by the running system, and
// travel whole.
func Make(base, newTarball string, w io.Writer) (*Stats, error) {
	b, err := readBase(base)
	if err != nil {
		return nil, fmt.Errorf("reading the base %s: %w", base, err)
	}
	_, members, err := otprel.ReadTarballFile(newTarball, nil)
	if err != nil {
		return nil, err
	}

	st := &Stats{Base: b.version}
	var entries []Entry
	var data [][]byte // the payload member of each entry that has one
	for _, m := range members {
		h := m.Header
		e := Entry{Path: m.Name, Mode: h.Mode & 0o7777}
		switch h.Typeflag {
		case tar.TypeDir:
			e.Dir = true
		case tar.TypeSymlink:
			e.Link = h.Linkname
		default:
			content := m.Data
			sum := sha256.Sum256(content)
			e.Size, e.SHA256 = int64(len(content)), hex.EncodeToString(sum[:])
			st.Files++
			st.Size += e.Size
			if p, ok := b.bySum[sum]; ok {
				e.Source, e.Base = Copy, p
				st.Copied++
				break
			}
			if p, ok := b.byPlace[place(e.Path)]; ok {
				old := b.files[p]
				if patch := Diff(old, content); len(patch) < compressedSize(content) {
					oldSum := sha256.Sum256(old)
					e.Source, e.Base, e.BaseSHA256 = Patch, p, hex.EncodeToString(oldSum[:])
					data = append(data, patch)
					st.Patched++
					break
				}
			}
			data = append(data, content)
			st.Whole++
		}
		if e.Path != "." {
			entries = append(entries, e)
		}
	}
	return st, writePayload(w, entries, data)
}

func writePayload(w io.Writer, entries []Entry, data [][]byte) error {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	var index bytes.Buffer
	if err := WriteIndex(&index, entries); err != nil {
		return err
	}
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put(Index, index.Bytes()); err != nil {
		return err
	}
	i := 0
	for _, e := range entries {
		if e.Payload() {
			if err := put(e.Path, data[i]); err != nil {
				return err
			}
			i++
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// base is what a device has of its base release.
type base struct {
	version string
	files   map[string][]byte   // by path
	bySum   map[[32]byte]string // a path of each content
	byPlace map[string]string   // a path of each place (see place)
}

// place is a file's path with the versions taken out of its
// application, ERTS and release directories, so that
// lib/gauge-1.1.0/ebin/gauge.beam finds lib/gauge-1.0.0/ebin/gauge.beam.
func place(p string) string {
	parts := strings.Split(p, "/")
	switch {
	case len(parts) > 2 && parts[0] == "lib":
		if i := strings.LastIndex(parts[1], "-"); i > 0 {
			parts[1] = parts[1][:i]
		}
	case len(parts) > 1 && strings.HasPrefix(parts[0], "erts-"):
		parts[0] = "erts"
	case len(parts) > 2 && parts[0] == "releases":
		parts[1] = "VSN"
	default:
		return ""
	}
	return strings.Join(parts, "/")
}

// kept says whether a path of a release is one a device keeps as it was
// installed.
func kept(p string, rel otprel.Release) bool {
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return false
	}
	switch {
	case parts[0] == "lib":
		i := strings.LastIndex(parts[1], "-")
		return i > 0 && rel.App(parts[1][:i]) == parts[1][i+1:]
	case parts[0] == "erts-"+rel.ERTS:
		return true
	case parts[0] == "releases":
		return len(parts) > 2 && parts[1] == rel.Version
	}
	return false
}

func readBase(p string) (*base, error) {
	b := &base{files: map[string][]byte{}, bySum: map[[32]byte]string{}, byPlace: map[string]string{}}
	add := func(name string, content []byte) {
		b.files[name] = content
		sum := sha256.Sum256(content)
		if _, ok := b.bySum[sum]; !ok {
			b.bySum[sum] = name
		}
		if pl := place(name); pl != "" {
			b.byPlace[pl] = name
		}
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		files, members, err := otprel.ReadTarballFile(p, nil)
		if err != nil {
			return nil, err
		}
		b.version = files.Version
		for _, m := range members {
			if t := m.Header.Typeflag; (t == tar.TypeReg || t == tar.TypeRegA) && kept(m.Name, files.Release) {
				add(m.Name, m.Data)
			}
		}
		return b, nil
	}
	vsn, err := otprel.InstalledVersion(p)
	if err != nil {
		return nil, err
	}
	files, err := otprel.ReadInstalled(p, "", vsn)
	if err != nil {
		return nil, err
	}
	b.version = vsn
	return b, filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, fp)
		name := filepath.ToSlash(rel)
		if !d.Type().IsRegular() || !kept(name, files.Release) {
			return nil
		}
		content, err := os.ReadFile(fp)
		add(name, content)
		return err
	})
}
