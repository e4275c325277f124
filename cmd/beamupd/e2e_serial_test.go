package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

// cable is a pair of linked pseudo-terminals made by socat: the device's
// end and the laptop's end.
func cable(t *testing.T) (device, laptop string) {
	device, laptop, _ = pluggedCable(t)
	return device, laptop
}

// pluggedCable is a cable that pull takes out: the pseudo-terminals go.
func pluggedCable(t *testing.T) (device, laptop string, pull func()) {
	t.Helper()
	otptest.Require(t, "socat")
	dir := t.TempDir()
	device, laptop = filepath.Join(dir, "ttyGS0"), filepath.Join(dir, "ttyUSB0")
	cmd := exec.Command("socat", "pty,raw,echo=0,link="+device, "pty,raw,echo=0,link="+laptop)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pull = func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(pull)
	for i := 0; i < 100; i++ {
		_, e1 := os.Stat(device)
		_, e2 := os.Stat(laptop)
		if e1 == nil && e2 == nil {
			return device, laptop, pull
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat made no pseudo-terminals")
	return
}

func serialSection(port string) string {
	return fmt.Sprintf("\n[serial]\nport = %q\nbaud = 115200\n", port)
}

// terminal is a technician's terminal program on the laptop's end.
type terminal struct {
	t   *testing.T
	f   *os.File
	out chan byte
}

func openTerminal(t *testing.T, dev string) *terminal {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &terminal{t: t, f: f}
}

// readUntil reads until the output contains want.
func (tm *terminal) readUntil(want string, d time.Duration) string {
	tm.t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 1)
	deadline := time.Now().Add(d)
	tm.f.SetReadDeadline(deadline)
	defer tm.f.SetReadDeadline(time.Time{})
	for !strings.Contains(got.String(), want) {
		if _, err := tm.f.Read(buf); err != nil {
			tm.t.Fatalf("waiting for %q: %v; got %q", want, err, got.String())
		}
		got.WriteByte(buf[0])
	}
	return got.String()
}

func (tm *terminal) send(s string) { tm.f.WriteString(s) }

// szToConsole starts a device with its console on a cable, types
// receive on a plain terminal and starts the real sz --ymodem with the
// 1.1.0 bundle, as a technician without beamup would.
func szToConsole(t *testing.T) (*device, *terminal, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	otptest.Require(t, "sz")
	devPort, laptopPort := cable(t)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: serialSection(devPort)})
	d.run()
	tm := openTerminal(t, laptopPort)
	tm.send("\r")
	tm.readUntil("beamup> ", 20*time.Second)
	tm.send("receive\r")
	tm.readUntil("ready:", 10*time.Second)
	sz := exec.Command("sz", "--ymodem", "-k", signed(t, "1.1.0"))
	var szErr bytes.Buffer
	sz.Stdin, sz.Stdout, sz.Stderr = tm.f, tm.f, &szErr
	if err := sz.Start(); err != nil {
		t.Fatal(err)
	}
	return d, tm, sz, &szErr
}

