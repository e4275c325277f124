package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// The device in these tests runs tally, built by rebar3 as its docs say
// (testdata/rebar3), and boots it through relx's extended start script
// bin/tally (testdata/target/rebar3-node.sh): what boots after a restart is
// what bin/tally's REL_VSN line says, not releases/start_erl.data.

func newRebar3Device(t *testing.T) *device {
	t.Helper()
	return newDevice(t, "1.0.0", deviceOpts{flavor: otptest.Rebar3, health: "tally_health:check"})
}

// rebar3Upgrade installs tally 1.1.0 over the running 1.0.0 and fails the
// test unless beamupd commits it.
func rebar3Upgrade(d *device) {
	d.t.Helper()
	code, out := d.beamupd("install", signedOf(d.t, otptest.Rebar3, "1.1.0"))
	if code != 0 {
		d.t.Fatalf("install 1.1.0: exit %d, want 0%s\n%s", code, rebar3WhyRefused(d, "1.0.0", "1.1.0", out), out)
	}
}

// rebar3WhyRefused explains a refusal for a vm.args change when vm.args.src,
// the file the release ships, is the same in the running release from and
// in the new release vsn's tarball.
func rebar3WhyRefused(d *device, from, vsn, out string) string {
	d.t.Helper()
	if !strings.Contains(out, "vm.args changes") {
		return ""
	}
	running, err := os.ReadFile(filepath.Join(d.Root, "releases", from, "vm.args.src"))
	if err != nil {
		return ""
	}
	shipped := otptest.Member(d.t, otptest.Rebar3.Tarball(d.t, vsn), "releases/"+vsn+"/vm.args.src")
	if !bytes.Equal(running, shipped) {
		return ""
	}
	_, genErr := os.Stat(filepath.Join(d.Root, "releases", from, "vm.args"))
	shippedVMArgs := otptest.Member(d.t, otptest.Rebar3.Tarball(d.t, vsn), "releases/"+vsn+"/vm.args")
	if genErr != nil || shippedVMArgs != nil {
		return ""
	}
	return fmt.Sprintf(": the refusal is wrong, vm.args.src is the same in %s and %s. relx's bin/tally wrote "+
		"ROOT/releases/%s/vm.args from vm.args.src (with NODE_NAME and COOKIE put in) when it started the node, as it "+
		"does at every start, and the %s tarball carries only releases/%s/vm.args.src", from, vsn, from, vsn, vsn)
}

// rebar3RelVsn returns the version relx's ROOT/bin/tally boots: its
// REL_VSN line.
func rebar3RelVsn(d *device) string {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.Root, "bin", "tally"))
	if err != nil {
		d.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^REL_VSN="([^"]*)"`).FindSubmatch(data)
	if m == nil {
		d.t.Fatalf("%s has no REL_VSN line", filepath.Join(d.Root, "bin", "tally"))
	}
	return string(m[1])
}

// rebar3Running returns the version of tally that runs
// (application:which_applications), or what went wrong asking.
// rebar3HotUpgraded checks that what took tally from 1.0.0 (with the
// counter bumped three times) to 1.1.0 hot: the node and tally_counter
// kept their pids, the count was migrated into 1.1.0's state, and 1.1.0
// runs.
func rebar3HotUpgraded(d *device, what string, osPid, counter etf.Term) {
	d.t.Helper()
	if got := d.call("os", "getpid"); got != osPid {
		d.t.Errorf("the node restarted during %s: OS pid %v, was %v", what, got, osPid)
	}
	if got := d.call("erlang", "whereis", etf.Atom("tally_counter")); got != counter {
		d.t.Errorf("tally_counter is %v after %s, was %v: it was restarted, not upgraded", got, what, counter)
	}
	state := d.call("tally_counter", "state")
	if rebar3Field(state, "count") != "3" || rebar3Field(state, "migrated") != "true" {
		d.t.Errorf("tally_counter state %s after %s, want the count 3 migrated into the 1.1.0 map (count => 3, migrated => true)",
			otprel.Format(state), what)
	}
	if v := rebar3Running(d); v != "1.1.0" {
		d.t.Errorf("tally %s runs after %s, want 1.1.0", v, what)
	}
}

func rebar3Running(d *device) string {
	d.t.Helper()
	apps, err := d.node.StartedApps(context.Background())
	if err != nil {
		return fmt.Sprintf("(the node does not answer: %v)", err)
	}
	if v := otptest.AppVersion(apps, "tally"); v != "" {
		return v
	}
	return "(none)"
}

