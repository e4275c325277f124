package main_test

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/bundle"
)

// A bundle whose signed payload the device has no room for fails before
// a byte of it is written: the free space is checked against the size
// the manifest declares. It is the device's problem, not the bundle's:
// the outcome is failed, not rejected, and nothing changed.
func TestNoRoomForTheBundle(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	signed(t, "1.0.0") // makes the keys
	sk, err := bundle.LoadSecretKey(filepath.Join(keyDir, "release.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 50 // a PiB: more than any disk here
	m := &bundle.Manifest{Format: 1, Kind: bundle.KindRelease, Name: "gauge", Version: "1.1.0",
		Upgrade: &bundle.Upgrade{From: []string{}, Mode: "auto"}, Created: time.Now().UTC().Truncate(time.Second),
		Payload: bundle.Payload{Path: "gauge-1.1.0.tar.gz", Size: size, ChunkSize: size,
			SHA256: strings.Repeat("a", 64), Chunks: []string{strings.Repeat("a", 64)}}}
	raw, _ := json.Marshal(m)
	huge := filepath.Join(t.TempDir(), "huge.bundle")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{bundle.ManifestName, raw}, {bundle.SignatureName, bundle.SignManifest(sk, raw, "gauge 1.1.0")}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data))})
		tw.Write(e.data)
	}
	tw.WriteHeader(&tar.Header{Name: m.Payload.Path, Mode: 0o644, Size: size})
	tw.Write(make([]byte, 4096)) // and no more: the device must not read on
	tw.Flush()
	f.Close()

	before := tree(t, d.Root)
	code, out := d.beamupd("install", huge)
	if code == 0 || code == 10 || !strings.Contains(out, "staging has") || !strings.Contains(out, "the bundle needs 1073741824.0 MiB") ||
		!strings.Contains(out, "nothing was changed") {
		t.Errorf("install of a bundle too big for the disk: exit %d, want failed, the free space and the need\n%s", code, out)
	}
	if after := tree(t, d.Root); after != before {
		t.Errorf("the release root changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
	if s := d.status(); s.LastResult == nil || s.LastResult.Outcome != "failed" {
		t.Errorf("status %+v, want the last result failed", s)
	}
	t.Logf("exit %d: %s", code, lastLines(out))
}
