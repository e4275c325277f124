package otprel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func makeTarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestReadTarball(t *testing.T) {
	data := makeTarball(t, map[string]string{
		"releases/1.1.0/app.rel":           `{release, {"app", "1.1.0"}, {erts, "13.1.5"}, [{kernel, "8.5.3"}, {sasl, "4.2"}, {app, "1.1.0"}]}.`,
		"releases/1.1.0/start.boot":        "boot",
		"lib/kernel-8.5.3/ebin/kernel.app": "",
		"lib/sasl-4.2/ebin/sasl.app":       "",
		"releases/1.1.0/relup":             `{"1.1.0", [{"1.0.0", [], [point_of_no_return]}, {"1.0.1", [], []}], [{"1.0.0", [], []}]}.`,
		"releases/1.1.0/sys.config":        `[].`,
		"releases/app.rel":                 `ignored`,
		"lib/app-1.1.0/priv/nif.so":        "elf",
		"lib/app-1.1.0/ebin/a.beam":        "beam",
		"erts-13.1.5/bin/beam.smp":         "x",
	})
	f, err := ReadTarball(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "app" || f.Version != "1.1.0" || f.ERTS != "13.1.5" || f.App("app") != "1.1.0" {
		t.Errorf("release = %+v", f.Release)
	}
	if len(f.RelupFrom) != 2 || f.RelupFrom[0] != "1.0.0" || f.RelupFrom[1] != "1.0.1" {
		t.Errorf("RelupFrom = %v", f.RelupFrom)
	}
	if !f.ERTSIncluded {
		t.Error("ERTS not seen")
	}
	if _, ok := f.Config["sys.config"]; !ok {
		t.Errorf("Config = %v", f.Config)
	}
	if _, ok := f.Native["app/priv/nif.so"]; !ok {
		t.Errorf("Native = %v", f.Native)
	}
}

// A release tarball whose .rel has another name than the release, as
// systools makes it from OTP's guide (ch_rel-1.rel); start types and
// included applications as mix and the .app files give them.
func TestReadTarballLayouts(t *testing.T) {
	rel := `{release,{"meter","1.1.0"},{erts,"13.1.5"},[{kernel,"8.5.3"},{sasl,"4.2"},{iex,"1.14.0",none},{inc,"1"},{meter,"1.1.0",permanent},{tool,"2",load,[]}]}.`
	base := map[string]string{
		"releases/1.1.0/start.boot":      "boot",
		"releases/meter-1.1.0.rel":       rel,
		"lib/kernel-8.5.3/ebin/k.beam":   "",
		"lib/sasl-4.2/ebin/s.beam":       "",
		"lib/iex-1.14.0/ebin/i.beam":     "",
		"lib/inc-1/ebin/inc.app":         `{application,inc,[{vsn,"1"}]}.`,
		"lib/meter-1.1.0/ebin/meter.app": `{application,meter,[{vsn,"1.1.0"},{included_applications,[inc]}]}.`,
		"lib/tool-2/ebin/tool.app":       `{application,tool,[{included_applications,[kernel]}]}.`,
		"lib/tool-2/ebin/t.beam":         "",
	}
	for _, relName := range []string{"meter.rel", "meter-1.1.0.rel", "start_clean.rel"} {
		files := map[string]string{"releases/1.1.0/" + relName: rel}
		for k, v := range base {
			files[k] = v
		}
		f, err := ReadTarball(bytes.NewReader(makeTarball(t, files)))
		if err != nil {
			t.Fatalf("%s: %v", relName, err)
		}
		if f.Name != "meter" || f.RelFile != "releases/1.1.0/"+relName {
			t.Errorf("%s: release %s from %s", relName, f.Name, f.RelFile)
		}
		var started []string
		for _, a := range f.Apps {
			if f.Started(a) {
				started = append(started, a.Name)
			}
		}
		// iex and tool are only loaded; meter's .app includes inc; tool's
		// .rel entry overrides its .app, so kernel is not included.
		if got := strings.Join(started, " "); got != "kernel sasl meter" {
			t.Errorf("%s: started applications %q, want kernel sasl meter", relName, got)
		}
	}
}

// An installed release is found by the .rel its directory holds, whatever
// the file's name.
func TestReadInstalledFindsTheRel(t *testing.T) {
	for _, relName := range []string{"gauge.rel", "gauge-1.0.0.rel"} {
		root := t.TempDir()
		dir := filepath.Join(root, "releases", "1.0.0")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, relName), []byte(`{release,{"gauge","1.0.0"},{erts,"13.1.5"},[{kernel,"8.5.3"},{sasl,"4.2"},{gauge,"1.0.0"}]}.`), 0o644)
		os.WriteFile(filepath.Join(dir, "start_clean.rel"), []byte(`{release,{"OTP  APN 181 01","R15A"},{erts,"13.1.5"},[{kernel,"8.5.3"}]}.`), 0o644)
		f, err := ReadInstalled(root, "gauge", "1.0.0")
		if err != nil {
			t.Fatalf("%s: %v", relName, err)
		}
		if f.RelFile != filepath.Join(dir, relName) || f.App("gauge") != "1.0.0" {
			t.Errorf("%s: read %s from %s", relName, f.Release.Name, f.RelFile)
		}
	}
	if _, err := ReadInstalled(t.TempDir(), "gauge", "1.0.0"); err == nil || !strings.Contains(err.Error(), "no .rel of release gauge") {
		t.Errorf("no .rel: %v", err)
	}
}

func TestReadTarballErrors(t *testing.T) {
	ok := func(extra map[string]string) map[string]string {
		files := map[string]string{
			"releases/1/a.rel":         `{release,{"a","1"},{erts,"1"},[{sasl,"4.2"},{a,"1"}]}.`,
			"releases/1/start.boot":    "",
			"lib/sasl-4.2/ebin/s.beam": "",
			"lib/a-1/ebin/a.beam":      "",
		}
		for k, v := range extra {
			if v == "" && k != "lib/a-1/ebin/a.beam" {
				delete(files, k)
				continue
			}
			files[k] = v
		}
		return files
	}
	if _, err := ReadTarball(bytes.NewReader(makeTarball(t, ok(nil)))); err != nil {
		t.Fatalf("the valid tarball: %v", err)
	}
	for name, c := range map[string]struct {
		files map[string]string
		want  string
	}{
		"no sasl":    {ok(map[string]string{"releases/1/a.rel": `{release,{"a","1"},{erts,"1"},[{a,"1"}]}.`}), "does not include sasl"},
		"no boot":    {ok(map[string]string{"releases/1/start.boot": ""}), "no releases/1/start.boot"},
		"no lib dir": {ok(map[string]string{"releases/1/a.rel": `{release,{"a","1"},{erts,"1"},[{sasl,"4.2"},{a,"1"},{b,"2"}]}.`}), "lib/b-2"},
	} {
		_, err := ReadTarball(bytes.NewReader(makeTarball(t, c.files)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	for name, files := range map[string]map[string]string{
		"no rel":        {"lib/a-1/ebin/a.beam": ""},
		"two rels":      {"releases/1/a.rel": `{release,{"a","1"},{erts,"1"},[]}.`, "releases/2/a.rel": `{release,{"a","2"},{erts,"1"},[]}.`},
		"version mixup": {"releases/1/a.rel": `{release,{"a","2"},{erts,"1"},[]}.`},
		"bad rel":       {"releases/1/a.rel": `{release, a}.`},
	} {
		if _, err := ReadTarball(bytes.NewReader(makeTarball(t, files))); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadTarball(bytes.NewReader([]byte("not gzip"))); err == nil {
		t.Error("not gzip: no error")
	}
}
