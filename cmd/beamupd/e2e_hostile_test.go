package main_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/otptest"
)

// rebuilt returns a copy of a release tarball, written by archive/tar,
// without the members drop names (nil drops none) and with extra and its
// body added (nil adds none).
func rebuilt(t *testing.T, tarball string, drop func(name string) bool, extra *tar.Header, body string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	otptest.Members(t, tarball, func(h *tar.Header, data []byte) bool {
		if drop != nil && drop(strings.TrimPrefix(h.Name, "./")) {
			return true
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
		return true
	})
	if extra != nil {
		extra.Size, extra.Mode, extra.ModTime = int64(len(body)), 0o644, time.Now()
		if err := tw.WriteHeader(extra); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), filepath.Base(tarball))
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// signedAsIs signs a release tarball with the trusted test key without
// beamup bundle's checks of the tarball, as a compromised build or a
// signer's own tooling would.
func signedAsIs(t *testing.T, tarball, name, vsn string) string {
	t.Helper()
	named := filepath.Join(t.TempDir(), name+"-"+vsn+".tar.gz")
	if err := os.Symlink(tarball, named); err != nil {
		t.Fatal(err)
	}
	return signedManifest(t, named, &bundle.Manifest{Format: 1, Kind: bundle.KindRelease, Name: name, Version: vsn,
		Upgrade: &bundle.Upgrade{From: []string{}, Mode: "auto"}})
}

// A signed bundle whose release tarball holds what a release never holds
// (a signer's mistake or a compromised build) is refused at verification,
// exit 10, naming the member, and nothing on the device changes: no
// stray file, no release, nothing in staging.
func TestHostileTarballMembersRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	for _, c := range []struct {
		h    *tar.Header
		want string
	}{
		{&tar.Header{Name: "/tmp/beamup-stray", Typeflag: tar.TypeReg}, "absolute path"},
		{&tar.Header{Name: "lib/../../beamup-stray", Typeflag: tar.TypeReg}, "out of the release"},
		{&tar.Header{Name: "lib/passwd", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}, "hard link"},
		{&tar.Header{Name: "lib/etc", Typeflag: tar.TypeSymlink, Linkname: "../../../etc"}, "symlink out of the release"},
		{&tar.Header{Name: "lib/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, "device node"},
		{&tar.Header{Name: "releases/1.1.0/sys.config", Typeflag: tar.TypeReg}, "appears twice"},
		{&tar.Header{Name: "home/evil", Typeflag: tar.TypeReg}, "outside the directories a release has"},
	} {
		t.Run(c.want, func(t *testing.T) {
			before := tree(t, d.Root)
			b := signedAsIs(t, rebuilt(t, otptest.Tarball(t, "1.1.0"), nil, c.h, "[].\n"), "gauge", "1.1.0")
			code, out := d.beamupd("install", b)
			if code != 10 || !strings.Contains(out, c.want) {
				t.Fatalf("install: exit %d, want 10 saying %q\n%s", code, c.want, out)
			}
			if after := tree(t, d.Root); after != before {
				t.Errorf("the release root changed")
			}
			if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
				t.Errorf("releases %s", got)
			}
			if left, _ := filepath.Glob(filepath.Join(d.stateDir, "staging", "*")); len(left) > 0 {
				t.Errorf("staging left behind: %v", left)
			}
		})
	}
	if _, err := os.Stat("/tmp/beamup-stray"); err == nil {
		t.Errorf("a stray file was written outside the release")
	}
}
