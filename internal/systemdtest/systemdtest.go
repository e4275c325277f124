// Package systemdtest runs a real systemd service manager for tests: a
// user instance (systemd --user) with a D-Bus bus of its own, in a
// temporary directory, stopped when the test ends. It offers the same
// org.freedesktop.systemd1 API as the system manager on a device.
package systemdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

// Manager is a running systemd user instance.
type Manager struct {
	// Env points D-Bus clients at this manager's bus, both as the session
	// bus (systemctl --user) and as the system bus (what beamupd uses).
	Env     []string
	UnitDir string
	t       testing.TB
}

// Start runs systemd --user with the units of a fresh configuration
// directory.
//
// systemd refuses to run as a user instance unless the machine was booted
// with systemd, which it tells from /run/systemd/system: in a container
// the test creates that directory while it runs, and removes it after.
func Start(t testing.TB) *Manager {
	t.Helper()
	otptest.Require(t, "systemctl", "dbus-daemon")
	bin := "/lib/systemd/systemd"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: install Debian's systemd package (scripts/setup-os.sh does)", bin)
	}
	if _, err := os.Stat("/usr/lib/systemd/user/dbus.socket"); err != nil {
		t.Fatal("the user D-Bus socket unit is missing: install Debian's dbus-user-session package (scripts/setup-os.sh does)")
	}
	if _, err := os.Stat("/run/systemd/system"); os.IsNotExist(err) {
		if err := os.MkdirAll("/run/systemd/system", 0o755); err != nil {
			t.Fatalf("systemd --user needs /run/systemd/system: %v", err)
		}
		t.Cleanup(func() { os.Remove("/run/systemd/system") })
	}
	// Socket paths must stay short.
	runtime, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(runtime, 0o700)
	t.Cleanup(func() { os.RemoveAll(runtime) })
	home := t.TempDir()
	m := &Manager{UnitDir: filepath.Join(home, "config", "systemd", "user"), t: t}
	if err := os.MkdirAll(m.UnitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bus := "unix:path=" + filepath.Join(runtime, "bus")
	m.Env = []string{"XDG_RUNTIME_DIR=" + runtime, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"DBUS_SESSION_BUS_ADDRESS=" + bus, "DBUS_SYSTEM_BUS_ADDRESS=" + bus}

	cmd := exec.Command(bin, "--user")
	cmd.Env = append(os.Environ(), m.Env...)
	log, err := os.Create(filepath.Join(home, "systemd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := m.systemctl("is-system-running"); err == nil {
			return m
		} else if out, _ := m.systemctl("show", "--property=SystemState"); strings.Contains(out, "degraded") {
			return m
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(log.Name())
			t.Fatalf("systemd --user did not come up:\n%s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// AddUnit writes a unit file and makes the manager read it.
func (m *Manager) AddUnit(name, content string) {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.UnitDir, name), []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
	m.Systemctl("daemon-reload")
}

// Systemctl runs systemctl --user against this manager and fails the
// test when it fails.
func (m *Manager) Systemctl(args ...string) string {
	m.t.Helper()
	out, err := m.systemctl(args...)
	if err != nil {
		m.t.Fatalf("systemctl --user %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (m *Manager) systemctl(args ...string) (string, error) {
	cmd := exec.Command("systemctl", append([]string{"--user"}, args...)...)
	cmd.Env = append(os.Environ(), m.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Property reads one property of a unit.
func (m *Manager) Property(unit, name string) string {
	m.t.Helper()
	return strings.TrimSpace(m.Systemctl("show", "--value", "--property="+name, unit))
}
