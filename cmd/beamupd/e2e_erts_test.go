package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// runningERTS returns the version of the erts-VSN directory of the
// release root that the node's emulator runs from, as two witnesses see
// it: the program of its OS process (/proc/PID/exe, which erlexec execs
// from its BINDIR) and the BINDIR the node was started with. Both fail
// the test when they are not under the root's erts-VSN/bin.
func (d *device) runningERTS() string {
	d.t.Helper()
	pid, _ := otprel.String(d.call("os", "getpid"))
	exe, err := os.Readlink(filepath.Join("/proc", pid, "exe"))
	if err != nil {
		d.t.Fatalf("the node's program: %v", err)
	}
	bindir, _ := otprel.String(d.call("os", "getenv", "BINDIR"))
	vsn := func(what, dir string) string {
		rel, err := filepath.Rel(d.Root, dir)
		erts, rest, _ := strings.Cut(filepath.ToSlash(rel), "/")
		v, ok := strings.CutPrefix(erts, "erts-")
		if err != nil || !ok || !strings.HasPrefix(rest, "bin") {
			d.t.Fatalf("the node's %s is %s, not in %s/erts-VSN/bin", what, dir, d.Root)
		}
		return v
	}
	fromExe, fromEnv := vsn("program", filepath.Dir(exe)), vsn("BINDIR", bindir)
	if fromExe != fromEnv {
		d.t.Fatalf("the node runs %s, with BINDIR %s", exe, bindir)
	}
	return fromExe
}

// startErl returns releases/start_erl.data: "ERTS_VSN REL_VSN", what the
// target's start script boots.
func (d *device) startErl() string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Root, "releases", "start_erl.data"))
	if err != nil {
		d.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A release on another ERTS goes cold: the node boots once from the new
// erts-VSN the release brought, is committed, and boots from it from then
// on; the old ERTS stays on disk, and a rollback boots the old release
// from it again. Only one OTP is installed here: the new ERTS is this one
// under a later version (RenameERTS), which is all that release_handler,
// beamupd and the start script see of an ERTS, its directory and the
// version the .rel names.
func TestColdUpgradeNewERTS(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
	oldERTS := d.runningERTS()
	if got := d.startErl(); got != oldERTS+" 1.0.0" {
		t.Fatalf("the device boots %q, want %q", got, oldERTS+" 1.0.0")
	}
	newERTS := oldERTS + ".1" // 13.1.5 -> 13.1.5.1, as OTP numbers a patch
	bundle := signTarball(t, otptest.RenameERTS(t, otptest.Gauge.Tarball(t, "2.0.0"), newERTS))
	osPid := d.call("os", "getpid")

	code, out := d.beamupd("install", bundle)
	if code != 0 {
		t.Fatalf("install 2.0.0 on ERTS %s: exit %d, want 0\n%s\n%s", newERTS, code, out, d.evidence())
	}
	wasCold(t, out, "ERTS changes from "+oldERTS+" to "+newERTS)
	if !strings.Contains(out, "gauge 2.0.0 is permanent (cold upgrade from 1.0.0)") {
		t.Errorf("output does not say the cold upgrade committed:\n%s", out)
	}
	if d.call("os", "getpid") == osPid {
		t.Errorf("a cold upgrade did not restart the node")
	}
	if v := d.runningERTS(); v != newERTS {
		t.Errorf("after the upgrade the node runs from erts-%s, want erts-%s", v, newERTS)
	}
	if got, want := d.startErl(), newERTS+" 2.0.0"; got != want {
		t.Errorf("releases/start_erl.data says %q, want %q", got, want)
	}
	if v := d.appVersion("runtime_tools"); v == "" {
		t.Errorf("runtime_tools does not run after the cold upgrade")
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 2.0.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 2.0.0 permanent", got)
	}
	// release_handler keeps each release's ERTS in RELEASES; the old
	// one's directory stays, for going back.
	if rels, err := os.ReadFile(filepath.Join(d.Root, "releases", "RELEASES")); err != nil ||
		!strings.Contains(string(rels), `"`+newERTS+`"`) || !strings.Contains(string(rels), `"`+oldERTS+`"`) {
		t.Errorf("releases/RELEASES does not name both ERTS %s and %s (%v):\n%s", oldERTS, newERTS, err, rels)
	}
	for _, v := range []string{oldERTS, newERTS} {
		if _, err := os.Stat(filepath.Join(d.Root, "erts-"+v, "bin", "erlexec")); err != nil {
			t.Errorf("erts-%s is not on the device: %v", v, err)
		}
	}
	d.powerCycled("gauge", "2.0.0", "the cold upgrade")
	if v := d.runningERTS(); v != newERTS {
		t.Errorf("after a power cycle the node runs from erts-%s, want erts-%s", v, newERTS)
	}

	// Back to 1.0.0: 2.0.0's relup has no downgrade to it, so by a reboot,
	// on the ERTS 1.0.0 names.
	code, out = d.beamupd("rollback")
	if code != 0 || !strings.Contains(out, "rolled back from 2.0.0 to gauge 1.0.0 (reboot)") {
		t.Fatalf("rollback: exit %d, want 0 and a rollback by reboot\n%s\n%s", code, out, d.evidence())
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent 2.0.0:old" {
		t.Errorf("after the rollback releases %s, want 1.0.0 permanent and 2.0.0 old", got)
	}
	if v := d.runningERTS(); v != oldERTS {
		t.Errorf("after the rollback the node runs from erts-%s, want erts-%s", v, oldERTS)
	}
	if got, want := d.startErl(), oldERTS+" 1.0.0"; got != want {
		t.Errorf("after the rollback releases/start_erl.data says %q, want %q", got, want)
	}
	if v := d.appVersion("runtime_tools"); v != "" {
		t.Errorf("runtime_tools %s still runs after the rollback to 1.0.0", v)
	}
	d.powerCycled("gauge", "1.0.0", "the rollback")
	if v := d.runningERTS(); v != oldERTS {
		t.Errorf("after the rollback and a power cycle the node runs from erts-%s, want erts-%s", v, oldERTS)
	}
}

// evidence is what to look at when an operation fails: the journal and
// the node's log.
func (d *device) evidence() string {
	journal, _ := os.ReadFile(filepath.Join(d.stateDir, "journal.json"))
	log, _ := os.ReadFile(filepath.Join(d.Root, "log", "node.log"))
	return "journal.json:\n" + string(journal) + "\nnode.log:\n" + string(log)
}
