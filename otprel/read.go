package otprel

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Member is a member of a release tarball read whole: its header, its
// path in the release, and for a regular file its bytes.
type Member struct {
	Header *tar.Header
	Name   string
	Data   []byte
}

// ReadTarballFile reads the release tarball at path in one pass, with the
// checks ReadTarball makes, and returns its members in order, the bytes
// of the regular files that keep names (every one when keep is nil). For
// the host tools, which hold a release in memory.
func ReadTarballFile(path string, keep func(name string) bool) (*ReleaseFiles, []*Member, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var members []*Member
	files, err := ReadTarballTo(f, func(h *tar.Header, name string) (io.Writer, error) {
		m := &Member{Header: h, Name: name}
		members = append(members, m)
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA || keep != nil && !keep(name) {
			return nil, nil
		}
		return (*memberWriter)(m), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return files, members, nil
}

// memberWriter appends to a member's bytes.
type memberWriter Member

func (w *memberWriter) Write(b []byte) (int, error) {
	w.Data = append(w.Data, b...)
	return len(b), nil
}

// InstalledVersion is the release a target system's root holds: the only
// one under releases/, or the one releases/start_erl.data names.
func InstalledVersion(root string) (string, error) {
	rels, _ := filepath.Glob(filepath.Join(root, "releases", "*", "*.rel"))
	seen := map[string]bool{}
	var vsn string
	for _, r := range rels {
		vsn = filepath.Base(filepath.Dir(r))
		seen[vsn] = true
	}
	if len(seen) == 1 {
		return vsn, nil
	}
	data, err := os.ReadFile(filepath.Join(root, "releases", "start_erl.data"))
	fields := strings.Fields(string(data))
	if err != nil || len(fields) != 2 {
		return "", fmt.Errorf("%s: %d releases and no releases/start_erl.data to choose one", root, len(seen))
	}
	return fields[1], nil
}
