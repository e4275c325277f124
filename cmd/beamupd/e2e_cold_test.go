package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/transport/mqtt"
)

// gaugeWith returns a bundle of gauge 2.0.0 whose sys.config is cfg: the
// sample's 2.0.0 fails to boot with {boot, crash} and fails its health
// check with {health, fail}.
func gaugeWith(t *testing.T, cfg string) string {
	t.Helper()
	tb := otptest.RewriteTar(t, otptest.Gauge.Tarball(t, "2.0.0"), "releases/2.0.0/sys.config",
		func([]byte) []byte { return []byte(cfg) })
	return signTarball(t, tb)
}

// wasCold fails the test unless the install's output says it went cold
// for reason.
func wasCold(t *testing.T, out, reason string) {
	t.Helper()
	if !strings.Contains(out, "cold upgrade") || !strings.Contains(out, reason) {
		t.Errorf("the install did not say it went cold for %q:\n%s", reason, out)
	}
}

// A release that adds an application cannot go hot: in auto it goes
// cold, boots the new release once, commits it healthy, and the device
// boots it from then on.
func TestColdUpgradeAddsApplication(t *testing.T) {
	t.Parallel()
	// In both systools layouts: gauge.rel, and gauge-VSN.rel as OTP's
	// System Principles guide names it.
	for _, f := range []*otptest.Flavor{otptest.Gauge, otptest.GaugeNameVsn} {
		t.Run(f.Tool, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, "1.0.0", deviceOpts{flavor: f, soak: "1s", health: "gauge_health:check"})
			osPid := d.call("os", "getpid")
			code, out := d.beamupd("install", signedOf(t, f, "2.0.0"))
			if code != 0 {
				t.Fatalf("install 2.0.0: exit %d, want 0\n%s", code, out)
			}
			wasCold(t, out, "applications added: runtime_tools")
			if !strings.Contains(out, "gauge 2.0.0 is permanent (cold upgrade from 1.0.0)") {
				t.Errorf("output does not say the cold upgrade committed:\n%s", out)
			}
			if d.call("os", "getpid") == osPid {
				t.Errorf("a cold upgrade did not restart the node")
			}
			if v := d.appVersion("runtime_tools"); v == "" {
				t.Errorf("runtime_tools does not run after the cold upgrade")
			}
			if got := strings.Join(d.releases(), " "); got != "1.0.0:old 2.0.0:permanent" {
				t.Errorf("releases %s, want 1.0.0 old and 2.0.0 permanent", got)
			}
			if s := d.status(); s.State != "committed" || s.Release == nil || s.Release.Version != "2.0.0" {
				t.Errorf("status %+v, want committed on 2.0.0", s)
			}
			d.powerCycled("gauge", "2.0.0", "the cold upgrade")
		})
	}
}

// A new release that crashes while it boots, and one whose health
// function fails during the soak: the node comes back on the previous
// release, healthy, exit 11, and the failed release is gone.
func TestColdUpgradeFailuresRevert(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, cfg string
		why       []string // one of them
	}{
		// The crash comes as gauge starts; on a loaded machine the node
		// may answer once before it goes.
		{"crash while booting", `[{gauge, [{boot, crash}]}].`, []string{"did not boot", "node down"}},
		{"health fails in the soak", `[{gauge, [{health, fail}]}].`, []string{"sensor_unplugged"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, "1.0.0", deviceOpts{soak: "2s", health: "gauge_health:check"})
			code, out := d.beamupd("install", gaugeWith(t, c.cfg))
			said := false
			for _, w := range c.why {
				said = said || strings.Contains(lastLines(out), w)
			}
			if code != 11 || !said {
				t.Fatalf("install: exit %d, want 11 saying one of %q\n%s", code, c.why, out)
			}
			if v := d.permanentHealthy("gauge", "gauge_health:check"); v != "1.0.0" {
				t.Errorf("after the revert %s is permanent, want 1.0.0", v)
			}
			if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
				t.Errorf("releases %s, want only 1.0.0", got)
			}
			if _, err := os.Stat(filepath.Join(d.Root, "releases", "2.0.0")); err == nil {
				t.Errorf("releases/2.0.0 left behind")
			}
			d.powerCycled("gauge", "1.0.0", "the revert")
		})
	}
}

// A relup that holds restart_emulator is performed by release_handler
// only through heart; beamupd goes cold instead, and needs no heart.
func TestColdRestartEmulatorRelup(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.2.0", deviceOpts{health: "gauge_health:check"})
	if heart := d.call("erlang", "whereis", etf.Atom("heart")); fmt.Sprint(heart) != "undefined" {
		t.Fatalf("the test node runs heart (%v)", heart)
	}
	code, out := d.beamupd("install", signed(t, "1.3.0"))
	if code != 0 {
		t.Fatalf("install 1.3.0: exit %d, want 0\n%s", code, out)
	}
	wasCold(t, out, "the relup restarts the emulator (restart_emulator)")
	if got := strings.Join(d.releases(), " "); got != "1.2.0:old 1.3.0:permanent" {
		t.Errorf("releases %s, want 1.2.0 old and 1.3.0 permanent", got)
	}
	for _, r := range d.releases() {
		if strings.HasPrefix(r, "__new_emulator__") {
			t.Errorf("release_handler's temporary release left behind: %s", r)
		}
	}
	// With mode hot it is refused, with the reason, before any change.
	d2 := newDevice(t, "1.2.0", deviceOpts{})
	if code, out := d2.beamupd("install", signed(t, "1.3.0", "--mode", "hot")); code != 10 || !strings.Contains(out, "restart_emulator") {
		t.Errorf("install --mode hot: exit %d, want 10 naming restart_emulator\n%s", code, out)
	}
}

