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
	"github.com/beamup/beamup/otprel"
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
		"rebar3": "rebar3", "mix": "elixir", "elixir": "elixir",
	}
	for _, p := range progs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed: run scripts/setup-os.sh (apt-get install %s)", p, pkg[p])
		}
	}
}

// Flavor is one way users build a release: OTP's systools, rebar3 or mix.
// Each builds its own sample application at test time with the real tool
// and installs it as a target system with its own start script.
type Flavor struct {
	// Release is the release's name.
	Release string
	// Tool names the build tool, for messages.
	Tool string
	// Build builds every version of the sample into out, as
	// out/<Release>-<vsn>.tar.gz.
	Build func(out string) error
	// Install is the script under testdata/target that installs a tarball
	// as a target system: SCRIPT TARBALL ROOT NODE_NAME COOKIE EPMD_PORT.
	// It leaves ROOT/bin/node.sh (start|stop|restart|pid|foreground), which
	// boots the node the way that tool's own start script does.
	Install string
	// Requires lists the programs Build needs.
	Requires []string

	once *flavorBuild
}

type flavorBuild struct {
	once sync.Once
	dir  string
	err  error
}

// Gauge is the sample application of testdata/gauge, built by
// testdata/build-releases.escript with systools, its .rel files named
// after the release (gauge.rel). 1.0.0 to 1.2.0 upgrade hot (1.2.0's
// code_change crashes on purpose); 1.3.0's relup from and to 1.2.0 is
// restart_emulator alone, a cold upgrade; 2.0.0 adds the OTP application
// runtime_tools to the release, and its sys.config can make it fail to
// boot ({gauge, [{boot, crash}]}) or fail its health check ({health, fail}).
var Gauge = &Flavor{
	Release:  "gauge",
	Tool:     "systools",
	Install:  "install.sh",
	Requires: []string{"erl", "escript", "erlc"},
	Build: func(out string) error {
		return escript("build-releases.escript", filepath.Join(RepoRoot(), "testdata", "gauge"), out)
	},
}

// GaugeNameVsn is the same sample in the layout of OTP's System
// Principles guide: its .rel files are named gauge-VSN.rel (the guide's
// ch_rel-1.rel), which systools keeps as releases/VSN/gauge-VSN.rel.
var GaugeNameVsn = &Flavor{
	Release:  "gauge",
	Tool:     "systools-name-vsn",
	Install:  "install.sh",
	Requires: []string{"erl", "escript", "erlc"},
	Build: func(out string) error {
		return escript("build-releases.escript", filepath.Join(RepoRoot(), "testdata", "gauge"), out, "name-vsn")
	},
}

func escript(script string, args ...string) error { return runScript("escript", script, args...) }

// runScript runs testdata/script with the interpreter, its output in the
// error when it fails.
func runScript(interp, script string, args ...string) error {
	cmd := exec.Command(interp, append([]string{filepath.Join(RepoRoot(), "testdata", script)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testdata/%s: %v\n%s", script, err, out)
	}
	return nil
}

// Releases builds every version of the flavor's sample once per test
// binary and returns the directory that holds <Release>-VSN.tar.gz.
func (f *Flavor) Releases(t testing.TB) string {
	t.Helper()
	Require(t, f.Requires...)
	flavorsMu.Lock()
	if f.once == nil {
		f.once = &flavorBuild{}
	}
	b := f.once
	flavorsMu.Unlock()
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "beamup-"+f.Tool+"-")
		if b.err == nil {
			b.err = f.Build(b.dir)
		}
		if b.err != nil {
			b.err = fmt.Errorf("building the %s sample releases: %w", f.Tool, b.err)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

var flavorsMu sync.Mutex

// Tarball returns the path of the flavor's release tarball of version vsn.
func (f *Flavor) Tarball(t testing.TB, vsn string) string {
	return filepath.Join(f.Releases(t), f.Release+"-"+vsn+".tar.gz")
}

// Releases builds the gauge sample (see Gauge) and returns its directory.
func Releases(t testing.TB) string { return Gauge.Releases(t) }

// Tarball returns the path of the gauge release tarball of version vsn.
func Tarball(t testing.TB, vsn string) string { return Gauge.Tarball(t, vsn) }

// Target is a target system of a sample release, installed and running.
type Target struct {
	Flavor     *Flavor
	Root       string
	Node       string
	Cookie     string
	CookieFile string
	EPMDPort   int
}

// NewTarget installs gauge-vsn as a target system in a temporary directory
// and starts its node. Like a mix release, it ships no releases/RELEASES:
// beamupd must prepare it. The node and its epmd stop when the test ends.
func NewTarget(t testing.TB, vsn string) *Target { return Gauge.NewTarget(t, vsn) }

// NewTarget installs the flavor's release vsn as a target system in a
// temporary directory and starts its node. The node and its epmd stop
// when the test ends.
func (f *Flavor) NewTarget(t testing.TB, vsn string) *Target {
	t.Helper()
	Require(t, "epmd")
	root := t.TempDir()
	tg := &Target{
		Flavor:     f,
		Root:       root,
		Node:       fmt.Sprintf("%s%d@127.0.0.1", f.Release, time.Now().UnixNano()%1e9),
		Cookie:     fmt.Sprintf("cookie%d", time.Now().UnixNano()),
		CookieFile: filepath.Join(root, "cookie"),
		EPMDPort:   FreePort(t),
	}
	run(t, "sh", filepath.Join(RepoRoot(), "testdata", "target", f.Install),
		f.Tarball(t, vsn), root, tg.Node, tg.Cookie, fmt.Sprint(tg.EPMDPort))
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

// PowerCycle kills the node with SIGKILL, as a power cut would, and starts
// it again with the target's own start script: what boots is what the
// release's scripts and files say is permanent.
func (tg *Target) PowerCycle(t testing.TB) {
	t.Helper()
	tg.Kill(t)
	for i := 0; i < 100; i++ {
		if exec.Command("sh", tg.Script(), tg.Root, "pid").Run() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	tg.Start(t)
}

// AppVersion returns the version of the application name among apps (as
// application:which_applications/0 lists them), or "" when it is absent.
func AppVersion(apps []otprel.App, name string) string {
	for _, a := range apps {
		if a.Name == name {
			return a.Version
		}
	}
	return ""
}
