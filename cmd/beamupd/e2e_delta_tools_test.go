package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/report"
)

// A delta bundle works for the releases the real tools build, not only
// for the systools sample: `beamup bundle --base` of 1.1.0 against the
// 1.0.0 tarball of a `mix release` (meter) and of a rebar3 release
// (tally) is a small part of the full bundle, and a device running 1.0.0
// rebuilds 1.1.0 from it and hot-upgrades as it does from the full
// bundle: the node keeps its process and the counter its pid and its
// state in 1.1.0's shape, 1.1.0's code runs, 1.1.0 is permanent, and a
// power cut later the device boots 1.1.0 from the files it rebuilt.
func TestDeltaOfEachTool(t *testing.T) {
	skipShort(t)
	t.Parallel()

	t.Run("mix", func(t *testing.T) {
		t.Parallel()
		f := otptest.Mix
		d := newDevice(t, "1.0.0", deviceOpts{flavor: f, health: "Elixir.Meter.Health:check"})
		for i := 0; i < 3; i++ {
			d.call("Elixir.Meter.Counter", "pulse")
		}
		counter := d.call("erlang", "whereis", etf.Atom("Elixir.Meter.Counter"))
		osPid := d.call("os", "getpid")
		if !d.meterIs("before the upgrade", "1.0.0", 3) {
			t.Fatal("the mix sample does not run as built; a fixture problem, not beamupd's")
		}

		installToolDelta(t, d, f, nil)
		d.sameNode("the hot upgrade from the delta", osPid, counter)
		if which, _ := otprel.String(d.call("code", "which", etf.Atom("Elixir.Meter.Counter"))); !strings.Contains(which, "lib/meter-1.1.0/") {
			t.Errorf("after the delta Meter.Counter is loaded from %s, want lib/meter-1.1.0", which)
		}
		d.meterIs("after the hot upgrade from the delta", "1.1.0", 3)

		d.powerCycled("meter", "1.1.0", "the delta to 1.1.0 committed")
		d.meterIs("after the delta and a power cycle", "1.1.0", 0)
	})

	t.Run("rebar3", func(t *testing.T) {
		t.Parallel()
		f := otptest.Rebar3
		d := newRebar3Device(t)
		for i := 0; i < 3; i++ {
			d.call("tally_counter", "bump")
		}
		counter := d.call("erlang", "whereis", etf.Atom("tally_counter"))
		osPid := d.call("os", "getpid")

		installToolDelta(t, d, f, func(out string) string { return rebar3WhyRefused(d, "1.0.0", "1.1.0", out) })
		rebar3HotUpgraded(d, "the hot upgrade from the delta", osPid, counter)

		rebar3PowerCycled(d, "1.1.0", "the delta to 1.1.0 committed")
		if state := d.call("tally_counter", "state"); rebar3Field(state, "count") != "0" || rebar3Field(state, "migrated") != "false" {
			t.Errorf("after a power cycle tally_counter state %s, want 1.1.0's fresh map (count => 0, migrated => false)",
				otprel.Format(state))
		}
	})
}

// installToolDelta makes the bundle of the flavor's 1.1.0 as a delta
// against its 1.0.0 tarball with beamup bundle --base, fails the test
// unless it is at most a tenth of the full bundle, installs it with
// beamupd install on d, which runs 1.0.0, and fails the test unless the
// install commits: exit 0, saying it rebuilt 1.1.0 from the delta, status
// committed on 1.1.0, 1.1.0 permanent and 1.0.0 old, nothing left in
// staging. why, when not nil, explains a failed install from its output.
func installToolDelta(t *testing.T, d *device, f *otptest.Flavor, why func(out string) string) {
	t.Helper()
	small, full := deltaOfFlavor(t, f, "1.1.0", "1.0.0"), signedOf(t, f, "1.1.0")
	ds, err := os.Stat(small)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := os.Stat(full)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(ds.Size()) / float64(fs.Size())
	t.Logf("%s %s 1.1.0: full bundle %d bytes, delta against 1.0.0 %d bytes (%.2f%%)",
		f.Tool, f.Release, fs.Size(), ds.Size(), 100*ratio)
	if ratio > 0.10 {
		t.Errorf("the delta is %d bytes, %.3f of the full bundle's %d; want at most 0.10", ds.Size(), ratio, fs.Size())
	}

	code, out := d.beamupd("install", small)
	if code != 0 {
		more := ""
		if why != nil {
			more = why(out)
		}
		t.Fatalf("install of the delta of %s 1.1.0 against 1.0.0: exit %d, want 0%s\n%s", f.Release, code, more, out)
	}
	if want := "rebuilt " + f.Release + " 1.1.0 from the delta against 1.0.0"; !strings.Contains(out, want) {
		t.Errorf("the install does not say %q:\n%s", want, out)
	}
	if s := d.status(); s.State != "committed" || s.Release == nil || s.Release.Version != "1.1.0" ||
		s.LastResult == nil || s.LastResult.Outcome != report.Committed || s.LastResult.Version != "1.1.0" {
		t.Errorf("status %+v, want committed on 1.1.0", s)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
}
