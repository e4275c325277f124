package beam

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

func makeTarball(t *testing.T, files map[string]string) []byte {
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
		"releases/1.1.0/app.rel":    `{release, {"app", "1.1.0"}, {erts, "13.1.5"}, [{kernel, "8.5.3"}, {app, "1.1.0"}]}.`,
		"releases/1.1.0/relup":      `{"1.1.0", [{"1.0.0", [], [point_of_no_return]}, {"1.0.1", [], []}], [{"1.0.0", [], []}]}.`,
		"releases/1.1.0/sys.config": `[].`,
		"releases/app.rel":          `ignored`,
		"lib/app-1.1.0/priv/nif.so": "elf",
		"lib/app-1.1.0/ebin/a.beam": "beam",
		"erts-13.1.5/bin/beam.smp":  "x",
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

func TestReadTarballErrors(t *testing.T) {
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
