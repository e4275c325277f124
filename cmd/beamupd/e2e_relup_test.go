package main_test

import (
	"archive/tar"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// noUpgradeFiles names the members a build tool writes only from a hand-
// written appup: a release as mix makes it, or rebar3 without an appup.
func noUpgradeFiles(name string) bool {
	return strings.HasSuffix(name, "/relup") || strings.HasSuffix(name, ".appup")
}

// relupBundle bundles the flavor's vsn, stripped of its appups and relup,
// with beamup bundle --relup-from the release from: what beamup makes
// alone from the BEAM files.
func relupBundle(t *testing.T, f *otptest.Flavor, from, vsn string) (string, string) {
	t.Helper()
	_, beamup := bins(t)
	signedOf(t, f, from) // makes the keys
	out := filepath.Join(t.TempDir(), f.Release+"-"+vsn+".bundle")
	log := run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"),
		"--release", rebuilt(t, f.Tarball(t, vsn), noUpgradeFiles, nil, ""), "--relup-from", f.Tarball(t, from), "-o", out)
	return out, log
}

// The sample's 1.0.0 -> 1.1.0 with no appup or relup written by hand:
// beamup appup's instructions and systools' relup made by beamup bundle
// --relup-from upgrade the node hot, the gen_server keeping its pid and
// its state in the new shape.
func TestRelupFromUpgradesHot(t *testing.T) {
	t.Parallel()
	skipShort(t)
	bundle, log := relupBundle(t, otptest.Gauge, "1.0.0", "1.1.0")
	if !strings.Contains(log, "generated lib/gauge-1.1.0/ebin/gauge.appup") {
		t.Errorf("beamup bundle did not say it generated the appup:\n%s", log)
	}
	d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
	for i := 0; i < 3; i++ {
		d.call("gauge_counter", "pulse")
	}
	pid, osPid := d.call("erlang", "whereis", etf.Atom("gauge_counter")), d.call("os", "getpid")
	code, out := d.beamupd("install", bundle)
	if code != 0 || !strings.Contains(out, "hot upgrade from 1.0.0") {
		t.Fatalf("install: exit %d, want 0 and hot\n%s", code, out)
	}
	if d.call("os", "getpid") != osPid || d.call("erlang", "whereis", etf.Atom("gauge_counter")) != pid {
		t.Errorf("the upgrade restarted the node or the counter")
	}
	if state := otprel.Format(d.call("gauge_counter", "state")); !strings.Contains(state, "count => 3") {
		t.Errorf("gauge_counter state %s, want the count 3 in the 1.1.0 map", state)
	}
	d.powerCycled("gauge", "1.1.0", "the hot upgrade")
}

// An Elixir release built by mix release goes from 1.0.0 to 1.1.0 hot
// with nothing written by hand: the appup of Elixir modules and the relup
// are beamup's.
func TestRelupFromMixRelease(t *testing.T) {
	t.Parallel()
	skipShort(t)
	f := otptest.Mix
	bundle, log := relupBundle(t, f, "1.0.0", "1.1.0")
	if !strings.Contains(log, "generated lib/meter-1.1.0/ebin/meter.appup") {
		t.Errorf("beamup bundle did not say it generated the appup:\n%s", log)
	}
	d := newDevice(t, "1.0.0", deviceOpts{flavor: f, health: "Elixir.Meter.Health:check"})
	for i := 0; i < 3; i++ {
		d.call("Elixir.Meter.Counter", "pulse")
	}
	counter, osPid := d.call("erlang", "whereis", etf.Atom("Elixir.Meter.Counter")), d.call("os", "getpid")
	code, out := d.beamupd("install", bundle)
	if code != 0 || !strings.Contains(out, "hot upgrade from 1.0.0") {
		t.Fatalf("install: exit %d, want 0 and hot\n%s", code, out)
	}
	d.sameNode("the hot upgrade", osPid, counter)
	d.meterIs("after the hot upgrade", "1.1.0", 3)
}