// beamupd is killed at each step of a cold upgrade, and the node while it
// boots the new release: the device always ends on a permanent release
// that is healthy and boots, with the journal finished, and takes the
// bundle afterwards.
func TestColdUpgradeKilledAtEachStep(t *testing.T) {
	t.Parallel()
	for _, step := range []plan.Step{plan.Booting, plan.Rebooting, plan.Checking, plan.Committing} {
		t.Run(string(step), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
			marker := filepath.Join(t.TempDir(), "fired")
			d.env = append(d.env, fmt.Sprintf("BEAMUPD_FAILPOINT=%s:%s", step, marker))
			code, out := d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", signed(t, "2.0.0"))
			d.env = d.env[:len(d.env)-1]
			if code != -1 || !strings.Contains(out, fmt.Sprintf("failpoint %s: killed", step)) {
				t.Fatalf("beamupd install was not killed at %s: exit %d\n%s", step, code, out)
			}
			// A power cut now, too: the node boots whatever the boot
			// files say, before beamupd runs again.
			d.PowerCycle(t)
			dm := d.run()
			waitFor(t, 90*time.Second, "the daemon to finish the operation", func() bool {
				j := d.journal()
				return j.Op == nil && j.Last != nil && j.Last.Version == "2.0.0"
			})
			j := d.journal()
			if j.Last.Outcome != report.Reverted && j.Last.Outcome != report.Committed {
				t.Errorf("last result %+v, want reverted or committed\n%s", j.Last, dm.log())
			}
			v := d.permanentHealthy("gauge", "gauge_health:check")
			if want := map[report.Outcome]string{report.Reverted: "1.0.0", report.Committed: "2.0.0"}[j.Last.Outcome]; v != want {
				t.Errorf("%s, but %s is permanent, want %s", j.Last.Outcome, v, want)
			}
			dm.stop()
			d.powerCycled("gauge", v, "the resumed operation")
			if v == "1.0.0" {
				if code, out := d.beamupd("install", signed(t, "2.0.0")); code != 0 {
					t.Errorf("install after the revert: exit %d\n%s", code, out)
				}
			}
		})
	}
	t.Run("node killed while booting", func(t *testing.T) {
		t.Parallel()
		d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
		done := make(chan struct{})
		var code int
		var out string
		go func() {
			defer close(done)
			code, out = d.beamupd("install", signed(t, "2.0.0"))
		}()
		d.waitStep(plan.Rebooting)
		d.Kill(t)
		<-done
		if code != 11 && code != 0 {
			t.Fatalf("install: exit %d, want 11 (or 0 if the node had booted)\n%s", code, out)
		}
		v := d.permanentHealthy("gauge", "gauge_health:check")
		d.powerCycled("gauge", v, "the install")
	})
}

// A plain mix release has no relup: it goes cold, and the node runs the
// new version, with its runtime configuration, after a restart of its
// own too.
func TestColdMixRelease(t *testing.T) {
	t.Parallel()
	f := otptest.Mix
	d := newDevice(t, "1.1.0", deviceOpts{flavor: f, soak: "1s", health: "Elixir.Meter.Health:check"})
	code, out := d.beamupd("install", signedOf(t, f, "1.2.0"))
	if code != 0 {
		t.Fatalf("install meter 1.2.0: exit %d, want 0\n%s", code, out)
	}
	wasCold(t, out, "the release has no relup")
	if site := otptest.MeterEnv(d.call("application", "get_env", etf.Atom("meter"), etf.Atom("site"))); site != otptest.MeterSite(d.Target) {
		t.Errorf("after the cold upgrade meter's site is %s, want %s from runtime.exs", site, otptest.MeterSite(d.Target))
	}
	d.powerCycled("meter", "1.2.0", "the cold upgrade")
}

