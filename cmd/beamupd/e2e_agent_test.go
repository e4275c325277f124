package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/brokertest"
	"github.com/beamup/beamup/plan"
	"github.com/beamup/beamup/report"
	"github.com/beamup/beamup/updater"
)

// supervisor restarts beamupd run the way systemd's Restart=always does,
// always from the same path, so that whatever binary is there runs.
type supervisor struct {
	*daemon
	t      *testing.T
	path   string
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	cur    *exec.Cmd
	starts int
}

func (d *device) supervise(path string, env ...string) *supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	s := &supervisor{daemon: &daemon{}, t: d.t, path: path, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			cmd := exec.Command(path, "run", "--config", d.config)
			cmd.Env = append(os.Environ(), env...)
			cmd.Stdout, cmd.Stderr = s.daemon, s.daemon
			s.mu.Lock()
			s.cur = cmd
			s.daemon.cmd = cmd
			err := cmd.Start()
			if err == nil {
				s.starts++
			}
			s.mu.Unlock()
			if err == nil {
				cmd.Wait()
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond): // RestartSec
			}
		}
	}()
	d.t.Cleanup(s.stop)
	return s
}

func (s *supervisor) startCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// kill sends SIGKILL to the beamupd that runs now.
func (s *supervisor) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.Process != nil {
		s.cur.Process.Kill()
	}
}

func (s *supervisor) stop() {
	s.cancel()
	s.mu.Lock()
	if s.cur != nil && s.cur.Process != nil {
		s.cur.Process.Signal(syscall.SIGTERM)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.t.Errorf("beamupd did not stop on SIGTERM within 15s\n%s", s.log())
		s.kill()
		<-s.done
	}
}

// agentDevice is a device whose beamupd runs from its own path under a
// supervisor and follows a broker.
type agentDevice struct {
	*device
	broker string
	exe    string
	sup    *supervisor
}

func newAgentDevice(t *testing.T) *agentDevice {
	broker := brokertest.Start(t, nil).URL("mqtt")
	a := newAgentDeviceOn(t, mqttSection(broker))
	a.broker = broker
	return a
}

// newAgentDeviceOn is an agent device with the given transport section.
func newAgentDeviceOn(t *testing.T, transport string) *agentDevice {
	exe := filepath.Join(t.TempDir(), "bin", "beamupd")
	if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, exe, beamupdBuild(t, "1.0.0", ""))
	agent := fmt.Sprintf("\n[agent]\npath = %q\ntrial = \"2s\"\nstart_timeout = \"30s\"\nwatchdog = \"1s\"\nattempts = 2\n", exe)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: transport, sections: agent})
	return &agentDevice{device: d, exe: exe}
}

// agentBundle signs a beamupd built for version and fault; extra flags go
// to beamup bundle.
func agentBundle(t *testing.T, version, fault string, extra ...string) string {
	t.Helper()
	_, beamup := bins(t)
	out := filepath.Join(t.TempDir(), "beamupd-"+version+".bundle")
	args := append([]string{"bundle", "--key", filepath.Join(keyDir, "release.key"), "--agent", beamupdBuild(t, version, fault),
		"--version", version, "--arch", "amd64", "-o", out}, extra...)
	run(t, beamup, args...)
	return out
}

// agentVersion runs the executable at path and returns its version.
func agentVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", path, err)
	}
	var name, v string
	fmt.Sscan(string(out), &name, &v) // "beamupd 2.0.0 (commit ...)"
	return v
}

// install runs the device's own beamupd install.
func (a *agentDevice) install(bundle string) (int, string) {
	return a.beamupdAt(a.exe, "install", bundle)
}

// step is the journaled step, or "" when none is under way.
func (a *agentDevice) step() plan.Step {
	var j updater.Journal
	data, _ := os.ReadFile(filepath.Join(a.stateDir, "journal.json"))
	if json.Unmarshal(data, &j) != nil || j.Op == nil {
		return ""
	}
	return j.Op.Step
}

func (a *agentDevice) waitAgent(ok func(report.Status) bool) report.Status {
	return waitStatus(a.t, a.broker, a.id, a.sup.daemon, ok)
}

