package otprel

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// checkMember refuses a tarball member that a release never has and that
// unpacking must never write: a path outside the release (absolute, or
// through ".."), a second member of one name, a hard link, a device node
// or a fifo, a symlink that leads out of the release, or anything outside
// the directories a release has (bin, erts-VSN, lib, releases). erl_tar
// inside unpack_release would write some of these outside the release
// root, or fail only after beamupd had begun to change the node.
func checkMember(h *tar.Header, seen map[string]bool) error {
	name := strings.TrimPrefix(h.Name, "./")
	if path.IsAbs(name) {
		return fmt.Errorf("member %q has an absolute path", h.Name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") || hasDotDot(name) {
		return fmt.Errorf("member %q leads out of the release with ..", h.Name)
	}
	if clean == "." {
		return nil
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir:
	case tar.TypeSymlink:
		if path.IsAbs(h.Linkname) {
			return fmt.Errorf("member %q is a symlink to the absolute path %q", h.Name, h.Linkname)
		}
		if to := path.Clean(path.Join(path.Dir(clean), h.Linkname)); to == ".." || strings.HasPrefix(to, "../") {
			return fmt.Errorf("member %q is a symlink out of the release (%q)", h.Name, h.Linkname)
		}
	case tar.TypeLink:
		return fmt.Errorf("member %q is a hard link (to %q)", h.Name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("member %q is a device node", h.Name)
	case tar.TypeFifo:
		return fmt.Errorf("member %q is a fifo", h.Name)
	default:
		return fmt.Errorf("member %q is of tar type %q, not a file, directory or symlink", h.Name, h.Typeflag)
	}
	top, _, _ := strings.Cut(clean, "/")
	if top != "bin" && top != "lib" && top != "releases" && !strings.HasPrefix(top, "erts-") {
		return fmt.Errorf("member %q is outside the directories a release has (bin, erts-VSN, lib, releases)", h.Name)
	}
	if h.Typeflag != tar.TypeDir {
		if seen[clean] {
			return fmt.Errorf("member %q appears twice", h.Name)
		}
		seen[clean] = true
	}
	return nil
}

func hasDotDot(name string) bool {
	for _, p := range strings.Split(name, "/") {
		if p == ".." {
			return true
		}
	}
	return false
}
