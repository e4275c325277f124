package otptest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

// longName is too long for a ustar header: archive/tar gives it a PAX one.
var longName = "lib/" + strings.Repeat("x", 120) + "/ebin/long.app"

// sample writes a gzip'd tar as archive/tar makes one: a directory, two
// plain files, a symlink and a member with a PAX header.
func sample(t *testing.T) string {
	t.Helper()
	return writeSample(t, "gauge-9.9.9", func(add func(*tar.Header, string)) {
		add(&tar.Header{Name: "releases/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
		add(&tar.Header{Name: "releases/9.9.9/relup", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 7, Uname: "dev"}, "{\"9.9.9\",[],[]}.\n")
		add(&tar.Header{Name: longName, Typeflag: tar.TypeReg, Mode: 0o600}, "{application,long,[]}.\n")
		add(&tar.Header{Name: "bin/start", Typeflag: tar.TypeSymlink, Linkname: "../erts/bin/start", Mode: 0o777}, "")
		add(&tar.Header{Name: "releases/9.9.9/sys.config", Typeflag: tar.TypeReg, Mode: 0o644}, "[].\n")
	})
}

// writeSample writes t.TempDir()/name.tar.gz with the members that fill
// adds, as archive/tar writes them.
func writeSample(t *testing.T, name string, fill func(add func(h *tar.Header, body string))) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Name = name + ".tar"
	tw := tar.NewWriter(zw)
	mtime := time.Unix(1700000000, 0)
	fill(func(h *tar.Header, body string) {
		h.ModTime = mtime
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".tar.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gunzip(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type entry struct {
	hdr  tar.Header
	data string
}

func entries(t *testing.T, raw []byte) []entry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(raw))
	var es []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{*h, string(b)})
	}
}

// checkRewrite checks that the copy new holds the members of old, the same
// headers but the member's size, the member's contents being want, and
// that its raw bytes before the member's header block and after the
// member's data are those of old.
func checkRewrite(t *testing.T, old, new []byte, member, want string) {
	t.Helper()
	olds, news := entries(t, old), entries(t, new)
	if len(olds) != len(news) {
		t.Fatalf("%d members, want %d", len(news), len(olds))
	}
	for i, o := range olds {
		n := news[i]
		if o.hdr.Name == member {
			if n.data != want {
				t.Errorf("%s holds %q, want %q", member, n.data, want)
			}
			if n.hdr.Size != int64(len(want)) {
				t.Errorf("%s: header size %d, want %d", member, n.hdr.Size, len(want))
			}
			o.hdr.Size, o.data = n.hdr.Size, n.data
		}
		if !reflect.DeepEqual(o.hdr, n.hdr) {
			t.Errorf("member %d: header %+v, want %+v", i, n.hdr, o.hdr)
		}
		if o.data != n.data {
			t.Errorf("%s holds %q, want %q as before", o.hdr.Name, n.data, o.data)
		}
	}
	// A member with a ustar header only: its block starts with its name.
	at := bytes.Index(old, append([]byte(member), 0))
	if at < 0 || at%512 != 0 {
		return
	}
	oldLen := len(entries(t, old[at:])[0].data)
	if !bytes.Equal(new[:at+124], old[:at+124]) {
		t.Errorf("the copy differs from the tarball before %s's size field", member)
	}
	if a, b := old[at+136:at+148], new[at+136:at+148]; !bytes.Equal(a, b) {
		t.Errorf("%s's header differs between its size and checksum fields: %q, was %q", member, b, a)
	}
	// The size and the checksum keep their layout: the same digits, spaces
	// and NULs where they were.
	for _, f := range [][2]int{{124, 136}, {148, 156}} {
		if a, b := layout(old[at+f[0]:at+f[1]]), layout(new[at+f[0]:at+f[1]]); a != b {
			t.Errorf("%s's header field at %d is laid out as %q, was %q", member, f[0], b, a)
		}
	}
	if a, b := old[at+156:at+512], new[at+156:at+512]; !bytes.Equal(a, b) {
		t.Errorf("%s's header differs after its checksum field", member)
	}
	rest := len(old) - (at + 512 + (oldLen+511)&^511)
	if len(new) < rest || !bytes.Equal(new[len(new)-rest:], old[len(old)-rest:]) {
		t.Errorf("the copy differs from the tarball after %s", member)
	}
}

// layout is a header field with each octal digit as 9.
func layout(f []byte) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '7' {
			return '9'
		}
		return r
	}, string(f))
}

