package otptest_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// longErts is too long for a ustar header: archive/tar gives it a PAX one.
var longErts = "erts-1.0/lib/" + strings.Repeat("y", 120) + "/x.a"

// ertsSample writes a gzip'd tar of a release that carries ERTS 1.0.
func ertsSample(t *testing.T, withErts bool) string {
	t.Helper()
	return writeSample(t, "demo-9.9.9", func(add func(*tar.Header, string)) {
		reg := func(name, body string) { add(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body) }
		reg("lib/demo-9.9.9/ebin/demo.app", "{application,demo,[{vsn,\"9.9.9\"}]}.\n")
		reg("releases/demo.rel", "{release,{\"demo\",\"9.9.9\"},{erts,\"1.0\"},[{kernel,\"1\"}]}.\n")
		reg("releases/9.9.9/demo.rel", "{release, {\"demo\",\"9.9.9\"},\n  { erts , \"1.0\" },\n [{kernel,\"1\"}]}.\n")
		reg("releases/start_erl.data", "1.0 9.9.9")
		if withErts {
			add(&tar.Header{Name: "erts-1.0/bin/erl", Typeflag: tar.TypeReg, Mode: 0o755},
				"#!/bin/sh\ndyn_erl_path=\"${progdir}/../erts-1.0/bin/dyn_erl\"\nBINDIR=\"$ROOTDIR/erts-1.0/bin\"\n")
			add(&tar.Header{Name: "erts-1.0/bin/beam.smp", Typeflag: tar.TypeReg, Mode: 0o755}, "\x7fELF\x00erts-1.0\x00")
			reg(longErts, "archive")
			add(&tar.Header{Name: "bin/erl", Typeflag: tar.TypeSymlink, Linkname: "../erts-1.0/bin/erl", Mode: 0o777}, "")
		}
		reg("lib/demo-9.9.9/priv/erts-1.0.txt", "not the ERTS directory\n")
	})
}

func TestRenameERTS(t *testing.T) {
	src := ertsSample(t, true)
	p := otptest.RenameERTS(t, src, "1.0.1")
	if filepath.Base(p) != filepath.Base(src) || filepath.Dir(p) == filepath.Dir(src) {
		t.Errorf("the copy is %s, want a file named %s in a directory of its own", p, filepath.Base(src))
	}
	olds, news := entries(t, gunzip(t, src)), entries(t, gunzip(t, p))
	if len(olds) != len(news) {
		t.Fatalf("%d members, want %d", len(news), len(olds))
	}
	want := map[string]string{
		"releases/demo.rel":       "{release,{\"demo\",\"9.9.9\"},{erts,\"1.0.1\"},[{kernel,\"1\"}]}.\n",
		"releases/9.9.9/demo.rel": "{release, {\"demo\",\"9.9.9\"},\n  { erts , \"1.0.1\" },\n [{kernel,\"1\"}]}.\n",
		"releases/start_erl.data": "1.0.1 9.9.9",
		"erts-1.0.1/bin/erl":      "#!/bin/sh\ndyn_erl_path=\"${progdir}/../erts-1.0.1/bin/dyn_erl\"\nBINDIR=\"$ROOTDIR/erts-1.0.1/bin\"\n",
		"erts-1.0.1/bin/beam.smp": "\x7fELF\x00erts-1.0\x00", // a program: as it was
	}
	for i, o := range olds {
		n := news[i]
		wantName := strings.Replace(o.hdr.Name, "erts-1.0/", "erts-1.0.1/", 1)
		if strings.HasPrefix(o.hdr.Name, "lib/") {
			wantName = o.hdr.Name
		}
		if n.hdr.Name != wantName {
			t.Errorf("member %d is %s, want %s", i, n.hdr.Name, wantName)
		}
		body, ok := want[n.hdr.Name]
		if !ok {
			body = o.data
		}
		if n.data != body {
			t.Errorf("%s holds %q, want %q", n.hdr.Name, n.data, body)
		}
		if o.hdr.Typeflag == tar.TypeSymlink && n.hdr.Linkname != "../erts-1.0.1/bin/erl" {
			t.Errorf("%s links to %s, want ../erts-1.0.1/bin/erl", n.hdr.Name, n.hdr.Linkname)
		}
		if o.hdr.Mode != n.hdr.Mode || !o.hdr.ModTime.Equal(n.hdr.ModTime) || o.hdr.Typeflag != n.hdr.Typeflag {
			t.Errorf("%s: header %+v, was %+v", n.hdr.Name, n.hdr, o.hdr)
		}
	}
	// Members it does not change are copied byte for byte.
	oldRaw, newRaw := gunzip(t, src), gunzip(t, p)
	if !bytes.Equal(oldRaw[:512*2], newRaw[:512*2]) {
		t.Error("lib/demo-9.9.9/ebin/demo.app, the first member, is not as it was")
	}

	t.Run("no erts", func(t *testing.T) {
		ft := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			otptest.RenameERTS(ft, ertsSample(t, false), "1.0.1")
		}()
		<-done
		if !strings.Contains(ft.msg, "does not include ERTS") {
			t.Errorf("RenameERTS of a release without ERTS: failed with %q", ft.msg)
		}
	})
	t.Run("bad version", func(t *testing.T) {
		for _, v := range []string{"1.0", "1.0-rc1", ""} {
			ft := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				otptest.RenameERTS(ft, src, v)
			}()
			<-done
			if ft.msg == "" {
				t.Errorf("RenameERTS to %q did not fail the test", v)
			}
		}
	})
}

