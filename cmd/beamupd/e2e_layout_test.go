package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// appVersion returns the version of the named application that runs, or
// "" when it does not.
func (d *device) appVersion(app string) string {
	d.t.Helper()
	apps, err := d.node.StartedApps(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return otptest.AppVersion(apps, app)
}

// bootedRelease returns the version of the release the node booted from:
// its boot script's id, which a hot upgrade does not change but a boot
// does.
func (d *device) bootedRelease() string {
	d.t.Helper()
	id, ok := d.call("init", "script_id").(etf.Tuple)
	if !ok || len(id) != 2 {
		return "?"
	}
	vsn, _ := otprel.String(id[1])
	return vsn
}

// powerCycled kills the node as a power cut would, boots it with its own
// start script, and fails the test unless it comes back running app at
// vsn, booted from the boot script of vsn, on the permanent release vsn:
// what boots is what is permanent.
func (d *device) powerCycled(app, vsn, after string) {
	d.t.Helper()
	d.PowerCycle(d.t)
	if got, booted := d.appVersion(app), d.bootedRelease(); got != vsn || booted != vsn {
		d.t.Errorf("after %s and a power cycle the node runs %s %s from the boot script of release %s, want %s",
			after, app, got, booted, vsn)
	}
	rels, err := d.node.WhichReleases(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	cur, _ := beam.Current(rels)
	perm, _ := beam.Permanent(rels)
	if cur.Version != vsn || perm.Version != vsn {
		d.t.Errorf("after %s and a power cycle the node runs release %s with %s permanent, want %s both",
			after, cur.Version, perm.Version, vsn)
	}
}

// A systools release laid out as OTP's System Principles guide makes it,
// its .rel files named gauge-VSN.rel: a hot upgrade, a revert and a
// rollback each leave the device booting its permanent release.
func TestSystoolsGuideLayout(t *testing.T) {
	t.Parallel()
	f := otptest.GaugeNameVsn
	d := newDevice(t, "1.0.0", deviceOpts{flavor: f, health: "gauge_health:check"})
	osPid := d.call("os", "getpid")
	if code, out := d.beamupd("install", signedOf(t, f, "1.1.0")); code != 0 {
		t.Fatalf("install 1.1.0: exit %d, want 0\n%s", code, out)
	}
	if d.call("os", "getpid") != osPid {
		t.Errorf("the upgrade to 1.1.0 restarted the node")
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	d.powerCycled("gauge", "1.1.0", "the upgrade")

	// The next upgrade reads the release beamupd installed itself.
	code, out := d.beamupd("install", signedOf(t, f, "1.2.0"))
	if code != 11 || !strings.Contains(out, "code_change of gauge_counter failed") {
		t.Fatalf("install 1.2.0: exit %d, want 11 with the failed code_change\n%s", code, out)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("after the revert releases %s, want 1.2.0 gone", got)
	}
	d.powerCycled("gauge", "1.1.0", "the revert")

	d.call("gauge_counter", "pulse")
	count := fmt.Sprint(d.call("gauge_counter", "value"))
	if code, out := d.beamupd("rollback"); code != 0 {
		t.Fatalf("rollback: exit %d, want 0\n%s", code, out)
	}
	if v := fmt.Sprint(d.call("gauge_counter", "value")); v != count {
		t.Errorf("after the hot downgrade the count is %v, want %s", v, count)
	}
	d.powerCycled("gauge", "1.0.0", "the rollback")
}