func lastOutcome(version string, o report.Outcome) func(report.Status) bool {
	return func(s report.Status) bool {
		return s.LastResult != nil && s.LastResult.Version == version && s.LastResult.Outcome == o
	}
}

// A new beamupd published to the fleet is tried, replaces the running one,
// commits, and reports its version; the previous binary is kept in the
// state directory.
func TestSelfUpdateCommits(t *testing.T) {
	t.Parallel()
	a := newAgentDevice(t)
	a.sup = a.supervise(a.exe)
	a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" })

	publishBundle(t, a.broker, agentBundle(t, "2.0.0", "", "--security-version", "3"), "--device", a.id)
	s := a.waitAgent(lastOutcome("2.0.0", report.Committed))
	if s.AgentVersion != "2.0.0" {
		t.Errorf("agent_version %q after commit, want 2.0.0", s.AgentVersion)
	}
	if v := agentVersion(t, a.exe); v != "2.0.0" {
		t.Errorf("%s is version %s, want 2.0.0", a.exe, v)
	}
	if v := agentVersion(t, filepath.Join(a.stateDir, "agent", "beamupd")); v != "1.0.0" {
		t.Errorf("kept previous beamupd is %s, want 1.0.0", v)
	}
	if n := a.sup.startCount(); n != 1 {
		t.Errorf("the supervisor started beamupd %d times; the handover should keep the process", n)
	}
	var sec map[string]int
	data, _ := os.ReadFile(filepath.Join(a.stateDir, "security.json"))
	json.Unmarshal(data, &sec)
	if sec["beamupd"] != 3 {
		t.Errorf("security.json %s, want beamupd at 3", data)
	}
	// Anti-rollback: below the committed security_version is refused.
	code, out := a.install(agentBundle(t, "2.1.0", "", "--security-version", "2"))
	if code != 10 || !strings.Contains(out, "anti-rollback") {
		t.Errorf("older security_version: exit %d, %s", code, lastLines(out))
	}
}

// A new beamupd that exits at start, and one that hangs after READY, are
// given up after their attempts: the running one stays, serves, and its
// status says why.
func TestSelfUpdateRevertsBadAgents(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ version, fault, why string }{
		{"2.0.1", "exit", "exited before it was ready (exit status 3)"},
		{"2.0.2", "hang", "hung: no WATCHDOG=1"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			t.Parallel()
			a := newAgentDevice(t)
			a.sup = a.supervise(a.exe)
			a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" && s.State != "offline" })
			publishBundle(t, a.broker, agentBundle(t, c.version, c.fault), "--device", a.id)
			s := a.waitAgent(func(s report.Status) bool {
				return lastOutcome(c.version, report.Reverted)(s) && s.AgentVersion == "1.0.0"
			})
			if !strings.Contains(s.LastResult.Reason, c.why) || !strings.Contains(s.LastResult.Reason, "beamupd 1.0.0 runs") {
				t.Errorf("reason %q, want %q", s.LastResult.Reason, c.why)
			}
			if strings.Count(a.sup.log(), "trying beamupd "+c.version) != 2 {
				t.Errorf("want 2 attempts:\n%s", a.sup.log())
			}
			if v := agentVersion(t, a.exe); v != "1.0.0" {
				t.Errorf("%s is %s after a failed self-update, want 1.0.0", a.exe, v)
			}
			// Remembered: the target still names the bundle, and it is not
			// tried again after a restart.
			a.sup.kill()
			a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" && s.State == "reverted" })
			time.Sleep(time.Second)
			if n := strings.Count(a.sup.log(), "trying beamupd "+c.version); n != 2 {
				t.Errorf("tried again after a restart: %d attempts", n)
			}
		})
	}
}

