package main_test

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
)

// A power cut while unpack_release extracts leaves a torn lib/APP-VSN
// that RELEASES does not list. Here beamupd is killed as the unpack
// begins and the extraction is torn by hand: gauge_sup.beam, a module
// that the upgrade does not change and check_install_release never
// reads, is cut short. The daemon started next removes the torn tree
// whole; the bundle then installs again and the device still boots its
// permanent release.
func TestTornUnpackRemovedWhole(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{health: "gauge_health:check"})
	marker := filepath.Join(t.TempDir(), "fired")
	d.env = append(d.env, fmt.Sprintf("BEAMUPD_FAILPOINT=%s:%s", plan.Unpacking, marker))
	code, out := d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", signed(t, "1.1.0"))
	d.env = d.env[:len(d.env)-1]
	if code != -1 {
		t.Fatalf("beamupd install was not killed at unpacking: exit %d\n%s", code, out)
	}
	torn := tearExtraction(t, otptest.Tarball(t, "1.1.0"), d.Root, "lib/gauge-1.1.0/", "gauge_sup.beam")
	d.PowerCycle(t)

	dm := d.run()
	waitFor(t, 60*time.Second, "the daemon to finish the operation", func() bool {
		j := d.journal()
		return j.Op == nil && j.Last != nil && j.Last.Version == "1.1.0"
	})
	dm.stop()
	if _, err := os.Stat(torn); err == nil {
		t.Errorf("the torn %s is still there after the undo", torn)
	}
	if code, out := d.beamupd("install", signed(t, "1.1.0")); code != 0 {
		t.Fatalf("install after the undo: exit %d\n%s", code, out)
	}
	if j := d.journal(); j.Last.Outcome != report.Committed {
		t.Errorf("last result %+v", j.Last)
	}
	d.powerCycled("gauge", "1.1.0", "the install after a torn unpack")
}

// tearExtraction extracts the tarball's members under prefix into root
// as an extraction cut short would leave them: the member named cut is
// written only in part. It returns the directory it made.
func tearExtraction(t *testing.T, tarball, root, prefix, cut string) string {
	t.Helper()
	otptest.Members(t, tarball, func(h *tar.Header, data []byte) bool {
		if !strings.HasPrefix(h.Name, prefix) || h.Typeflag != tar.TypeReg {
			return true
		}
		if filepath.Base(h.Name) == cut {
			data = data[:len(data)/3]
		}
		p := filepath.Join(root, h.Name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return true
	})
	return filepath.Join(root, prefix)
}

// A torn extraction that no journal knows of (a state directory lost
// with the power, a beamupd of another install) is removed before the
// unpack, since release_handler would keep its files, and the install
// commits and boots.
func TestTornLeftoverRemovedBeforeUnpack(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{health: "gauge_health:check"})
	tearExtraction(t, otptest.Tarball(t, "1.1.0"), d.Root, "lib/gauge-1.1.0/", "gauge_sup.beam")
	code, out := d.beamupd("install", signed(t, "1.1.0"))
	if code != 0 || !strings.Contains(out, "removed lib/gauge-1.1.0") || !strings.Contains(out, "left by an interrupted unpack") {
		t.Fatalf("install over a torn leftover: exit %d, want 0 and the leftover removed\n%s", code, out)
	}
	d.powerCycled("gauge", "1.1.0", "the install over a torn leftover")
}

// A file of the unpacked release that is not the bundle's when beamupd
// checks it (changed under it here; torn or corrupted on a real device)
// stops the install before the point of no return: the node never runs
// it, the unpacked release goes, nothing is left.
func TestUnpackedFileCheckedBeforeInstall(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	osPid := d.call("os", "getpid")
	d.env = append(d.env, "BEAMUPD_FAILPOINT_PAUSE=unpacked:3s")
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		code, out = d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", signed(t, "1.1.0"))
		close(done)
	}()
	beam := filepath.Join(d.Root, "lib", "gauge-1.1.0", "ebin", "gauge_fmt.beam")
	waitFor(t, 60*time.Second, "the unpack", func() bool {
		return strings.Contains(strings.Join(d.releases(), " "), "1.1.0:unpacked")
	})
	if err := os.WriteFile(beam, []byte("not a beam"), 0o644); err != nil {
		t.Fatal(err)
	}
	<-done
	if code == 0 || !strings.Contains(out, "lib/gauge-1.1.0/ebin/gauge_fmt.beam on disk (10 bytes") {
		t.Fatalf("install with a changed unpacked file: exit %d, want a failure naming it\n%s", code, out)
	}
	t.Logf("exit %d: %s", code, lastLines(out))
	if d.call("os", "getpid") != osPid || d.runningApp() != "1.0.0" {
		t.Error("the node restarted or left 1.0.0")
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
		t.Errorf("releases %s, want only 1.0.0", got)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(beam))); err == nil {
		t.Error("lib/gauge-1.1.0 is still there")
	}
}
