package main_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// beamupdBuild builds beamupd once per version and fault (see
// fault_inject.go; "" for a release build) and returns its path.
func beamupdBuild(t *testing.T, version, fault string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := version + "/" + fault
	if p, ok := built[key]; ok {
		return p
	}
	bins(t)
	out := filepath.Join(binDir, fmt.Sprintf("beamupd-%s-%s", version, strings.ReplaceAll(fault, "-", "")))
	args := []string{"build", "-o", out, "-ldflags", "-X main.version=" + version + " -X main.fault=" + fault}
	switch fault {
	case "":
	case "race":
		// The race detector in beamupd itself: a race makes it print
		// WARNING: DATA RACE and exit 66.
		args = []string{"build", "-race", "-o", out, "-ldflags", "-X main.version=" + version}
	default:
		args = append(args, "-tags", "faultinject")
	}
	if b, err := exec.Command("go", append(args, "github.com/beamup/beamup/cmd/beamupd")...).CombinedOutput(); err != nil {
		t.Fatalf("building beamupd %s: %v\n%s", key, err, b)
	}
	built[key] = out
	return out
}

// notifySocket is a systemd notify socket opened by the test: every
// datagram the daemon sends arrives on msgs.
func notifySocket(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path = filepath.Join(dir, "sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(c)
				return
			}
			c <- string(buf[:n])
		}
	}()
	return path, c
}

// waitNotify waits for a notification containing want.
func waitNotify(t *testing.T, msgs <-chan string, want string, within time.Duration, dm *daemon) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s within %s\ndaemon log:\n%s", want, within, dm.log())
		}
	}
}

// startDaemon runs exe as beamupd run with the environment added.
func (d *device) startDaemon(exe string, env ...string) *daemon {
	d.t.Helper()
	dm := &daemon{cmd: exec.Command(exe, "run", "--config", d.config)}
	dm.cmd.Env = append(os.Environ(), env...)
	out, err := os.CreateTemp(d.t.TempDir(), "beamupd-run-*.log")
	if err != nil {
		d.t.Fatal(err)
	}
	defer out.Close()
	dm.file = out.Name()
	dm.cmd.Stdout, dm.cmd.Stderr = out, out
	if err := dm.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(dm.stop)
	return dm
}

// WATCHDOG=1 comes from the main loop: while it turns, systemd and the
// hardware watchdog are fed; a loop blocked on purpose (a fault-injection
// build, on SIGUSR1) stops both while the process lives on, so systemd's
// WatchdogSec would fire.
func TestWatchdogFollowsTheMainLoop(t *testing.T) {
	t.Parallel()
	d, hw := watchdogDevice(t)
	sock, msgs := notifySocket(t)
	dm := d.startDaemon(beamupdBuild(t, "1.0.0", "hang-on-usr1"), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=300000")

	waitNotify(t, msgs, "READY=1", 60*time.Second, dm)
	for range 3 {
		waitNotify(t, msgs, "WATCHDOG=1", 2*time.Second, dm)
	}
	fed := fileSize(t, hw)
	if fed == 0 {
		t.Fatalf("hardware watchdog %s never fed", hw)
	}

	dm.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, "the fault to block the loop", func() bool {
		return strings.Contains(dm.log(), "the main loop blocks")
	})
	// What the loop said before it blocked may still be on its way: one
	// watchdog interval of grace, then none for six.
	drainFor(msgs, 300*time.Millisecond)
	quiet := time.After(2 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, "WATCHDOG=1") {
				t.Fatalf("WATCHDOG=1 from a blocked main loop: %q", m)
			}
			continue
		case <-quiet:
		}
		break
	}
	if err := dm.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("beamupd died instead of hanging: %v\n%s", err, dm.log())
	}
	before := fileSize(t, hw)
	time.Sleep(1500 * time.Millisecond) // the loop feeds it every 150 ms
	if after := fileSize(t, hw); after != before {
		t.Errorf("hardware watchdog fed by a blocked loop: %d bytes, then %d", before, after)
	}
	if data, _ := os.ReadFile(hw); bytes.Contains(data, []byte("V")) {
		t.Errorf("hardware watchdog disarmed (magic close) by a hang: %q", data)
	}
}

// A clean stop disarms the hardware watchdog with the magic 'V'.
func TestHardwareWatchdogMagicCloseOnStop(t *testing.T) {
	t.Parallel()
	d, hw := watchdogDevice(t)
	sock, msgs := notifySocket(t)
	beamupd, _ := bins(t)
	dm := d.startDaemon(beamupd, "NOTIFY_SOCKET="+sock)
	waitNotify(t, msgs, "READY=1", 60*time.Second, dm)
	waitFor(t, 10*time.Second, "the hardware watchdog to be fed", func() bool { return fileSize(t, hw) > 0 })
	dm.cmd.Process.Signal(syscall.SIGTERM)
	if err := dm.cmd.Wait(); err != nil {
		t.Fatalf("beamupd run after SIGTERM: %v\n%s", err, dm.log())
	}
	data, _ := os.ReadFile(hw)
	if !bytes.HasSuffix(data, []byte("V")) || bytes.Count(data, []byte("V")) != 1 {
		t.Errorf("hardware watchdog got %q, want feeds then one magic 'V'", data)
	}
}

// watchdogDevice is a device whose hardware watchdog is a plain file, so
// that the test reads every byte beamupd writes to it.
func watchdogDevice(t *testing.T) (*device, string) {
	hw := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(hw, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return newDevice(t, "1.0.0", deviceOpts{device: fmt.Sprintf("watchdog = %q\n", hw)}), hw
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// drainFor throws away what c delivers for d.
func drainFor(c <-chan string, d time.Duration) {
	end := time.After(d)
	for {
		select {
		case <-c:
		case <-end:
			return
		}
	}
}

// waitFor polls ok until it holds or within runs out.
func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