// Unsigned agents, agents for another arch, and a payload that is no
// executable for this one are refused with nothing replaced.
func TestSelfUpdateRejects(t *testing.T) {
	t.Parallel()
	a := newAgentDevice(t)
	before := sha(t, a.exe)
	_, beamup := bins(t)
	script := writeFile(t, "beamupd", "#!/bin/sh\nexit 0\n")
	mislabelled := filepath.Join(t.TempDir(), "script.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "release.key"), "--agent", script, "--version", "9.0.0", "--arch", "amd64", "-o", mislabelled)
	otherKey := filepath.Join(t.TempDir(), "other.bundle")
	run(t, beamup, "bundle", "--key", filepath.Join(keyDir, "other.key"), "--agent", beamupdBuild(t, "2.0.0", ""), "--version", "2.0.0", "--arch", "amd64", "-o", otherKey)
	for name, c := range map[string]struct{ bundle, why string }{
		"unsigned":   {otherKey, "signature"},
		"other arch": {agentBundle(t, "2.0.0", "", "--arch", "arm64"), "is for arm64, this device is amd64"},
		"not an ELF": {mislabelled, "not an ELF executable"},
		"same":       {agentBundle(t, "1.0.0", ""), "beamupd 1.0.0 already runs"},
	} {
		code, out := a.install(c.bundle)
		if code != 10 || !strings.Contains(out, c.why) {
			t.Errorf("%s: exit %d, want 10 and %q:\n%s", name, code, c.why, lastLines(out))
		}
	}
	if sha(t, a.exe) != before {
		t.Error("the agent executable changed")
	}
	if _, err := os.Stat(filepath.Join(a.stateDir, "agent")); err == nil {
		t.Error("a rejected agent left state_dir/agent")
	}
}

// While the daemon serves the device, a one-shot install of a new beamupd
// is refused with nothing changed (its trial would contend with the daemon
// for the broker and the port), and a second daemon does not start.
func TestSelfUpdateBesideTheDaemon(t *testing.T) {
	t.Parallel()
	a := newAgentDevice(t)
	a.sup = a.supervise(a.exe)
	a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" && s.State != "offline" })
	before := sha(t, a.exe)
	code, out := a.install(agentBundle(t, "2.0.0", ""))
	if code != 10 || !strings.Contains(out, "beamupd run (pid") || !strings.Contains(out, "send the bundle to it over MQTT") {
		t.Errorf("one-shot install beside the daemon: exit %d, want 10 and why:\n%s", code, lastLines(out))
	}
	if sha(t, a.exe) != before || a.step() != "" {
		t.Errorf("the refused install changed the executable or left the journal at %q", a.step())
	}
	if left, _ := filepath.Glob(filepath.Join(a.stateDir, "staging", "*")); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}
	if strings.Contains(a.sup.log(), "trying beamupd") {
		t.Errorf("the daemon saw a trial:\n%s", a.sup.log())
	}

	out, err := execOut("timeout", "20", a.exe, "run", "--config", a.config)
	if code := exitCode(err); code != 2 || !strings.Contains(out, "another beamupd serves") {
		t.Errorf("a second daemon: exit %d, want 2 and why:\n%s", code, out)
	}
	if a.sup.startCount() != 1 {
		t.Errorf("the first daemon was restarted %d times", a.sup.startCount()-1)
	}
}