// A bundle that carries appups but no relup for the running version: the
// node makes the relup (its own systools) once the release is unpacked,
// and the upgrade goes hot; beamupd plan says so beforehand.
func TestRelupMadeOnTheDevice(t *testing.T) {
	t.Parallel()
	skipShort(t)
	_, beamup := bins(t)
	dir := t.TempDir()
	run(t, beamup, "appup", "-o", dir, otptest.Tarball(t, "1.0.0"), otptest.Tarball(t, "1.1.0"))
	appupText, err := os.ReadFile(filepath.Join(dir, "gauge.appup"))
	if err != nil {
		t.Fatal(err)
	}
	// An appup that is there already is kept, and the difference said,
	// unless --force.
	own := "%% mine\n" + string(appupText)
	os.WriteFile(filepath.Join(dir, "gauge.appup"), []byte(own), 0o644)
	out := run(t, beamup, "appup", "-o", dir, otptest.Tarball(t, "1.0.0"), otptest.Tarball(t, "1.1.0"))
	if kept, _ := os.ReadFile(filepath.Join(dir, "gauge.appup")); string(kept) != own || !strings.Contains(out, "kept") || !strings.Contains(out, "-%% mine") {
		t.Errorf("an existing appup was not kept with the difference said:\n%s", out)
	}
	run(t, beamup, "appup", "--force", "-o", dir, otptest.Tarball(t, "1.0.0"), otptest.Tarball(t, "1.1.0"))
	if forced, _ := os.ReadFile(filepath.Join(dir, "gauge.appup")); string(forced) != string(appupText) {
		t.Errorf("--force did not replace the appup")
	}
	tb := rebuilt(t, otptest.Tarball(t, "1.1.0"), noUpgradeFiles,
		&tar.Header{Name: "lib/gauge-1.1.0/ebin/gauge.appup", Typeflag: tar.TypeReg}, string(appupText))
	bundle := signTarball(t, tb)

	d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
	if code, out := d.beamupd("plan", bundle); code != 0 || !strings.Contains(out, ": hot") || !strings.Contains(out, "made on the device") {
		t.Errorf("plan: exit %d, want 0, hot, the relup made on the device\n%s", code, out)
	}
	for i := 0; i < 3; i++ {
		d.call("gauge_counter", "pulse")
	}
	osPid := d.call("os", "getpid")
	code, out := d.beamupd("install", bundle)
	if code != 0 || !strings.Contains(out, "made the relup 1.0.0 -> 1.1.0 from the appups") {
		t.Fatalf("install: exit %d, want 0 with the relup made on the device\n%s", code, out)
	}
	if d.call("os", "getpid") != osPid {
		t.Errorf("the upgrade restarted the node")
	}
	if state := otprel.Format(d.call("gauge_counter", "state")); !strings.Contains(state, "count => 3") {
		t.Errorf("gauge_counter state %s, want the count 3 in the 1.1.0 map", state)
	}
	d.powerCycled("gauge", "1.1.0", "the hot upgrade")
}

// beamup rehearse: the sample's 1.0.0 -> 1.1.0 goes hot, the suspended
// gen_server's pause is measured, the rollback goes back and 1.0.0 is
// healthy again: exit 0. The broken 1.2.0 rehearsed from 1.1.0 reverts:
// exit 1, with 1.1.0 healthy again.
func TestRehearse(t *testing.T) {
	t.Parallel()
	skipShort(t)
	beamupd, beamup := bins(t)
	rehearse := func(old, bundle string) (int, rehearseReport, string) {
		t.Helper()
		pub := filepath.Join(keyDir, "release.pub") // made by signed
		out, err := exec.Command(beamup, "rehearse", "--pub", pub, "--beamupd", beamupd, "--json", old, bundle).Output()
		var r rehearseReport
		if jerr := json.Unmarshal(out, &r); jerr != nil {
			t.Fatalf("rehearse printed no report: %v (%v)\n%s", jerr, err, out)
		}
		return exitCode(err), r, string(out)
	}
	code, r, out := rehearse(otptest.Tarball(t, "1.0.0"), signed(t, "1.1.0"))
	if code != 0 || !r.OK || r.Path != "hot" || r.Install.Outcome != "committed" || r.Back.Outcome != "committed" || !r.OldAgain {
		t.Errorf("rehearse 1.0.0 -> 1.1.0: exit %d\n%s", code, out)
	}
	if len(r.Pauses) != 1 || r.Pauses[0].Process != "gauge_counter" || r.Pauses[0].Millis <= 0 || r.Pauses[0].Millis > 1000 {
		t.Errorf("pauses %+v, want gauge_counter's, above 0 and under a second", r.Pauses)
	}
	code, r, out = rehearse(otptest.Tarball(t, "1.1.0"), signed(t, "1.2.0"))
	if code != 1 || r.OK || r.Install.Outcome != "reverted" || !r.OldAgain {
		t.Errorf("rehearse the broken 1.1.0 -> 1.2.0: exit %d, want 1 with a revert and 1.1.0 healthy again\n%s", code, out)
	}
}

type rehearseReport struct {
	Path    string `json:"path"`
	Install struct {
		Outcome string `json:"outcome"`
	} `json:"install"`
	Pauses []struct {
		Process string  `json:"process"`
		Millis  float64 `json:"ms"`
	} `json:"pauses"`
	Back struct {
		Outcome string `json:"outcome"`
	} `json:"back"`
	OldAgain bool `json:"old_release_healthy_again"`
	OK       bool `json:"ok"`
}

// skipShort skips an end-to-end test that builds releases and runs nodes
// before newDevice would skip it.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with real releases and a real OTP node; not in -short")
	}
}
