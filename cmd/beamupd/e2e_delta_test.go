package main_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/delta"
	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// deltaOf is the sample's bundle of vsn as a delta against the release
// base, made by the real beamup command.
func deltaOf(t *testing.T, vsn, base string, extra ...string) string {
	t.Helper()
	return deltaOfFlavor(t, otptest.Gauge, vsn, base, extra...)
}

// deltaOfFlavor is the flavor's sample bundle of vsn as a delta against
// its release base, made by the real beamup command.
func deltaOfFlavor(t *testing.T, f *otptest.Flavor, vsn, base string, extra ...string) string {
	t.Helper()
	return signedOf(t, f, vsn, append([]string{"--base", f.Tarball(t, base)}, extra...)...)
}

// A delta of 1.0.0 -> 1.1.0 is a small part of the full bundle, and a
// device running 1.0.0 rebuilds 1.1.0 from it, hot-upgrades keeping the
// state, and boots 1.1.0 again after a restart: the files it rebuilt are
// the release's own.
func TestDeltaHotUpgrade(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
	made := time.Now()
	small, full := deltaOf(t, "1.1.0", "1.0.0"), signed(t, "1.1.0")
	ds, _ := os.Stat(small)
	fs, _ := os.Stat(full)
	if ratio := float64(ds.Size()) / float64(fs.Size()); ratio > 0.02 {
		t.Errorf("the delta is %d bytes, %.3f of the full bundle's %d; want at most 0.02", ds.Size(), ratio, fs.Size())
	}
	for i := 0; i < 2; i++ {
		d.call("gauge_counter", "pulse")
	}
	osPid := d.call("os", "getpid")
	// The record leaves out files changed less than a second before they
	// are read (their times could not tell a later write), and the
	// device's release was copied just now: the delta comes once it is
	// older, as on a device in the field.
	time.Sleep(time.Until(made.Add(1100 * time.Millisecond)))
	code, out := d.beamupd("install", small)
	if code != 0 || !strings.Contains(out, "rebuilt gauge 1.1.0 from the delta against 1.0.0") {
		t.Fatalf("install of the delta: exit %d, want 0\n%s", code, out)
	}
	if d.call("os", "getpid") != osPid {
		t.Error("the node restarted for a hot upgrade")
	}
	if state := otprel.Format(d.call("gauge_counter", "state")); !strings.Contains(state, "count => 2") {
		t.Errorf("gauge_counter state %s, want the count 2", state)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
	// The next delta takes the hashes of the files it keeps where they
	// are (stdlib's among them) from the record, and reads none of them.
	var record map[string]any
	data, _ := os.ReadFile(filepath.Join(d.stateDir, "base-hashes.json"))
	if json.Unmarshal(data, &record); !hasPrefixKey(record, "lib/stdlib-") || hasPrefixKey(record, "releases/") {
		t.Errorf("the record of the base's hashes holds %d files, want stdlib's and none of releases/", len(record))
	}
	d.Stop(t)
	d.Start(t)
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("after a restart the node runs gauge %s, want 1.1.0", v)
	}
}