// rebar3Field returns the value of key in the tally_counter state s (a
// map from 1.1.0 on) as text, or "" when s is no map or has no such key.
func rebar3Field(s etf.Term, key string) string {
	m, ok := s.(etf.Map)
	if !ok {
		return ""
	}
	v, ok := m[etf.Atom(key)]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// rebar3PowerCycled cuts the power (SIGKILL), boots the node again with
// relx's bin/tally, and fails the test unless it came back on tally vsn,
// the permanent release: by its applications, its boot script, and
// release_handler. after says what happened before, for the messages.
func rebar3PowerCycled(d *device, vsn, after string) {
	d.t.Helper()
	if relVsn := rebar3RelVsn(d); relVsn != vsn {
		d.t.Errorf("after %s ROOT/bin/tally boots %s (its REL_VSN line), want %s: bin/tally was not replaced with bin/tally-%s "+
			"(relx's own `bin/tally upgrade` copies it over at make_permanent)", after, relVsn, vsn, vsn)
	}
	d.powerCycled("tally", vsn, after)
}

// 1.0.0 -> 1.1.0 of a rebar3 release, hot: the gen_server keeps its pid and
// its count in the new shape, 1.1.0 is permanent, and after a power cut the
// device boots 1.1.0 through relx's bin/tally.
func TestRebar3HotUpgradeThenPowerCycle(t *testing.T) {
	t.Parallel()
	d := newRebar3Device(t)
	for i := 0; i < 3; i++ {
		d.call("tally_counter", "bump")
	}
	counter := d.call("erlang", "whereis", etf.Atom("tally_counter"))
	osPid := d.call("os", "getpid")

	rebar3Upgrade(d)
	rebar3HotUpgraded(d, "the upgrade", osPid, counter)
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	rebar3PowerCycled(d, "1.1.0", "the upgrade to 1.1.0 committed")
}

// 1.1.0 -> 1.2.0, whose code_change crashes after the point of no return:
// exit 11, back on a healthy 1.1.0 with 1.2.0 gone, and a power cut later
// the device still boots 1.1.0.
func TestRebar3BrokenUpgradeReverts(t *testing.T) {
	t.Parallel()
	d := newRebar3Device(t)
	rebar3Upgrade(d)
	d.call("tally_counter", "bump")

	code, out := d.beamupd("install", signedOf(t, otptest.Rebar3, "1.2.0"))
	if code != 11 {
		t.Errorf("install 1.2.0: exit %d, want 11 (reverted to 1.1.0); the node restarted through relx's bin/tally "+
			"runs tally %s from the boot script of %s, ROOT/bin/tally has REL_VSN=%q\n%s",
			code, rebar3Running(d), d.bootedRelease(), rebar3RelVsn(d), out)
	}
	if !strings.Contains(out, "code_change of tally_counter failed: badarith") {
		t.Errorf("the output does not say why 1.2.0 failed (code_change of tally_counter failed: badarith):\n%s", out)
	}
	if v := rebar3Running(d); v != "1.1.0" {
		t.Errorf("after the revert tally %s runs (boot script of release %s), want 1.1.0", v, d.bootedRelease())
	} else if h := otprel.Format(d.call("tally_health", "check")); h != "ok" {
		t.Errorf("after the revert tally_health:check() = %s, want ok", h)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("after the revert releases %s, want 1.0.0 old and 1.1.0 permanent, 1.2.0 gone", got)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "lib", "tally-1.2.0")); !os.IsNotExist(err) {
		t.Errorf("lib/tally-1.2.0 is still on disk after the revert")
	}
	rebar3PowerCycled(d, "1.1.0", "the revert of 1.2.0")
}

// beamupd rollback from 1.1.0 goes back to 1.0.0 by a hot downgrade, and
// after a power cut the device boots 1.0.0.
func TestRebar3RollbackThenPowerCycle(t *testing.T) {
	t.Parallel()
	d := newRebar3Device(t)
	rebar3Upgrade(d)
	d.call("tally_counter", "bump")
	d.call("tally_counter", "bump")
	osPid := d.call("os", "getpid")

	code, out := d.beamupd("rollback")
	if code != 0 {
		t.Fatalf("rollback: exit %d, want 0\n%s", code, out)
	}
	if got := strings.Join(d.releases(), " "); !strings.Contains(got, "1.0.0:permanent") {
		t.Errorf("after the rollback releases %s, want 1.0.0 permanent", got)
	}
	if d.call("os", "getpid") != osPid {
		t.Errorf("the rollback restarted the node; a hot downgrade was possible")
	}
	if v := rebar3Running(d); v != "1.0.0" {
		t.Errorf("after the rollback tally %s runs, want 1.0.0", v)
	}
	if s := otprel.Format(d.call("tally_counter", "state")); s != "2" {
		t.Errorf("after the hot downgrade tally_counter's state is %s, want the count 2 back in the 1.0.0 shape (an integer)", s)
	}
	rebar3PowerCycled(d, "1.0.0", "the rollback to 1.0.0")
}
