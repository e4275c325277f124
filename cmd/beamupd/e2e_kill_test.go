package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/updater"
)

// beamupd is killed with SIGKILL at a random moment of a hot upgrade of a
// release made by each tool (systools in OTP's guide layout, rebar3, mix)
// and of a cold one (systools), not at a chosen failpoint; then beamupd run finishes what the journal
// holds. Whatever the moment, the node ends on a permanent release, old or
// new, that is healthy and is what boots after a power cut, and the bundle
// then installs. BEAMUP_KILL_TRIALS sets the trials per tool (default 2),
// BEAMUP_KILL_SEED the seed (default: the time, logged).
func TestKilledAtRandomEachTool(t *testing.T) {
	t.Parallel()
	trials, rng := trialsOf(t, "BEAMUP_KILL", 2, 0)
	for _, c := range []struct {
		flavor *otptest.Flavor
		app    string
		health string
		to     string // the version installed
		span   int    // ms over which the kill falls
		delta  bool   // sent as a delta against 1.0.0
	}{
		// A hot install takes 0.3 to 0.7 s here (soak 0): kills fall
		// across verification, unpack, install, health and commit, and
		// some after the end.
		{otptest.GaugeNameVsn, "gauge", "gauge_health:check", "1.1.0", 700, false},
		{otptest.Rebar3, "tally", "tally_health:check", "1.1.0", 700, false},
		{otptest.Mix, "meter", "Elixir.Meter.Health:check", "1.1.0", 700, false},
		// The same as deltas, which commit in about 0.15 s here: kills fall
		// across the rebuild and the layout too.
		{otptest.Rebar3, "tally", "tally_health:check", "1.1.0", 200, true},
		{otptest.Mix, "meter", "Elixir.Meter.Health:check", "1.1.0", 200, true},
		// A cold one (2.0.0 adds an application) about 2 s, the node's
		// restart included: kills fall before, during and after it.
		{otptest.Gauge, "gauge", "gauge_health:check", "2.0.0", 2500, false},
	} {
		for i := range trials {
			delay := time.Duration(rng.IntN(c.span)) * time.Millisecond
			name := fmt.Sprintf("%s-%s", c.flavor.Tool, c.to)
			if c.delta {
				name += "-delta"
			}
			t.Run(fmt.Sprintf("%s/%d/%s", name, i, delay), func(t *testing.T) {
				t.Parallel()
				d := newDevice(t, "1.0.0", deviceOpts{flavor: c.flavor, health: c.health})
				bundle := signedOf(t, c.flavor, c.to)
				if c.delta {
					bundle = deltaOfFlavor(t, c.flavor, c.to, "1.0.0")
				}
				beamupd, _ := bins(t)
				cmd := exec.Command(beamupd, "install", "--config", d.config, bundle)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(delay)
				cmd.Process.Kill()
				cmd.Wait()

				dm := d.run()
				waitFor(t, 90*time.Second, "beamupd run to finish the journal", func() bool {
					var j updater.Journal
					data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json"))
					return os.IsNotExist(err) || err == nil && json.Unmarshal(data, &j) == nil && j.Op == nil
				})
				dm.stop()

				perm := d.permanentHealthy(c.app, c.health)
				var j updater.Journal
				if data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json")); err == nil && json.Unmarshal(data, &j) == nil && j.Last != nil {
					t.Logf("killed after %s: %s %s (%s); %s permanent", delay, j.Last.Outcome, j.Last.Version, j.Last.Reason, perm)
				} else {
					t.Logf("killed after %s: no operation recorded; %s permanent", delay, perm)
				}
				d.powerCycled(c.app, perm, "a kill of beamupd after "+delay.String())
				if perm == "1.0.0" {
					if code, out := d.beamupd("install", bundle); code != 0 {
						t.Errorf("install after the interrupted one: exit %d, want 0\n%s", code, out)
					}
				}
				if v := d.appVersion(c.app); v != c.to {
					t.Errorf("in the end %s %s runs, want %s", c.app, v, c.to)
				}
			})
		}
	}
}

// trialsOf reads PREFIX_TRIALS (default n) and PREFIX_SEED (default the
// time, logged so that a run can be repeated) and returns the trials and
// a random source on stream of the seed.
func trialsOf(t *testing.T, prefix string, n int, stream uint64) (int, *rand.Rand) {
	if v, err := strconv.Atoi(os.Getenv(prefix + "_TRIALS")); err == nil && v > 0 {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv(prefix+"_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("%s_SEED=%d", prefix, seed)
	return n, rand.New(rand.NewPCG(seed, stream))
}

// permanentHealthy fails the test unless the node runs its permanent
// release, with app in that version and the health function answering
// ok; it returns the version.
func (d *device) permanentHealthy(app, health string) string {
	d.t.Helper()
	rels, err := d.node.WhichReleases(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	cur, _ := beam.Current(rels)
	perm, _ := beam.Permanent(rels)
	if cur.Version != perm.Version || d.appVersion(app) != perm.Version {
		d.t.Fatalf("the node runs release %s and %s %s with %s permanent", cur.Version, app, d.appVersion(app), perm.Version)
	}
	mod, fun, _ := strings.Cut(health, ":")
	if err := d.node.CallHealth(context.Background(), mod, fun); err != nil {
		d.t.Errorf("%s %s is not healthy: %v", app, perm.Version, err)
	}
	return perm.Version
}