func hasPrefixKey(m map[string]any, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// A delta arrives over MQTT and over the cable the way a full bundle
// does, and commits.
func TestDeltaOverMQTTAndCable(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	a := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1")})
	da := a.run()
	publishBundle(t, url, deltaOf(t, "1.1.0", "1.0.0", "--chunk-size", "4096"), "--group", "line1")
	waitStatus(t, url, a.id, da, committedOn("1.1.0"))
	if !strings.Contains(da.log(), "rebuilt gauge 1.1.0 from the delta") {
		t.Errorf("the MQTT device did not say it rebuilt the release:\n%s", da.log())
	}
	// A few seconds after the commit, the idle daemon records the hashes
	// of the files the delta wrote, for the next delta that keeps them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var record map[string]any
		data, _ := os.ReadFile(filepath.Join(a.stateDir, "base-hashes.json"))
		if json.Unmarshal(data, &record); hasPrefixKey(record, "lib/gauge-1.1.0/") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("30 s after the commit the record of the base's hashes holds none of lib/gauge-1.1.0 (%d files):\n%s", len(record), da.log())
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	devPort, laptopPort := cable(t)
	b := newDevice(t, "1.0.0", deviceOpts{mqtt: serialSection(devPort)})
	b.run()
	_, beamup := bins(t)
	out, err := execOut(beamup, "serial", "--port", laptopPort, "push", deltaOf(t, "1.1.0", "1.0.0"))
	if err != nil || !strings.Contains(out, "committed: gauge 1.1.0") {
		t.Fatalf("push of the delta: %v\n%s", err, out)
	}
	if v := b.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// A delta the device cannot rebuild is refused at verification with 10,
// saying why, and nothing changes: a delta against a base it does not
// have (it says to send the full bundle), and one whose file, rebuilt, is
// not what the signed index says.
func TestDeltaRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	wrongBase := deltaOf(t, "1.2.0", "1.1.0")
	lying := signedDelta(t, "1.1.0", "1.0.0", func(e *delta.Entry) {
		if e.Source == delta.Patch && strings.HasSuffix(e.Path, "gauge_counter.beam") {
			e.SHA256 = strings.Repeat("0", 64)
		}
	})
	before := tree(t, d.Root)
	for _, c := range []struct{ name, bundle, want string }{
		{"another base", wrongBase, "delta against gauge 1.1.0: the base's lib/gauge-1.1.0/"},
		{"rebuilt file unlike its hash", lying, "gauge_counter.beam rebuilt has sha256"},
	} {
		code, out := d.beamupd("install", c.bundle)
		if code != 10 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want 10 and %q in\n%s", c.name, code, c.want, out)
		}
		if c.name == "another base" && !strings.Contains(out, "send the full bundle") {
			t.Errorf("%s: the refusal does not say to send the full bundle:\n%s", c.name, out)
		}
	}
	if after := tree(t, d.Root); after != before {
		t.Errorf("the release root changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
		t.Errorf("releases %s", got)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
}

// beamupd killed while it lays out the release a delta rebuilds (just
// after the rebuild, the layout in place): the running release is
// untouched, the next start removes what was laid out, and the delta
// installs afterwards.
func TestDeltaKilledWhileRebuilding(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	small := deltaOf(t, "1.1.0", "1.0.0")
	before := tree(t, d.Root)
	marker := filepath.Join(t.TempDir(), "fired")
	d.env = append(d.env, "BEAMUPD_FAILPOINT=rebuilt:"+marker)
	code, out := d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", small)
	d.env = d.env[:len(d.env)-1]
	if code != -1 || !strings.Contains(out, "failpoint rebuilt: killed") {
		t.Fatalf("beamupd was not killed after the rebuild: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "lib", "gauge-1.1.0", "ebin", "gauge_stats.beam")); err != nil {
		t.Fatal("the kill left nothing laid out: the test kills too late or too early")
	}
	for _, line := range strings.Fields(strings.ReplaceAll(before, " ", "|")) {
		if line = strings.ReplaceAll(line, "|", " "); !strings.Contains(tree(t, d.Root), line+"\n") {
			t.Errorf("the running release changed: %q is gone", line)
		}
	}
	if code, out := d.beamupd("status"); code != 0 {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	dm := d.run()
	waitFor(t, 30*time.Second, "the daemon to remove the layout", func() bool {
		return strings.Contains(dm.log(), "laid out by an install that did not finish")
	})
	dm.stop()
	// The daemon's start also prepares releases/RELEASES, which the test
	// target (like a mix release) ships without.
	if after := withoutRELEASES(tree(t, d.Root)); after != withoutRELEASES(before) {
		t.Errorf("the release root after the next start:\n%s", treeDiff(before, after))
	}
	code, out = d.beamupd("install", small)
	if code != 0 {
		t.Fatalf("install after the kill: exit %d\n%s", code, out)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
}

// signedDelta makes the delta of vsn against base as beamup bundle does,
// lets change edit each line of its index, and signs the result with the
// trusted test key: a signer's mistake or a compromised build.
func signedDelta(t *testing.T, vsn, base string, change func(*delta.Entry)) string {
	t.Helper()
	var payload bytes.Buffer
	st, err := delta.Make(otptest.Tarball(t, base), otptest.Tarball(t, vsn), &payload)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&payload)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		data, _ := io.ReadAll(tr)
		if h.Name == delta.Index {
			entries, err := delta.ReadIndex(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			for i := range entries {
				change(&entries[i])
			}
			var b bytes.Buffer
			delta.WriteIndex(&b, entries)
			data = b.Bytes()
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "gauge-"+vsn+".delta")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return signedManifest(t, p, &bundle.Manifest{Format: 2, Kind: bundle.KindRelease, Name: "gauge", Version: vsn,
		Upgrade: &bundle.Upgrade{From: []string{}, Mode: "auto"},
		Delta:   &bundle.Delta{Base: st.Base, Files: st.Files, Size: st.Size}})
}

// signedManifest bundles payload under m, its payload fields filled in,
// signed with the trusted test key.
func signedManifest(t *testing.T, payload string, m *bundle.Manifest) string {
	t.Helper()
	signed(t, "1.0.0") // makes the keys
	sk, err := bundle.LoadSecretKey(filepath.Join(keyDir, "release.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := bundle.HashPayload(payload, bundle.DefaultChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	p.Path = filepath.Base(payload)
	m.Payload, m.Created = p, time.Now().UTC().Truncate(time.Second)
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), m.Name+"-"+m.Version+".bundle")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := bundle.Write(f, raw, bundle.SignManifest(sk, raw, m.Name+" "+m.Version), payload, m); err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutRELEASES is a tree without its releases/RELEASES line.
func withoutRELEASES(tree string) string {
	var kept []string
	for _, l := range strings.Split(tree, "\n") {
		if !strings.HasPrefix(l, "/releases/RELEASES ") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}
