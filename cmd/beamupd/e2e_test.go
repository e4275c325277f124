package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/bundle"
	"github.com/beamup/beamup/internal/bundletest"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/updater"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// bins builds beamupd and beamup once per test binary.
func bins(t *testing.T) (beamupd, beamup string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "beamup-bin-")
		for _, c := range []string{"beamupd", "beamup"} {
			if binErr != nil {
				return
			}
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "github.com/beamup/beamup/cmd/"+c).CombinedOutput()
			if err != nil {
				binErr = fmt.Errorf("building %s: %v\n%s", c, err, out)
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "beamupd"), filepath.Join(binDir, "beamup")
}

var (
	keyOnce sync.Once
	keyDir  string
)

// signed returns a bundle of the sample release vsn, signed with the test
// key, made by the real beamup command; extra flags go to beamup bundle.
func signed(t *testing.T, vsn string, extra ...string) string {
	t.Helper()
	return signedOf(t, otptest.Gauge, vsn, extra...)
}

// signedOf returns a bundle of the flavor's sample release vsn, signed with
// the test key by the real beamup command.
func signedOf(t *testing.T, f *otptest.Flavor, vsn string, extra ...string) string {
	t.Helper()
	return signTarball(t, f.Tarball(t, vsn), extra...)
}

// signTarball returns a bundle of a release tarball, signed with the test
// key by the real beamup command.
func signTarball(t *testing.T, tarball string, extra ...string) string {
	t.Helper()
	_, beamup := bins(t)
	keyOnce.Do(func() {
		keyDir, _ = os.MkdirTemp("", "beamup-keys-")
		run(t, beamup, "keygen", "-o", filepath.Join(keyDir, "release"))
		run(t, beamup, "keygen", "-o", filepath.Join(keyDir, "other"))
	})
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(tarball), ".tar.gz")+".bundle")
	args := append([]string{"bundle", "--key", filepath.Join(keyDir, "release.key"),
		"--release", tarball, "-o", out}, extra...)
	run(t, beamup, args...)
	return out
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// device is a target system with a beamupd configuration.
type device struct {
	*otptest.Target
	t        *testing.T
	id       string
	config   string
	stateDir string
	node     *beam.Client
	env      []string // added to beamupd's environment
}

type deviceOpts struct {
	soak   string
	health string
	// mqtt is an [mqtt] section for the configuration.
	mqtt string
	// device is more keys of the [device] section; sections is more
	// sections.
	device, sections string
	control          string // [node] control; the target's node.sh when empty
	// flavor is the sample release the device runs; Gauge when nil.
	flavor *otptest.Flavor
}

func newDevice(t *testing.T, vsn string, o deviceOpts) *device {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end with a real OTP node; not in -short")
	}
	bins(t)
	if o.flavor == nil {
		o.flavor = otptest.Gauge
	}
	signedOf(t, o.flavor, vsn) // makes the keys
	tg := o.flavor.NewTarget(t, vsn)
	d := &device{Target: tg, t: t, stateDir: filepath.Join(t.TempDir(), "state")}
	if o.control == "" {
		o.control = tg.Control()
	}
	if o.soak == "" {
		o.soak = "0s"
	}
	health := ""
	if o.health != "" {
		health = fmt.Sprintf("function = %q\n", o.health)
	}
	d.config = filepath.Join(t.TempDir(), "beamupd.toml")
	d.id = fmt.Sprintf("dev-%d", time.Now().UnixNano()%1e9)
	cfg := fmt.Sprintf(`[device]
id = %q
board = "testboard"
state_dir = %q
%s
[trust]
public_keys = [%q]

[node]
name = %q
cookie_file = %q
epmd_port = %d
root = %q
release = %q
control = %q
boot_timeout = "30s"
suspend_timeout = "5s"
code_change_timeout = "5s"

[health]
%ssoak = %q
interval = "200ms"
%s%s`, d.id, d.stateDir, o.device, filepath.Join(keyDir, "release.pub"), tg.Node, tg.CookieFile, tg.EPMDPort, tg.Root, o.flavor.Release, o.control, health, o.soak, o.mqtt, o.sections)
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.node = tg.Client(t)
	return d
}

// beamupd runs the daemon binary and returns its exit code and output.
func (d *device) beamupd(args ...string) (int, string) {
	d.t.Helper()
	beamupd, _ := bins(d.t)
	return d.beamupdAt(beamupd, args...)
}

