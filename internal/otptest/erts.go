package otptest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// RenameERTS returns a copy of a release tarball that carries its ERTS
// (systools:make_tar with {erts, Dir}) in which that ERTS is version
// newVsn: what a release built on another OTP looks like to everything
// but the emulator itself, which stays the same binary. The copy, in
// t.TempDir() under the tarball's file name, has
//   - every member erts-OLD/... as erts-NEW/... (a hard or symbolic link
//     into erts-OLD is renamed the same way);
//   - {erts, "NEW"} in every .rel under releases/ (releases/VSN/*.rel,
//     which beamup and release_handler read, and the top-level
//     releases/*.rel);
//   - NEW as the first field of releases/start_erl.data, when the tarball
//     has one (relx's do);
//   - "erts-NEW" for "erts-OLD" in the text files of erts-NEW/bin: OTP's
//     erl and start scripts name their own directory.
//
// As with RewriteTar every other member is copied byte for byte, and the
// header of a changed member keeps every byte but its name, size and
// checksum fields, in erl_tar's layout, so that erl_tar (which
// release_handler:unpack_release uses) reads it as it reads the original;
// a member whose new header does not fit in one ustar block gets one from
// archive/tar. It fails the test when the tarball carries no ERTS, or more
// than one, or no .rel names it.
func RenameERTS(t testing.TB, tarball, newVsn string) string {
	t.Helper()
	if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`).MatchString(newVsn) {
		t.Fatalf("RenameERTS: %q is not an ERTS version (digits and dots)", newVsn)
	}
	return rewriteTarball(t, "RenameERTS", tarball, func(raw []byte) ([]byte, error) {
		return renameERTS(raw, newVsn)
	})
}

// ertsOf returns the version of the one erts-VSN directory the
// uncompressed tar archive raw carries.
func ertsOf(raw []byte) (string, error) {
	tr := tar.NewReader(bytes.NewReader(raw))
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		first, _, _ := strings.Cut(clean(h.Name), "/")
		if vsn, ok := strings.CutPrefix(first, "erts-"); ok && vsn != "" {
			seen[vsn] = true
		}
	}
	var vsns []string
	for v := range seen {
		vsns = append(vsns, v)
	}
	sort.Strings(vsns)
	switch len(vsns) {
	case 0:
		return "", fmt.Errorf("no erts-VSN directory: the release does not include ERTS")
	case 1:
		return vsns[0], nil
	default:
		return "", fmt.Errorf("more than one ERTS: %v", vsns)
	}
}

// renameERTS rewrites the uncompressed tar archive raw (see RenameERTS).
func renameERTS(raw []byte, newVsn string) ([]byte, error) {
	old, err := ertsOf(raw)
	if err != nil {
		return nil, err
	}
	if old == newVsn {
		return nil, fmt.Errorf("its ERTS is %s already", old)
	}
	oldDir, newDir := "erts-"+old, "erts-"+newVsn
	// rename renames a member path (or a link target) in erts-OLD.
	rename := func(name string) string {
		dot := ""
		if strings.HasPrefix(name, "./") {
			dot, name = "./", name[2:]
		}
		parts := strings.Split(name, "/")
		for i, p := range parts {
			if p == oldDir {
				parts[i] = newDir
			}
		}
		return dot + strings.Join(parts, "/")
	}
	relErts := regexp.MustCompile(`(\{\s*erts\s*,\s*")` + regexp.QuoteMeta(old) + `("\s*\})`)
	rels := 0 // .rel files that named the old ERTS
	change := func(name string, data []byte) []byte {
		parts := strings.Split(path.Clean(clean(name)), "/")
		switch {
		case parts[0] == "releases" && (len(parts) == 2 || len(parts) == 3) && strings.HasSuffix(name, ".rel"):
			if n := relErts.ReplaceAll(data, []byte("${1}"+newVsn+"${2}")); !bytes.Equal(n, data) {
				rels++
				return n
			}
		case len(parts) == 2 && parts[0] == "releases" && parts[1] == "start_erl.data":
			if erts, rest, ok := strings.Cut(string(data), " "); ok && erts == old {
				return []byte(newVsn + " " + rest)
			}
		case len(parts) == 3 && parts[0] == oldDir && parts[1] == "bin" && !bytes.ContainsRune(data, 0):
			// a script, not a program
			return bytes.ReplaceAll(data, []byte(oldDir), []byte(newDir))
		}
		return data
	}

	cr := &countReader{r: bytes.NewReader(raw)}
	tr := tar.NewReader(cr)
	var out bytes.Buffer
	end := int64(0) // where the member before ends, its padding included
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		start := cr.n // the header blocks are raw[end:start]
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", hdr.Name, err)
		}
		next := roundBlock(cr.n)
		if next > int64(len(raw)) {
			next = int64(len(raw))
		}
		name, link := rename(hdr.Name), hdr.Linkname
		if hdr.Typeflag == tar.TypeLink || hdr.Typeflag == tar.TypeSymlink {
			link = rename(link)
		}
		newData := change(hdr.Name, data)
		if name == hdr.Name && link == hdr.Linkname && bytes.Equal(newData, data) {
			out.Write(raw[end:next])
			end = next
			continue
		}
		if h, ok := reheader(raw[end:start], hdr, name, link, int64(len(newData))); ok {
			out.Write(h)
			out.Write(newData)
			out.Write(make([]byte, roundBlock(int64(len(newData)))-int64(len(newData))))
		} else {
			h := *hdr
			h.Name, h.Linkname, h.Size = name, link, int64(len(newData))
			if len(h.PAXRecords) > 0 {
				// archive/tar writes path and linkpath records from the
				// fields themselves, as they need.
				h.PAXRecords = map[string]string{}
				for k, v := range hdr.PAXRecords {
					if k != "path" && k != "linkpath" && k != "size" {
						h.PAXRecords[k] = v
					}
				}
			}
			tw := tar.NewWriter(&out)
			if err := tw.WriteHeader(&h); err != nil {
				return nil, fmt.Errorf("%s: %v", hdr.Name, err)
			}
			if _, err := tw.Write(newData); err != nil {
				return nil, fmt.Errorf("%s: %v", hdr.Name, err)
			}
			// Flush pads the data; no Close, which would end the archive.
			if err := tw.Flush(); err != nil {
				return nil, fmt.Errorf("%s: %v", hdr.Name, err)
			}
		}
		end = next
	}
	out.Write(raw[end:]) // the end-of-archive blocks, as they were
	if rels == 0 {
		return nil, fmt.Errorf("no .rel under releases/ names {erts, %q}", old)
	}
	return out.Bytes(), nil
}

// reheader returns a copy of the one ustar header block h of hdr with the
// member named name, linked to link and of size bytes, its checksum
// recomputed; false when h is not one plain block or a field does not fit
// where it was.
func reheader(h []byte, hdr *tar.Header, name, link string, size int64) ([]byte, bool) {
	if len(h) != 512 {
		return nil, false
	}
	b := append([]byte(nil), h...)
	if name != hdr.Name {
		prefix := ""
		if string(b[257:262]) == "ustar" {
			prefix = cString(b[345:500])
		}
		switch {
		case prefix == "" && len(name) <= 100:
			setString(b[0:100], name)
		case prefix != "" && strings.HasSuffix(name, "/"+cString(b[0:100])):
			// erl_tar split a long name: the renamed directory is in the
			// prefix, the name field keeps the rest.
			p := strings.TrimSuffix(name, "/"+cString(b[0:100]))
			if len(p) > 155 {
				return nil, false
			}
			setString(b[345:500], p)
		default:
			return nil, false
		}
	}
	if link != hdr.Linkname {
		if len(link) > 100 {
			return nil, false
		}
		setString(b[157:257], link)
	}
	return resize(b, size)
}

// cString is a header's string field up to its first NUL.
func cString(f []byte) string {
	if i := bytes.IndexByte(f, 0); i >= 0 {
		f = f[:i]
	}
	return string(f)
}

// setString writes s over the field, padded with NULs, as erl_tar does.
func setString(f []byte, s string) {
	clear(f)
	copy(f, s)
}
