// Package brokertest runs a real mosquitto for tests, on a free loopback
// port, with its own configuration and data directory.
package brokertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beamup/beamup/internal/otptest"
)

// Mosquitto is a broker process.
type Mosquitto struct {
	Port int
	dir  string
	conf string
	cmd  *exec.Cmd
	t    testing.TB
}

// TLS files for a listener that requires client certificates.
type TLS struct {
	CAFile, CertFile, KeyFile string
}

// Start starts mosquitto with retained messages persisted on every change,
// so that a broker killed and started again still has them.
func Start(t testing.TB, tls *TLS) *Mosquitto {
	t.Helper()
	return start(t, tls, "", "")
}

// StartWithPassword starts a broker that lets in only user with password.
func StartWithPassword(t testing.TB, user, password string) *Mosquitto {
	t.Helper()
	return start(t, nil, user, password)
}

func start(t testing.TB, tls *TLS, user, password string) *Mosquitto {
	t.Helper()
	otptest.Require(t, "mosquitto", "mosquitto_passwd")
	m := &Mosquitto{Port: otptest.FreePort(t), dir: t.TempDir(), t: t}
	conf := []string{
		fmt.Sprintf("listener %d 127.0.0.1", m.Port),
		"allow_anonymous true",
		"persistence true",
		"persistence_location " + m.dir + "/",
		"autosave_interval 1",
		"autosave_on_changes true",
		"log_dest stderr",
	}
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to its own user, which cannot
		// read the test's private directories.
		conf = append(conf, "user root")
	}
	if user != "" {
		pw := filepath.Join(m.dir, "passwd")
		if out, err := exec.Command("mosquitto_passwd", "-b", "-c", pw, user, password).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
		}
		conf[1] = "allow_anonymous false"
		conf = append(conf, "password_file "+pw)
	}
	if tls != nil {
		conf = append(conf, "cafile "+tls.CAFile, "certfile "+tls.CertFile, "keyfile "+tls.KeyFile,
			"require_certificate true")
	}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(m.conf, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m.Restart()
	t.Cleanup(m.Kill)
	return m
}

// URL is the broker's address for beamup.
func (m *Mosquitto) URL(scheme string) string {
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, m.Port)
}

// Restart starts the broker again after Kill and waits until it listens.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.cmd = exec.Command("mosquitto", "-c", m.conf)
	log, _ := os.OpenFile(filepath.Join(m.dir, "mosquitto.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("starting mosquitto: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.Port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
			m.t.Fatalf("mosquitto does not listen on %d: %v\n%s", m.Port, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill kills the broker with SIGKILL.
func (m *Mosquitto) Kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		m.cmd.Process.Signal(syscall.SIGKILL)
		m.cmd.Wait()
		m.cmd = nil
	}
}

// Log is what the broker logged.
func (m *Mosquitto) Log() string {
	out, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
	return string(out)
}