// beamupdAt runs the beamupd executable at exe, with the device's
// configuration, and returns its exit code and output.
func (d *device) beamupdAt(exe string, args ...string) (int, string) {
	d.t.Helper()
	args = append(args[:1:1], append([]string{"--config", d.config}, args[1:]...)...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatal(err)
	}
	return code, string(out)
}

func (d *device) call(mod, fun string, args ...etf.Term) etf.Term {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := d.node.Call(ctx, mod, fun, args...)
	if err != nil {
		d.t.Fatalf("%s:%s: %v", mod, fun, err)
	}
	return v
}

// releases returns "vsn:status" of every release the node knows.
func (d *device) releases() []string {
	d.t.Helper()
	rels, err := d.node.WhichReleases(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, r := range rels {
		out = append(out, r.Version+":"+r.Status)
	}
	sort.Strings(out)
	return out
}

func (d *device) status() report.Status {
	d.t.Helper()
	code, out := d.beamupd("status", "--json")
	var s report.Status
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		d.t.Fatalf("beamupd status --json: exit %d\n%s", code, out)
	}
	return s
}

func (d *device) journal() updater.Journal {
	d.t.Helper()
	var j updater.Journal
	data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json"))
	if err == nil {
		err = json.Unmarshal(data, &j)
	}
	if err != nil {
		d.t.Fatalf("reading journal: %v", err)
	}
	return j
}

// runningApp returns the version of the gauge application that runs.
func (d *device) runningApp() string {
	d.t.Helper()
	return d.appVersion("gauge")
}

// install 1.0.0 -> 1.1.0 without a restart: the gen_server keeps its pid
// and its count, migrated to the new shape; 1.1.0 is permanent.
func TestHotUpgradeKeepsState(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "1s", health: "gauge_health:check"})
	bundle := signed(t, "1.1.0")
	for i := 0; i < 3; i++ {
		d.call("gauge_counter", "pulse")
	}
	pidBefore := d.call("erlang", "whereis", etf.Atom("gauge_counter"))
	osPid := d.call("os", "getpid")

	code, out := d.beamupd("install", bundle)
	if code != 0 {
		t.Fatalf("install: exit %d, want 0\n%s", code, out)
	}
	if got := d.call("os", "getpid"); got != osPid {
		t.Errorf("the node restarted: os pid %v, was %v", got, osPid)
	}
	if got := d.call("erlang", "whereis", etf.Atom("gauge_counter")); got != pidBefore {
		t.Errorf("gauge_counter pid %v, was %v", got, pidBefore)
	}
	state := otprel.Format(d.call("gauge_counter", "state"))
	if !strings.Contains(state, "count => 3") {
		t.Errorf("gauge_counter state %s, want the count 3 in the 1.1.0 map", state)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.0.0 old and 1.1.0 permanent", got)
	}
	// With a prepared RELEASES the new code runs from the new directory.
	which, _ := otprel.String(d.call("code", "which", etf.Atom("gauge_counter")))
	if !strings.Contains(which, "lib/gauge-1.1.0/") {
		t.Errorf("gauge_counter loaded from %s, want lib/gauge-1.1.0", which)
	}
	if s := d.status(); s.State != "committed" || s.Release == nil || s.Release.Version != "1.1.0" {
		t.Errorf("status %+v, want committed on 1.1.0", s)
	}
	// The next boot is on 1.1.0 too.
	d.Stop(t)
	d.Start(t)
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("after a restart the node runs gauge %s, want 1.1.0", v)
	}
}