// No silent downgrade: an older release is refused unless signed as a
// downgrade; signed as one it installs (cold here: 1.0.0 has no relup
// from 1.1.0), and one still on the node as old is gone back to.
func TestDowngradeMustBeSigned(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.1.0", deviceOpts{health: "gauge_health:check"})
	code, out := d.beamupd("install", signed(t, "1.0.0"))
	if code != 10 || !strings.Contains(out, "older than the permanent 1.1.0") {
		t.Fatalf("install of an older release: exit %d, want 10\n%s", code, out)
	}
	if code, out := d.beamupd("install", signed(t, "1.0.0", "--downgrade")); code != 0 {
		t.Fatalf("install of a signed downgrade: exit %d, want 0\n%s", code, out)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent 1.1.0:old" {
		t.Errorf("releases %s, want 1.0.0 permanent", got)
	}

	// 1.1.0 again, hot, then back to 1.0.0, which is still on the node.
	d2 := newDevice(t, "1.0.0", deviceOpts{health: "gauge_health:check"})
	if code, out := d2.beamupd("install", signed(t, "1.1.0")); code != 0 {
		t.Fatalf("install 1.1.0: exit %d\n%s", code, out)
	}
	code, out = d2.beamupd("install", signed(t, "1.0.0", "--downgrade"))
	if code != 0 || !strings.Contains(out, "rolled back from 1.1.0 to gauge 1.0.0") {
		t.Fatalf("signed downgrade to the old release: exit %d, want 0 and a rollback\n%s", code, out)
	}
	d2.powerCycled("gauge", "1.0.0", "the downgrade")
}

// beamupd plan says how a bundle would install and changes nothing.
func TestPlanChangesNothing(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	before := tree(t, d.Root)
	code, out := d.beamupd("plan", signed(t, "1.1.0"))
	if code != 0 || !strings.Contains(out, "gauge 1.0.0 -> 1.1.0: hot") || !strings.Contains(out, "{load_object_code,{gauge,\"1.1.0\",[gauge_counter,") {
		t.Errorf("plan 1.1.0: exit %d, want 0, hot, with the relup's instructions\n%s", code, out)
	}
	code, out = d.beamupd("plan", signed(t, "2.0.0"))
	if code != 0 || !strings.Contains(out, "gauge 1.0.0 -> 2.0.0: cold") || !strings.Contains(out, "cold: applications added: runtime_tools") {
		t.Errorf("plan 2.0.0: exit %d, want 0, cold, with the reason\n%s", code, out)
	}
	code, out = d.beamupd("plan", signed(t, "2.0.0", "--mode", "hot"))
	if code != 10 || !strings.Contains(out, "hot upgrade refused") {
		t.Errorf("plan 2.0.0 --mode hot: exit %d, want 10\n%s", code, out)
	}
	if after := tree(t, d.Root); after != before {
		t.Errorf("plan changed the release root")
	}
	if left, _ := filepath.Glob(filepath.Join(d.stateDir, "staging", "*")); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json")); err == nil {
		t.Errorf("plan wrote the journal:\n%s", data)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
		t.Errorf("releases %s after plan", got)
	}
}

// A rebar3 release boots through relx's bin/NAME, which names its own
// version: the cold path boots the new release once through it, and
// after the commit the device boots it.
func TestColdRebar3Release(t *testing.T) {
	t.Parallel()
	f := otptest.Rebar3
	d := newDevice(t, "1.0.0", deviceOpts{flavor: f, soak: "1s", health: "tally_health:check"})
	code, out := d.beamupd("install", signedOf(t, f, "1.2.0"))
	if code != 0 {
		t.Fatalf("install tally 1.2.0: exit %d, want 0\n%s", code, out)
	}
	wasCold(t, out, "the relup has no upgrade from 1.0.0")
	if v := d.appVersion("tally"); v != "1.2.0" {
		t.Errorf("tally %s runs after the cold upgrade, want 1.2.0", v)
	}
	d.powerCycled("tally", "1.2.0", "the cold upgrade")
}

// A cold upgrade over MQTT, followed by a daemon built with the race
// detector while it downloads in small chunks (a status for each) and
// reports every step: the retained status says installing (cold) and
// rebooting on the way, the release commits, and beamupd has no data race.
func TestMQTTColdUpgradeRaceFree(t *testing.T) {
	t.Parallel()
	broker := brokertest.Start(t, nil)
	url := broker.URL("mqtt")
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: mqttSection(url, "line1"), soak: "1s", health: "gauge_health:check"})
	dm := d.startDaemon(beamupdBuild(t, "1.0.0", "race"))
	seen := map[string]bool{}
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := mqtt.Connect(ctx, mqtt.Options{Broker: url, ClientID: fmt.Sprintf("test-%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(100)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		mqtt.WatchStatus(wctx, c, mqtt.Topics{Prefix: "beamup"}, d.id, func(s report.Status) {
			mu.Lock()
			defer mu.Unlock()
			seen[s.State] = true
			if committedOn("2.0.0")(s) {
				stop()
			}
		})
	}()
	publishBundle(t, url, signed(t, "2.0.0", "--chunk-size", "65536"), "--group", "line1")
	<-done
	stop()
	mu.Lock()
	defer mu.Unlock()
	if !seen["committed"] {
		t.Fatalf("no committed status; states seen %v\n%s", seen, dm.log())
	}
	for _, st := range []string{"downloading", "installing (cold)", "rebooting"} {
		if !seen[st] {
			t.Errorf("the retained status never said %q; states seen %v", st, seen)
		}
	}
	if v := d.appVersion("gauge"); v != "2.0.0" {
		t.Errorf("gauge %s runs, want 2.0.0", v)
	}
	if strings.Contains(dm.log(), "DATA RACE") {
		t.Errorf("beamupd has a data race:\n%s", dm.log())
	}
}