func TestRewriteTar(t *testing.T) {
	src := sample(t)
	old := gunzip(t, src)
	const member = "releases/9.9.9/relup"

	t.Run("longer", func(t *testing.T) {
		var got []byte
		p := otptest.RewriteTar(t, src, member, func(b []byte) []byte {
			got = b
			return append(append([]byte(nil), b...), strings.Repeat("%% more\n", 100)...)
		})
		if string(got) != "{\"9.9.9\",[],[]}.\n" {
			t.Errorf("change got %q", got)
		}
		if filepath.Base(p) != filepath.Base(src) || filepath.Dir(p) == filepath.Dir(src) {
			t.Errorf("the copy is %s, want a file named %s in a directory of its own", p, filepath.Base(src))
		}
		checkRewrite(t, old, gunzip(t, p), member, string(got)+strings.Repeat("%% more\n", 100))
		if b, _ := os.ReadFile(src); !bytes.Equal(gunzipBytes(t, b), old) {
			t.Error("the tarball itself changed")
		}
	})

	t.Run("same size", func(t *testing.T) {
		p := otptest.RewriteTar(t, src, member, func(b []byte) []byte { return bytes.ToUpper(b) })
		n := gunzip(t, p)
		if len(n) != len(old) {
			t.Fatalf("the copy holds %d bytes, the tarball %d", len(n), len(old))
		}
		at := bytes.Index(old, []byte("{\"9.9.9\""))
		for i := range old {
			if old[i] != n[i] && (i < at || i >= at+16) {
				t.Fatalf("byte %d differs, outside %s's data", i, member)
			}
		}
		checkRewrite(t, old, n, member, "{\"9.9.9\",[],[]}.\n")
	})

	t.Run("empty", func(t *testing.T) {
		p := otptest.RewriteTar(t, src, member, func([]byte) []byte { return nil })
		checkRewrite(t, old, gunzip(t, p), member, "")
	})

	t.Run("pax header", func(t *testing.T) {
		p := otptest.RewriteTar(t, src, longName, func([]byte) []byte { return []byte("{application,long,[{vsn,\"2\"}]}.\n") })
		checkRewrite(t, old, gunzip(t, p), longName, "{application,long,[{vsn,\"2\"}]}.\n")
	})

	t.Run("dot slash", func(t *testing.T) {
		p := otptest.RewriteTar(t, src, "./releases/9.9.9/sys.config", func([]byte) []byte { return []byte("[{gauge,[]}].\n") })
		checkRewrite(t, old, gunzip(t, p), "releases/9.9.9/sys.config", "[{gauge,[]}].\n")
	})

	t.Run("missing", func(t *testing.T) {
		ft := &fatalTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			otptest.RewriteTar(ft, src, "releases/9.9.9/nothing", func(b []byte) []byte { return b })
		}()
		<-done
		if !strings.Contains(ft.msg, "releases/9.9.9/nothing") {
			t.Errorf("RewriteTar of a missing member: failed with %q, want the test failed naming it", ft.msg)
		}
	})
}

func gunzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fatalTB records the test's failure instead of failing it.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

// A release tarball that erl_tar made (systools:make_tar) comes out of
// RewriteTar with only the member's size, checksum and data changed, and
// erl_tar reads the copy.
func TestRewriteTarErlTar(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gauge releases; not in -short")
	}
	otptest.Require(t, "erl")
	src := otptest.Tarball(t, "1.3.0")
	const member = "releases/1.3.0/sys.config"
	const config = "[{gauge, [{site, \"rewritten\"}, {boot, crash}]}].\n"
	p := otptest.RewriteTar(t, src, member, func([]byte) []byte { return []byte(config) })
	checkRewrite(t, gunzip(t, src), gunzip(t, p), member, config)

	dir := t.TempDir()
	cmd := exec.Command("erl", "-noshell", "-eval", fmt.Sprintf(
		`ok = erl_tar:extract(%q, [compressed, {cwd, %q}]), halt().`, p, dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("erl_tar:extract of the copy: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, member)); err != nil || string(b) != config {
		t.Errorf("erl_tar extracted %s as %q (%v), want %q", member, b, err, config)
	}
	if _, err := os.Stat(filepath.Join(dir, "releases", "1.3.0", "relup")); err != nil {
		t.Errorf("erl_tar extracted no relup: %v", err)
	}
}
