// Package otptest builds the sample OTP releases of testdata/ and runs them
// as real target systems for tests: each on its own epmd port, in its own
// temporary directory, stopped when the test ends.
package otptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beamup/beamup/beam"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Require fails the test when a program is missing, saying what to install.
func Require(t testing.TB, progs ...string) {
	t.Helper()
	pkg := map[string]string{
		"erl": "erlang-nox", "escript": "erlang-nox", "erlc": "erlang-dev", "epmd": "erlang-nox",
		"minisign": "minisign", "mosquitto": "mosquitto", "mosquitto_sub": "mosquitto-clients",
		"sz": "lrzsz", "rz": "lrzsz", "socat": "socat", "systemd-analyze": "systemd",
	}
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed: run scripts/setup-os.sh (apt-get install %s)", p, pkg[p])
		}
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Releases builds gauge-1.0.0, 1.1.0 and 1.2.0 once per test binary and
// returns the directory that holds gauge-VSN.tar.gz.
func Releases(t testing.TB) string {
	t.Helper()
	Require(t, "erl", "escript", "erlc")
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "beamup-releases-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("escript", filepath.Join(RepoRoot(), "testdata", "build-releases.escript"),
			filepath.Join(RepoRoot(), "testdata", "gauge"), buildDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building sample releases: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// Tarball returns the path of the sample release tarball of version vsn.
func Tarball(t testing.TB, vsn string) string {
	return filepath.Join(Releases(t), "gauge-"+vsn+".tar.gz")
}

// Target is a target system of the sample release, installed and running.
type Target struct {
	Root       string
	Node       string
	Cookie     string
	CookieFile string
	EPMDPort   int
}

// NewTarget installs gauge-vsn as a target system in a temporary directory
// and starts its node. Like a mix release, it ships no releases/RELEASES:
// beamupd must prepare it. The node and its epmd stop when the test ends.
func NewTarget(t testing.TB, vsn string) *Target {
	t.Helper()
	Require(t, "epmd")
	root := t.TempDir()
	tg := &Target{
		Root:       root,
		Node:       fmt.Sprintf("gauge%d@127.0.0.1", time.Now().UnixNano()%1e9),
		Cookie:     fmt.Sprintf("cookie%d", time.Now().UnixNano()),
		CookieFile: filepath.Join(root, "cookie"),
		EPMDPort:   FreePort(t),
	}
	run(t, "sh", filepath.Join(RepoRoot(), "testdata", "target", "install.sh"),
		Tarball(t, vsn), root, tg.Node, tg.Cookie, fmt.Sprint(tg.EPMDPort))
	t.Cleanup(func() {
		exec.Command("sh", tg.Script(), root, "stop").Run()
		cmd := exec.Command("epmd", "-kill")
		cmd.Env = append(os.Environ(), fmt.Sprintf("ERL_EPMD_PORT=%d", tg.EPMDPort))
		cmd.Run()
	})
	tg.Start(t)
	return tg
}

// Script is the target's start/stop script.
func (tg *Target) Script() string { return filepath.Join(tg.Root, "bin", "node.sh") }

// Control is the node control for beamupd's configuration.
func (tg *Target) Control() string {
	return fmt.Sprintf("exec:%s %s restart", tg.Script(), tg.Root)
}

// Start starts the node and waits until it has booted.
func (tg *Target) Start(t testing.TB) {
	t.Helper()
	run(t, "sh", tg.Script(), tg.Root, "start")
	tg.WaitBooted(t)
}

// Stop stops the node.
func (tg *Target) Stop(t testing.TB) {
	t.Helper()
	run(t, "sh", tg.Script(), tg.Root, "stop")
}

// Kill kills the node's OS process with SIGKILL.
func (tg *Target) Kill(t testing.TB) {
	t.Helper()
	pid, err := os.ReadFile(filepath.Join(tg.Root, "tmp", "node.pid"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, "kill", "-9", strings.TrimSpace(string(pid)))
}

// Client connects to the node; it is closed when the test ends.
func (tg *Target) Client(t testing.TB) *beam.Client {
	t.Helper()
	c, err := beam.Dial(context.Background(), beam.Options{Node: tg.Node, Cookie: tg.Cookie, EPMDPort: tg.EPMDPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// WaitBooted waits until the node answers and init has finished booting.
func (tg *Target) WaitBooted(t testing.TB) {
	t.Helper()
	c := tg.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok, err := c.Booted(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(tg.Root, "log", "node.log"))
			t.Fatalf("node %s did not boot: %v\nnode log:\n%s", tg.Node, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort returns a TCP port that was free on loopback a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}