// 1.1.0 -> 1.2.0, whose code_change crashes after the point of no return:
// exit 11, back on a healthy 1.1.0, 1.2.0 removed; then rollback to 1.0.0.
func TestBrokenUpgradeRevertsThenRollback(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{health: "gauge_health:check"})
	if code, out := d.beamupd("install", signed(t, "1.1.0")); code != 0 {
		t.Fatalf("install 1.1.0: exit %d\n%s", code, out)
	}
	d.call("gauge_counter", "pulse")
	code, out := d.beamupd("install", signed(t, "1.2.0"))
	if code != 11 {
		t.Fatalf("install 1.2.0: exit %d, want 11\n%s", code, out)
	}
	if !strings.Contains(out, "code_change of gauge_counter failed: badarith") {
		t.Errorf("output does not say why:\n%s", out)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:old 1.1.0:permanent" {
		t.Errorf("releases %s, want 1.2.0 gone", got)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "lib", "gauge-1.2.0")); !os.IsNotExist(err) {
		t.Errorf("lib/gauge-1.2.0 is still on disk")
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
	if s := d.status(); s.State != "reverted" || s.LastResult == nil || s.LastResult.Version != "1.2.0" {
		t.Errorf("status %+v, want reverted 1.2.0", s)
	}

	// A retry fails the same way, not with existing_release.
	if code, out := d.beamupd("install", signed(t, "1.2.0")); code != 11 || strings.Contains(out, "existing_release") {
		t.Errorf("retry of 1.2.0: exit %d, want 11\n%s", code, out)
	}

	d.call("gauge_counter", "pulse")
	count := fmt.Sprint(d.call("gauge_counter", "value"))
	osPid := d.call("os", "getpid")
	code, out = d.beamupd("rollback")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	if got := strings.Join(d.releases(), " "); !strings.Contains(got, "1.0.0:permanent") {
		t.Errorf("after rollback releases %s, want 1.0.0 permanent", got)
	}
	// A hot downgrade keeps the state, back in the 1.0.0 shape.
	if d.call("os", "getpid") != osPid {
		t.Errorf("the rollback restarted the node; a hot downgrade was possible")
	}
	if v := fmt.Sprint(d.call("gauge_counter", "value")); v != count {
		t.Errorf("after the hot downgrade the count is %v, want %s", v, count)
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
}

// A health function that fails during the soak reverts the upgrade.
func TestHealthFailureDuringSoakReverts(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "2s", health: "gauge_health:check"})
	// The sensor is unplugged: gauge_health:check/0 fails on this node.
	d.call("os", "putenv", "GAUGE_FAIL_HEALTH", "1")
	code, out := d.beamupd("install", signed(t, "1.1.0"))
	if code != 11 {
		t.Fatalf("install: exit %d, want 11\n%s", code, out)
	}
	if !strings.Contains(out, "sensor_unplugged") {
		t.Errorf("output does not name the failed check:\n%s", out)
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
		t.Errorf("releases %s, want only 1.0.0", got)
	}
}

// waitStep waits until the journal shows the operation at step.
func (d *device) waitStep(step plan.Step) {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(d.stateDir, "journal.json"))
		var j updater.Journal
		if json.Unmarshal(data, &j) == nil && j.Op != nil && j.Op.Step == step {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("the journal never reached step %s", step)
}

// The node is killed while beamupd checks it: beamupd brings it back on
// the permanent release.
func TestNodeKilledDuringInstall(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "30s"})
	beamupd, _ := bins(t)
	cmd := exec.Command(beamupd, "install", "--config", d.config, signed(t, "1.1.0"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.waitStep(plan.Checking)
	d.Kill(t)
	err := cmd.Wait()
	if exitCode(err) != 11 {
		t.Fatalf("install: %v, want exit 11\n%s", err, out.String())
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	j := d.journal()
	if j.Op != nil || j.Last == nil || j.Last.Outcome != report.Reverted || !strings.Contains(j.Last.Reason, "1.0.0") {
		t.Errorf("journal %+v %+v, want no operation and a reverted result", j.Op, j.Last)
	}
}

// beamupd is killed with SIGKILL at each step of an install, for real: a
// build with failpoints kills itself as soon as the journal says the step
// has begun, before the step acts (a step journaled while it acts, as soon
// as its record is on its way: the journal may still name the step
// before). The daemon started afterwards finishes the operation from the
// journal, and the device runs the release it ran.
func TestBeamupdKilledAndResumed(t *testing.T) {
	t.Parallel()
	for _, step := range []plan.Step{plan.Verified, plan.Copying, plan.Unpacking,
		plan.Installing, plan.Checking, plan.Committing} {
		t.Run(string(step), func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, "1.0.0", deviceOpts{soak: "1s"})
			marker := filepath.Join(t.TempDir(), "fired")
			d.env = append(d.env, fmt.Sprintf("BEAMUPD_FAILPOINT=%s:%s", step, marker))
			code, out := d.beamupdAt(beamupdBuild(t, "1.0.0", "failpoints"), "install", signed(t, "1.1.0"))
			d.env = d.env[:len(d.env)-1]
			if code != -1 || !strings.Contains(out, fmt.Sprintf("failpoint %s: killed", step)) {
				t.Fatalf("beamupd install was not killed at %s: exit %d\n%s", step, code, out)
			}
			if s := d.status(); s.State != "failed" {
				t.Errorf("status of an interrupted operation: %q, want failed", s.State)
			}

			dm := d.run()
			waitFor(t, 60*time.Second, "the daemon to finish the operation", func() bool {
				j := d.journal()
				return j.Op == nil && j.Last != nil && j.Last.Version == "1.1.0"
			})
			at := []plan.Step{step}
			if def, _ := plan.Lookup(step); def.JournaledWhileActing() {
				at = append(at, plan.Hot.Steps[slices.Index(plan.Hot.Steps, step)-1])
			}
			j := d.journal()
			interrupted := slices.ContainsFunc(at, func(s plan.Step) bool {
				return strings.Contains(j.Last.Reason, "interrupted at step "+string(s))
			})
			if j.Last.Outcome != report.Reverted || !interrupted {
				t.Errorf("last result %+v, want reverted after an interruption at %v\n%s", j.Last, at, dm.log())
			}
			if v := d.runningApp(); v != "1.0.0" {
				t.Errorf("gauge %s runs, want 1.0.0", v)
			}
			if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" {
				t.Errorf("releases %s, want only 1.0.0", got)
			}
			if left, _ := filepath.Glob(filepath.Join(d.stateDir, "staging", "*")); len(left) > 0 {
				t.Errorf("staging left behind: %v", left)
			}
			// And the device takes the same bundle again afterwards.
			dm.stop()
			if code, out := d.beamupd("install", signed(t, "1.1.0")); code != 0 {
				t.Errorf("install after the revert: exit %d\n%s", code, out)
			}
		})
	}
}

