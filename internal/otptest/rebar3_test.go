package otptest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamup/beamup/beam"
	"github.com/beamup/beamup/internal/otptest"
	"github.com/beamup/beamup/otprel"
)

// The rebar3 sample installs as a target system whose node is started by
// relx's own bin/tally, runs tally 1.0.0 from its own root (not Debian's
// /usr/lib/erlang), keeps ROOT/tmp/node.pid on its beam.smp, and comes
// back on 1.0.0 after a power cut.
func TestRebar3Target(t *testing.T) {
	if testing.Short() {
		t.Skip("builds releases with rebar3 and runs a real OTP node; not in -short")
	}
	t.Parallel()
	start := time.Now()
	otptest.Rebar3.Releases(t)
	t.Logf("rebar3 built tally 1.0.0, 1.1.0, 1.2.0 in %s", time.Since(start).Round(100*time.Millisecond))

	tg := otptest.Rebar3.NewTarget(t, "1.0.0")
	c := tg.Client(t)
	pid := checkRebar3Node(t, tg, c, "1.0.0")

	tg.PowerCycle(t)
	c = tg.Client(t)
	if again := checkRebar3Node(t, tg, c, "1.0.0"); again == pid {
		t.Errorf("after the power cycle the node still has OS pid %s: it was not killed", pid)
	}

	// bin/node.sh stop goes through bin/tally stop.
	tg.Stop(t)
	if out, err := os.ReadFile(filepath.Join(tg.Root, "tmp", "node.pid")); err == nil {
		t.Errorf("node.sh stop left tmp/node.pid (%s)", out)
	}
	if _, err := c.OSPid(context.Background()); err == nil {
		t.Errorf("the node still answers after node.sh stop")
	}
}

// checkRebar3Node checks that the node runs tally vsn from the target's
// root and that ROOT/tmp/node.pid is its beam.smp; it returns the OS pid.
func checkRebar3Node(t *testing.T, tg *otptest.Target, c *beam.Client, vsn string) string {
	t.Helper()
	ctx := context.Background()
	root, err := c.RootDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root != tg.Root {
		t.Errorf("code:root_dir() is %s, want the target's root %s", root, tg.Root)
	}
	apps, err := c.StartedApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := otptest.AppVersion(apps, "tally"); got != vsn {
		t.Errorf("the node runs tally %q, want %s (applications %v)", got, vsn, apps)
	}
	rels, err := c.WhichReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := beam.Current(rels); cur.Name != "tally" || cur.Version != vsn {
		t.Errorf("release_handler says the node runs %s %s, want tally %s", cur.Name, cur.Version, vsn)
	}
	for _, mod := range []string{"tally_counter", "tally_health"} {
		if _, err := c.Call(ctx, mod, "module_info"); err != nil {
			t.Errorf("%s is not loaded: %v", mod, err)
		}
	}
	if h := otprel.Format(mustCall(t, c, "tally_health", "check")); h != "ok" {
		t.Errorf("tally_health:check() = %s, want ok", h)
	}
	port, err := c.Eval(ctx, `os:getenv("ERL_EPMD_PORT").`)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := otprel.String(port); p != fmt.Sprint(tg.EPMDPort) {
		t.Errorf("ERL_EPMD_PORT in the node is %s, want %d", otprel.Format(port), tg.EPMDPort)
	}
	pid, err := c.OSPid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(tg.Root, "tmp", "node.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(file)) != pid {
		t.Errorf("tmp/node.pid says %q, the node's os:getpid() is %s", strings.TrimSpace(string(file)), pid)
	}
	if exe, err := os.Readlink("/proc/" + pid + "/exe"); err == nil && filepath.Base(exe) != "beam.smp" {
		t.Errorf("process %s is %s, want beam.smp", pid, exe)
	} else if err == nil && !strings.HasPrefix(exe, tg.Root+"/erts-") {
		t.Errorf("the node's emulator is %s, want the release's own under %s/erts-*", exe, tg.Root)
	}
	return pid
}

func mustCall(t *testing.T, c *beam.Client, mod, fun string) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.Call(ctx, mod, fun)
	if err != nil {
		t.Fatalf("%s:%s: %v", mod, fun, err)
	}
	return v
}
