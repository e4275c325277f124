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