// tree lists the files under a release root with their types and sizes,
// but for the root's own log/ and tmp/, which the running node writes.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if os.IsNotExist(err) {
			return nil // gone while the walk went by
		}
		if err != nil {
			return err
		}
		if rel := strings.TrimPrefix(p, dir); info.IsDir() && (rel == "/log" || rel == "/tmp") {
			return filepath.SkipDir // the node's own, which it writes
		}
		size := info.Size()
		if info.IsDir() {
			size = 0 // a directory's size says nothing of what it holds
		}
		fmt.Fprintf(&b, "%s %s %d\n", strings.TrimPrefix(p, dir), info.Mode().Type(), size)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() == 0 {
		t.Fatalf("the release root %s lists nothing", dir)
	}
	return b.String()
}

// Bad bundles are refused with exit 10 and change nothing on disk or in
// the node.
func TestRejectedBundlesChangeNothing(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	good := signed(t, "1.1.0", "--security-version", "5")
	_, beamup := bins(t)

	// A bundle signed with another key.
	otherKey := filepath.Join(t.TempDir(), "wrongkey.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "other.key"), "--release", otptest.Tarball(t, "1.1.0"), "-o", otherKey)
	// A release of another name: the sample tarball with the .rel renamed.
	otherName := filepath.Join(t.TempDir(), "other.bundle")
	renamed := renameRelease(t, otptest.Tarball(t, "1.1.0"), "other")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--release", renamed, "-o", otherName)

	// The device once committed security_version 5 for gauge.
	os.MkdirAll(d.stateDir, 0o755)
	if err := updater.NewSecurityStore(d.stateDir).Commit("gauge", 5); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, bundle, want string
	}{
		{"tampered manifest", rewriteEntry(t, good, bundle.ManifestName, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"security_version": 5`), []byte(`"security_version": 9`), 1)
		}), "not signed by a trusted key"},
		{"tampered payload", rewriteEntry(t, good, "gauge-1.1.0.tar.gz", func(b []byte) []byte {
			b[len(b)/2] ^= 0xff
			return b
		}), "has sha256"},
		{"wrong key", otherKey, "not signed by a trusted key"},
		{"another board", signed(t, "1.1.0", "--security-version", "5", "--compatible", "otherboard"), "for boards [otherboard]"},
		{"lower security_version", signed(t, "1.1.0", "--security-version", "4"), "security_version 4 is below 5"},
		{"another release", otherName, `release "other"`},
		{"wrong from", signed(t, "1.1.0", "--security-version", "5", "--from", "0.9.0"), "upgrades from [0.9.0]"},
		{"hot refused", signed(t, "1.2.0", "--security-version", "5", "--mode", "hot"), "hot upgrade refused: the relup has no upgrade from 1.0.0"},
		{"not a bundle", writeFile(t, "junk.bundle", "this is not a tar file"), "bundle"},
	}
	before := tree(t, d.Root)
	relsBefore := strings.Join(d.releases(), " ")
	osPid := d.call("os", "getpid")
	for _, c := range cases {
		code, out := d.beamupd("install", c.bundle)
		if code != 10 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want 10 and %q in\n%s", c.name, code, c.want, out)
		}
		if lines := strings.Count(strings.TrimSpace(lastLines(out)), "\n"); lines != 0 {
			t.Errorf("%s: the failure takes more than one line:\n%s", c.name, out)
		}
	}
	if after := tree(t, d.Root); after != before {
		t.Errorf("the release root changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if got := strings.Join(d.releases(), " "); got != relsBefore {
		t.Errorf("releases %s, were %s", got, relsBefore)
	}
	if d.call("os", "getpid") != osPid {
		t.Error("the node restarted")
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
}

// lastLines is what beamupd prints on stderr as its verdict: the lines
// that start with "beamupd:".
func lastLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "beamupd:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// A second operation while one is under way is refused with busy, exit 2.
func TestBusyAndBadConfig(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{soak: "30s"})
	beamupd, _ := bins(t)
	cmd := exec.Command(beamupd, "install", "--config", d.config, signed(t, "1.1.0"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	d.waitStep(plan.Checking)
	code, out := d.beamupd("rollback")
	if code != 2 || !strings.Contains(out, "busy: install") {
		t.Errorf("rollback during an install: exit %d, want 2 and busy\n%s", code, out)
	}

	bad := writeFile(t, "bad.toml", "[node]\nname = 1\n")
	c := exec.Command(beamupd, "status", "--config", bad)
	outb, err := c.CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(outb), bad+`: toml: line 2 (last key "node.name")`) {
		t.Errorf("bad config: %v\n%s", err, outb)
	}
}

func writeFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	os.WriteFile(p, []byte(content), 0o644)
	return p
}

// rewriteEntry copies a bundle with one entry changed.
func rewriteEntry(t *testing.T, bundle, entry string, change func([]byte) []byte) string {
	t.Helper()
	in, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "rewritten.bundle", string(bundletest.Rewrite(in, entry, change)))
}

// renameRelease makes a copy of a release tarball whose .rel names
// another release.
func renameRelease(t *testing.T, tarball, name string) string {
	t.Helper()
	dir := t.TempDir()
	run(t, "tar", "xzf", tarball, "-C", dir)
	rels, _ := filepath.Glob(filepath.Join(dir, "releases", "*", "gauge.rel"))
	for _, r := range rels {
		data, _ := os.ReadFile(r)
		os.WriteFile(filepath.Join(filepath.Dir(r), name+".rel"),
			bytes.Replace(data, []byte(`"gauge"`), []byte(`"`+name+`"`), 1), 0o644)
		os.Remove(r)
	}
	out := filepath.Join(t.TempDir(), name+".tar.gz")
	run(t, "tar", "czf", out, "-C", dir, ".")
	return out
}

// A process still runs gauge_fmt 1.0.0, which 1.1.0's appup loads with
// soft_purge: OTP leaves it running and purges the old code once it is
// gone, so beamupd commits, and says the process was left running.
func TestSoftPurgedOldCodeCommits(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	if _, err := d.node.Eval(context.Background(), `register(display, spawn(gauge_fmt, display, [])).`); err != nil {
		t.Fatal(err)
	}
	display := d.call("erlang", "whereis", etf.Atom("display"))
	code, out := d.beamupd("install", signed(t, "1.1.0"))
	if code != 0 {
		t.Fatalf("install: exit %d, want 0\n%s", code, out)
	}
	if !strings.Contains(out, "1 process still on old code of gauge_fmt (soft_purge) keep running: display <0.") {
		t.Errorf("the output does not say the display process was left running:\n%s", out)
	}
	if d.call("erlang", "whereis", etf.Atom("display")) != display {
		t.Errorf("the display process is gone; soft_purge leaves it running")
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// 1.1.0 rebuilt with an appup that purges gauge_fmt brutally: 1000
// processes still in the old gauge_fmt are ended by make_permanent, as
// OTP does, and beamupd commits, counting them and naming five.
func TestBrutalPurgedOldCodeCommits(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	if _, err := d.node.Eval(context.Background(),
		`register(display, spawn(gauge_fmt, display, [])), [spawn(gauge_fmt, display, []) || _ <- lists:seq(1, 999)], ok.`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	run(t, "tar", "xzf", otptest.Tarball(t, "1.1.0"), "-C", dir)
	relup := filepath.Join(dir, "releases/1.1.0/relup")
	data, _ := os.ReadFile(relup)
	brutal := bytes.ReplaceAll(data, []byte("brutal_purge,soft_purge"), []byte("brutal_purge,brutal_purge"))
	if bytes.Equal(brutal, data) {
		t.Fatalf("%s has no soft_purge to change", relup)
	}
	os.WriteFile(relup, brutal, 0o644)
	tarball := filepath.Join(t.TempDir(), "gauge-1.1.0.tar.gz")
	run(t, "tar", "czf", tarball, "-C", dir, ".")
	_, beamup := bins(t)
	bundle := filepath.Join(t.TempDir(), "brutal.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--release", tarball, "-o", bundle)

	code, out := d.beamupd("install", bundle)
	if code != 0 {
		t.Fatalf("install: exit %d, want 0\n%s", code, out)
	}
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "brutal_purge") {
			line = l
			break
		}
	}
	if !strings.Contains(line, "make_permanent ends 1000 processes on old code of gauge_fmt") ||
		!strings.Contains(line, "and 995 more") || strings.Count(line, "<0.") != 5 || len(line) > 300 {
		t.Errorf("want one short line counting 1000 processes and naming five, got (%d bytes):\n%s\n%s", len(line), line, out)
	}
	if n := d.call("erlang", "whereis", etf.Atom("display")); n != etf.Atom("undefined") {
		t.Errorf("display %v still runs; make_permanent ends it", n)
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// A health function that does not exist, or an Elixir module written
// without its prefix, is refused before anything changes.
func TestMisspeltHealthFunctionRejected(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{health: "gauge_helth:check"})
	osPid := d.call("os", "getpid")
	code, out := d.beamupd("install", signed(t, "1.1.0"))
	if code != 10 || !strings.Contains(out, "gauge_helth:check/0 is exported neither on the node nor by gauge 1.1.0") {
		t.Fatalf("install: exit %d, want 10 naming the missing function\n%s", code, out)
	}
	if got := strings.Join(d.releases(), " "); got != "1.0.0:permanent" || d.call("os", "getpid") != osPid {
		t.Errorf("releases %s after a refusal, want 1.0.0 only and no restart", got)
	}
	if _, err := os.Stat(filepath.Join(d.Root, "releases", "gauge-1.1.0.tar.gz")); !os.IsNotExist(err) {
		t.Errorf("the refusal left the tarball in releases/")
	}
	// An Elixir-style name gets a hint: 'Elixir.Gauge.Health' exists here.
	src := writeFile(t, "Elixir.Gauge.Health.erl", "-module('Elixir.Gauge.Health').\n-export([check/0]).\ncheck() -> ok.\n")
	run(t, "erlc", "-o", filepath.Dir(src), src)
	if v := d.call("code", "load_abs", strings.TrimSuffix(src, ".erl")); otprel.Format(v) != "{module,'Elixir.Gauge.Health'}" {
		t.Fatalf("loading Elixir.Gauge.Health: %s", otprel.Format(v))
	}
	d2cfg, _ := os.ReadFile(d.config)
	os.WriteFile(d.config, bytes.Replace(d2cfg, []byte("gauge_helth:check"), []byte("Gauge.Health:check"), 1), 0o644)
	code, out = d.beamupd("install", signed(t, "1.1.0"))
	if code != 10 || !strings.Contains(out, `function = "Elixir.Gauge.Health:check"`) {
		t.Errorf("install: exit %d, want 10 with the Elixir hint\n%s", code, out)
	}
}

// execOut runs a command and returns its combined output and error.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// exitCode is the exit status in err from exec, 0 for none.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Under systemd (Type=notify) the daemon says READY once it serves, and
// its STATUS follows the steps.
func TestNotifyReadyAndStatus(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "1.0.0", deviceOpts{})
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	beamupd, _ := bins(t)
	cmd := exec.Command(beamupd, "run", "--config", d.config)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no READY: %v", err)
		}
		msg := string(buf[:n])
		if strings.Contains(msg, "WATCHDOG=1") {
			t.Errorf("WATCHDOG=1 without WATCHDOG_USEC: %q", msg)
		}
		if strings.Contains(msg, "READY=1") {
			if !strings.Contains(msg, "STATUS=serving") {
				t.Errorf("READY notification %q, want a STATUS with it", msg)
			}
			break
		}
	}
}