// The gauge 2.0.0 tarball, made by erl_tar, renamed to ERTS 13.1.5.1 (or
// whatever follows the OTP installed): erl_tar extracts it, ERTS under
// its new name and the same programs, and beamup reads it as a release
// on the new ERTS.
func TestRenameERTSErlTar(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gauge releases; not in -short")
	}
	otptest.Require(t, "erl")
	src := otptest.Gauge.Tarball(t, "2.0.0")
	orig, err := readTarball(src)
	if err != nil {
		t.Fatal(err)
	}
	newVsn := orig.ERTS + ".1"
	p := otptest.RenameERTS(t, src, newVsn)

	files, err := readTarball(p)
	if err != nil {
		t.Fatalf("otprel.ReadTarball of the copy: %v", err)
	}
	if files.ERTS != newVsn || !files.ERTSIncluded || files.Version != "2.0.0" || len(files.Apps) != len(orig.Apps) {
		t.Errorf("otprel.ReadTarball: gauge %s on ERTS %s (included %v), %d apps; want 2.0.0 on %s included, %d apps",
			files.Version, files.ERTS, files.ERTSIncluded, len(files.Apps), newVsn, len(orig.Apps))
	}

	dir, origDir := t.TempDir(), t.TempDir()
	for _, x := range [][2]string{{p, dir}, {src, origDir}} {
		cmd := exec.Command("erl", "-noshell", "-eval", fmt.Sprintf(
			`ok = erl_tar:extract(%q, [compressed, {cwd, %q}]), halt().`, x[0], x[1]))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("erl_tar:extract of %s: %v\n%s", x[0], err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "erts-"+orig.ERTS)); !os.IsNotExist(err) {
		t.Errorf("the copy still carries erts-%s", orig.ERTS)
	}
	for _, prog := range []string{"erlexec", "beam.smp", "erl_child_setup"} {
		a, _ := os.ReadFile(filepath.Join(origDir, "erts-"+orig.ERTS, "bin", prog))
		b, err := os.ReadFile(filepath.Join(dir, "erts-"+newVsn, "bin", prog))
		if err != nil || !bytes.Equal(a, b) || len(a) == 0 {
			t.Errorf("erts-%s/bin/%s is not erts-%s/bin/%s (%v)", newVsn, prog, orig.ERTS, prog, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "erts-"+newVsn, "bin", prog)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("erts-%s/bin/%s is not executable", newVsn, prog)
		}
	}
	for _, rel := range []string{"releases/2.0.0/gauge.rel", "releases/gauge.rel"} {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || !strings.Contains(string(b), fmt.Sprintf("{erts,%q}", newVsn)) {
			t.Errorf("%s: %q (%v), want {erts,%q}", rel, b, err, newVsn)
		}
	}
	// Every header keeps erl_tar's bytes but the name, size and checksum.
	oh, nh := headers(t, gunzip(t, src)), headers(t, gunzip(t, p))
	if len(oh) != len(nh) || len(oh) < 100 {
		t.Fatalf("%d headers, want %d (of more than 100 members)", len(nh), len(oh))
	}
	for i := range oh {
		o, n := oh[i], nh[i]
		for _, f := range [][2]int{{100, 124}, {136, 148}, {156, 512}} {
			if !bytes.Equal(o[f[0]:f[1]], n[f[0]:f[1]]) {
				t.Errorf("header of %s differs from %s's at bytes %d-%d", cstr(n[:100]), cstr(o[:100]), f[0], f[1])
			}
		}
		for _, f := range [][2]int{{124, 136}, {148, 156}} {
			if a, b := layout(o[f[0]:f[1]]), layout(n[f[0]:f[1]]); a != b {
				t.Errorf("header of %s: field at %d laid out as %q, was %q", cstr(n[:100]), f[0], b, a)
			}
		}
		if want := strings.Replace(cstr(o[:100]), "erts-"+orig.ERTS+"/", "erts-"+newVsn+"/", 1); cstr(n[:100]) != want {
			t.Errorf("member %d is %s, want %s", i, cstr(n[:100]), want)
		}
	}
	erl, _ := os.ReadFile(filepath.Join(dir, "erts-"+newVsn, "bin", "erl"))
	if strings.Contains(string(erl), "erts-"+orig.ERTS+"/") || !strings.Contains(string(erl), "erts-"+newVsn+"/bin") {
		t.Errorf("erts-%s/bin/erl still names erts-%s:\n%s", newVsn, orig.ERTS, erl)
	}
}

// headers returns the header blocks of a tar archive that has no
// extended headers, as erl_tar writes them.
func headers(t *testing.T, raw []byte) [][]byte {
	t.Helper()
	var hs [][]byte
	for at := 0; at+512 <= len(raw) && raw[at] != 0; {
		h := raw[at : at+512]
		var size int64
		if _, err := fmt.Sscanf(strings.Trim(string(h[124:136]), " \x00"), "%o", &size); err != nil {
			t.Fatalf("header at %d: size %q: %v", at, h[124:136], err)
		}
		hs = append(hs, h)
		at += 512 + int((size+511)&^511)
	}
	return hs
}

func cstr(f []byte) string {
	if i := bytes.IndexByte(f, 0); i >= 0 {
		f = f[:i]
	}
	return string(f)
}

func readTarball(p string) (*otprel.ReleaseFiles, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return otprel.ReadTarball(f)
}
