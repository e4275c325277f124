package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/updater"
)

// TestTorture kills, at a random moment, beamupd alone or beamupd and
// the node together (a power cut), while a bundle arrives and installs
// over a file, MQTT or the cable: a good hot upgrade (1.0.0 -> 1.1.0), the
// same as a delta (rebuilt and laid out as it comes), a broken one (1.1.0
// -> 1.2.0, whose code_change fails) and a cold one (1.0.0 -> 2.0.0). Then it starts what systemd would (the node after a
// power cut, beamupd run) and checks what a user would: the node runs a
// healthy permanent release, the broken one never; the journal is
// finished; RELEASES holds no release left unpacked; staging is empty;
// the bundle installs again with the outcome it should have; the
// permanent release is what boots; no beamupd is left behind.
// BEAMUP_TORTURE_TRIALS sets the trials (default 3: one per transport),
// BEAMUP_TORTURE_SEED the seed (default: the time, logged).
func TestTorture(t *testing.T) {
	t.Parallel()
	trials, rng := trialsOf(t, "BEAMUP_TORTURE", 3, 1)
	upgrades := []struct {
		from, to string
		good     bool
		span     int // ms over which the kill falls
		delta    bool
	}{
		{"1.0.0", "1.1.0", true, 1500, false},
		{"1.0.0", "1.1.0", true, 3000, true},
		{"1.1.0", "1.2.0", false, 2500, false},
		{"1.0.0", "2.0.0", true, 4000, false},
	}
	for i := range trials {
		tr := []string{"file", "mqtt", "serial"}[i%3]
		up := upgrades[rng.IntN(len(upgrades))]
		powerCut := rng.IntN(2) == 1
		delay := time.Duration(rng.IntN(up.span)) * time.Millisecond
		what := "beamupd"
		if powerCut {
			what = "power"
		}
		to := up.to
		if up.delta {
			to += "-delta"
		}
		t.Run(fmt.Sprintf("%d/%s/%s/%s-%s", i, tr, to, what, delay), func(t *testing.T) {
			t.Parallel()
			torture(t, tr, up.from, up.to, up.good, up.delta, powerCut, delay)
		})
	}
}

// startGroup starts beamupd in a process group of its own.
func startGroup(t *testing.T, cmd *exec.Cmd) *daemon {
	dm := &daemon{cmd: cmd}
	cmd.Stdout, cmd.Stderr = dm, dm
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dm.stop)
	return dm
}

// readJournal reads the device's journal; none is an empty one.
func readJournal(t *testing.T, d *device) updater.Journal {
	var j updater.Journal
	data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json"))
	if err == nil {
		err = json.Unmarshal(data, &j)
	}
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return j
}

func torture(t *testing.T, transport, from, to string, good, delta, powerCut bool, delay time.Duration) {
	var o deviceOpts
	o.health = "gauge_health:check"
	var url, laptop string
	switch transport {
	case "mqtt":
		url = brokertest.Start(t, nil).URL("mqtt")
		o.mqtt = mqttSection(url, "fleet")
	case "serial":
		var dev string
		dev, laptop = cable(t)
		o.mqtt = serialSection(dev)
	}
	d := newDevice(t, from, o)
	bundle := signed(t, to)
	if delta {
		bundle = deltaOf(t, to, from)
	}
	beamupd, beamup := bins(t)

	var id string
	var victim *exec.Cmd
	var dm *daemon
	switch transport {
	case "file":
		dm = startGroup(t, exec.Command(beamupd, "install", "--config", d.config, bundle))
	case "mqtt":
		dm = startGroup(t, exec.Command(beamupd, "run", "--config", d.config))
		id = publishBundle(t, url, bundle, "--group", "fleet")
	case "serial":
		dm = startGroup(t, exec.Command(beamupd, "run", "--config", d.config))
		victim = exec.Command(beamup, "serial", "--port", laptop, "push", bundle)
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(delay)
	// beamupd and what it runs (a control command restarting the node),
	// as systemd's control-group kill or a power cut ends them.
	syscall.Kill(-dm.cmd.Process.Pid, syscall.SIGKILL)
	dm.cmd.Wait()
	if victim != nil {
		victim.Process.Kill()
		victim.Wait()
	}
	if powerCut {
		d.PowerCycle(t)
	}

	// What systemd starts next.
	first := dm
	dm = d.run()
	started := time.Now()
	for {
		j := readJournal(t, d)
		if strings.Contains(dm.log(), "serving ") && j.Op == nil && (transport != "mqtt" || j.Last != nil && j.Last.Bundle == id) {
			break
		}
		if time.Since(started) > 5*time.Minute {
			node, _ := os.ReadFile(filepath.Join(d.Root, "log", "node.log"))
			t.Fatalf("beamupd run did not finish what it found in 5 minutes: journal %+v\n%s\nnode.log:\n%s", j, dm.log(), node)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(started); took > 2*time.Minute {
		t.Errorf("beamupd run took %s to finish what it found:\n%s", took.Round(time.Second), dm.log())
	}
	dm.stop()
	if j := readJournal(t, d); j.Last != nil {
		t.Logf("%s: %s %s (%s)", transport, j.Last.Outcome, j.Last.Version, j.Last.Reason)
	}

	perm := d.permanentHealthy("gauge", "gauge_health:check")
	if !good && perm == to {
		t.Errorf("the broken %s is permanent", to)
	}
	for _, r := range d.releases() {
		if vsn, status, _ := strings.Cut(r, ":"); status != "permanent" && status != "old" {
			t.Errorf("release %s is left %s", vsn, status)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("staging keeps %v\nthe beamupd killed:\n%s\nthe next:\n%s", names, first.log(), dm.log())
	}
	if out, err := exec.Command("pgrep", "-f", d.config).Output(); err == nil {
		t.Errorf("processes left behind: %s", out)
	}
	d.powerCycled("gauge", perm, "the torture")

	// The bundle again, as a user would retry it.
	if perm == from {
		code, out := d.beamupd("install", bundle)
		want := 0
		if !good {
			want = report.Reverted.ExitCode()
		}
		if code != want {
			t.Errorf("install of %s again: exit %d, want %d\n%s", to, code, want, out)
		}
	}
	want := to
	if !good {
		want = from
	}
	if v := d.appVersion("gauge"); v != want {
		t.Errorf("in the end gauge %s runs, want %s", v, want)
	}
}
