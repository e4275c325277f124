package otprel

import (
	"archive/tar"
	"strings"
	"testing"
)

// What a release tarball may hold, and the one line that says why not.
func TestCheckMember(t *testing.T) {
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeReg} }
	for _, c := range []struct {
		h    *tar.Header
		want string // "" when accepted
	}{
		{reg("lib/gauge-1.1.0/ebin/gauge.app"), ""},
		{reg("./releases/1.1.0/start.boot"), ""},
		{reg("erts-13.1.5/bin/beam.smp"), ""},
		{&tar.Header{Name: "bin/", Typeflag: tar.TypeDir}, ""},
		{&tar.Header{Name: "bin/start", Typeflag: tar.TypeSymlink, Linkname: "../erts-13.1.5/bin/start"}, ""},
		{reg("/etc/cron.d/x"), "absolute path"},
		{reg("lib/../../etc/passwd"), "out of the release with .."},
		{reg("lib/gauge-1.1.0/../x"), "out of the release with .."},
		{&tar.Header{Name: "lib/x", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, "symlink to the absolute path"},
		{&tar.Header{Name: "lib/x", Typeflag: tar.TypeSymlink, Linkname: "../../etc"}, "symlink out of the release"},
		{&tar.Header{Name: "lib/x", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, "hard link"},
		{&tar.Header{Name: "lib/null", Typeflag: tar.TypeChar}, "device node"},
		{&tar.Header{Name: "lib/p", Typeflag: tar.TypeFifo}, "fifo"},
		{reg("home/evil"), "outside the directories a release has"},
	} {
		err := checkMember(c.h, map[string]bool{})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", c.h.Name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.h.Name, err, c.want)
		}
	}
	seen := map[string]bool{}
	if err := checkMember(reg("lib/a/ebin/a.beam"), seen); err != nil {
		t.Fatal(err)
	}
	if err := checkMember(reg("./lib/a/ebin/a.beam"), seen); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("a second member of one name: %v", err)
	}
}
