package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// An Elixir release built by `mix release` (testdata/mix: include_erts,
// the :tar step, config/runtime.exs, consolidated protocols, an appup and a
// relup added by hand) is hot-upgraded and hot-downgraded in the running
// node: Meter.Counter keeps its pid and its state in each version's shape,
// the value config/runtime.exs set stays, and Meter.describe() uses 1.1.0's
// new String.Chars implementation of Meter.Reading. A power cut after the
// rollback boots 1.0.0.
func TestMixHotUpgradeAndDowngrade(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{flavor: otptest.Mix, health: "Elixir.Meter.Health:check"})
	bundle := signedOf(t, otptest.Mix, "1.1.0")
	for i := 0; i < 3; i++ {
		d.call("Elixir.Meter.Counter", "pulse")
	}
	counter := d.call("erlang", "whereis", etf.Atom("Elixir.Meter.Counter"))
	osPid := d.call("os", "getpid")
	// The fixture itself, before beamupd does anything.
	if !d.meterIs("before the upgrade", "1.0.0", 3) {
		t.Fatal("the mix sample does not run as built; a fixture problem, not beamupd's")
	}

	code, out := d.beamupd("install", bundle)
	if code != 0 {
		t.Fatalf("hot upgrade 1.0.0 -> 1.1.0: exit %d, want 0\n%s", code, out)
	}
	d.sameNode("the hot upgrade", osPid, counter)
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("after the hot upgrade releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	if which, _ := otprel.String(d.call("code", "which", etf.Atom("Elixir.Meter.Counter"))); !strings.Contains(which, "lib/meter-1.1.0/") {
		t.Errorf("after the hot upgrade Meter.Counter is loaded from %s, want lib/meter-1.1.0", which)
	}
	d.meterIs("after the hot upgrade", "1.1.0", 3)
	d.call("Elixir.Meter.Counter", "pulse")

	code, out = d.beamupd("rollback")
	if code != 0 {
		t.Fatalf("rollback (a hot downgrade to 1.0.0): exit %d, want 0\n%s", code, out)
	}
	d.sameNode("the hot downgrade", osPid, counter)
	if got := strings.Join(d.releases(), " "); !strings.Contains(got, "1.0.0:permanent") {
		t.Errorf("after the rollback releases %s, want 1.0.0 permanent", got)
	}
	d.meterIs("after the hot downgrade", "1.0.0", 4)

	d.PowerCycle(t)
	rels, err := d.node.WhichReleases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := beam.Current(rels); cur.Version != "1.0.0" {
		t.Errorf("after the rollback and a power cycle the node runs release %s, want 1.0.0", cur.Version)
	}
	d.meterIs("after the rollback and a power cycle", "1.0.0", 0)
}

// sameNode fails the test unless the node kept its OS process and
// Meter.Counter its pid through what happened.
func (d *device) sameNode(what string, osPid, counter etf.Term) {
	d.t.Helper()
	if got := d.call("os", "getpid"); got != osPid {
		d.t.Errorf("%s restarted the node: os pid %s, was %s", what, otprel.Format(got), otprel.Format(osPid))
	}
	if got := d.call("erlang", "whereis", etf.Atom("Elixir.Meter.Counter")); got != counter {
		d.t.Errorf("after %s Meter.Counter is %s, was %s: its state was not kept", what, otprel.Format(got), otprel.Format(counter))
	}
}

// meterIs checks that the node runs meter vsn as a fresh boot of that
// release would: the meter application in that version, Meter.Counter's
// state in that version's shape holding count, the :site that
// config/runtime.exs set, the String.Chars protocol consolidated for that
// release (on the code path and loaded), and Meter.describe() answering.
// It reports each difference and says whether there was none.
func (d *device) meterIs(when, vsn string, count int) bool {
	d.t.Helper()
	t := d.t
	ok := true
	errorf := func(format string, args ...any) {
		t.Helper()
		ok = false
		t.Errorf(when+": "+format, args...)
	}
	apps, err := d.node.StartedApps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if running := otptest.AppVersion(apps, "meter"); running != vsn {
		errorf("the meter application runs in version %q, want %s", running, vsn)
	}

	state := d.call("Elixir.Meter.Counter", "state")
	switch vsn {
	case "1.0.0":
		if fmt.Sprint(state) != fmt.Sprint(count) {
			errorf("Meter.Counter's state is %s, want %d (1.0.0 keeps the count as an integer)", otprel.Format(state), count)
		}
	default:
		m, isMap := state.(etf.Map)
		if !isMap || len(m) != 1 || fmt.Sprint(m[etf.Atom("count")]) != fmt.Sprint(count) {
			errorf("Meter.Counter's state is %s, want %%{count: %d} (the 1.1.0 shape)", otprel.Format(state), count)
		}
	}

	site := otptest.MeterEnv(d.call("application", "get_env", etf.Atom("meter"), etf.Atom("site")))
	if want := otptest.MeterSite(d.Target); site != want {
		why := ""
		if site == otptest.MeterBuildSite {
			why = " (config.exs's build-time value from sys.config: config/runtime.exs was not applied again)"
		}
		errorf("meter's :site is %q, want %q, which config/runtime.exs sets from METER_SITE%s", site, want, why)
	}

	// The consolidated protocols of the release that runs: on the code
	// path, and String.Chars as consolidated there (with or without
	// Meter.Reading's implementation).
	var consolidated []string
	path, _ := d.call("code", "get_path").(etf.List)
	for _, p := range path {
		if s, _ := otprel.String(p); strings.HasSuffix(s, "/consolidated") {
			consolidated = append(consolidated, s)
		}
	}
	if len(consolidated) != 1 || !strings.HasSuffix(consolidated[0], "releases/"+vsn+"/consolidated") {
		errorf("the code path has the consolidated protocols of %v, want releases/%s/consolidated only", consolidated, vsn)
	}
	which, _ := otprel.String(d.call("code", "which", etf.Atom("Elixir.String.Chars")))
	reading := etf.Map{etf.Atom("__struct__"): etf.Atom("Elixir.Meter.Reading"),
		etf.Atom("sensor"): "main", etf.Atom("value"): 0, etf.Atom("unit"): "kWh"}
	impl := d.call("Elixir.String.Chars", "impl_for", reading)
	wantImpl, wantDescribe := etf.Atom("nil"), fmt.Sprintf("v1 main %d kWh", count)
	if vsn != "1.0.0" {
		wantImpl, wantDescribe = etf.Atom("Elixir.String.Chars.Meter.Reading"), fmt.Sprintf("v2 main=%d kWh", count)
	}
	if impl != wantImpl {
		errorf("String.Chars.impl_for(%%Meter.Reading{}) is %s, want %s as releases/%s/consolidated has it; String.Chars is loaded from %s",
			otprel.Format(impl), otprel.Format(wantImpl), vsn, which)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := d.node.Call(ctx, "Elixir.Meter", "describe")
	if err != nil {
		errorf("Meter.describe() failed (String.Chars is loaded from %s): %v", which, err)
	} else if got, _ := otprel.String(v); got != wantDescribe {
		errorf("Meter.describe() = %s, want %q", otprel.Format(v), wantDescribe)
	}
	return ok
}