// beamupd killed with SIGKILL at each step of a self-update: the
// supervisor restarts whatever is at the path, and the device always ends
// with a working agent that has finished the journal.
func TestSelfUpdateKilledAtEachStep(t *testing.T) {
	t.Parallel()
	// During the trial, for real: the trial dies with its parent, the
	// old binary is still in place and reports the interruption.
	a := newAgentDevice(t)
	a.sup = a.supervise(a.exe)
	a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" && s.State != "offline" })
	publishBundle(t, a.broker, agentBundle(t, "2.0.0", ""), "--device", a.id)
	waitFor(t, 60*time.Second, "the trial", func() bool { return a.step() == plan.AgentTrying })
	// Only this device's trial: other tests run their own beamupd 2.0.0.
	trials := func() bool {
		out, _ := exec.Command("pgrep", "-f", a.stateDir+"/staging").Output()
		return len(out) > 0
	}
	waitFor(t, 30*time.Second, "the trial's process", trials)
	a.sup.kill()
	s := a.waitAgent(lastOutcome("2.0.0", report.Reverted))
	if s.AgentVersion != "1.0.0" || !strings.Contains(s.LastResult.Reason, "interrupted at step agent-trying") {
		t.Errorf("after a kill during the trial: agent %s, %+v", s.AgentVersion, s.LastResult)
	}
	// Given the moment the kernel takes to deliver the parent-death signal.
	waitFor(t, 5*time.Second, "the trial to die with its beamupd", func() bool { return !trials() })

	// At the points too close together to hit with a signal from outside,
	// a build with failpoints kills itself: once the journal is at each
	// step, and around each write of the swap.
	for _, c := range []struct {
		point   string
		at      string // what runs from the path when the supervisor restarts
		outcome report.Outcome
	}{
		{"agent-staged", "1.0.0", report.Reverted},
		{"agent-trying", "1.0.0", report.Reverted},
		{"agent-replacing", "1.0.0", report.Reverted},
		{"agent-kept-previous", "1.0.0", report.Reverted},
		{"agent-before-rename", "1.0.0", report.Reverted},
		{"agent-renamed", "2.0.0", report.Committed},
	} {
		t.Run(c.point, func(t *testing.T) {
			t.Parallel()
			a := newAgentDevice(t)
			copyFile(t, a.exe, beamupdBuild(t, "1.0.0", "failpoints"))
			marker := filepath.Join(t.TempDir(), "fired")
			a.sup = a.supervise(a.exe, "BEAMUPD_FAILPOINT="+c.point+":"+marker)
			a.waitAgent(func(s report.Status) bool { return s.AgentVersion == "1.0.0" && s.State != "offline" })
			publishBundle(t, a.broker, agentBundle(t, "2.0.0", ""), "--device", a.id)

			s := a.waitAgent(lastOutcome("2.0.0", c.outcome))
			if _, err := os.Stat(marker); err != nil || !strings.Contains(a.sup.log(), "failpoint "+c.point+": killed") {
				t.Fatalf("beamupd was not killed at %s:\n%s", c.point, a.sup.log())
			}
			if s.AgentVersion != c.at || agentVersion(t, a.exe) != c.at {
				t.Errorf("agent %s runs from %s, want %s", s.AgentVersion, agentVersion(t, a.exe), c.at)
			}
			if c.outcome == report.Reverted && !strings.Contains(s.LastResult.Reason, "interrupted at step") {
				t.Errorf("reverted without saying why: %+v", s.LastResult)
			}
			if st := a.step(); st != "" {
				t.Errorf("journal still at step %s", st)
			}
			if left, _ := filepath.Glob(filepath.Join(a.stateDir, "staging", "*")); len(left) > 0 {
				t.Errorf("staging left behind: %v", left)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(a.exe), ".beamupd.new")); err == nil {
				t.Error("an unfinished new beamupd was left beside the executable")
			}
			// Remembered, not fetched and tried again by itself.
			waitFor(t, 30*time.Second, "the target to be set aside", func() bool {
				return strings.Contains(a.sup.log(), fmt.Sprintf("ended %s here: not tried again", c.outcome))
			})
			if n := strings.Count(a.sup.log(), "downloading beamupd 2.0.0"); n != 1 {
				t.Errorf("downloaded %d times", n)
			}
			if a.sup.startCount() != 2 {
				t.Errorf("beamupd started %d times, want 2: the kill, then the run that finishes", a.sup.startCount())
			}
		})
	}
}

func copyFile(t *testing.T, dst, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// A technician's beamup serial push of a new beamupd waits through the
// trial and the handover, while the console is away, and exits with the
// outcome.
func TestSelfUpdateOverSerial(t *testing.T) {
	t.Parallel()
	devPort, laptopPort := cable(t)
	a := newAgentDeviceOn(t, serialSection(devPort))
	a.sup = a.supervise(a.exe)
	_, beamup := bins(t)
	waitFor(t, 60*time.Second, "the console", func() bool {
		_, err := execOut(beamup, "serial", "--port", laptopPort, "status")
		return err == nil
	})
	out, err := execOut(beamup, "serial", "--port", laptopPort, "push", agentBundle(t, "2.0.0", ""))
	if err != nil || !strings.Contains(out, "committed: beamupd 2.0.0 runs") {
		t.Fatalf("push beamupd 2.0.0: %v\n%s\ndevice:\n%s", err, out, a.sup.log())
	}
	if v := agentVersion(t, a.exe); v != "2.0.0" {
		t.Errorf("%s is %s, want 2.0.0", a.exe, v)
	}
	out, err = execOut(beamup, "serial", "--port", laptopPort, "status")
	if err != nil || !strings.Contains(out, `"agent_version":"2.0.0"`) {
		t.Errorf("status after the self-update: %v\n%s", err, out)
	}
}