// A bundle sent with the real sz --ymodem from a plain terminal installs.
func TestSerialSzInstalls(t *testing.T) {
	t.Parallel()
	d, tm, sz, szErr := szToConsole(t)
	if err := sz.Wait(); err != nil {
		t.Fatalf("sz: %v\n%s", err, szErr.String())
	}
	out := tm.readUntil("beamup> ", 60*time.Second)
	if !strings.Contains(out, "committed: gauge 1.1.0 is permanent") || !strings.Contains(out, "installed gauge 1.1.0") {
		t.Errorf("console output:\n%s", out)
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// beamup serial drives an upgrade and a failed one with the right exit
// codes; status and log answer.
func TestSerialBeamupPush(t *testing.T) {
	t.Parallel()
	devPort, laptopPort := cable(t)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: serialSection(devPort)})
	d.run()
	_, beamup := bins(t)
	out, err := execOut(beamup, "serial", "--port", laptopPort, "push", signed(t, "1.1.0"))
	if err != nil || !strings.Contains(out, "committed: gauge 1.1.0") {
		t.Fatalf("push 1.1.0: %v\n%s", err, out)
	}
	out, err = execOut(beamup, "serial", "--port", laptopPort, "push", signed(t, "1.2.0"))
	if exitCode(err) != 11 || !strings.Contains(out, "reverted") {
		t.Errorf("push 1.2.0: %v, want exit 11\n%s", err, out)
	}
	out, err = execOut(beamup, "serial", "--port", laptopPort, "status")
	if err != nil || !strings.Contains(out, `"version":"1.1.0"`) || !strings.Contains(out, `"state":"reverted"`) {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = execOut(beamup, "serial", "--port", laptopPort, "log")
	if err != nil || !strings.Contains(out, "committed: gauge 1.1.0") || !strings.Contains(out, "reverted: ") {
		t.Errorf("log: %v\n%s", err, out)
	}
	if v := d.runningApp(); v != "1.1.0" {
		t.Errorf("gauge %s runs, want 1.1.0", v)
	}
}

// The cable pulled in the middle of a transfer: the console comes back to
// its prompt, nothing is installed and nothing stays in staging.
func TestSerialCablePulled(t *testing.T) {
	t.Parallel()
	d, tm, sz, _ := szToConsole(t)
	time.Sleep(500 * time.Millisecond) // part of the bundle is through
	sz.Process.Kill()
	sz.Wait()
	out := tm.readUntil("beamup> ", 90*time.Second)
	if !strings.Contains(out, "receive failed") || !strings.Contains(out, "nothing was installed") {
		t.Errorf("console output:\n%q", out)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	// The console still answers.
	tm.send("status\r")
	if out := tm.readUntil("beamup> ", 10*time.Second); !strings.Contains(out, `"version":"1.0.0"`) {
		t.Errorf("status after the pull:\n%s", out)
	}
}

// The cable pulled while the install verifies the bundle it streams in
// (a pause failpoint holds the verification): the transfer broke off, and
// that is what the device says; the bundle is not recorded as rejected,
// nothing is installed, staging is empty, and the daemon serves on.
func TestSerialCablePulledDuringVerification(t *testing.T) {
	t.Parallel()
	devPort, laptopPort, pull := pluggedCable(t)
	d := newDevice(t, "1.0.0", deviceOpts{mqtt: serialSection(devPort)})
	dm := d.startDaemon(beamupdBuild(t, "1.0.0", "failpoints"), "BEAMUPD_FAILPOINT_PAUSE=verifying:3s")
	_, beamup := bins(t)
	push := exec.Command(beamup, "serial", "--port", laptopPort, "push", signed(t, "1.1.0"))
	push.Start()
	t.Cleanup(func() { push.Process.Kill(); push.Wait() })
	waitFor(t, 60*time.Second, "the install to verify the bundle as it arrives", func() bool {
		return strings.Contains(dm.log(), "failpoint verifying: paused")
	})
	pull()
	waitFor(t, 60*time.Second, "the device to say the transfer broke off", func() bool {
		return strings.Contains(dm.log(), "transfer broken off")
	})
	if strings.Contains(dm.log(), "rejected") {
		t.Errorf("a broken transfer was taken for a rejected bundle:\n%s", dm.log())
	}
	if data, err := os.ReadFile(filepath.Join(d.stateDir, "journal.json")); err == nil && strings.Contains(string(data), `"last_result"`) {
		t.Errorf("journal after a broken transfer records a result:\n%s", data)
	}
	if v := d.runningApp(); v != "1.0.0" {
		t.Errorf("gauge %s runs, want 1.0.0", v)
	}
	if staged, _ := os.ReadDir(filepath.Join(d.stateDir, "staging")); len(staged) != 0 {
		t.Errorf("staging keeps %d files", len(staged))
	}
	if dm.cmd.ProcessState != nil {
		t.Errorf("the daemon exited:\n%s", dm.log())
	}
}
